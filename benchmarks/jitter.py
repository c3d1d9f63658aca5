"""Benchmark: jitter of the dancer against real dance, song by song, offline and in the live display poses.

    .venv/bin/python benchmarks/jitter.py [--stages shipped previous] [--seed 0] [--live] [--live-seconds S]
                                          [--songs DANCE_C_8 ...] [--device-clock]

Per validation song (Dance with Melody, not trained on; real dance on the same 15-joint skeleton): the
share of the pose power above 4 Hz (``metrics.high_frequency_share``: pelvis-relative joints, Welch PSD,
4-s Hann segments, linear detrend, summed over joint coordinates) of the real dance and of the dancer
(``perform`` on the whole song, the danced segment kept), their ratio, the forward ÷ central step ratio
and the mean joint speed ÷ real.  ``--stages`` compares stage configs: ``shipped`` (the class defaults)
and ``previous`` (the release before issue 14: AR(1) drift, component switches without a fade, the beat
spread's weight per frame, cosine moves over the whole beat, pattern scale 0.8, the loudness smoothed by
one pole, the silence gate without hysteresis).

``--live`` also runs ``dancepose-live --input SONG --headless --sim-clock --log-poses`` (the display
poses at 60 fps, interpolated from the 30-fps model poses by the live engine) for each song and scores the
display poses of the danced segment (on a uniform 60-fps grid of the display clock: late display frames
are frame pacing, counted in their own column) against the real dance resampled to 60 fps, and the first
14 s of the segment alone.  ``--device-clock`` plays through the audio device instead of the simulated clock
(take ``flock /tmp/dancepose-pulse.lock`` around it on a shared machine).

Targets (issue 14): jitter ≤ 2 × real (median over songs), ≤ 5 × on every song, ≤ 3 × in the live display
poses; step ratio ≤ 1.05.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DANCEPOSE_SHARED_DATA", REPO.parent / "shared" / "data"))
VENV_BIN = Path(sys.executable).parent


def stage_variants():
    """Named stage configs: the shipped one and the release before issue 14."""
    from dancepose.models.dancer import PREVIOUS_STAGES, StageConfig

    return {"shipped": StageConfig(), "previous": PREVIOUS_STAGES}


def _song(name: str):
    from dancepose.models.audio import load_audio
    from dancepose.offline.evaluation.load import load_dwm_2d

    folder = SHARED / "dance_with_melody" / name
    real, offset, dur = load_dwm_2d(folder)
    return real, offset, dur, folder / "audio.mp3", load_audio(folder / "audio.mp3", duration=offset + dur + 0.2)


def offline_rows(*, dancer, songs, seed: int) -> list[dict]:
    from dancepose.models.clock import MODEL_FPS
    from dancepose.models.perform import perform
    from dancepose.offline import metrics

    rows = []
    for name in songs:
        real, offset, _, _, y = _song(name)
        start = int(round(offset * MODEL_FPS))
        gen = perform(y, dancer=dancer, seed=seed).poses[start:start + len(real)]
        jr = metrics.high_frequency_share(poses=real, fps=MODEL_FPS)
        jg = metrics.high_frequency_share(poses=gen, fps=MODEL_FPS)
        rows.append({"song": name, "real": jr, "dancer": jg, "ratio": jg / jr,
                     "step": metrics.step_ratio(poses=gen), "step_real": metrics.step_ratio(poses=real),
                     "speed": float(np.mean(metrics.joint_speed(poses=gen, fps=MODEL_FPS))
                                    / np.mean(metrics.joint_speed(poses=real, fps=MODEL_FPS)))})
    return rows


def live_row(*, name: str, seed: int, seconds: float | None, device_clock: bool, model: Path | None) -> dict:
    """``dancepose-live`` on one song; jitter of its display poses in the danced segment."""
    from dancepose.models.clock import DISPLAY_FPS, MODEL_FPS
    from dancepose.offline import metrics

    real, offset, dur, audio, _ = _song(name)
    end = offset + (dur if seconds is None else min(dur, seconds))
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "poses.npz"
        cmd = [str(VENV_BIN / "dancepose-live"), "--input", str(audio), "--headless", "--duration",
               f"{end + 0.5:.2f}", "--log-poses", str(log), "--seed", str(seed), "-q"]
        if not device_clock:
            cmd.append("--sim-clock")
        if model is not None:
            cmd += ["--model", str(model)]
        env = dict(os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER=os.environ.get("SDL_AUDIODRIVER", "dummy"))
        subprocess.run(cmd, check=True, env=env, capture_output=True)
        z = np.load(log)
        # display times on the song's clock: the stream time of the song's first sample is that of model
        # pose 0 (0 on the simulated clock, the device's clock otherwise)
        t, shown = z["display_time"] - z["model_time"][0], z["poses"]
    # What was shown, on a uniform 60-fps grid of the display clock: a late or missed display frame is
    # frame pacing (benchmarks/live.py), not the figure's motion; on the simulated clock this is the identity.
    first = t[np.searchsorted(t, offset)]  # the grid on the shown frames where they are regular
    grid = first + np.arange(int((min(end, t[-1]) - first) * DISPLAY_FPS)) / DISPLAY_FPS
    flat = shown.reshape(len(shown), -1)
    poses = np.stack([np.interp(grid, t, flat[:, k]) for k in range(flat.shape[1])], axis=1).reshape(len(grid), -1, 2)
    real60 = metrics.resample_poses(poses=real, fps_in=MODEL_FPS, fps_out=DISPLAY_FPS)
    gaps = np.diff(t[(t >= offset) & (t < end)])
    out = {"song": name, "late": float(np.mean(gaps > 1.5 / DISPLAY_FPS)) if len(gaps) else float("nan")}
    for label, stop in (("segment", end), ("first14", min(end, offset + 14.0))):
        keep = grid < stop
        ref = real60[:int(round((stop - offset) * DISPLAY_FPS))]
        jd = metrics.high_frequency_share(poses=poses[keep], fps=DISPLAY_FPS)
        jr = metrics.high_frequency_share(poses=ref, fps=DISPLAY_FPS)
        out[label] = {"display": jd, "real60": jr, "ratio": jd / jr, "step": metrics.step_ratio(poses=poses[keep])}
    return out


def _model_dir(stages, tmp: Path) -> Path:
    """A copy of the shipped model directory with ``stages`` saved (for the live subprocess)."""
    import json
    import shutil

    from dancepose.models.dancer import DEFAULT_MODEL_DIR

    d = tmp / "model"
    d.mkdir()
    for f in ("config.json", "dancer.npz"):
        shutil.copy(DEFAULT_MODEL_DIR / f, d / f)
    cfg = json.loads((d / "config.json").read_text())
    cfg["stages"] = stages.to_dict()
    (d / "config.json").write_text(json.dumps(cfg))
    return d


def main() -> int:
    from dancepose.models.dancer import Dancer
    from dancepose.offline.dataset import VALIDATION_SONGS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stages", nargs="+", default=["shipped", "previous"], choices=sorted(stage_variants()))
    ap.add_argument("--songs", nargs="+", default=list(VALIDATION_SONGS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--live", action="store_true", help="also score dancepose-live's display poses")
    ap.add_argument("--live-seconds", type=float, default=None, help="live: only the first S s of each dance")
    ap.add_argument("--device-clock", action="store_true", help="live: play through the audio device")
    args = ap.parse_args()
    if not (SHARED / "dance_with_melody").is_dir():
        print(f"benchmarks/jitter.py: no shared data in {SHARED} (set DANCEPOSE_SHARED_DATA)", file=sys.stderr)
        return 2
    variants = stage_variants()
    base = Dancer.load()
    print(f"# jitter: share of pose power above 4 Hz, dancer ÷ real dance (seed {args.seed}, "
          f"load {os.getloadavg()[0]:.1f})")
    for name in args.stages:
        dancer = base.with_stages(**{f.name: getattr(variants[name], f.name)
                                     for f in dataclasses.fields(variants[name])})
        rows = offline_rows(dancer=dancer, songs=args.songs, seed=args.seed)
        print(f"\n## {name}: offline (perform, 30 fps)")
        print("| song | real | dancer | ÷ real | step ratio (real) | speed ÷ real |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['song']} | {r['real']:.2g} | {r['dancer']:.2g} | {r['ratio']:.2f} | "
                  f"{r['step']:.3f} ({r['step_real']:.3f}) | {r['speed']:.2f} |")
        ratios = [r["ratio"] for r in rows]
        print(f"| median / worst | | | {np.median(ratios):.2f} / {np.max(ratios):.2f} | "
              f"{max(r['step'] for r in rows):.3f} worst | |")
        if not args.live:
            continue
        print(f"\n## {name}: live display poses (dancepose-live, 60 fps, "
              f"{'device' if args.device_clock else 'simulated'} clock) ÷ real dance at 60 fps")
        print("| song | danced segment ÷ real | first 14 s ÷ real | step ratio | display frames late |")
        print("|---|---|---|---|---|")
        with tempfile.TemporaryDirectory() as tmp:
            model = None if name == "shipped" else _model_dir(variants[name], Path(tmp))
            live = [live_row(name=s, seed=args.seed, seconds=args.live_seconds, device_clock=args.device_clock,
                             model=model) for s in args.songs]
        for r in live:
            print(f"| {r['song']} | {r['segment']['ratio']:.2f} | {r['first14']['ratio']:.2f} | "
                  f"{r['segment']['step']:.3f} | {100 * r['late']:.0f} % |")
        seg = [r["segment"]["ratio"] for r in live]
        print(f"| median / worst | {np.median(seg):.2f} / {np.max(seg):.2f} | "
              f"{np.median([r['first14']['ratio'] for r in live]):.2f} / "
              f"{np.max([r['first14']['ratio'] for r in live]):.2f} | | |")
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
