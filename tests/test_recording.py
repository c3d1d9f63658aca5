"""Live recording in its own process (realtime/recording.py, realtime/recorder_process.py): the ring, what is
recorded against what was shown, A/V sync, and the failures — a killed recorder, a killed show, a stopped
recorder, a full disk, a hardware encoder that does not work here."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from dancepose.models.audio import ffmpeg_exe
from dancepose.models.clock import DISPLAY_FPS, SAMPLE_RATE
from dancepose.models.media.probe import probe_streams
from dancepose.models.outputs import verify_media
from dancepose.realtime.recording import (
    H_AUDIO_READ, H_READ, R_AUDIO, R_CHECK, R_HUD, R_NOTE_SET, R_POSE, R_SHOW, FrameRing,
)

from live_helpers import live_cmd, live_env, model_args

pytestmark = pytest.mark.display


# ------------------------------------------------------------------------------------- the ring
def test_ring_hands_over_every_frame_and_sample_in_order():
    """Random audio block sizes, a reader that lags and catches up, wrap-around many times: every
    record and every sample arrives once, in order; a full ring refuses instead of overwriting.  The tempo
    note (text, sent only when it changes) reads back as each frame had it, also across refused pushes."""
    rng = np.random.default_rng(0)
    w = FrameRing(frames=64, samples=4096)
    r = FrameRing(name=w.name, frames=64, samples=4096)
    try:
        sent_audio, got_audio, got_rows = [], [], []
        read = a_read = 0
        refused = 0
        notes = ["", "Link 230 BPM, half time", "--bpm 300 outside 55–215: 150 BPM ✓", "x" * 200]
        note_read = ""
        for i in range(2000):
            pose = rng.standard_normal((15, 2)).astype(np.float32)
            y = rng.standard_normal(int(rng.integers(0, 700))).astype(np.float32)
            hud = None if i % 3 == 0 else tuple(float(v) for v in rng.standard_normal(11))
            note = notes[int(rng.integers(0, 4))] if rng.random() < 0.1 else (got_rows[-1][3] if got_rows else "")
            if w.push(pose, hud, y, note):
                sent_audio.append(y)
                got_rows.append((len(got_rows), pose.copy(), hud, note))
            else:
                refused += 1
            if rng.random() < 0.3:  # the reader catches up now and then
                n_pub, a_pub = r.published()
                got_audio.append(r.read_audio(a_read, a_pub))
                a_read = a_pub
                r.header[H_AUDIO_READ] = a_read
                for k in range(read, n_pub):
                    row = r.record(k)
                    idx, pose_k, hud_k, note_k = got_rows[k]
                    assert row is not None and int(row[R_CHECK]) == idx
                    np.testing.assert_array_equal(row[R_POSE:R_SHOW].reshape(15, 2), pose_k)
                    assert bool(row[R_SHOW]) == (hud_k is not None)
                    if hud_k is not None:
                        np.testing.assert_allclose(row[R_HUD:R_NOTE_SET], hud_k)
                    note_read = FrameRing.note_of(row, note_read)
                    assert note_read == note_k.encode()[:128].decode("utf-8", "ignore")
                    assert int(row[R_AUDIO]) == sum(len(a) for a in sent_audio[:k + 1])
                read = n_pub
                r.header[H_READ] = read
        assert refused > 0  # the reader lagged more than the ring: pushes were refused, nothing overwritten
        np.testing.assert_array_equal(np.concatenate(got_audio), np.concatenate(sent_audio)[:a_read])
    finally:
        r.close()
        w.close()
    assert not Path(f"/dev/shm/{w.name.lstrip('/')}").exists()


# ------------------------------------------------------------------------------------- whole runs
def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(live_cmd(*args), env=live_env(), capture_output=True, text=True, timeout=timeout)


def _frame(path: Path, n: int) -> np.ndarray:
    """Decoded RGB frame ``n`` of an MP4."""
    out = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-vf", f"select=eq(n\\,{n})",
                          "-fps_mode", "passthrough", "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    info = probe_streams(path)["video"]
    return np.frombuffer(out, np.uint8).reshape(info["height"], info["width"], 3)


def test_recorded_is_shown_with_its_audio_in_sync(tmp_path):
    """Simulated clock, 4 s: the MP4's last frame is the window's last frame (the screenshot) up to H.264's
    loss, HUD and REC mark included; video and audio are both exactly 4 s (≤ 1 frame apart); the end says
    how far behind the recording ran; no temporaries remain."""
    import pygame

    out, shot = tmp_path / "show.mp4", tmp_path / "shot.png"
    p = _run("--input", "demo", *model_args(), "--headless", "--sim-clock", "--duration", "4", "--size",
             "640x360", "--record", str(out), "--screenshot", str(shot))
    assert p.returncode == 0, p.stderr
    assert "behind the show" in p.stderr and "Traceback" not in p.stderr
    info = verify_media(out, video=True, audio=True)
    assert info["video"]["packets"] == 4 * DISPLAY_FPS
    assert abs(info["video"]["duration"] - 4.0) < 1.0 / DISPLAY_FPS
    assert abs(info["audio"]["duration"] - info["video"]["duration"]) <= 1.0 / DISPLAY_FPS
    shown = pygame.surfarray.array3d(pygame.image.load(str(shot))).transpose(1, 0, 2).astype(float)
    recorded = _frame(out, 4 * DISPLAY_FPS - 1).astype(float)
    err = np.abs(recorded - shown)
    assert err.mean() < 3.0, err.mean()  # H.264 at CRF 20: a few levels
    other = _frame(out, 2 * DISPLAY_FPS).astype(float)
    assert np.abs(other - shown).mean() > 2 * err.mean()  # and a different frame is clearly different
    assert sorted(q.name for q in tmp_path.iterdir()) == ["shot.png", "show.mp4"]


def _recorder_pid(live_pid: int, timeout: float = 60.0) -> int:
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        try:
            kids = Path(f"/proc/{live_pid}/task/{live_pid}/children").read_text().split()
        except OSError:
            kids = []
        for k in kids:
            try:
                if b"recorder_process" in Path(f"/proc/{k}/cmdline").read_bytes():
                    return int(k)
            except OSError:
                pass
        time.sleep(0.05)
    raise AssertionError("no recorder process")


def _wait_recording(folder: Path, proc: subprocess.Popen, timeout: float = 120.0, video_bytes: int = 0) -> None:
    """Until the recorder has its temporary folder (it records from then on) and has encoded
    ``video_bytes`` of video (the recorder is niced: on a busy machine it may run behind the show)."""
    t_end = time.monotonic() + timeout

    def encoded() -> int:
        parts = [q / "video.mkv" for q in folder.iterdir() if ".rec-" in q.name]
        return max((p.stat().st_size for p in parts if p.exists()), default=-1)

    while encoded() < video_bytes:
        assert proc.poll() is None and time.monotonic() < t_end, proc.communicate()[1]
        time.sleep(0.05)


def test_killed_recorder_process_the_show_goes_on_and_keeps_what_was_encoded(tmp_path):
    out = tmp_path / "show.mp4"
    proc = subprocess.Popen(live_cmd("--input", "demo", *model_args(), "--headless", "--sim-clock", "--duration",
                                     "12", "--size", "320x240", "--record", str(out)),
                            env=live_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        rec_pid = _recorder_pid(proc.pid)
        _wait_recording(tmp_path, proc, video_bytes=40_000)
        os.kill(rec_pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "recording stopped at" in err and "killed by SIGKILL; the show goes on" in err
    assert "kept what it had encoded" in err and "Traceback" not in err
    frames = int(err.split("dancepose-live: ")[-1].split(" frames")[0])
    assert frames == 12 * DISPLAY_FPS  # the show ran to its end
    info = verify_media(out, video=True, audio=True)
    assert 0.2 < info["video"]["duration"] < 11.0
    assert abs(info["audio"]["duration"] - info["video"]["duration"]) <= 1.0 / DISPLAY_FPS
    assert [q.name for q in tmp_path.iterdir()] == ["show.mp4"]


def test_killed_show_the_recorder_finishes_the_file(tmp_path):
    out = tmp_path / "show.mp4"
    proc = subprocess.Popen(live_cmd("--input", "demo", *model_args(), "--headless", "--sim-clock", "--duration",
                                     "60", "--size", "320x240", "--record", str(out)),
                            env=live_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        rec_pid = _recorder_pid(proc.pid)
        _wait_recording(tmp_path, proc)
        time.sleep(3.0)
        segments = {ln.split()[-1] for ln in Path(f"/proc/{rec_pid}/maps").read_text().splitlines()
                    if "/dev/shm/" in ln}
        assert segments  # the ring
        # SIGKILL to the show's process group (the recorder has its own): no finally, no atexit, and no
        # resource tracker left to remove the ring either
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        t_end = time.monotonic() + 60
        while Path(f"/proc/{rec_pid}").exists() and time.monotonic() < t_end:
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not Path(f"/proc/{rec_pid}").exists(), "the recorder did not finish on its own"
    info = verify_media(out, video=True, audio=True)
    assert info["video"]["duration"] > 1.0  # all the show sent, however far behind the encoder was
    assert abs(info["audio"]["duration"] - info["video"]["duration"]) <= 1.0 / DISPLAY_FPS
    assert [q.name for q in tmp_path.iterdir()] == ["show.mp4"]
    assert not any(Path(seg).exists() for seg in segments), "the ring's shared memory was left behind"


def test_stopped_recorder_the_show_never_waits(tmp_path):
    """The recorder process frozen (SIGSTOP) for 3 s: the display loop does not slow down (it only hands
    frames over); once it runs again it catches up and the file is whole, in sync, and says it ran behind."""
    out, csv = tmp_path / "show.mp4", tmp_path / "t.csv"
    proc = subprocess.Popen(live_cmd("--input", "demo", *model_args(), "--headless", "--sim-clock", "--duration",
                                     "10", "--size", "320x240", "--record", str(out), "--log-timings", str(csv)),
                            env=live_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        rec_pid = _recorder_pid(proc.pid)
        _wait_recording(tmp_path, proc)
        policies = _policies(rec_pid)
        os.kill(rec_pid, signal.SIGSTOP)
        time.sleep(3.0)
        os.kill(rec_pid, signal.SIGCONT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    info = verify_media(out, video=True, audio=True)
    assert abs(info["video"]["duration"] - 10.0) < 1.0 / DISPLAY_FPS
    assert abs(info["audio"]["duration"] - info["video"]["duration"]) <= 1.0 / DISPLAY_FPS
    behind = float(err.split("ran up to ")[1].split(" s behind")[0])
    assert behind > 2.0, err
    d = np.genfromtxt(csv, delimiter=",", names=True)
    assert d["frame_ms"].max() < 500  # no frame waited for the frozen recorder
    # the drawing and encoding (a thread, the threads it starts and its ffmpeg) run at nice 19; the
    # recorder's main thread, which finishes the file after the show, does not
    assert policies["main"] == 0 and 19 in policies["threads"], policies
    assert policies["children"] and set(policies["children"]) == {19}, policies


def test_sigterm_while_the_recording_finishes_keeps_the_file(tmp_path):
    """The show is over and the recorder still has video to encode (frozen by SIGSTOP): a SIGTERM then
    asks it to finish now with what it encoded — the file is written, valid and reported, and the show
    exits 143.  (Before, the live process left at once and reported nothing; the soak found no file.)"""
    import threading

    out = tmp_path / "show.mp4"
    proc = subprocess.Popen(live_cmd("--input", "demo", *model_args(), "--headless", "--sim-clock", "--duration",
                                     "6", "--size", "320x240", "--record", str(out)),
                            env=live_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    rec_pid = None
    try:
        rec_pid = _recorder_pid(proc.pid)
        _wait_recording(tmp_path, proc, video_bytes=1)
        os.kill(rec_pid, signal.SIGSTOP)
        t_end = time.monotonic() + 60
        while not any("finishing the recording" in ln for ln in lines):
            assert proc.poll() is None and time.monotonic() < t_end, "".join(lines)
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        os.kill(rec_pid, signal.SIGCONT)
        proc.wait(timeout=60)
    finally:
        if rec_pid is not None:
            try:
                os.kill(rec_pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        if proc.poll() is None:
            proc.kill()
    reader.join(timeout=10)
    err = "".join(lines)
    assert proc.returncode == 143, err
    assert f"recorded {out}" in err, err
    assert "Traceback" not in err
    info = verify_media(out, video=True, audio=True)
    assert 0.0 < info["video"]["duration"] < 6.0  # what was encoded when the signal came


def _policies(pid: int) -> dict:
    """Niceness of a process's threads and of its child processes' main threads (Linux: per thread)."""
    threads, children = [], []
    for task in Path(f"/proc/{pid}/task").iterdir():
        threads.append(os.getpriority(os.PRIO_PROCESS, int(task.name)))
        for kid in (task / "children").read_text().split():
            children.append(os.getpriority(os.PRIO_PROCESS, int(kid)))
    return {"main": os.getpriority(os.PRIO_PROCESS, pid), "threads": threads, "children": children}


def test_disk_full_while_recording(tmp_path, small_disk, fill_disk):
    """The disk fills during the show: the show goes on, one line says the recording stopped; at the end
    one error line, exit 6, nothing left on the disk but the filler."""
    disk = small_disk("8M")
    out = disk / "show.mp4"
    proc = subprocess.Popen(live_cmd("--input", "demo", *model_args(), "--headless", "--sim-clock", "--duration",
                                     "7", "--size", "160x120", "--record", str(out)),
                            env=live_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_recording(disk, proc)
        time.sleep(1.0)
        fill_disk(disk)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert proc.returncode == 6, err
    assert any("recording stopped at" in ln and "the show goes on" in ln for ln in lines), err
    assert lines[-1].startswith("dancepose-live: error: cannot write") and "no space left" in lines[-1], err
    assert "Traceback" not in err
    assert os.listdir(disk) == ["filler"]


def test_hardware_encoder_falls_back_to_x264_with_one_line(tmp_path):
    """The bundled ffmpeg lists h264_vaapi but nothing here drives it: one line says so, the recording is
    H.264 from libx264."""
    from dancepose.models.media.encoders import probe_encoding, h264

    if probe_encoding(h264("h264_vaapi"), ffmpeg=ffmpeg_exe()) is None:
        pytest.skip("this machine really has VA-API: nothing to fall back from")
    out = tmp_path / "hw.mp4"
    p = _run("--input", "demo", *model_args(), "--headless", "--sim-clock", "--duration", "2", "--size",
             "320x240", "--record", str(out), "--encoder", "h264_vaapi", "-q")
    assert p.returncode == 0, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--encoder h264_vaapi does not work here" in lines[0], p.stderr
    assert lines[0].endswith("recording with libx264")
    info = verify_media(out, video=True, audio=True)
    assert info["video"]["codec"] == "h264" and info["video"]["packets"] == 2 * DISPLAY_FPS


def test_record_key_starts_and_stops_while_the_show_goes_on(tmp_path, monkeypatch):
    """In process: ``--record`` records from the start, r stops it (it finishes in its own process while the
    show goes on), r starts a second one, the window's close ends the show: two files, each its length."""
    from dancepose.models.dancer import Dancer
    from dancepose.models.media.draw import FigureStyle
    from dancepose.realtime.audio_in import SimulatedPlayback
    from dancepose.realtime.demo_loop import demo_loop
    from dancepose.realtime.engine import Engine
    from dancepose.realtime.performance import Performance
    from dancepose.realtime.recording import RecordingSink
    from dancepose.realtime.window import Window, WindowSink

    monkeypatch.chdir(tmp_path)
    window = Window(size=(320, 240), headless=True)
    pg = window.pg
    try:
        style = FigureStyle()
        ws = WindowSink(window=window, style=style)
        rec = RecordingSink(window=window, style=style, hud=lambda: ws.last_hud, source="demo",
                            path=tmp_path / "first.mp4", quiet=True)
        ws._recording = lambda: rec.recording
        perf = Performance(engine=Engine(dancer=Dancer.load(None)), source=SimulatedPlayback(demo_loop(), loop=True),
                           sinks=[ws, rec], inputs=[ws])
        key = lambda k: pg.event.post(pg.event.Event(pg.KEYDOWN, key=k, mod=0, unicode="", scancode=0))
        with perf:
            perf.run(max_frames=90)   # 1.5 s recorded
            key(pg.K_r)
            perf.run(max_frames=60)   # not recorded
            key(pg.K_r)
            perf.run(max_frames=120)  # 2 s recorded
            pg.event.post(pg.event.Event(pg.QUIT))
            perf.run()
        assert perf.frames == 90 + 60 + 120
    finally:
        window.close()
    files = sorted(tmp_path.glob("*.mp4"))
    assert len(files) == 2 and tmp_path / "first.mp4" in files
    lengths = sorted(probe_streams(f)["video"]["packets"] for f in files)
    assert lengths == [90, 120]
    assert not [q for q in tmp_path.iterdir() if q.name.startswith(".")]
