"""Benchmark: pose-extraction frames/s per backend on the shared dance videos, with per-stage times.

    .venv/bin/python benchmarks/extract.py [--max-frames 300] [--openpose-model PATH]

For every video and backend it decodes up to ``--max-frames`` frames (OpenCV), optionally resizes them
("480p" = the shorter side scaled to 480 lines, aspect kept; videos already at or below 480 lines are
left native), runs the detector and the main-dancer tracker, and reports frames/s of the whole loop and
milliseconds per frame for decode(+resize), inference (network, incl. MediaPipe's own pre/post-processing)
and PAF decoding (openpose only).  Target: MediaPipe >= 60 fps at 480p on 2 cores.
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-frames", type=int, default=300)
    ap.add_argument("--openpose-model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--backends", nargs="+", default=["mediapipe", "openpose"])
    args = ap.parse_args(argv)
    videos = sorted((SHARED / "dance_videos").glob("*.mp4"))
    if not videos:
        print(f"no videos under {SHARED / 'dance_videos'}", file=sys.stderr)
        return 1
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
