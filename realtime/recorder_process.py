"""The recorder process of ``dancepose-live``: redraws the shown frames from the ring and encodes them.

Started by :class:`~dancepose.realtime.recording.RecorderProcess` as ``python -m
dancepose.realtime.recorder_process`` with a :class:`~dancepose.realtime.recording.RecorderConfig` (JSON)
on stdin.  It lowers its own priority (its ffmpeg inherits it), opens the
:class:`~dancepose.realtime.recording.FrameRing`, chooses the encoder (``--encoder``: a hardware H.264
encoder when this ffmpeg has one that works, else libx264 with one line saying why) and then, until the
live process asks it to stop (or disappears, or it gets SIGTERM/SIGINT):

* copies the new audio out of the ring into the recording;
* takes each new frame record — the shown pose, whether the HUD was shown and its numbers, the audio
  sample count up to that frame — and, as often as the audio clock asks for a video frame (a late
  display frame is repeated, an early one skipped), draws it with the window's own
  :class:`~dancepose.realtime.window.Scene` at the recording's size and hands the surface's pixels to the
  encoder (``bgr0`` straight from the surface: no conversion in Python).

Then it finishes the file (:meth:`~dancepose.models.media.recorder.Mp4Recorder.close`) and reports the
result (or the one-line error) in the ring.  A live process that vanished gets its recording finished
anyway, and its path is printed here.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time

import numpy as np

from dancepose.models.errors import DanceposeError
from dancepose.models.skeleton import N_JOINTS
from dancepose.realtime.recording import (
    DONE, FAILED, H_AUDIO_READ, H_ENCODED, H_PID, H_READ, H_STATE, H_STOP, H_VIDEO_FRAMES, R_AUDIO, R_HUD, R_POSE,
    R_SHOW, RUNNING, FrameRing, RecorderConfig, style_from_dict,
)

#: Sleep between looks at an empty ring (s).
IDLE_S = 0.004


def lower_priority(nice: int) -> None:
    """Add ``nice`` to this process's niceness (inherited by the encoder it starts)."""
    if nice > 0:
        try:
            os.nice(nice)
        except OSError:  # pragma: no cover - not allowed: record at the same priority
            pass


def surface_pix_fmt(surface) -> str | None:
    """The ffmpeg pixel format of a 32-bit surface's bytes (``bgr0`` for SDL's usual XRGB8888 on a
    little-endian machine, ``bgra`` with per-pixel alpha), or None when its layout has none."""
    if surface.get_bytesize() != 4 or surface.get_pitch() != 4 * surface.get_width():
        return None
    order = {}
    masks = surface.get_masks()
    for name, mask in zip("rgba", masks if masks[3] else masks[:3]):
        shift = {0xFF: 0, 0xFF00: 8, 0xFF0000: 16, 0xFF000000: 24}.get(mask)
        if shift is None:
            return None
        byte = shift // 8 if sys.byteorder == "little" else 3 - shift // 8
        order[byte] = name
    if len(order) != (4 if masks[3] else 3):
        return None
    return "".join(order.get(i, "0") for i in range(4))


class _Stop:
    """SIGTERM/SIGINT to the recorder: finish what it has (the live process decides the rest)."""

    def __init__(self) -> None:
        self.asked = False
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handler)

    def _handler(self, signum, frame) -> None:
        self.asked = True


def _open(cfg: RecorderConfig):
    """(recorder, scene, surface, note) for ``cfg``; raises DanceposeError."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    from dancepose.models.audio import ffmpeg_exe
    from dancepose.models.media.draw import is_transparent
    from dancepose.models.media.encoders import encoding_for_path
    from dancepose.models.media.recorder import Mp4Recorder
    from dancepose.realtime.window import Scene, _pygame

    pg = _pygame()
    bg = tuple(cfg.background) if isinstance(cfg.background, list) else cfg.background
    alpha = is_transparent(bg)  # a transparent stage: RGBA frames, VP9 / ProRes with alpha
    surface = pg.Surface((cfg.width, cfg.height), pg.SRCALPHA if alpha else 0)
    fmt = surface_pix_fmt(surface) or ("rgba" if alpha else "rgb24")
    scene = Scene(style=style_from_dict(cfg.style), background=bg, floor_units=cfg.floor_units)
    scene.ensure_stage((cfg.width, cfg.height))
    encoding, note = encoding_for_path(cfg.path, encoder=cfg.encoder, ffmpeg=ffmpeg_exe(), width=cfg.width,
                                     height=cfg.height, alpha=alpha)
    rec = Mp4Recorder(cfg.path, width=cfg.width, height=cfg.height, fps=cfg.fps, sample_rate=cfg.sample_rate,
                      drop_when_behind=False, quiet=True, what="--record", encoding=encoding, input_pix_fmt=fmt,
                      alpha=alpha)
    return rec, scene, surface, note


def _frame_pixels(surface, fmt: str):
    """The surface's pixels as the encoder takes them (its own buffer when the layout matches)."""
    if fmt in ("rgb24", "rgba"):
        from dancepose.models.media.draw import surface_to_rgb, surface_to_rgba

        return surface_to_rgb(surface) if fmt == "rgb24" else surface_to_rgba(surface)
    return surface.get_buffer()


def _loop(cfg: RecorderConfig, ring: FrameRing, rec, scene, surface, stop: _Stop) -> None:
    """Take frames and audio from the ring until asked to stop and everything published is taken."""
    from dancepose.realtime.window import HudInfo

    h = ring.header
    fps, sr = int(cfg.fps), int(cfg.sample_rate)
    read = audio_read = frames = 0
    while True:
        n_pub, a_pub = ring.published()
        if a_pub > audio_read:
            rec.add_audio(ring.read_audio(audio_read, a_pub))
            audio_read = a_pub
            h[H_AUDIO_READ] = audio_read
        if read < n_pub:
            row = ring.record(read)
            if row is None:  # not whole yet (cannot happen with one writer; be safe)
                time.sleep(IDLE_S)
                continue
            target = int(row[R_AUDIO]) * fps // sr
            if frames < target:
                hud = HudInfo.from_numbers(row[R_HUD:R_HUD + len(HudInfo.NUMERIC)], source=cfg.source) \
                    if row[R_SHOW] else None
                scene.draw(surface, row[R_POSE:R_SHOW].reshape(N_JOINTS, 2).astype(np.float32), hud)
                pixels = _frame_pixels(surface, rec.input_pix_fmt)
                while frames < target:
                    rec.write_frame(pixels)
                    frames += 1
                del pixels  # releases the surface's buffer lock
                h[H_VIDEO_FRAMES] = frames
            read += 1
            h[H_READ] = read
            h[H_ENCODED] = rec.frames_written
            continue
        if h[H_STOP] or stop.asked or os.getppid() != cfg.parent:
            return
        time.sleep(IDLE_S)


def run(cfg: RecorderConfig) -> int:
    """Record until told to stop; 0 when the file is written (or nothing was recorded), 6 on failure."""
    ring = FrameRing(name=cfg.ring, frames=cfg.ring_frames, samples=cfg.ring_samples)
    h = ring.header
    h[H_PID] = os.getpid()
    stop = _Stop()
    lower_priority(cfg.nice)
    try:
        rec, scene, surface, note = _open(cfg)
    except DanceposeError as exc:
        ring.set_text(1, str(exc))
        h[H_STATE] = FAILED
        return 6
    if note:
        print(f"dancepose-live: {note}", file=sys.stderr)
    ring.set_text(0, str(rec.tmp))
    h[H_STATE] = RUNNING
    try:
        _loop(cfg, ring, rec, scene, surface, stop)
        out = rec.close()
    except DanceposeError as exc:
        rec.abort()
        ring.set_text(1, str(exc))
        h[H_STATE] = FAILED
        return 6
    except BaseException:
        rec.abort()
        raise
    ring.set_text(1, "" if out is None else str(out))
    h[H_STATE] = DONE
    if os.getppid() != cfg.parent and out is not None and not cfg.quiet:
        print(f"dancepose-live: recorded {out} (finished after the show's process ended)", file=sys.stderr)
    return 0


def main() -> int:
    cfg = RecorderConfig(**json.loads(sys.stdin.buffer.read().decode("utf-8")))
    try:
        return run(cfg)
    except KeyboardInterrupt:  # pragma: no cover - SIGINT is handled; belt and braces
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
