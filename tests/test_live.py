"""dancepose-live end to end (headless, SDL dummy driver): recording length, Ctrl-C, bad input."""
from __future__ import annotations

import resource
import signal
import subprocess
import time

import numpy as np
import pytest

from dancepose.models.clock import DISPLAY_FPS
from dancepose.models.media.probe import probe_streams

from live_helpers import live_cmd, live_env, model_args, rt_permitted

pytestmark = pytest.mark.display


def _one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip() and not ln.startswith("ALSA lib")]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("dancepose-live: error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_file_headless_record_is_exactly_10s(shared_data, tmp_path):
    """A real song, 10 s headless with recording → video and audio streams both 10 s ± 0.1 s."""
    song = shared_data / "dance_with_melody" / "DANCE_C_4" / "audio.mp3"
    out, csv = tmp_path / "out.mp4", tmp_path / "t.csv"
    proc = subprocess.run(live_cmd("--input", str(song), *model_args(), "--headless", "--duration", "10",
                                   "--size", "640x360", "--record", str(out), "--log-timings", str(csv)),
                          env=live_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    info = probe_streams(out)
    assert info["video"]["codec"] == "h264" and info["audio"]["codec"] == "aac"
    assert info["video"]["duration"] == pytest.approx(10.0, abs=0.1)
    assert info["audio"]["duration"] == pytest.approx(10.0, abs=0.1)
    assert (info["video"]["width"], info["video"]["height"]) == (640, 360)
    if rt_permitted():
        assert proc.stderr.strip().splitlines()[-1].endswith("dropped video frames 0, realtime priority")
    # The timing log is consistent: the shown pose never comes from audio not yet heard/analysed.
    d = np.genfromtxt(csv, delimiter=",", names=True)
    assert len(d) > 100
    assert np.all(d["pose_time"] <= d["display_time"] + 1e-6)
    assert d["model_steps"].sum() >= 10 * 30 - 2  # one dancer step per model frame of the 10 s


def test_sigint_while_recording_leaves_playable_mp4(tmp_path):
    out = tmp_path / "interrupted.mp4"
    proc = subprocess.Popen(live_cmd("--input", "demo", *model_args(), "--headless", "--sim-clock",
                                     "--size", "320x240", "--record", str(out)),
                            env=live_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(4.0)
        assert proc.poll() is None, proc.communicate()[1]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    info = probe_streams(out)
    assert info["video"] is not None and info["audio"] is not None
    assert info["video"]["duration"] > 0.5
    assert abs(info["video"]["duration"] - info["audio"]["duration"]) < 0.1
    # Really decodable: the bundled ffmpeg decodes every frame without error.
    from dancepose.models.audio import ffmpeg_exe

    dec = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(out), "-f", "null", "-"],
                         capture_output=True, text=True)
    assert dec.returncode == 0 and not dec.stderr.strip(), dec.stderr


def test_run_live_in_process_sim_clock(tmp_path):
    """The core API: exact frame count on the simulated clock, screenshot, pose log."""
    from dancepose.realtime.live import LiveConfig, run_live

    args = model_args()
    cfg = LiveConfig(input="demo", model_dir=args[1] if args else None, headless=True, sim_clock=True,
                     duration=2.0, size=(320, 240), log_poses=tmp_path / "p.npz",
                     screenshot=tmp_path / "shot.png", quiet=True)
    res = run_live(config=cfg)
    assert res.frames == 2 * DISPLAY_FPS
    assert res.seconds == pytest.approx(2.0)
    z = np.load(tmp_path / "p.npz")
    assert z["poses"].shape == (2 * DISPLAY_FPS, 15, 2)
    assert np.isfinite(z["poses"]).all()
    assert z["model_poses"].shape[0] >= 60
    assert (tmp_path / "shot.png").stat().st_size > 1000


def test_the_show_leaves_the_other_core_free():
    """numpy's BLAS runs one thread in the show: OpenBLAS's idle worker spun on ``sched_yield`` between the
    live step's small products, 60–80 % of a core of system time (found with py-spy and strace).  An
    8-s headless show, start-up included, now takes well under half a core (was above one)."""
    env = live_env()
    env.pop("OPENBLAS_NUM_THREADS", None)  # the show must not depend on the caller's environment
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    subprocess.run(live_cmd("--input", "demo", *model_args(), "--headless", "--sim-clock", "--duration", "8",
                            "--size", "320x240", "-q"), env=env, check=True, timeout=120)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert wall >= 8.0
    assert cpu < 0.5 * wall, f"{cpu:.1f} s of CPU in {wall:.1f} s"


def test_rig_outputs_end_to_end(tmp_path):
    """One headless run with every rig output: OpenPose look on a green key, OpenPose JSON per shown frame,
    OSC to a real server, Link, a fixed tempo and a latency offset (the HUD off for a keyable picture)."""
    import json
    import threading

    from pythonosc.dispatcher import Dispatcher
    from pythonosc.osc_server import ThreadingOSCUDPServer

    from dancepose.models.media.draw import OPENPOSE_COLOURS

    got = []
    d = Dispatcher()
    d.set_default_handler(lambda addr, *a: got.append(addr))
    server = ThreadingOSCUDPServer(("127.0.0.1", 0), d)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    js, shot = tmp_path / "json", tmp_path / "shot.png"
    try:
        p = _run("--input", "demo", *model_args(), "--headless", "--sim-clock", "--duration", "2", "--size",
                 "320x240", "--style", "openpose", "--background", "#00FF00", "--save-openpose", str(js),
                 "--osc", f"127.0.0.1:{server.server_address[1]}", "--link", "--bpm", "110",
                 "--latency-offset", "120", "--screenshot", str(shot), "-q")
        time.sleep(0.3)
    finally:
        server.shutdown()
        server.server_close()
    assert p.returncode == 0, p.stderr
    files = sorted(js.glob("*_keypoints.json"))
    assert len(files) == 2 * DISPLAY_FPS
    assert len(json.loads(files[-1].read_text())["people"][0]["pose_keypoints_2d"]) == 54
    assert got.count("/dancepose/pose") == 2 * DISPLAY_FPS and "/dancepose/tempo" in got
    import pygame

    img = pygame.surfarray.array3d(pygame.image.load(str(shot))).transpose(1, 0, 2)
    assert (img[:40, :] == (0, 255, 0)).all()  # no HUD over the key
    colours = {tuple(c) for c in img.reshape(-1, 3)}
    assert sum(c in colours for c in OPENPOSE_COLOURS) >= 12


# ------------------------------------------------------------------------------------- bad input
def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(live_cmd(*args), env=env or live_env(), capture_output=True, text=True,
                          timeout=60)


def test_undecodable_file(tmp_path):
    bad = tmp_path / "song.mp3"
    bad.write_bytes(b"this is not audio" * 100)
    p = _run("--input", str(bad), *model_args(), "--headless", "--sim-clock", "--duration", "1")
    assert p.returncode == 3
    _one_error_line(p.stderr)


def test_missing_input_file(tmp_path):
    p = _run("--input", str(tmp_path / "nope.wav"), *model_args(), "--headless", "--duration", "1")
    assert p.returncode == 3
    assert "not found" in _one_error_line(p.stderr)


def test_missing_and_corrupt_model(tmp_path):
    p = _run("--input", "demo", "--model", str(tmp_path / "none"), "--headless", "--duration", "1")
    assert p.returncode == 4
    assert "model directory not found" in _one_error_line(p.stderr)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    (bad / "dancer.npz").write_bytes(b"garbage")
    p = _run("--input", "demo", "--model", str(bad), "--headless", "--duration", "1")
    assert p.returncode == 4
    assert "corrupt" in _one_error_line(p.stderr)


def test_unknown_device_name():
    p = _run("--input", "mic", *model_args(), "--device", "no-such-device-xyz", "--headless",
             "--duration", "1")
    assert p.returncode == 5
    line = _one_error_line(p.stderr)
    assert "no audio input device" in line or "PortAudio not found" in line


def test_no_display_without_headless():
    env = live_env()
    for k in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"):
        env.pop(k, None)
    p = _run("--input", "demo", *model_args(), "--duration", "1", env=env)
    assert p.returncode == 5
    assert "no display available (set DISPLAY or use --headless)" in _one_error_line(p.stderr)


def test_bad_duration_and_size():
    p = _run("--input", "demo", "--headless", "--duration", "-3")
    assert p.returncode == 2
    _one_error_line(p.stderr)
    p = _run("--input", "demo", "--headless", "--size", "abc")
    assert p.returncode == 2 and "size must look like" in p.stderr


@pytest.mark.parametrize("args, code, message", [
    (["--bpm", "5"], 2, "argument --bpm: must be between 55 and 215 BPM"),
    (["--latency-offset", "5000"], 2, "--latency-offset must be between"),
    (["--style", "neon"], 2, "invalid choice"),
    (["--background", "#12345"], 2, "background colour must look like #00FF00"),
])
def test_bad_rig_options(args, code, message):
    p = _run("--input", "demo", "--headless", "--sim-clock", "--duration", "1", *args)
    assert p.returncode == code and message in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_save_openpose_under_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    p = _run("--input", "demo", *model_args(), "--headless", "--sim-clock", "--duration", "1",
             "--save-openpose", str(tmp_path / "f" / "json"))
    assert p.returncode == 6
    assert "not a directory" in _one_error_line(p.stderr)


def test_pacing_favours_latency_for_a_microphone_and_smoothness_for_a_song():
    """--input mic: whole model steps, each frame made at its deadline (the picture's lag behind the room's
    sound counts most); a song or the demo: the step split over two frames, work 8 ms ahead of the deadline."""
    from dancepose.realtime.live import LiveConfig, pacing_for
    from dancepose.realtime.window import PRESENT_LEAD_S

    mic, lead = pacing_for(LiveConfig(input="mic", latency_offset_ms=120.0, seed=4))
    assert not mic.split_steps and lead == 0.0
    assert mic.latency_offset_s == pytest.approx(0.12) and mic.seed == 4
    for spec in ("demo", __file__):
        song, lead = pacing_for(LiveConfig(input=spec))
        assert song.split_steps and lead == PRESENT_LEAD_S == pytest.approx(0.008)
