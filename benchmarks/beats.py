"""Benchmark: the causal beat / bar / tempo tracker against the reference beats, and its cost.

    .venv/bin/python benchmarks/beats.py [--kfold /tmp/beatfolds] [--seconds S] [--clips ...] [--no-librosa]

Per clip (every song / soundtrack with reference beats in ``<shared>/beats``), clean and with pink noise
at 10 dB SNR: mir_eval F-measure (70 ms), CMLt, AMLt after the first 5 s, tempo (median BPM after 5 s),
beats per bar and downbeat F of dancepose's tracker (beats where the causal feature phase wraps), and
librosa's offline ``beat_track`` on the same audio.  Then the means, tempo accuracy (within 4 %; double,
half and 3:2 count as wrong), meter accuracy, and the cost per model frame (features + tracker) of a
live-like loop: ``FeatureStream.process`` fed the live block size, timed per call that completes a frame
(p50 / p99), with the load average.

``--kfold DIR`` scores each clip with the network of the fold that did not train on it (``fold{i}.npz``
from ``python -m dancepose.offline.beats kfold ../shared/data -o DIR``): the honest figure.  Without
it, the shipped network is scored; it was trained on the 29 clips outside fold 0 (their names are in
``models/beatnet.npz`` under ``trained_on``), so only the 8 fold-0 clips are unseen by it.

Targets: F ≥ 0.85 clean, ≥ 0.75 at 10 dB SNR, tempo within 4 % on ≥ 90 % of clips, beats per bar on
≥ 90 %, downbeat F ≥ 0.6, cost ≤ 0.3 ms per model frame p99.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DANCEPOSE_SHARED_DATA", REPO.parent / "shared" / "data"))


class _TimedTracker:
    """Wraps the stream's beat tracker and keeps the duration of every ``step`` (network + filter)."""

    def __init__(self, tracker) -> None:
        self._t, self.times = tracker, []

    def step(self, x, *, activity):
        t0 = time.perf_counter()
        self._t.step(x, activity=activity)
        self.times.append(time.perf_counter() - t0)

    def __getattr__(self, name):
        return getattr(self._t, name)


def cost_per_frame(*, seconds: float = 60.0) -> tuple[float, float, float, float]:
    """p50, p99 (ms) per completed model frame on a real song, live block size: of the whole feature
    extractor (features + tracker), then of the tracker alone (beat network + bar-pointer filter)."""
    from dancepose.models.audio import load_audio
    from dancepose.models.clock import BLOCK_SIZE
    from dancepose.models.features import FeatureStream

    y = load_audio(SHARED / "dance_with_melody" / "DANCE_C_4" / "audio.mp3", offset=20.0, duration=seconds)
    stream = FeatureStream()
    timed = stream._beat = _TimedTracker(stream._beat)
    times = []
    for i in range(0, len(y) - BLOCK_SIZE, BLOCK_SIZE):
        t0 = time.perf_counter()
        out = stream.process(y[i:i + BLOCK_SIZE])
        dt = time.perf_counter() - t0
        if len(out):
            times.append(dt / len(out))
    t = np.array(times[30:]) * 1e3
    tr = np.array(timed.times[30:]) * 1e3
    return (float(np.percentile(t, 50)), float(np.percentile(t, 99)),
            float(np.percentile(tr, 50)), float(np.percentile(tr, 99)))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shared", type=Path, default=SHARED)
    p.add_argument("--kfold", type=Path, default=None, help="folder of fold{i}.npz (k-fold by song)")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--clips", nargs="*", default=None)
    p.add_argument("--seconds", type=float, default=None, help="only the first seconds of each clip")
    p.add_argument("--snr", type=float, default=10.0)
    p.add_argument("--no-librosa", action="store_true")
    p.add_argument("--json", type=Path, default=None, help="also write the per-clip figures here")
    a = p.parse_args()
    from dancepose.offline.beats import beat_report

    print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    res = beat_report(shared=a.shared, clips=a.clips, snr_db=a.snr, kfold_dir=a.kfold, k=a.k, seconds=a.seconds,
                      librosa_too=not a.no_librosa, quiet=True)
    p50, p99, t50, t99 = cost_per_frame()
    la = os.getloadavg()
    print(f"cost per model frame, live block size: tracker (network + filter) p50 {t50:.3f} ms  p99 {t99:.3f} ms;"
          f" all features + tracker p50 {p50:.3f} ms  p99 {p99:.3f} ms"
          f"   (load average {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}, {os.cpu_count()} cores)")
    if a.json:
        a.json.write_text(json.dumps({"clips": res, "cost_ms": {"p50": p50, "p99": p99, "tracker_p50": t50,
                                                                "tracker_p99": t99}, "load": la}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
