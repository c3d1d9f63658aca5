"""Training and stepping cost: seconds per epoch (loading excluded) and the numpy dancer step.

Usage: python benchmarks/train.py [--shared ../shared/data] [--songs 6] [--epochs 3]
Prints a table.  Needs the shared data (Dance with Melody).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--songs", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()

    from dancepose.models.dancer import Dancer
    from dancepose.offline.dataset import load_songs
    from dancepose.offline.train import TrainConfig, train_dancer

    folders = sorted((args.shared / "dance_with_melody").glob("DANCE_*"))[: args.songs]
    t0 = time.perf_counter()
    songs = load_songs(folders, quiet=True)
    t_load = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        train_dancer(data=[], songs=songs, out_dir=tmp, epochs=args.epochs, quiet=True)
        t_train = time.perf_counter() - t0
        hist = json.loads((Path(tmp) / "config.json").read_text())["summary"]["history"]
        dancer = Dancer.load(tmp)
    feats = songs[0].features[:2000]
    dancer.reset()
    times = []
    for row in feats:
        t = time.perf_counter()
        dancer.step(row)
        times.append(time.perf_counter() - t)
    times_ms = np.array(times) * 1e3
    # live cost: features + dancer per model frame, audio fed one hop at a time (Performer.process)
    from dancepose.models.audio import load_audio
    from dancepose.models.clock import HOP_LENGTH
    from dancepose.models.perform import Performer

    y = load_audio(folders[0] / "audio.mp3", duration=40.0)
    performer = Performer(dancer=dancer, seed=0)
    perf = []
    for i in range(0, len(y) - HOP_LENGTH, HOP_LENGTH):
        t = time.perf_counter()
        performer.process(y[i:i + HOP_LENGTH])
        perf.append(time.perf_counter() - t)
    perf_ms = np.array(perf) * 1e3
    cfg = TrainConfig()
    rows = [
        ("songs loaded (audio decode + causal features)", f"{len(songs)} in {t_load:.1f} s"),
        ("epoch (windows × frames)", f"{cfg.windows_per_epoch} × {cfg.window}"),
        ("seconds per epoch, median", f"{np.median([h['seconds'] for h in hist]):.2f}"),
        ("first epoch (incl. graph build)", f"{hist[0]['seconds']:.2f} s"),
        ("train_dancer total", f"{t_train:.1f} s for {args.epochs} epochs"),
        ("numpy dancer step p50 / p99", f"{np.percentile(times_ms, 50):.3f} / {np.percentile(times_ms, 99):.3f} ms"),
        ("Performer.process per hop (features + dancer) p50 / p99",
         f"{np.percentile(perf_ms, 50):.3f} / {np.percentile(perf_ms, 99):.3f} ms"),
        ("load average (1 min) at the end", f"{os.getloadavg()[0]:.2f}"),
        ("peak memory (RSS, loading + training)",
         f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"),
    ]
    w = max(len(r[0]) for r in rows)
    print(f"{'measure':<{w}}  value")
    print("-" * (w + 30))
    for k, v in rows:
        print(f"{k:<{w}}  {v}")


if __name__ == "__main__":
    main()
