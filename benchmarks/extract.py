"""Benchmark: pose-extraction frames/s per backend on the shared dance videos, with per-stage times.

    .venv/bin/python benchmarks/extract.py [--max-frames 300] [--openpose-model PATH]
    .venv/bin/python benchmarks/extract.py --ray-scaling [--max-frames 600] [--segment-seconds 10]
    .venv/bin/python benchmarks/extract.py --ray-split [--segment-seconds 10]

For every video and backend it decodes up to ``--max-frames`` frames (OpenCV), optionally resizes them
("480p" = the shorter side scaled to 480 lines, aspect kept; videos already at or below 480 lines are
left native), runs the detector and the main-dancer tracker, and reports frames/s of the whole loop and
milliseconds per frame for decode(+resize), inference (network, incl. MediaPipe's own pre/post-processing)
and PAF decoding (openpose only).  Target: MediaPipe >= 60 fps at 480p on 2 cores.

``--ray-scaling`` extracts the shared videos (each capped at ``--max-frames``) with ``dancepose extract``
locally, then with ``--ray`` on a local cluster of 1 and then 2 CPUs, and prints videos/min, frames/s,
the peak memory of a Ray worker and the load average.  Target: ≥ 1.7× from 1 to 2 CPUs on 2 cores.

``--ray-split`` extracts the shared videos in full locally and with ``--ray`` (2 CPUs) split into
``--segment-seconds`` segments and prints, per video, the largest pixel difference, the flags and
confidences that differ, and the frames off by more than a pixel.  Target: identical (within 1 px).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DANCEPOSE_SHARED_DATA", REPO.parent / "shared" / "data"))
DEFAULT_MODEL = SHARED / "models" / "openpose_mobilenet_v2_small" / "graph_opt.pb"


def _resize_480(frame, mode: str):
    import cv2

    h, w = frame.shape[:2]
    if mode == "native" or min(h, w) <= 480:
        return frame
    s = 480.0 / min(h, w)
    return cv2.resize(frame, (int(round(w * s / 2)) * 2, int(round(h * s / 2)) * 2), interpolation=cv2.INTER_LINEAR)


def bench(video: Path, backend: str, *, mode: str, max_frames: int, model: Path | None, step: int = 1) -> dict:
    from dancepose.offline.backends import make_detector
    from dancepose.offline.extract import MainPersonTracker
    from dancepose.offline.video import iter_frames

    t_decode = t_infer = 0.0
    n = found = 0
    size = None
    with make_detector(backend, openpose_model=model) as det:
        det.process(next(iter_frames(video, stop=1))[1])    # warm-up (graph optimisation, delegate)
        if hasattr(det, "stage_seconds"):
            det.stage_seconds.update(inference=0.0, paf=0.0)
        tracker = None
        t_start = time.perf_counter()
        t0 = t_start
        for index, frame in iter_frames(video, stop=max_frames * step):
            if index % step:
                continue
            frame = _resize_480(frame, mode)
            size = frame.shape[1], frame.shape[0]
            tracker = tracker or MainPersonTracker(image_size=size)
            t1 = time.perf_counter()
            person = tracker.select(det.process(frame))
            t2 = time.perf_counter()
            t_decode += t1 - t0
            t_infer += t2 - t1
            n += 1
            found += person is not None
            t0 = time.perf_counter()
        total = time.perf_counter() - t_start
        paf = getattr(det, "stage_seconds", {}).get("paf", 0.0)
    return dict(video=video.name, backend=backend, size=f"{size[0]}x{size[1]}", step=step, frames=n,
                fps=n * step / total, proc_fps=n / total, decode=1000 * t_decode / n,
                infer=1000 * (t_infer - paf) / n, paf=1000 * paf / n, found=found / n)


# ------------------------------------------------------------------------------ scaling on Ray
def _ray_head(num_cpus: int, temp: Path):
    """``ray start --head --block`` with ``num_cpus`` on 127.0.0.1 (no token auth: loopback only)."""
    import socket
    import subprocess

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
    ray_bin = str(Path(sys.executable).with_name("ray"))
    head = subprocess.Popen([ray_bin, "start", "--head", "--block", "--num-cpus", str(num_cpus),
                             "--node-ip-address", "127.0.0.1", "--port", str(port), "--temp-dir", str(temp),
                             "--include-dashboard", "false", "--object-store-memory", str(80 << 20),
                             "--disable-usage-stats"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)
    address = f"127.0.0.1:{port}"
    while subprocess.run([ray_bin, "status", "--address", address], capture_output=True, env=env).returncode:
        if head.poll() is not None:
            raise RuntimeError("ray start --head exited")
        time.sleep(1.0)
    return head, address


def _stop_head(head) -> None:
    import psutil

    procs = psutil.Process(head.pid).children(recursive=True)
    head.terminate()
    head.wait(timeout=60)
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


def _watch_workers(head, peaks: dict, cpu: dict, stop) -> None:
    """Peak RSS (MB) and CPU seconds of every process that ran a segment task, sampled every 0.5 s."""
    import psutil

    while not stop.is_set():
        for p in psutil.Process(head.pid).children(recursive=True):
            try:
                if p.cmdline()[:1] == ["ray::_segment_task"] or p.pid in cpu:
                    peaks[p.pid] = max(peaks.get(p.pid, 0.0), p.memory_info().rss / 2**20)
                    t = p.cpu_times()
                    cpu[p.pid] = t.user + t.system
            except psutil.Error:
                pass
        stop.wait(0.5)


def scaling(videos: list[Path], *, max_frames: int, segment_seconds: float) -> list[dict]:
    """Frames/s and videos/min of ``extract`` locally and with ``--ray`` on clusters of 1 and 2 CPUs."""
    import tempfile
    import threading

    from dancepose.offline.extract import extract_pose

    rows = []
    with tempfile.TemporaryDirectory(prefix="dp-bench-") as tmp:
        src = Path(tmp) / "videos"
        src.mkdir()
        for v in videos:
            (src / v.name).symlink_to(v)
        for label, cpus in (("local", 0), ("ray", 1), ("ray", 2)):
            out = Path(tmp) / f"out-{label}-{cpus}"
            head = address = None
            if cpus:
                head, address = _ray_head(cpus, Path(tempfile.mkdtemp(prefix="ray", dir=tmp)))
            peaks: dict = {}
            cpu: dict = {}
            stop = threading.Event()
            watcher = threading.Thread(target=_watch_workers, args=(head, peaks, cpu, stop), daemon=True) \
                if head else None
            load0 = os.getloadavg()[0]
            if watcher:
                watcher.start()
            own0 = os.times()
            t0 = time.perf_counter()
            try:
                paths = extract_pose(sources=[src], out_dir=out, quiet=True, max_frames=max_frames,
                                     ray=address, segment_seconds=segment_seconds)
            finally:
                wall = time.perf_counter() - t0
                stop.set()
                if head:
                    _stop_head(head)
            import numpy as np

            frames = sum(int(np.load(p)["keypoints"].shape[0]) for p in paths)
            own1 = os.times()
            cpu_s = sum(cpu.values()) if head else (own1.user + own1.system - own0.user - own0.system)
            rows.append(dict(mode=label, cpus=cpus or "-", videos=len(paths), frames=frames, wall=wall,
                             fps=frames / wall, vpm=60 * len(paths) / wall, cpu_ms=1000 * cpu_s / frames,
                             rss=max(peaks.values()) if peaks else float("nan"),
                             load=(load0 + os.getloadavg()[0]) / 2))
    return rows


def split_equality(videos: list[Path], *, max_frames: int | None, segment_seconds: float) -> list[dict]:
    """Every video extracted locally and with ``--ray`` on a local 2-CPU cluster split into segments of
    ``segment_seconds``: how far the Ray poses are from the local ones (pixels, flags, confidences)."""
    import tempfile

    import numpy as np

    from dancepose.models.posefile import PoseSequence
    from dancepose.offline.extract import extract_pose
    from dancepose.offline.ray_extract import plan_segments
    from dancepose.offline.video import probe_video

    rows = []
    with tempfile.TemporaryDirectory(prefix="dp-split-") as tmp:
        src = Path(tmp) / "videos"
        src.mkdir()
        for v in videos:
            (src / v.name).symlink_to(v)
        walls = {}
        for mode in ("local", "ray"):
            head = address = None
            if mode == "ray":
                head, address = _ray_head(2, Path(tempfile.mkdtemp(prefix="ray", dir=tmp)))
            t0 = time.perf_counter()
            load0 = os.getloadavg()[0]
            try:
                extract_pose(sources=[src], out_dir=Path(tmp) / mode, quiet=True, max_frames=max_frames,
                             ray=address, segment_seconds=segment_seconds)
            finally:
                walls[mode] = (time.perf_counter() - t0, (load0 + os.getloadavg()[0]) / 2)
                if head:
                    _stop_head(head)
        for v in videos:
            a = PoseSequence.load(Path(tmp) / "local" / f"{v.stem}.pose.npz")
            b = PoseSequence.load(Path(tmp) / "ray" / f"{v.stem}.pose.npz")
            both = np.isfinite(a.keypoints) & np.isfinite(b.keypoints)
            d = np.abs(a.keypoints - b.keypoints)[both]
            info = probe_video(v)
            segs = plan_segments(n_frames=info.n_frames, fps=info.fps, segment_seconds=segment_seconds,
                                 max_frames=max_frames)
            bad = np.flatnonzero((np.abs(a.keypoints - b.keypoints) > 1.0).any(axis=(1, 2))
                                 | (a.flags != b.flags).any(axis=1))
            rows.append(dict(video=v.name, frames=len(a), segments=len(segs), max_px=float(d.max()) if d.size else 0.0,
                             flags=int((a.flags != b.flags).sum()),
                             conf=float(np.abs(a.confidence - b.confidence).max()),
                             identical=bool(np.array_equal(a.keypoints, b.keypoints, equal_nan=True)
                                            and np.array_equal(a.flags, b.flags)
                                            and np.array_equal(a.confidence, b.confidence)),
                             frames_off=f"{bad[0]}–{bad[-1]} ({len(bad)})" if len(bad) else "–"))
    return rows, walls


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-frames", type=int, default=300)
    ap.add_argument("--openpose-model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--backends", nargs="+", default=["mediapipe", "openpose"])
    ap.add_argument("--ray-scaling", action="store_true",
                    help="instead: extract the shared videos locally and on Ray with 1 and 2 CPUs "
                         "(videos/min, frames/s, peak memory per worker); needs dancepose[ray]")
    ap.add_argument("--ray-split", action="store_true",
                    help="instead: the shared videos in full, locally and on Ray split into --segment-seconds "
                         "segments: how far the Ray poses are from the local ones; needs dancepose[ray]")
    ap.add_argument("--segment-seconds", type=float, default=10.0, help="with --ray-scaling / --ray-split")
    args = ap.parse_args(argv)
    videos = sorted((SHARED / "dance_videos").glob("*.mp4"))
    if not videos:
        print(f"no videos under {SHARED / 'dance_videos'}", file=sys.stderr)
        return 1
    if args.ray_split:
        rows, walls = split_equality(videos, max_frames=None, segment_seconds=args.segment_seconds)
        print(f"extract --ray --segment-seconds {args.segment_seconds:g} (local 2-CPU cluster) against the "
              f"local path, whole videos")
        head = (f"{'video':34s} {'frames':>6s} {'segments':>8s} {'max px':>8s} {'flags':>6s} {'conf':>9s} "
                f"{'identical':>9s}  frames > 1 px or other flags")
        print(head)
        print("-" * len(head))
        for r in rows:
            print(f"{r['video']:34s} {r['frames']:>6d} {r['segments']:>8d} {r['max_px']:>8.3f} {r['flags']:>6d} "
                  f"{r['conf']:>9.2e} {'yes' if r['identical'] else 'no':>9s}  {r['frames_off']}")
        print("wall: " + ", ".join(f"{m} {w:.1f} s (load {l:.1f})" for m, (w, l) in walls.items()))
        return 0
    if args.ray_scaling:
        rows = scaling(videos, max_frames=args.max_frames, segment_seconds=args.segment_seconds)
        head = (f"{'mode':6s} {'CPUs':>4s} {'videos':>6s} {'frames':>6s} {'wall s':>7s} {'frames/s':>8s} "
                f"{'videos/min':>10s} {'CPU ms/frame':>12s} {'worker MB':>9s} {'load':>5s}")
        print(head)
        print("-" * len(head))
        for r in rows:
            print(f"{r['mode']:6s} {str(r['cpus']):>4s} {r['videos']:>6d} {r['frames']:>6d} {r['wall']:>7.1f} "
                  f"{r['fps']:>8.1f} {r['vpm']:>10.2f} {r['cpu_ms']:>12.1f} {r['rss']:>9.0f} {r['load']:>5.2f}")
        one, two = (r for r in rows if r["mode"] == "ray")
        print(f"\n{os.cpu_count()} CPUs; 2 vs 1 Ray CPU: x{two['fps'] / one['fps']:.2f} frames/s.  "
              "Wall time includes "
              "starting the workers (MediaPipe import), not the cluster; a video longer than "
              f"--segment-seconds={args.segment_seconds:g} is split into whole 10-s blocks (no warm-up, no "
              "overlap: the detector starts afresh at every block in every run).  'CPU ms/frame': CPU time of the "
              "extracting process (local) or of the Ray workers, per output frame: 1000 / it is the "
              "frames/s one core gives when nothing else runs.  'load' = mean 1-min load average "
              "before/after the run.")
        return 0
    rows = []
    for backend in args.backends:
        model = args.openpose_model if backend == "openpose" else None
        if backend == "openpose" and not (model and model.is_file()):
            print(f"skipping openpose: no model at {model}", file=sys.stderr)
            continue
        for video in videos:
            for mode in ("native", "480p"):
                r = bench(video, backend, mode=mode, max_frames=args.max_frames, model=model)
                if mode == "480p" and r["size"] == rows[-1]["size"] and rows[-1]["video"] == video.name:
                    continue   # already ≤ 480 lines: same as native
                rows.append(r)
        if backend == "mediapipe":   # frame skipping on the large portrait video
            big = [v for v in videos if "portrait" in v.name]
            if big:
                rows.append(bench(big[0], backend, mode="480p", max_frames=args.max_frames // 2, model=None,
                                  step=2))
    head = (f"{'video':34s} {'backend':9s} {'size':>9s} {'step':>4s} {'frames':>6s} {'src fps':>8s} "
            f"{'proc fps':>8s} {'decode ms':>9s} {'infer ms':>8s} {'paf ms':>6s} {'person':>6s}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['video']:34s} {r['backend']:9s} {r['size']:>9s} {r['step']:>4d} {r['frames']:>6d} "
              f"{r['fps']:>8.1f} {r['proc_fps']:>8.1f} {r['decode']:>9.2f} {r['infer']:>8.2f} {r['paf']:>6.2f} "
              f"{100 * r['found']:>5.0f}%")
    print(f"\n{os.cpu_count()} CPUs. 'src fps' counts source frames covered (step 2 = every other frame "
          "processed); 'proc fps' counts frames actually processed.  Times are per processed frame.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
