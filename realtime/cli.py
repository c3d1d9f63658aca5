"""``dancepose-live`` — the dancer performing live to a microphone, a song file or the built-in demo.

A thin argparse layer over :func:`dancepose.realtime.live.run_live`.  Errors the user can act on (no
PortAudio, no audio device, unknown device name, undecodable file, bad model, no display) are printed
on one line with the fix; the exit code is non-zero.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from dancepose.models.cli import add_groove_argument, run_cli, size_arg
from dancepose.models.media.draw import add_look_arguments
from dancepose.models.media.encoders import ENCODER_CHOICES
from dancepose.models.tempo import bpm_arg, range_text
from dancepose.realtime.osc import osc_target_arg
from dancepose.realtime.priority import PRIORITY_CHOICES
from dancepose.realtime.serve import serve_target_arg


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dancepose-live",
        description="The dancer performs live: it listens (microphone, a song it plays, or the built-in "
                    "demo loop) and dances at 60 fps. Keys: space pause, t tap the tempo, f fullscreen, "
                    "r record, h HUD, q/Esc quit. With --style openpose or a colour --background the HUD "
                    "starts hidden, so the picture stays clean for ControlNet or a chroma key.")
    p.add_argument("--input", "-i", default="demo", metavar="mic|FILE|demo",
                   help="listen to the microphone, play and dance to FILE, or the built-in demo loop "
                        "(default)")
    p.add_argument("--model", "-m", type=Path, default=None, metavar="DIR",
                   help="dancer model directory (default: the built-in dancer)")
    p.add_argument("--device", "-d", default=None, metavar="N|NAME",
                   help="audio device index or name substring (input for mic, output for FILE/demo)")
    p.add_argument("--list-devices", action="store_true", help="list audio devices and exit")
    p.add_argument("--record", type=Path, default=None, metavar="OUT.mp4|.webm|.mov",
                   help="record what is shown, with the audio: .mp4 (H.264 + AAC), .webm (VP9 + Opus) or "
                        ".mov (ProRes 4444 + PCM); with --background transparent .webm/.mov keep the alpha")
    p.add_argument("--encoder", choices=ENCODER_CHOICES, default="libx264",
                   help="video encoder of recordings: libx264 (default), a hardware H.264 encoder of your "
                        "ffmpeg (h264_v4l2m2m on a Raspberry Pi, h264_vaapi, h264_nvenc, h264_videotoolbox; "
                        "libx264 with one line when it does not work here), or auto (the first that works)")
    p.add_argument("--fullscreen", action="store_true")
    p.add_argument("--size", type=size_arg, default=(1280, 720), metavar="WxH", help="default 1280x720")
    add_look_arguments(p, frames="shown frame")
    add_groove_argument(p)
    p.add_argument("--osc", type=osc_target_arg, default=None, metavar="HOST:PORT",
                   help="send /dancepose/pose every frame, /dancepose/beat and /dancepose/tempo on events "
                        "(OSC over UDP)")
    p.add_argument("--serve", type=serve_target_arg, default=None, metavar="[HOST:]PORT",
                   help="serve the figure as a web page over a transparent background (an OBS browser "
                        "source) with a WebSocket of the shown poses; host 127.0.0.1 unless given (another "
                        "host lets your network watch: one warning); URL options: style=stick|openpose, "
                        "body=, left=, right=, joint= (colours), line=PX, mirror=1, hud=1, smooth=1")
    p.add_argument("--link", action="store_true",
                   help="join an Ableton Link session: follow its tempo and beat when peers exist, "
                        "else publish the tracked tempo")
    p.add_argument("--bpm", type=bpm_arg, default=None, metavar="N",
                   help=f"hold the tempo at N BPM ({range_text()}; taps and t still move the beat). A Link "
                        "session's tempo outside the range is danced at the multiple inside it (230 → 115)")
    p.add_argument("--latency-offset", type=float, default=0.0, metavar="MS",
                   help="how much later the audience hears the sound than it sees the picture: positive "
                        "holds the picture back (Bluetooth/PA delay), negative moves it earlier (a slow "
                        "projector); shifts the figure, the beat flashes and OSC (a --record made with it "
                        "carries the shift); default 0")
    p.add_argument("--priority", choices=PRIORITY_CHOICES, default="realtime",
                   help="realtime (default): the show thread asks Linux for realtime scheduling (SCHED_FIFO, "
                        "lowest priority) so a busy program beside it does not make frames late; granted "
                        "to root or an rtprio limit (the audio group), else one line and normal; normal: "
                        "do not ask")
    p.add_argument("--headless", action="store_true",
                   help="no window (for recording/CI); FILE/demo use a simulated clock if no audio "
                        "device exists")
    p.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
    p.add_argument("--sim-clock", action="store_true",
                   help="FILE/demo: do not play, run on a simulated clock (exact-length recordings)")
    p.add_argument("--log-timings", type=Path, default=None, metavar="FILE.csv",
                   help="per-frame audio/pose/display times and costs")
    p.add_argument("--log-poses", type=Path, default=None, metavar="FILE.npz",
                   help="shown and model poses with their times")
    p.add_argument("--screenshot", type=Path, default=None, metavar="PNG", help="save the last frame")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-q", "--quiet", action="store_true")
    return p


def _run(args: argparse.Namespace) -> int:
    if args.list_devices:
        from dancepose.realtime.audio_in import list_devices

        print(list_devices())
        return 0
    from dancepose.realtime.live import LiveConfig, run_live

    config = LiveConfig(input=args.input, model_dir=args.model, device=args.device, record=args.record,
                        encoder=args.encoder,
                        fullscreen=args.fullscreen, size=args.size, background=args.background,
                        headless=args.headless, duration=args.duration, log_timings=args.log_timings,
                        log_poses=args.log_poses, sim_clock=args.sim_clock, screenshot=args.screenshot,
                        seed=args.seed, quiet=args.quiet, style=args.style, save_openpose=args.save_openpose,
                        groove=args.groove,
                        osc=args.osc, link=args.link, bpm=args.bpm, latency_offset_ms=args.latency_offset,
                        serve=args.serve, priority=args.priority)
    run_live(config=config)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    args = build_parser().parse_args(argv)
    return run_cli(_run, args, prog="dancepose-live")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
