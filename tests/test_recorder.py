"""Mp4Recorder (H.264 + AAC via the bundled ffmpeg) and probe_streams."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import imageio_ffmpeg
import numpy as np
import pytest

from dancepose.models.clock import SAMPLE_RATE
from dancepose.models.errors import InputError
from dancepose.models.media.probe import probe_streams
from dancepose.models.media.recorder import Mp4Recorder

W, H, FPS = 320, 240, 30


def _frame(i: int) -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    img[:, : (i * 3) % W] = (200, 80, 40)
    return img


def test_record_video_and_audio_same_length(tmp_path):
    out = tmp_path / "rec.mp4"
    t = np.arange(int(3.4 * SAMPLE_RATE)) / SAMPLE_RATE  # more audio than video: trimmed
    with Mp4Recorder(out, width=W, height=H, fps=FPS, sample_rate=SAMPLE_RATE,
                     drop_when_behind=False) as rec:
        for i in range(3 * FPS):
            rec.process(_frame(i))
        for chunk in np.array_split(0.3 * np.sin(2 * np.pi * 440 * t), 17):
            rec.add_audio(chunk.astype(np.float32))
    assert rec.closed and rec.frames_written == 90 and rec.dropped_frames == 0
    assert rec.close() == out  # idempotent
    assert [p.name for p in tmp_path.iterdir()] == ["rec.mp4"]  # temporaries removed
    info = probe_streams(out)
    assert info["video"]["codec"] == "h264" and info["audio"]["codec"] == "aac"
    assert (info["video"]["width"], info["video"]["height"]) == (W, H)
    assert info["video"]["duration"] == pytest.approx(3.0, abs=0.1)
    assert info["audio"]["duration"] == pytest.approx(3.0, abs=0.1)
    n, secs = imageio_ffmpeg.count_frames_and_secs(str(out))
    assert n == 90


def test_short_audio_is_padded_to_video(tmp_path):
    out = tmp_path / "pad.mp4"
    with Mp4Recorder(out, width=W, height=H, fps=FPS, sample_rate=SAMPLE_RATE, audio_channels=2,
                     drop_when_behind=False) as rec:
        for i in range(2 * FPS):
            rec.process(_frame(i))
        rec.add_audio(np.full((SAMPLE_RATE // 2, 2), 0.1, np.float32))  # 0.5 s only
    info = probe_streams(out)
    assert info["audio"]["channels"] == 2
    assert info["audio"]["duration"] == pytest.approx(2.0, abs=0.1)
    assert info["video"]["duration"] == pytest.approx(2.0, abs=0.1)


def test_never_blocks_and_counts_drops(tmp_path):
    w, h = 1280, 720
    frames = [np.random.default_rng(i).integers(0, 255, (h, w, 3), dtype=np.uint8) for i in range(4)]
    for f in frames:
        f.setflags(write=False)  # not copied
    rec = Mp4Recorder(tmp_path / "drop.mp4", width=w, height=h, fps=60, sample_rate=SAMPLE_RATE,
                      queue_frames=2, quiet=True)
    n = 120
    worst = 0.0
    for i in range(n):
        t0 = time.perf_counter()
        rec.process(frames[i % 4])
        worst = max(worst, time.perf_counter() - t0)
    rec.close()
    assert rec.dropped_frames > 0
    assert rec.frames_written + rec.dropped_frames == n
    assert worst < 0.05  # noise frames encode far slower than this: process() did not wait
    assert probe_streams(tmp_path / "drop.mp4")["video"]["packets"] == rec.frames_written


def test_no_frames_writes_nothing(tmp_path):
    rec = Mp4Recorder(tmp_path / "none.mp4", width=W, height=H, fps=FPS, sample_rate=SAMPLE_RATE)
    assert rec.close() is None
    assert list(tmp_path.iterdir()) == []
    rec = Mp4Recorder(tmp_path / "gone.mp4", width=W, height=H, fps=FPS, sample_rate=SAMPLE_RATE)
    rec.process(_frame(0))
    rec.abort()
    assert list(tmp_path.iterdir()) == []


_CHILD = r"""
import sys, time
import numpy as np
from dancepose.models.media.recorder import Mp4Recorder
out = sys.argv[1]
try:
    with Mp4Recorder(out, width=320, height=240, fps=30, sample_rate=24000) as rec:
        i = 0
        while True:
            img = np.zeros((240, 320, 3), np.uint8); img[:, :i % 320] = 255
            rec.process(img)
            rec.add_audio(np.sin(np.arange(800) / 5.0).astype(np.float32) * 0.2)
            i += 1
            if i == 20:
                print("ready", flush=True)
            time.sleep(1 / 30)
except KeyboardInterrupt:
    sys.exit(130)
"""


def test_interrupted_recording_is_playable(tmp_path):
    out = tmp_path / "live.mp4"
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.3)
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    info = probe_streams(out)
    assert info["video"]["codec"] == "h264" and info["audio"]["codec"] == "aac"
    assert info["video"]["duration"] > 0.6
    assert abs(info["audio"]["duration"] - info["video"]["duration"]) < 0.1
    n, _ = imageio_ffmpeg.count_frames_and_secs(str(out))  # decodes: the file is playable
    assert n == info["video"]["packets"] >= 20
    assert [p.name for p in tmp_path.iterdir()] == ["live.mp4"]


def test_probe_real_video_and_errors(shared_data, tmp_path):
    info = probe_streams(shared_data / "dance_videos" / "dancer_studio_portrait_13s.mp4")
    assert (info["video"]["width"], info["video"]["height"]) == (720, 1280)
    assert info["video"]["duration"] == pytest.approx(13.38, abs=0.1)
    assert info["audio"]["codec"] == "aac" and info["audio"]["sample_rate"] == 44100
    with pytest.raises(InputError, match="not found"):
        probe_streams(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(InputError, match="junk.mp4"):
        probe_streams(junk)


def test_close_is_bounded_when_the_encoder_hangs(tmp_path, monkeypatch):
    """The encoder stops responding (SIGSTOP: its input pipe fills, the writer thread blocks in write):
    close() still returns within the writer deadline, kills it, reports one error, leaves nothing."""
    from dancepose.models.errors import OutputError
    from dancepose.models.media import recorder as recmod

    monkeypatch.setattr(recmod, "WRITER_STOP_S", 2.0)
    rec = Mp4Recorder(tmp_path / "hang.mp4", width=W, height=H, fps=FPS, sample_rate=SAMPLE_RATE, quiet=True)
    os.kill(rec._proc.pid, signal.SIGSTOP)  # a real stalled ffmpeg
    for i in range(40):
        rec.process(_frame(i))  # never blocks (drop_when_behind): the queue fills, then frames drop
    rec.add_audio(np.zeros(SAMPLE_RATE, np.float32))
    t0 = time.monotonic()
    with pytest.raises(OutputError, match="encoder"):
        rec.close()
    assert time.monotonic() - t0 < 15.0
    assert list(tmp_path.iterdir()) == []


def _noise_into(rec: Mp4Recorder, n: int, *, w: int, h: int) -> int:
    """Write ``n`` frames of noise (slower to encode than to write) as fast as possible; ffmpeg's peak RSS (MB)."""
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (h, w, 4), dtype=np.uint8) for _ in range(4)]
    pid = rec.encoder_pid
    for i in range(n):
        rec.write_frame(frames[i % 4].data)
    with open(f"/proc/{pid}/status") as f:
        hwm = next(int(ln.split()[1]) for ln in f if ln.startswith("VmHWM")) // 1024
    rec.add_audio(np.zeros(n * SAMPLE_RATE // 60, np.float32))
    rec.close()
    return hwm


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_slow_encoder_holds_few_frames(tmp_path):
    """The live recorder's ``max_in_flight``: 1280×720 noise written faster than libx264 (the live preset)
    encodes it.  Unlimited, ffmpeg's queues between its threads fill with frames; limited to 8, never more
    than 8 are inside it (its progress reports), its peak RSS is lower, and every frame is in the file."""
    from dancepose.models.media.encoders import h264

    w, h, n = 1280, 720, 240
    kw = {"width": w, "height": h, "fps": 60, "sample_rate": SAMPLE_RATE, "drop_when_behind": False,
          "input_pix_fmt": "bgr0", "quiet": True, "encoding": h264("libx264", width=w, height=h)}
    free = _noise_into(Mp4Recorder(tmp_path / "free.mp4", **kw), n, w=w, h=h)
    rec = Mp4Recorder(tmp_path / "held.mp4", max_in_flight=8, **kw)
    held = _noise_into(rec, n, w=w, h=h)
    assert rec.in_flight_peak == 8  # reached (the encoder is the slower) and never passed
    assert held < free - 20, (held, free)  # measured 105 against 147 MB
    info = probe_streams(tmp_path / "held.mp4")
    assert info["video"]["duration"] == pytest.approx(n / 60, abs=0.02)


def test_an_encoder_with_a_longer_delay_than_the_limit_still_records(tmp_path):
    """``max_in_flight=1`` is below libx264's own delay (it emits nothing until it holds several frames): the
    limit grows after each 0.5-s stall instead of waiting forever, and every frame is recorded."""
    from dancepose.models.media.encoders import h264

    rec = Mp4Recorder(tmp_path / "one.mp4", width=W, height=H, fps=60, sample_rate=SAMPLE_RATE,
                      drop_when_behind=False, input_pix_fmt="bgr0", quiet=True, max_in_flight=1,
                      encoding=h264("libx264", width=W, height=H))
    _noise_into(rec, 60, w=W, h=H)
    assert 2 <= rec.in_flight_limit <= 60
    assert probe_streams(tmp_path / "one.mp4")["video"]["duration"] == pytest.approx(1.0, abs=0.02)
