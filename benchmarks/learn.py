"""``dancepose learn``: learning time per minute of source, model size, and the personal dancer's live cost.

Prints three tables (with the load average beside every timing):

1. per source set — extraction time (videos only; MediaPipe), learning time after extraction (clean
   stretches, beats, units, files), both per minute of source, and the model directory's size;
2. model size for 10 minutes of source — the real pose tracks repeated (each copy shifted in time so
   nothing compresses away) until 10 minutes, learned with ``--mirror``, and the time to load it;
3. the dancer step, and features + dancer per display frame (60 fps: audio fed in display-frame blocks
   as the live engine does), p50/p99 — personal against the shipped default, hot (back to back) and
   paced (sleeping to the next display frame, as the live loop does);
4. with ``--targets``: the issue's targets per source, on songs no dancer was trained on (the five
   Dance-with-Melody validation songs, 40 s each, scored against the reference beats) and on the
   80–160 BPM drum loops, seeds 0 and 1 — pose distance to the source ÷ the default's, jitter ÷ the
   source's, longest copy of the source (bars, songs and loops), BAS ÷ chance, loops followed — by the
   report card's measure (period of the body's rise and fall) and by the kinematic beats' (period of
   the joint speed), both within 5 % of ½, 1, 2, 3 or 4 beats — and the loops' BAS ÷ chance (lowest).  Development sources (the
   70-s video, AIST++ ch01–04) and the held-out ones (the 13-s video, AIST++ ch05) are separate rows.

Usage: ``python benchmarks/learn.py [--shared ../shared/data] [--work /tmp/dancepose-learn-bench]
[--targets]`` (the extracted pose files are kept in ``--work``: a rerun skips the extraction).
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _size_mb(d: Path) -> float:
    return sum(f.stat().st_size for f in d.iterdir() if f.is_file()) / 2 ** 20


def learn_table(shared: Path, work: Path) -> list[tuple]:
    """Extraction and learning time per minute of source for the shared sources."""
    from dancepose.models.posefile import PoseSequence
    from dancepose.offline.extract import extract_pose
    from dancepose.offline.learn import learn_dancer

    videos = [shared / "dance_videos" / "dancer_fullbody_70s.mp4", shared / "dance_videos" / "dancer_studio_portrait_13s.mp4"]
    aist = sorted((shared / "aistpp_keypoints2d").glob("*.npz"))
    rows = []
    for label, sources in (("video 70 s (music)", videos[:1]), ("video 13 s (music)", videos[1:]),
                           ("AIST++ ch01-04 (no music)", aist[:4]), ("AIST++ ch05 (no music)", aist[4:])):
        t0 = time.perf_counter()
        vids = [s for s in sources if s.suffix == ".mp4"]
        cached = all((work / "poses" / f"{v.stem}.pose.npz").is_file() for v in vids)
        if vids:
            extract_pose(sources=vids, out_dir=work / "poses", quiet=True)
        t_extract = time.perf_counter() - t0 if vids else 0.0
        load_extract = _load()
        minutes = sum(len(PoseSequence.load(work / "poses" / f"{v.stem}.pose.npz")) /
                      PoseSequence.load(work / "poses" / f"{v.stem}.pose.npz").fps for v in vids) / 60 \
            if vids else 12.0 * len(sources) / 60
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "me"
            t0 = time.perf_counter()
            report = learn_dancer(sources=sources, out_dir=out, work_dir=work / "poses", quiet=True)
            t_learn = time.perf_counter() - t0
            rows.append((label, f"{minutes * 60:.0f} s", f"{report.seconds:.0f} s",
                         ("cached" if cached else f"{t_extract / minutes:.0f} s ({load_extract})") if vids else "–",
                         f"{t_learn / minutes:.1f} s ({_load()})", f"{_size_mb(out):.2f} MB"))
    return rows


def ten_minutes(shared: Path, work: Path) -> tuple[float, float, float, int]:
    """Size (MB) of a personal model learned from 10 min of source (+ mirrored), its learning time per
    minute, its load time, and its unit count."""
    from dancepose.models.dancer import Dancer
    from dancepose.models.posefile import PoseSequence
    from dancepose.offline.learn import learn_dancer

    base = PoseSequence.load(work / "poses" / "dancer_fullbody_70s.pose.npz")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        total, k = 0.0, 0
        while total < 600:
            shift = (k * 7) % 60 + 1  # each copy starts elsewhere: nothing repeats byte for byte
            kp = np.roll(base.keypoints, -shift, axis=0)
            seq = PoseSequence(keypoints=kp, confidence=np.roll(base.confidence, -shift, axis=0),
                               flags=np.roll(base.flags, -shift, axis=0), fps=base.fps, image_size=base.image_size,
                               source=f"copy {k}")
            seq.save(tmp / f"part{k:02d}.pose.npz")
            total += seq.duration
            k += 1
        t0 = time.perf_counter()
        report = learn_dancer(sources=[tmp], out_dir=tmp / "me", work_dir=tmp / "w", mirror_moves=True, quiet=True)
        t_learn = time.perf_counter() - t0
        t0 = time.perf_counter()
        Dancer.load(tmp / "me")
        t_load = time.perf_counter() - t0
        return _size_mb(tmp / "me"), t_learn / (total / 60), t_load, report.units


def step_costs(model: Path, shared: Path) -> list[tuple]:
    """Dancer step and features + dancer per display frame, p50/p99 (ms), hot and paced."""
    from dancepose.models.audio import load_audio
    from dancepose.models.clock import DISPLAY_FPS, SAMPLE_RATE
    from dancepose.models.dancer import Dancer
    from dancepose.models.features import music_features
    from dancepose.models.perform import Performer

    y = load_audio(shared / "dance_with_melody" / "DANCE_C_8" / "audio.mp3", offset=20.0, duration=30.0)
    feats = music_features(y=y)
    block = SAMPLE_RATE // DISPLAY_FPS
    rows = []
    for name, d in (("personal", Dancer.load(model)), ("default", Dancer.load(None))):
        d.reset(0)
        steps = []
        for row in feats:
            t = time.perf_counter()
            d.step(row)
            steps.append(time.perf_counter() - t)
        for paced in (False, True):
            performer = Performer(dancer=d, seed=0)
            per = []
            for i in range(0, len(y) - block, block):
                t = time.perf_counter()
                performer.process(y[i:i + block])
                per.append(time.perf_counter() - t)
                if paced:
                    time.sleep(max(0.0, 1.0 / DISPLAY_FPS - (time.perf_counter() - t)))
            s, p = np.array(steps) * 1e3, np.array(per) * 1e3
            rows.append((name, "paced" if paced else "hot", f"{np.percentile(s, 50):.3f} / {np.percentile(s, 99):.3f}",
                         f"{np.percentile(p, 50):.3f} / {np.percentile(p, 99):.3f}", _load()))
    return rows


SONGS = ("DANCE_C_8", "DANCE_R_8", "DANCE_W_4", "DANCE_W_18", "DANCE_W_34")


def target_figures(model: Path, shared: Path, *, seeds: tuple[int, ...] = (0, 1), seconds: float = 40.0) -> dict:
    """The targets of one personal dancer on the validation songs and the drum loops."""
    from dancepose.models.audio import load_audio
    from dancepose.models.clock import MODEL_FPS
    from dancepose.models.dancer import Dancer
    from dancepose.models.features import music_features
    from dancepose.offline import drumloops, metrics
    from dancepose.offline.evaluation.load import reference_beats
    from dancepose.offline.evaluation.style import jitter, longest_copy, pose_distance, unscaled

    dancer, default = Dancer.load(model), Dancer.load(None)
    moves = unscaled(dancer)
    source = dancer.moves[0].runs(mirrored=False)
    source_all = np.concatenate([np.concatenate([r, np.full((1, 15, 2), np.nan, np.float32)]) for r in source])
    mine, theirs, bas, copies, loop_tracks, followed = [], [], [], [], [], []
    for name in SONGS:
        offset = float(np.load(shared / "dance_with_melody" / name / "motion.npz")["audio_offset_s"])
        y = load_audio(shared / "dance_with_melody" / name / "audio.mp3", offset=offset, duration=seconds)
        ref = reference_beats(path=shared / "beats" / f"{name}.beats", offset_s=offset, duration_s=seconds)
        feats = music_features(y=y)
        bar_frames = ref.beats_per_bar * 60.0 / ref.tempo_bpm * MODEL_FPS
        for seed in seeds:
            p = dancer.generate(feats, seed=seed)
            mine.append(p)
            theirs.append(default.generate(feats, seed=seed))
            kb = metrics.kinematic_beats(poses=p, fps=MODEL_FPS)
            bas.append(metrics.beat_align_chance(music_beats=ref.times, kinematic_beats=kb,
                                                 duration_s=len(p) / MODEL_FPS)["ratio"])
            copies.append(longest_copy(generated=moves.generate(feats, seed=seed), source=source_all) / bar_frames)
    speed_followed, loop_bas = [], []
    for bpm in drumloops.TEST_TEMPI:
        feats = music_features(y=drumloops.drum_loop(bpm=bpm, seconds=20.0, seed=0))
        grid = np.arange(0.0, 20.0, 60.0 / bpm) - 4.0
        grid = grid[grid >= 0]
        for seed in seeds:
            p = dancer.generate(feats, seed=seed)[4 * MODEL_FPS:]
            loop_tracks.append(p)
            # the report card's measure (the body's rise and fall) and the kinematic beats' (joint speed)
            for kind, out in (("vertical", followed), ("speed", speed_followed)):
                period = metrics.motion_period(poses=p, fps=MODEL_FPS, signal_kind=kind)
                out.append(metrics.tempo_match(motion_period_s=period, beat_period_s=60.0 / bpm, tolerance=0.05,
                                               octaves=(0.5, 1, 2, 3, 4))["followed"])
            kb = metrics.kinematic_beats(poses=p, fps=MODEL_FPS)
            loop_bas.append(metrics.beat_align_chance(music_beats=grid, kinematic_beats=kb,
                                                      duration_s=len(p) / MODEL_FPS)["ratio"])
            copies.append(longest_copy(generated=moves.generate(feats, seed=seed)[4 * MODEL_FPS:],
                                       source=source_all) / (4 * 60.0 / bpm * MODEL_FPS))
    src_jitter = jitter(source)
    return {"pose_distance_ratio": pose_distance(a=np.concatenate(mine), b=np.concatenate(source))
            / pose_distance(a=np.concatenate(theirs), b=np.concatenate(source)),
            "jitter_songs": jitter(mine) / src_jitter, "jitter_loops": jitter(loop_tracks) / src_jitter,
            "copy_bars": float(np.max(copies)), "bas_over_chance": float(np.mean(bas)),
            "bas_over_chance_min": float(np.min(bas)), "loops": f"{sum(followed)}/{len(followed)}",
            "loops_speed": f"{sum(speed_followed)}/{len(speed_followed)}", "loop_bas_min": float(np.min(loop_bas))}


def targets_table(shared: Path, work: Path) -> list[tuple]:
    from dancepose.offline.learn import learn_dancer

    aist = sorted((shared / "aistpp_keypoints2d").glob("*.npz"))
    videos = shared / "dance_videos"
    rows = []
    for label, sources, mirror in (("video 70 s (development)", [videos / "dancer_fullbody_70s.mp4"], False),
                                   ("AIST++ ch01-04 (development)", aist[:4], False),
                                   ("video 13 s (held out)", [videos / "dancer_studio_portrait_13s.mp4"], False),
                                   ("video 13 s (held out), --mirror", [videos / "dancer_studio_portrait_13s.mp4"], True),
                                   ("AIST++ ch05 (held out)", aist[4:5], False),
                                   ("AIST++ ch05 (held out), --mirror", aist[4:5], True)):
        with tempfile.TemporaryDirectory() as tmp:
            learn_dancer(sources=sources, out_dir=Path(tmp) / "me", work_dir=work / "poses", mirror_moves=mirror,
                         quiet=True)
            f = target_figures(Path(tmp) / "me", shared)
        rows.append((label, f"{f['pose_distance_ratio']:.3f}", f"{f['jitter_songs']:.2f} / {f['jitter_loops']:.2f}",
                     f"{f['copy_bars']:.2f}", f"{f['bas_over_chance']:.2f} (min {f['bas_over_chance_min']:.2f})",
                     f"{f['loops']} / {f['loops_speed']}", f"{f['loop_bas_min']:.2f}", _load()))
    return rows


def _table(header: tuple, rows: list[tuple]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [" | ".join(str(h).ljust(w) for h, w in zip(header, widths)), "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "dancepose-learn-bench")
    ap.add_argument("--targets", action="store_true", help="also the issue's targets per source (minutes)")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.targets:
        print(_table(("personal dancer", "pose distance ÷ default's (≤ 0.5)", "jitter ÷ source's, songs / loops "
                      "(≤ 1.5)", "longest copy, bars (≤ 2)", "BAS ÷ chance (≥ 1.5)",
                      "loops followed: rise and fall / joint speed", "loops: BAS ÷ chance min", "load"),
                     targets_table(args.shared, args.work)))
        print()
    print(_table(("sources", "length", "kept", "extraction per min (load)", "learning per min (load)", "model dir"),
                 learn_table(args.shared, args.work)))
    size, per_min, load_s, units = ten_minutes(args.shared, args.work)
    print()
    print(_table(("10 min of source, --mirror", "model dir", "learning per min", "Dancer.load", "units"),
                 [("video poses repeated", f"{size:.1f} MB", f"{per_min:.1f} s ({_load()})", f"{load_s:.2f} s",
                   str(units))]))
    with tempfile.TemporaryDirectory() as tmp:
        from dancepose.offline.learn import learn_dancer

        learn_dancer(sources=sorted((args.shared / "aistpp_keypoints2d").glob("*.npz"))[:4], out_dir=Path(tmp) / "me",
                     work_dir=args.work / "poses", quiet=True)
        print()
        print(_table(("dancer", "loop", "step p50 / p99 ms", "features + dancer per display frame p50 / p99 ms",
                      "load"), step_costs(Path(tmp) / "me", args.shared)))
    shutil.rmtree(args.work / "tmp", ignore_errors=True)


if __name__ == "__main__":
    main()
