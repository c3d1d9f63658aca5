"""The recorder process of ``dancepose-live``: redraws the shown frames from the ring and encodes them.

Started by :class:`~dancepose.realtime.recording.RecorderProcess` as ``python -m
dancepose.realtime.recorder_process`` with a :class:`~dancepose.realtime.recording.RecorderConfig` (JSON)
on stdin.  It opens the :class:`~dancepose.realtime.recording.FrameRing`, chooses the encoder (``--encoder``: a hardware H.264
encoder when this ffmpeg has one that works, else libx264 with one line saying why) and then, until the
live process asks it to stop (or disappears, or it gets SIGTERM/SIGINT):

* a drain thread copies the new audio out of the ring into the recording and the new frame records into
  memory, so the ring never fills however far behind the encoder is;
* the main thread takes each frame record — the shown pose, whether the HUD was shown and its numbers, the audio
  sample count up to that frame — and, as often as the audio clock asks for a video frame (a late
  display frame is repeated, an early one skipped), draws it with the window's own
  :class:`~dancepose.realtime.window.Scene` at the recording's size and hands the surface's pixels to the
  encoder (``bgr0`` straight from the surface: no conversion in Python).

The drawing and encoding run in a thread at the lowest priority (``nice 19``: per thread on Linux; its
ffmpeg inherits it), so they only ever use what the show leaves.  Then the main thread — at normal
priority, the show being over — finishes the file (:meth:`~dancepose.models.media.recorder.Mp4Recorder.close`)
and reports the result (or the one-line error) in the ring.  A live process that vanished gets its recording finished
anyway, and its path is printed here.
"""
from __future__ import annotations

import collections
import json
import os
import signal
import sys
import threading
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
    """Add ``nice`` to the calling thread's niceness (Linux: per thread; elsewhere the whole process); the
    threads and processes it starts inherit it.

    Not ``SCHED_IDLE``: it runs only on what every other thread leaves, and an unprivileged process can
    never leave it.  Measured beside two busy loops, the recorder then took 16 s (median; 26 s at worst)
    to finish its file after Ctrl-C or SIGTERM, against 2.4 s (4.1 s) at nice 19, while the show kept
    0 late frames with either (numpy's BLAS on one thread, :func:`dancepose.models.perform.one_blas_thread`,
    was what the show needed).
    """
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
    """SIGTERM/SIGINT to the recorder: finish the file now with what is encoded (the show's own stop, by
    contrast, has everything it sent encoded first, however long that takes)."""

    def __init__(self) -> None:
        self.asked = False
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handler)

    def _handler(self, signum, frame) -> None:
        self.asked = True


def _prepare(cfg: RecorderConfig):
    """(scene, surface, encoding, input pixel format, alpha, fallback note) for ``cfg``; raises
    DanceposeError."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    from dancepose.models.audio import ffmpeg_exe
    from dancepose.models.media.draw import is_transparent
    from dancepose.models.media.encoders import encoding_for_path
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
    return scene, surface, encoding, fmt, alpha, note


class _Encoder(threading.Thread):
    """The niced part: this thread (and the ffmpeg it starts) runs at ``cfg.nice``; it opens the recorder,
    draws and encodes until the show has stopped.  On Linux niceness is per thread, so the process's
    start-up and the file's finishing (mux, probe — after the show) run at normal priority."""

    def __init__(self, cfg: RecorderConfig, ring: FrameRing, scene, surface, encoding, fmt: str, alpha: bool,
                 stop: _Stop):
        super().__init__(name="recorder-encoder", daemon=True)
        self.args = (cfg, ring, scene, surface, encoding, fmt, alpha, stop)
        self.rec = None
        self.ready = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        from dancepose.models.media.recorder import Mp4Recorder, in_flight_frames

        cfg, ring, scene, surface, encoding, fmt, alpha, stop = self.args
        lower_priority(cfg.nice)
        try:
            self.rec = Mp4Recorder(cfg.path, width=cfg.width, height=cfg.height, fps=cfg.fps,
                                   sample_rate=cfg.sample_rate, drop_when_behind=False, quiet=True,
                                   what="--record", encoding=encoding, input_pix_fmt=fmt, alpha=alpha,
                                   max_in_flight=in_flight_frames())
        except BaseException as exc:  # noqa: BLE001 - reported by run()
            self.error = exc
            return
        finally:
            self.ready.set()
        try:
            _loop(cfg, ring, self.rec, scene, surface, stop)
        except BaseException as exc:  # noqa: BLE001 - reported by run()
            self.error = exc


def _frame_pixels(surface, fmt: str):
    """The surface's pixels as the encoder takes them (its own buffer when the layout matches)."""
    if fmt in ("rgb24", "rgba"):
        from dancepose.models.media.draw import surface_to_rgb, surface_to_rgba

        return surface_to_rgb(surface) if fmt == "rgb24" else surface_to_rgba(surface)
    return surface.get_buffer()


class _Drain(threading.Thread):
    """Empties the ring as fast as the live process fills it: the audio straight into the recording, the
    frame records (a few hundred bytes each) into memory.  So the ring never fills and the recording can
    fall any distance behind the show; the encoder works through :attr:`rows` at its own pace."""

    def __init__(self, cfg: RecorderConfig, ring: FrameRing, rec, stop: _Stop) -> None:
        super().__init__(name="recorder-drain", daemon=True)
        self.cfg, self.ring, self.rec, self.stop = cfg, ring, rec, stop
        self.rows: collections.deque = collections.deque()
        self.finished = threading.Event()  # everything the show will send has been taken
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._drain()
        except BaseException as exc:  # noqa: BLE001 - handed to the encoder loop (a full disk …)
            self.error = exc
        finally:
            self.finished.set()

    def _drain(self) -> None:
        ring, h = self.ring, self.ring.header
        read = audio_read = 0
        while True:
            ending = bool(h[H_STOP]) or self.stop.asked or os.getppid() != self.cfg.parent
            n_pub, a_pub = ring.published()  # (after `ending`: whatever came before the stop is taken)
            if a_pub > audio_read:
                self.rec.add_audio(ring.read_audio(audio_read, a_pub))
                audio_read = a_pub
                h[H_AUDIO_READ] = audio_read
            while read < n_pub:
                row = ring.record(read)
                if row is None:  # not whole yet (cannot happen with one writer; be safe)
                    break
                self.rows.append(row)
                read += 1
            h[H_READ] = read
            if ending and read == n_pub:
                return
            time.sleep(IDLE_S)


def _loop(cfg: RecorderConfig, ring: FrameRing, rec, scene, surface, stop: _Stop) -> None:
    """Encode the frames the drain takes from the ring until the show has stopped and all are encoded."""
    from dancepose.realtime.window import HudInfo

    h = ring.header
    fps, sr = int(cfg.fps), int(cfg.sample_rate)
    drain = _Drain(cfg, ring, rec, stop)
    drain.start()
    done = frames = 0
    note = ""  # the HUD's tempo note (carried by the records where it changes)
    try:
        while not stop.asked:  # SIGTERM/SIGINT to the recorder: keep what is encoded, finish now
            if drain.error is not None:
                raise drain.error
            if not drain.rows:
                if drain.finished.is_set() and not drain.rows:
                    break
                time.sleep(IDLE_S)
                continue
            row = drain.rows.popleft()
            target = int(row[R_AUDIO]) * fps // sr  # video frames the audio clock asks for by this frame
            note = FrameRing.note_of(row, note)
            if frames < target:
                hud = HudInfo.from_numbers(row[R_HUD:R_HUD + len(HudInfo.NUMERIC)], source=cfg.source,
                                           tempo_note=note) if row[R_SHOW] else None
                scene.draw(surface, row[R_POSE:R_SHOW].reshape(N_JOINTS, 2).astype(np.float32), hud)
                pixels = _frame_pixels(surface, rec.input_pix_fmt)
                while frames < target:
                    rec.write_frame(pixels)
                    frames += 1
                del pixels  # releases the surface's buffer lock
                h[H_VIDEO_FRAMES] = frames
            done += 1
            h[H_ENCODED] = done
    finally:
        stop.asked = True  # the drain ends too (on a failure, or after the last frame)
        drain.join(timeout=5.0)


def run(cfg: RecorderConfig) -> int:
    """Record until told to stop; 0 when the file is written (or nothing was recorded), 6 on failure."""
    ring = FrameRing(name=cfg.ring, frames=cfg.ring_frames, samples=cfg.ring_samples)
    h = ring.header
    h[H_PID] = os.getpid()
    stop = _Stop()
    try:
        scene, surface, encoding, fmt, alpha, note = _prepare(cfg)
    except DanceposeError as exc:
        return _failed(ring, exc)
    if note:
        print(f"dancepose-live: {note}", file=sys.stderr)
    enc = _Encoder(cfg, ring, scene, surface, encoding, fmt, alpha, stop)
    enc.start()
    enc.ready.wait()
    rec = enc.rec
    if rec is None:
        if isinstance(enc.error, DanceposeError):
            return _failed(ring, enc.error)
        raise enc.error
    ring.set_text(0, str(rec.tmp))
    h[H_STATE] = RUNNING
    while enc.is_alive():
        enc.join(timeout=0.5)
    try:
        if enc.error is not None:
            raise enc.error
        out = rec.close()  # here, at normal priority: the show is over
    except DanceposeError as exc:
        rec.abort()
        return _failed(ring, exc)
    except BaseException:
        rec.abort()
        raise
    ring.set_text(1, "" if out is None else str(out))
    h[H_STATE] = DONE
    if os.getppid() != cfg.parent:
        if out is not None and not cfg.quiet:
            print(f"dancepose-live: recorded {out} (finished after the show's process ended)", file=sys.stderr)
        _remove_segment(cfg.ring)  # the show is gone (killed with its resource tracker): nobody else will
    return 0


def _remove_segment(name: str) -> None:
    """Remove the ring's shared-memory segment (Linux: its file in /dev/shm), if it is still there."""
    try:
        os.unlink(f"/dev/shm/{name.lstrip('/')}")
    except OSError:
        pass


def _failed(ring: FrameRing, exc: BaseException) -> int:
    """Report a failure (one line) to the live process; exit code 6."""
    ring.set_text(1, str(exc))
    ring.header[H_STATE] = FAILED
    return 6


def main() -> int:
    cfg = RecorderConfig(**json.loads(sys.stdin.buffer.read().decode("utf-8")))
    try:
        return run(cfg)
    except KeyboardInterrupt:  # pragma: no cover - SIGINT is handled; belt and braces
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
