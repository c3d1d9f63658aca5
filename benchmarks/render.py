"""Benchmark: figure drawing per frame and offline render throughput (incl. H.264 encoding).

Usage: ``python benchmarks/render.py [--frames N] [--size 1280x720]``.  Prints a table.  Uses real
poses (Dance-with-Melody mocap projected to 2D) when ../shared/data is present, else the dancer's rest
pose with a sway.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


def _poses(n: int) -> tuple[np.ndarray, str]:
    from dancepose.models import skeleton as sk

    shared = Path(os.environ.get("DANCEPOSE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    motion = shared / "dance_with_melody" / "DANCE_C_4" / "motion.npz"
    if motion.is_file():
        with np.load(motion) as z:
            joints = z["joints"][:n]
        p3, _ = sk.adapt(joints, source="dwm23")
        p2 = sk.rotate_yaw_project(p3)
        p2 = p2 - p2[:, [sk.Joint.PELVIS]]
        p2 /= np.median(sk.torso_length(p2))
        reps = int(np.ceil(n / len(p2)))
        return np.tile(p2, (reps, 1, 1))[:n], "Dance-with-Melody DANCE_C_4"
    from dancepose.models.dancer import Dancer

    d = Dancer.load()
    return np.stack([d.idle_pose(t / 30) for t in range(n)]), "default dancer idle sway"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--size", default="1280x720")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))

    from dancepose.models.clock import SAMPLE_RATE
    from dancepose.models.media import draw
    from dancepose.models.media.recorder import Mp4Recorder

    poses, where = _poses(args.frames)
    stage = draw.make_stage(w, h)
    work = stage.copy()
    style = draw.FigureStyle()
    px = draw.pose_to_pixels(poses, width=w, height=h)

    t_fig, t_frame = [], []
    for k in range(len(px)):
        work.blit(stage, (0, 0))
        t0 = time.perf_counter()
        draw.draw_figure(work, px[k], style=style)
        t_fig.append(time.perf_counter() - t0)
    for k in range(len(poses)):
        t0 = time.perf_counter()
        draw.render_frame(poses[k], stage=stage, style=style, target=work)
        t_frame.append(time.perf_counter() - t0)

    rows = []
    for fps in (30, 60):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            with Mp4Recorder(Path(tmp) / "bench.mp4", width=w, height=h, fps=fps, sample_rate=SAMPLE_RATE,
                             drop_when_behind=False, quiet=True) as rec:
                rec.add_audio(np.zeros(int(len(poses) / fps * SAMPLE_RATE), np.float32))
                for k in range(len(px)):
                    work.blit(stage, (0, 0))
                    draw.draw_figure(work, px[k], style=style)
                    rec.process(draw.surface_to_rgb(work))
            rows.append((fps, len(px) / (time.perf_counter() - t0)))

    def ms(v, q):
        return f"{1e3 * np.percentile(v, q):7.3f}"

    print(f"dancepose render benchmark — {w}x{h}, {len(poses)} frames of {where}, {os.cpu_count()} CPU(s)")
    print(f"{'measure':<46}{'p50 ms':>9}{'p99 ms':>9}")
    print(f"{'draw_figure (figure only, stage cached)':<46}{ms(t_fig, 50):>9}{ms(t_fig, 99):>9}")
    print(f"{'render_frame (blit + figure + RGB copy)':<46}{ms(t_frame, 50):>9}{ms(t_frame, 99):>9}")
    print(f"{'target: figure ≤ 2 ms per frame':<46}{'ok' if np.percentile(t_fig, 99) <= 2e-3 else 'MISSED':>18}")
    print()
    print(f"{'render + H.264 encode + AAC mux':<46}{'frames/s':>18}")
    for fps, thr in rows:
        print(f"{f'  video at {fps} fps':<46}{thr:>18.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
