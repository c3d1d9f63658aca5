"""``dancepose evaluate``: run the report — load, score, check the targets, plot, print and save.

Rows (one per song and kind):

* ``generated`` — the model dancing to a validation song of Dance with Melody (songs it was not trained
  on, :data:`dancepose.offline.dataset.VALIDATION_SONGS`), scored on the danced segment of the song;
* ``gt`` — the real dance against its own music;
* ``gt_mismatched`` — the same real dance against the beats of *another* song (a reference for chance);
* ``file`` — pose files given on the command line (e.g. ``dancepose render --save-pose``) with their audio;
* ``loop`` — the model on synthesised drum loops (80–160 BPM, silence gaps, quiet vs loud).

Written as a table on stdout, ``report.json`` and one PNG per song (music beats vs kinematic beats;
motion energy over the loudness envelope).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from dancepose.models.audio import load_audio
from dancepose.models.clock import HOP_LENGTH, MODEL_FPS, SAMPLE_RATE
from dancepose.models.errors import InputError, ParameterError
from dancepose.offline import drumloops, metrics
from dancepose.offline.dataset import VALIDATION_SONGS
from dancepose.models.outputs import atomic_output, check_output_dir
from dancepose.offline.evaluation.load import (AUDIBLE_DBFS, Track, dwm_dir, in_frame_pixels, load_aistpp_2d,
                                               load_dwm_2d, load_pose_track, loudness_db, reference_beats,
                                               track_beats)
from dancepose.offline.evaluation.plots import plot_song
from dancepose.offline.evaluation.score import (GAP_BPM, EvalConfig, reactivity, real_limb_reference,
                                                score_track, summarise)
from dancepose.offline.evaluation.style import StyleMusic, format_style, loop_music, style_report
from dancepose.offline.evaluation.targets import TARGETS, check_targets


def _public(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if k.startswith("_"):
            continue
        if isinstance(v, (np.floating, float)):
            v = _round(v)
        elif isinstance(v, np.integer):
            v = int(v)
        elif isinstance(v, np.bool_):
            v = bool(v)
        out[k] = v
    return out


def _check(value: float, ok: bool) -> str:
    if ok:
        return "✓"
    return "–" if value is None or np.isnan(value) else "✗"


def _fmt(v: Any, nd: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(v)
    if isinstance(v, (float, np.floating)):
        return ("never" if np.isinf(v) else "–") if not np.isfinite(v) else f"{v:.{nd}f}"
    return str(v)


def _cell(v: Any, key: str | None) -> str:
    """A table cell: 2 decimals for rates and ratios, 2 significant digits for jitter shares, else 3."""
    if key == "jitter" and isinstance(v, (float, np.floating)) and np.isfinite(v):
        return f"{v:.2g}"
    two = ("seconds", "music_bpm", "motion_period_s", "kinematic_beats_per_s", "mean_speed", "bas_over_chance")
    return _fmt(v, 2 if key in two else 3)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _round(obj)
    return obj


def _round(v: float) -> float | None:
    """JSON number: None for NaN/inf, 4 decimals, or 4 significant digits below 0.01 (jitter shares)."""
    if not np.isfinite(v):
        return None
    return float(f"{float(v):.4g}") if 0 < abs(v) < 1e-2 else round(float(v), 4)


def evaluate(*, poses: Sequence[str | os.PathLike] = (), audio: Sequence[str | os.PathLike] = (),
             model_dir: str | os.PathLike | None = None, data: str | os.PathLike | None = None,
             songs: Sequence[str] | None = None, reactivity_tests: bool = False,
             minutes_in_frame: float = 10.0, out_dir: str | os.PathLike = "eval_report", seed: int = 0,
             generate: bool = True, groove: bool | None = None, config: EvalConfig = EvalConfig(),
             quiet: bool = False) -> dict:
    """Score dancing: pose files, the model on validation songs and drum loops, and real dance.

    Parameters
    ----------
    poses : sequence of paths
        ``.pose.npz`` files to score (generated or extracted); their music is ``audio`` (same order) or
        found beside them.
    audio : sequence of paths
        Music of ``poses`` (empty: look beside each pose file).
    model_dir : path or None
        Dancer to generate with (None: the shipped default).
    data : path or None
        Dance-with-Melody folder (or the shared data root holding it): real-dance rows, and the model on
        the validation songs.  Reference beats are read from ``beats/`` beside ``dance_with_melody/``.
    songs : sequence of str or None
        DwM sequences to use (default: ``dataset.VALIDATION_SONGS``).
    reactivity_tests : bool
        Run the drum-loop tests (tempo 80–160 BPM, silence gaps, quiet vs loud).
    minutes_in_frame : float
        Length of the continuous generation of the stay-in-frame test (0: skip).
    out_dir : path
        Where ``report.json`` and the PNGs go.
    seed : int
        Generation seed.
    generate : bool
        False: no model at all (score files and real dance only).
    groove : bool or None
        None: the dancer's groove stage (the hand-made bounce) as saved with the model; False: off (the
        learned motion alone); True: on.
    config : EvalConfig
    quiet : bool
        No progress bars and no table on stdout.

    Returns
    -------
    dict — the report (also written to ``out_dir/report.json``).
    """
    out_dir = check_output_dir(out_dir)  # before any work; created when the first file is written
    reactivity_tests = _checked_inputs(poses=poses, audio=audio, data=data, generate=generate,
                                       minutes_in_frame=minutes_in_frame, reactivity_tests=reactivity_tests)
    dancer = None
    if generate and (data is not None or reactivity_tests or minutes_in_frame > 0):
        from dancepose.models.dancer import Dancer

        dancer = Dancer.load(model_dir).with_groove(groove)
    run = _Run(out_dir=out_dir, config=config, seed=seed, quiet=quiet)
    _score_pose_files(run, poses=poses, audio=audio)
    if data is not None:
        _score_songs(run, dwm=dwm_dir(Path(data)), songs=songs, dancer=dancer)
    react = _score_loops(run, dancer=dancer) if dancer is not None and reactivity_tests else None
    long_run = None
    if dancer is not None and minutes_in_frame > 0:
        long_run = _long_run(dancer=dancer, features=run.features, minutes=minutes_in_frame,
                             limb_ref=run.limb_ref, seed=seed, config=config,
                             source="validation songs, concatenated and looped" if data is not None
                             else "drum loops 80–160 BPM, concatenated and looped")
    style = None
    if dancer is not None and dancer.moves is not None:  # a personal dancer: its style against its source
        style = style_report(dancer=dancer, music=run.style_music or loop_music(seed=seed), out_dir=out_dir,
                             seed=seed, groove=groove)
        run.plots.append(style["picture"])
    summary = summarise(rows=run.rows, react=react, long_run=long_run, ref_feats=run.ref_feats, config=config,
                        notes=run.notes)
    report = {"rows": [_public(r) for r in run.rows], "summary": summary,
              "targets": check_targets(summary["figures"], targets=TARGETS),
              "reactivity": react, "long_run": long_run, "notes": run.notes, "plots": run.plots,
              "config": asdict(config), "model": None if dancer is None else str(model_dir or "default"),
              "groove": dancer.stages.groove.enabled if dancer is not None else None, "style": style}
    with atomic_output(out_dir / "report.json") as tmp:
        tmp.write_text(json.dumps(_jsonable(report), indent=2, ensure_ascii=False))
    if not quiet:
        print(format_report(report))
        print(f"\nreport: {out_dir / 'report.json'}  plots: {len(run.plots)} PNG in {out_dir}")
    return report


def _checked_inputs(*, poses: Sequence, audio: Sequence, data, generate: bool, minutes_in_frame: float,
                    reactivity_tests: bool) -> bool:
    """Check :func:`evaluate`'s inputs before any work; returns whether to run the drum loops (a bare
    ``dancepose evaluate`` scores the model on them)."""
    if audio and len(audio) != len(poses):
        raise ParameterError(f"give one --audio per pose file ({len(poses)} pose files, {len(audio)} audio)")
    if minutes_in_frame < 0:
        raise ParameterError(f"minutes_in_frame must be ≥ 0, got {minutes_in_frame}")
    if not poses and data is None and not generate:
        raise ParameterError("nothing to evaluate: give pose files, --data or allow generation")
    for p in list(poses) + list(audio):
        if not Path(p).is_file():
            raise InputError(f"file not found: {p}")
    if data is not None:
        dwm_dir(Path(data))
    return reactivity_tests or (not poses and data is None)


@dataclass
class _Run:
    """What one :func:`evaluate` run collects as it goes (rows, plots, notes and the references)."""

    out_dir: Path
    config: EvalConfig
    seed: int
    quiet: bool
    rows: list[dict] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    style_music: list[StyleMusic] = field(default_factory=list)  # what a personal dancer's style is judged on
    features: list[np.ndarray] = field(default_factory=list)  # the songs' music features, for the long run
    ref_feats: dict[str, np.ndarray] = field(default_factory=dict)  # real-vs-real references (FID_k, diversity)
    limb_ref: np.ndarray | None = None

    def plot(self, name: str, **kw) -> None:
        png = self.out_dir / f"{name}.png"
        plot_song(path=png, **kw)
        self.plots.append(str(png))


def _score_pose_files(run: _Run, *, poses: Sequence, audio: Sequence) -> None:
    """One ``file`` row per pose file, scored against its music."""
    from dancepose.models.cli import progress

    for i, p in enumerate(progress(list(poses), desc="pose files", unit="file", quiet=run.quiet)):
        tr = load_pose_track(Path(p), audio=Path(audio[i]) if audio else None)   # music read in blocks
        row = score_track(tr, config=run.config, seed=run.seed, beats=tr.music)
        run.rows.append(row)
        run.style_music.append(StyleMusic(name=tr.name, y=Path(tr.extra["audio"]), bpm=row["music_bpm"],
                                          seconds=len(tr.poses) / MODEL_FPS))
        run.plot(f"eval_{tr.name}", title=tr.name, panels=[("file", tr.poses, None)],
                 loudness={"file": tr.loudness}, beats={"file": (row["_music_beats"], row["_kinematic_beats"])})


def _score_songs(run: _Run, *, dwm: Path, songs: Sequence[str] | None, dancer) -> None:
    """The Dance-with-Melody songs: real dance against its own and another song's beats, the dancer on
    each song, and the real-vs-real references."""
    from dancepose.models.cli import progress

    beats_dir = dwm.parent / "beats"
    names = list(songs) if songs else [s for s in VALIDATION_SONGS if (dwm / s).is_dir()]
    missing = [s for s in names if not (dwm / s / "motion.npz").is_file()]
    if missing:
        raise InputError(f"unknown Dance-with-Melody sequence(s) in {dwm}: {', '.join(missing)}")
    if not names:
        raise InputError(f"none of the validation songs is in {dwm}")
    if not beats_dir.is_dir():
        run.notes.append(f"no reference beats in {beats_dir}: music beats tracked with librosa, no bar figures")
    run.limb_ref = real_limb_reference([load_dwm_2d(dwm / n)[0] for n in names])
    loaded = {name: _score_song(run, song_dir=dwm / name, beats_dir=beats_dir, dancer=dancer)
              for name in progress(names, desc="songs", unit="song", quiet=run.quiet)}
    for i, name in enumerate(names if len(names) > 1 else []):  # real dance against another song's beats
        other = names[(i + 1) % len(names)]
        gt, (y_other, beats) = loaded[name][0], loaded[other][1:]
        run.rows.append(score_track(Track(name=f"{name}~{other}", kind="gt_mismatched", poses=gt, y=y_other),
                                    config=run.config, beats=beats, limb_reference=run.limb_ref, seed=run.seed))
    window_s = run.config.window_s
    train = [d.name for d in sorted(dwm.iterdir()) if (d / "motion.npz").is_file() and d.name not in names]
    if train:
        run.ref_feats["dwm_train"] = np.concatenate([
            metrics.kinetic_features(poses=load_dwm_2d(dwm / t)[0], fps=MODEL_FPS, window_s=window_s)
            for t in progress(train, desc="reference dance", unit="song", quiet=run.quiet)])
    aist = dwm.parent / "aistpp_keypoints2d"
    if aist.is_dir():
        run.ref_feats["aistpp"] = np.concatenate([
            metrics.kinetic_features(poses=p, fps=MODEL_FPS, window_s=window_s) for p in load_aistpp_2d(aist)])


def _score_song(run: _Run, *, song_dir: Path, beats_dir: Path, dancer) -> tuple:
    """The real dance of one song (a ``gt`` row) and, with a dancer, its dance to the same song (a
    ``generated`` row), plotted together.  Returns (real poses, danced segment of the song, its beats)."""
    from dancepose.models.perform import perform

    name = song_dir.name
    gt, offset, dur = load_dwm_2d(song_dir)
    y_song = load_audio(song_dir / "audio.mp3", duration=offset + dur + 0.2)
    y_seg = y_song[int(round(offset * SAMPLE_RATE)):]
    ref = reference_beats(path=beats_dir / f"{name}.beats", offset_s=offset, duration_s=dur)
    beats = (ref.tempo_bpm, ref.times) if ref is not None else track_beats(y=y_seg)
    meter = ref.beats_per_bar if ref is not None else None
    run.style_music.append(StyleMusic(name=name, y=y_seg[:len(gt) * HOP_LENGTH], bpm=beats[0],
                                      beats_per_bar=meter or 4))
    gt_row = score_track(Track(name=name, kind="gt", poses=gt, y=y_seg, beats_per_bar=meter),
                         config=run.config, beats=beats, limb_reference=run.limb_ref, seed=run.seed)
    run.rows.append(gt_row)
    panels = [("real", gt, y_seg)]
    beat_map = {"real": (gt_row["_music_beats"], gt_row["_kinematic_beats"])}
    if dancer is not None:
        perf = perform(y_song, dancer=dancer, seed=run.seed)
        run.features.append(perf.features)
        start = int(round(offset * MODEL_FPS))
        gen = perf.poses[start:start + len(gt)]
        g_row = score_track(Track(name=name, kind="generated", poses=gen, y=y_seg, beats_per_bar=meter),
                            config=run.config, beats=beats, limb_reference=run.limb_ref, seed=run.seed)
        # The whole song, counting only frames where music is audible (resting in a silent intro or
        # outro is the wanted behaviour, not a freeze).
        audible = loudness_db(y=y_song, n_frames=len(perf.poses)) > AUDIBLE_DBFS
        g_row["freeze_whole"] = metrics.freeze_ratio(poses=perf.poses, fps=MODEL_FPS, mask=audible)
        run.rows.append(g_row)
        panels.append(("generated", gen, y_seg))
        beat_map["generated"] = (g_row["_music_beats"], g_row["_kinematic_beats"])
    run.plot(f"eval_{name}", title=name, panels=panels, beats=beat_map)
    return gt, y_seg, beats


def _score_loops(run: _Run, *, dancer) -> dict:
    """The drum-loop rows (tempo 80–160 BPM, silence gaps, quiet vs loud) and their plots; returns the
    reactivity figures."""
    loop_rows, react = reactivity(dancer=dancer, config=run.config, seed=run.seed, quiet=run.quiet)
    run.rows += loop_rows
    gp, gy, _ = react.pop("_gap_track")
    dp, dy = react.pop("_dyn_track")
    for label, pp, yy in (("silence_gaps", gp, gy), ("quiet_loud", dp, dy)):
        grid = np.arange(0.0, len(pp) / MODEL_FPS, 60.0 / GAP_BPM)
        mb = grid[np.abs(yy[np.minimum((grid * SAMPLE_RATE).astype(int), len(yy) - 1)]) > 0]
        kb = metrics.kinematic_beats(poses=pp, fps=MODEL_FPS)
        run.plot(f"eval_loop_{label}", title=f"drum loop {GAP_BPM} BPM, {label}", panels=[("generated", pp, yy)],
                 beats={"generated": (mb, kb)})
    return react


def _long_run(*, dancer, features: list[np.ndarray], minutes: float, limb_ref: np.ndarray | None, seed: int,
              config: EvalConfig, source: str) -> dict:
    """Minutes of continuous dancing (the songs' features looped, or drum loops): frame, freeze, limbs."""
    from dancepose.models.features import music_features

    n_target = int(round(minutes * 60 * MODEL_FPS))
    if not features:
        features = [music_features(y=drumloops.drum_loop(bpm=bpm, seconds=60.0, seed=seed))
                    for bpm in drumloops.TEST_TEMPI]
    feats = np.concatenate(features)
    reps = int(np.ceil(n_target / len(feats)))
    feats = np.concatenate([feats] * reps)[:n_target]
    gen = dancer.generate(feats, seed=seed)  # looped features: no audio exists for them
    limbs = metrics.limb_plausibility(poses=metrics.normalise_poses(poses=gen), reference=limb_ref)
    return {"minutes": minutes, "source": source,
            "in_frame": in_frame_pixels(poses=gen, frame_size=config.frame_size),
            "freeze": metrics.freeze_ratio(poses=gen, fps=MODEL_FPS),
            "stretched_frames": limbs["stretched_frames"], "max_limb_ratio": limbs["max_ratio"],
            "max_abs_x": float(np.nanmax(np.abs(gen[..., 0]))),
            "y_range": [float(np.nanmin(gen[..., 1])), float(np.nanmax(gen[..., 1]))]}


def _threshold_text(t: dict) -> str:
    th = t["threshold"]
    if t["comparison"] == "between":
        return f"{_fmt(th[0], 2)}–{_fmt(th[1], 2)}"
    return f"{t['comparison']} {_fmt(th, 3)}"


def format_report(report: dict) -> str:
    """The report as a plain-text table."""
    cols = [("song", "song", 22), ("kind", "kind", 13), ("s", "seconds", 6), ("BPM", "music_bpm", 6),
            ("BAS", "bas", 6), ("chance", "bas_chance", 6), ("÷chance", "bas_over_chance", 7),
            ("kb/s", "kinematic_beats_per_s", 5), ("speed", "mean_speed", 6), ("jitter", "jitter", 7),
            ("step", "step_ratio", 5),
            ("period", "motion_period_s", 7), ("ratio", "tempo_ratio", 6), ("bar", "bar_marked_beats", 4),
            ("bar/v", "bar_marked_speed_beats", 5),
            ("meter", "beats_per_bar", 5), ("freeze", "freeze", 7), ("stretch", "stretched_frames", 8),
            ("inframe", "in_frame", 8)]
    lines = ["  ".join(h.ljust(w) for h, _, w in cols)]
    for r in report["rows"]:
        lines.append("  ".join(_cell(r.get(k), k)[:w].ljust(w) for _, k, w in cols))
    s = report["summary"]
    if s.get("real"):
        lines.append("")
        lines.append("figure                          dancer      real dance")
        real, gen = s["real"], s.get("vs_real", {})
        table = [("mean joint speed (torso/s)", "mean_speed", "mean_speed"),
                 ("  ÷ real", "speed_ratio", None),
                 ("jitter: power > 4 Hz (median)", "jitter", "jitter"),
                 ("  ÷ real, median over songs", "jitter_over_real", None),
                 ("  ÷ real, worst song", "jitter_over_real_max", None),
                 ("step ratio fwd/central (mean)", "step_ratio", "step_ratio"),
                 ("  worst song", "step_ratio_max", "step_ratio_max"),
                 ("kinematic beats per second", "kinematic_beat_rate", "kinematic_beat_rate"),
                 ("  ÷ real", "kinematic_beat_rate_ratio", None),
                 ("diversity (4-s kinetic windows)", "diversity", "diversity"),
                 ("  ÷ real", "diversity_ratio", None),
                 ("FID_k against real dance", "fid", "fid_real_vs_real"),
                 ("  ÷ real-vs-real", "fid_over_real", None),
                 ("BAS (reference beats)", "bas", "bas"),
                 ("  chance (beats shifted)", "bas_chance", "bas_chance"),
                 ("  BAS ÷ chance", "bas_over_chance", "bas_over_chance"),
                 ("bar marked (share of songs)", "bar_marked", "bar_marked"),
                 ("  in joint speed", "bar_marked_speed", "bar_marked_speed")]
        for label, gk, rk in table:
            lines.append(f"{label:31s} {_cell(gen.get(gk), gk):11s} {_cell(real.get(rk), rk) if rk else ''}")
        for kind in ("gt", "gt_mismatched", "generated", "file"):
            if kind in s:
                lines.append(f"{kind:14s} " + "  ".join(f"{k}={_cell(v, k)}" for k, v in s[kind].items()))
        for name, ref in s.get("references", {}).items():
            lines.append(f"reference {name}: " + "  ".join(f"{k}={_fmt(v)}" for k, v in ref.items()))
        for key, d in s.get("discrimination", {}).items():
            lines.append(f"discriminates real pairings? {key}: own {_fmt(d['own_music'])} vs mismatched "
                         f"{_fmt(d['mismatched_music'])} (own wins {d['own_wins']}/{d['songs']}) → "
                         f"{'yes' if d['discriminates'] else 'no'}")
    if report.get("reactivity"):
        r = report["reactivity"]
        lines.append("")
        lines.append("tempo loops: " + "  ".join(
            f"{t['bpm']}→{_fmt(t['ratio'], 2)}{'✓' if t['followed'] else '✗'}" for t in r["tempo"]))
        g = r["gaps"]
        lines.append(f"silence gaps: settle {[_fmt(v, 2) for v in g['settle_s']]} s, resume "
                     f"{[_fmt(v, 2) for v in g['resume_beats']]} beats, silence level "
                     f"{_fmt(g['silence_level'], 2)} × music")
        d = r["dynamics"]
        lines.append(f"quiet ({d['quiet_db']:g} dB) vs loud: energy {_fmt(d['quiet_energy'])} vs "
                     f"{_fmt(d['loud_energy'])} (loud/quiet {_fmt(d['loud_over_quiet'], 2)})")
    if report.get("long_run"):
        lr = report["long_run"]
        lines.append(f"long run {lr['minutes']:g} min ({lr['source']}): in frame {_fmt(lr['in_frame'], 4)}, "
                     f"freeze {_fmt(lr['freeze'])}, stretched {_fmt(lr['stretched_frames'])}")
    if report["targets"]:
        lines.append("")
        groove = report.get("groove")
        lines.append("targets" + ("" if groove is None else f" (groove {'on' if groove else 'off'})") + ":")
        for key, t in report["targets"].items():
            value = float("nan") if t["value"] is None else float(t["value"])
            lines.append(f"  {_check(value, t['ok'])} {key:16s} {_fmt(t['value'])} "
                         f"(target {_threshold_text(t)}: {t['rule']})")
    if report.get("style"):
        lines += format_style(report["style"])
    for n in report.get("notes", []):
        lines.append(f"note: {n}")
    return "\n".join(lines)
