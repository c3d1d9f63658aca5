#!/usr/bin/env bash
# Start a PulseAudio daemon with a null sink "virt" whose monitor is the default source, so that what is
# played (paplay, sounddevice OutputStream) is what a sounddevice.InputStream records through the ALSA
# pulse plugin (libasound2-plugins).  Idempotent: does nothing if a server already answers.
# Works as root (user-mode daemon; PulseAudio warns but runs) and as a normal user.
set -u

if ! command -v pulseaudio >/dev/null 2>&1 || ! command -v pactl >/dev/null 2>&1; then
    echo "pulse.sh: pulseaudio / pactl not installed (apt-get install -y pulseaudio pulseaudio-utils)" >&2
    exit 1
fi

if ! pactl info >/dev/null 2>&1; then
    # A stale runtime dir/pid of a dead daemon blocks a new start: --kill is harmless if none runs.
    pulseaudio --kill >/dev/null 2>&1 || true
    pulseaudio -D --exit-idle-time=-1 -n \
        --load="module-null-sink sink_name=virt sink_properties=device.description=virt" \
        --load=module-native-protocol-unix \
        --load=module-always-sink >/dev/null 2>&1 || true
    for _ in $(seq 1 50); do
        pactl info >/dev/null 2>&1 && break
        sleep 0.1
    done
fi

if ! pactl info >/dev/null 2>&1; then
    echo "pulse.sh: could not start PulseAudio" >&2
    exit 1
fi

# The daemon may have been started by someone else without our sink: add it once.
if ! pactl list short sinks 2>/dev/null | awk '{print $2}' | grep -qx virt; then
    pactl load-module module-null-sink sink_name=virt >/dev/null
fi
pactl set-default-sink virt
pactl set-default-source virt.monitor
echo "pulse.sh: PulseAudio ready (default sink virt, source virt.monitor)"
