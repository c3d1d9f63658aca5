"""``dancepose extract --ray`` on a real local Ray cluster (``ray start --head``, 2 CPUs, 127.0.0.1).

Real MediaPipe on the shared dance clips: the outputs must equal the local path's bit for bit, also when a
video is split into segments (the portrait clip is one shot where MediaPipe never loses the dancer: a run
started late never coincides with the run from frame 0, by up to 50 px, unless both start afresh at the
same frames); a worker SIGKILLed mid-segment loses nothing; SIGTERM to the driver keeps finished segments
and a rerun resumes from them; a corrupt video is reported and the rest is done.  Dead, foreign and
silent cluster addresses fail fast with one line.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

from dancepose.models.errors import InputError  # noqa: E402
from dancepose.models.posefile import PoseSequence  # noqa: E402
from dancepose.offline.extract import extract_pose  # noqa: E402
from dancepose.offline.ray_extract import plan_segments  # noqa: E402

BIN = Path(sys.executable).parent
MAX_FRAMES = 900          # 30 s of the 70 s clip …
SEGMENT_SECONDS = 5.0     # … in three segments of whole 10-s state blocks: [0, 300), [300, 600), [600, 900)
                          # (two run at once on the 2 CPUs, the third after); the 13-s portrait clip:
                          # [0, 300) and [300, 402)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A real Ray head with 2 CPUs on 127.0.0.1; its temp dir under pytest's; stopped after the module."""
    temp = tmp_path_factory.mktemp("ray")
    port = _free_port()
    # a loopback-only test cluster: without Ray's token authentication (on by default in Ray 2.60; a
    # driver given an explicit address does not use it unless RAY_AUTH_MODE=token is set)
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", TF_CPP_MIN_LOG_LEVEL="2", RAY_AUTH_MODE="disabled")
    env.pop("RAY_ADDRESS", None)
    head = subprocess.Popen([str(BIN / "ray"), "start", "--head", "--block", "--num-cpus", "2",
                             "--node-ip-address", "127.0.0.1", "--port", str(port), "--temp-dir", str(temp),
                             "--include-dashboard", "false", "--object-store-memory", str(80 << 20),
                             "--disable-usage-stats"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    address = f"127.0.0.1:{port}"
    try:
        status = [str(BIN / "ray"), "status", "--address", address]
        deadline = time.monotonic() + 120
        while subprocess.run(status, capture_output=True, env=env).returncode:
            assert head.poll() is None, "ray start --head exited"
            assert time.monotonic() < deadline, "the Ray head did not come up in 120 s"
            time.sleep(1.0)
        yield {"address": address, "head": head}
    finally:
        _stop(head)


def _stop(head: subprocess.Popen) -> None:
    """Stop only what the fixture started: the head (which stops its processes), then any leftover."""
    procs = psutil.Process(head.pid).children(recursive=True)
    head.terminate()
    try:
        head.wait(timeout=30)
    except subprocess.TimeoutExpired:
        head.kill()
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


@pytest.fixture(scope="module")
def videos(shared_data, tmp_path_factory) -> Path:
    """A folder of real videos: the 70 s and 13 s clips (each split into two segments) and the 2 s clip."""
    d = tmp_path_factory.mktemp("videos")
    (d / "clip70.mp4").symlink_to(shared_data / "dance_videos" / "dancer_fullbody_70s.mp4")
    (d / "clip13.mp4").symlink_to(shared_data / "dance_videos" / "dancer_studio_portrait_13s.mp4")
    (d / "clip2.mp4").symlink_to(shared_data / "dance_videos" / "dancer_nomusic_2s.mp4")
    return d


@pytest.fixture(scope="module")
def local(videos, tmp_path_factory) -> Path:
    """The same folder through the local path: the reference."""
    out = tmp_path_factory.mktemp("local")
    extract_pose(sources=[videos], out_dir=out, quiet=True, max_frames=MAX_FRAMES)
    return out


def _assert_same(a: Path, b: Path) -> None:
    x, y = PoseSequence.load(a), PoseSequence.load(b)
    assert len(x) == len(y) and x.fps == y.fps and x.image_size == y.image_size
    (xs, *xrest), (ys, *yrest) = x.source.split(" | "), y.source.split(" | ")
    assert Path(xs).name == Path(ys).name and xrest == yrest          # same video (folders may differ)
    np.testing.assert_array_equal(x.flags, y.flags)            # bit for bit
    np.testing.assert_array_equal(x.keypoints, y.keypoints)
    np.testing.assert_array_equal(x.confidence, y.confidence)


def test_split_plan():
    segs = plan_segments(n_frames=2089, fps=30.0, segment_seconds=SEGMENT_SECONDS, max_frames=MAX_FRAMES)
    assert [(s.start, s.stop) for s in segs] == [(0, 300), (300, 600), (600, 900)]
    segs = plan_segments(n_frames=2089, fps=30.0, segment_seconds=30.0, max_frames=None)
    assert [(s.start, s.stop) for s in segs] == [(0, 1200), (1200, None)]      # whole 10-s blocks
    segs = plan_segments(n_frames=2089, fps=29.97, segment_seconds=10.0, max_frames=None)
    assert [s.start for s in segs] == [0, 300, 600, 900, 1200, 1500, 1800] and segs[-1].stop is None
    assert [s.start for s in plan_segments(n_frames=402, fps=30.0, segment_seconds=SEGMENT_SECONDS,
                                           max_frames=None)] == [0, 300]
    assert len(plan_segments(n_frames=65, fps=30.0, segment_seconds=10.0, max_frames=None)) == 1
    assert len(plan_segments(n_frames=0, fps=30.0, segment_seconds=10.0, max_frames=None)) == 1
    for n in (1, 299, 300, 301, 5000, 123_457):
        for seconds in (1.0, 10.0, 37.0, 120.0):
            segs = plan_segments(n_frames=n, fps=25.0, segment_seconds=seconds, max_frames=None)
            starts = [s.start for s in segs]
            assert starts[0] == 0 and all(a % 250 == 0 for a in starts) and starts == sorted(set(starts))
            assert all(a.stop == b.start for a, b in zip(segs, segs[1:])) and segs[-1].stop is None


@pytest.mark.slow
def test_ray_outputs_equal_local_and_a_corrupt_video_is_reported(cluster, videos, local, tmp_path, capfd):
    src = tmp_path / "videos"
    src.mkdir()
    for v in videos.iterdir():
        (src / v.name).symlink_to(v)
    (src / "zz_corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4000))
    out = tmp_path / "out"
    with pytest.raises(InputError, match="3 of 4 sources extracted"):
        extract_pose(sources=[src], out_dir=out, quiet=True, max_frames=MAX_FRAMES, ray=cluster["address"],
                     segment_seconds=SEGMENT_SECONDS)
    assert "zz_corrupt.mp4: failed: " in capfd.readouterr().err
    for name in ("clip70", "clip13", "clip2"):
        _assert_same(out / f"{name}.pose.npz", local / f"{name}.pose.npz")
    assert sorted(p.name for p in out.iterdir()) == ["clip13.pose.npz", "clip2.pose.npz",
                                                     "clip70.pose.npz"]   # no parts left


@pytest.mark.slow
def test_two_dancers_the_same_dancer_across_a_segment_start(cluster, two_dancers, tmp_path, capfd):
    """At frame 300 the detector starts afresh and, looking at the whole frame, takes the other dancer; the
    local run looks again inside the first dancer's box and keeps them.  The Ray segment starting there
    cannot know whom to keep: the stitch task redoes it, and the files are the same bit for bit."""
    video = two_dancers
    (here,) = extract_pose(sources=[video], out_dir=tmp_path / "local", quiet=True)
    (there,) = extract_pose(sources=[video], out_dir=tmp_path / "ray", quiet=False, ray=cluster["address"],
                            segment_seconds=SEGMENT_SECONDS)
    assert "two.mp4: 1 segment(s) run again to keep the dancer" in capfd.readouterr().err
    _assert_same(there, here)
    x = PoseSequence.load(here).keypoints[:, :, 0]
    assert (np.nanmedian(x[290:300]) < 360) == (np.nanmedian(x[300:310]) < 360)   # the same side


@pytest.mark.slow
def test_worker_killed_mid_segment_loses_nothing(cluster, videos, local, tmp_path):
    out = tmp_path / "out"
    killed: list[int] = []

    def kill_a_segment_worker() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed:
            for p in psutil.Process(cluster["head"].pid).children(recursive=True):
                try:
                    running = p.cmdline()[:1] == ["ray::_segment_task"]
                except psutil.Error:
                    continue
                if running:
                    time.sleep(4.0)                     # let it do some frames, then kill it
                    parts = list((out / "clip70.pose.parts").glob("*.npz"))
                    if len(parts) == 0:                 # no segment finished yet: truly mid-run
                        p.send_signal(signal.SIGKILL)
                        killed.append(p.pid)
                    return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_a_segment_worker, daemon=True)
    killer.start()
    (path,) = extract_pose(sources=[videos / "clip70.mp4"], out_dir=out, quiet=True, max_frames=MAX_FRAMES,
                           ray=cluster["address"], segment_seconds=SEGMENT_SECONDS)
    killer.join(timeout=10)
    assert killed, "no segment worker was found running to be killed"
    assert not psutil.pid_exists(killed[0]) or psutil.Process(killed[0]).status() == psutil.STATUS_ZOMBIE
    _assert_same(path, local / "clip70.pose.npz")      # Ray redid the segment: nothing lost


@pytest.mark.slow
def test_sigterm_keeps_finished_segments_and_rerun_resumes(cluster, videos, local, tmp_path):
    out = tmp_path / "out"
    cmd = [str(BIN / "dancepose"), "extract", str(videos / "clip70.mp4"), "-o", str(out), "--ray",
           cluster["address"], "--max-frames", str(MAX_FRAMES), "--segment-seconds", str(SEGMENT_SECONDS)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    first = out / "clip70.pose.parts" / "000000000-000000300.npz"
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 300
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert first.exists(), "the first segment was never written"
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "dancepose: interrupted (SIGTERM)"
    assert first.exists() and not (out / "clip70.pose.npz").exists()

    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    assert re.search(r"clip70.mp4: resuming: [12] of 3 segments already done", r.stderr), r.stderr
    _assert_same(out / "clip70.pose.npz", local / "clip70.pose.npz")
    assert not first.parent.exists()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)   # all done: skipped
    assert r.returncode == 0 and "already extracted" in r.stderr


# ------------------------------------------------------------------------ unreachable addresses
class _Listener:
    """A TCP server on an ephemeral port of every interface (Ray dials this node's IP for 127.0.0.1).

    ``grpc=True`` answers the HTTP/2 preface with a SETTINGS frame (as any gRPC server does) and then
    stays silent; otherwise it accepts and never says anything.  ``connections`` counts who came.
    """

    def __init__(self, *, grpc: bool) -> None:
        self.grpc = grpc
        self.connections = 0
        self.sock = socket.create_server(("0.0.0.0", 0))
        self.port = self.sock.getsockname()[1]
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            self._open.append(conn)
            if self.grpc:
                threading.Thread(target=self._greet, args=(conn,), daemon=True).start()

    @staticmethod
    def _greet(conn: socket.socket) -> None:
        try:
            conn.recv(1 << 16)
            conn.sendall(b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            while conn.recv(1 << 16):
                pass
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()
        for c in self._open:
            c.close()


@pytest.fixture
def listener():
    made: list[_Listener] = []

    def make(*, grpc: bool) -> _Listener:
        made.append(_Listener(grpc=grpc))
        return made[-1]

    yield make
    for s in made:
        s.close()


def _extract_cmd(shared_data: Path, out: Path, address: str) -> list[str]:
    return [str(BIN / "dancepose"), "extract", str(shared_data / "dance_videos" / "dancer_nomusic_2s.mp4"),
            "-o", str(out), "--ray", address]


def _one_line_exit(cmd: list[str], *, within: float) -> tuple[int, str, float]:
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=within + 30)
    return r.returncode, r.stderr, time.monotonic() - t0


def test_dead_address_fails_at_once_with_one_line(shared_data, tmp_path):
    with socket.create_server(("0.0.0.0", 0)) as s:
        port = s.getsockname()[1]          # closed again: nobody listens there
    code, err, took = _one_line_exit(_extract_cmd(shared_data, tmp_path / "o", f"127.0.0.1:{port}"), within=30)
    assert code == 5 and took < 30, (code, took, err)
    assert err.strip().splitlines() == [err.strip()] and "nothing listens there" in err, err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_an_address_where_something_else_listens_fails_with_one_line(shared_data, tmp_path, listener):
    server = listener(grpc=False)
    code, err, took = _one_line_exit(_extract_cmd(shared_data, tmp_path / "o", f"127.0.0.1:{server.port}"),
                                     within=30)
    assert code == 5 and took < 30, (code, took, err)
    assert err.strip().splitlines() == [err.strip()] and "not a Ray head" in err, err


@pytest.mark.slow
def test_a_grpc_server_that_is_not_ray_fails_within_30_s(shared_data, tmp_path, listener):
    server = listener(grpc=True)           # passes the probe; ray.init then waits for a GCS forever
    code, err, took = _one_line_exit(_extract_cmd(shared_data, tmp_path / "o", f"127.0.0.1:{server.port}"),
                                     within=30)
    assert server.connections >= 2          # the probe, then Ray itself
    assert code == 5 and took < 30, (code, took, err)
    assert err.strip().splitlines() == [err.strip()] and "did not let this driver in" in err, err


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_while_joining_exits_within_2_s(shared_data, tmp_path, listener, sig, code):
    server = listener(grpc=True)
    proc = subprocess.Popen(_extract_cmd(shared_data, tmp_path / "o", f"127.0.0.1:{server.port}"),
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while server.connections < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)                    # the probe, then ray.init dialling: now it is joining
    assert server.connections >= 2, "ray.init never dialled the address"
    time.sleep(1.0)
    t0 = time.monotonic()
    proc.send_signal(sig)
    try:
        err = proc.communicate(timeout=30)[1]
    finally:
        proc.kill()
    took = time.monotonic() - t0
    assert proc.returncode == code and took < 2.0, (proc.returncode, took, err)
    assert err.strip().splitlines()[-1].startswith("dancepose: interrupted")
