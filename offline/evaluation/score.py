"""Scoring: per-track figures, the drum-loop reactivity tests, and the summary against real dance.

Per track (:func:`score_track`): plain BAS beside its chance level (the same kinematic beats shifted at
random) and their ratio, kinematic beats per second, mean joint speed, jitter (share of the pose power
above 4 Hz) and the forward/central step ratio, motion period against the beat, which bar length the
motion's autocorrelation marks (when the metre is known), freeze, limbs, frame.  Every speed and
acceleration is a forward difference (:mod:`dancepose.offline.metrics`).

Summary (:func:`summarise`): the dancer's figures as ratios to real dance on the same songs and
skeleton (speed, kinematic-beat rate, diversity of 4-s body-kinetic windows, jitter song by song), FID
against real dance beside the real-vs-real FID (validation songs' real dance vs the training songs'),
BAS ÷ chance, share of songs with the bar marked right, and the sanity and reactivity figures.  The flat
``summary["figures"]`` is what :mod:`.targets` checks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from dancepose.models.clock import HOP_LENGTH, MODEL_FPS
from dancepose.offline import drumloops, metrics
from dancepose.offline.evaluation.load import Track, in_frame_pixels, track_beats

#: Tempo of the silence-gap and quiet/loud loops.
GAP_BPM: int = 120


@dataclass(frozen=True)
class EvalConfig:
    """Measuring knobs of the report (targets live in :mod:`.targets`)."""

    window_s: float = 4.0                 # body-kinetic feature window (diversity, FID)
    frame_size: tuple[int, int] = (1280, 720)
    loop_seconds: float = 20.0            # length of each tempo loop
    song_octaves: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0, 4.0)  # beat or bar (waltz: 3 beats)
    loop_octaves: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0, 4.0)  # integer multiples of the beat (or ½)
    tempo_tolerance: float = 0.05
    chance_shifts: int = 200              # random shifts of the kinematic beats for BAS's chance level


def real_limb_reference(tracks: list[np.ndarray]) -> np.ndarray:
    """The usual (full, unforeshortened) length of every limb in real dance: its 95th percentile over
    the torso-normalised frames of ``tracks`` [each shape=(T, J, 2)].  Returns [shape=(len(LIMBS),)]."""
    from dancepose.models.skeleton import limb_lengths

    lengths = np.concatenate([limb_lengths(metrics.normalise_poses(poses=t)) for t in tracks])
    return np.nanpercentile(lengths, 95, axis=0)


def score_track(track: Track, *, config: EvalConfig = EvalConfig(),
                beats: tuple[float, np.ndarray] | None = None,
                limb_reference: np.ndarray | None = None, seed: int = 0) -> dict[str, Any]:
    """All per-track figures of one :class:`Track` (JSON-ready dict, plus private arrays under ``_``).

    Music beats: ``beats`` (tempo, times) if given, else ``track.beats`` (reference annotation), else
    tracked from ``track.y``.  ``limb_reference``: usual limb lengths from real dance
    (:func:`real_limb_reference`); without it each track's own 75th percentiles are used.
    """
    fps = MODEL_FPS
    p = track.poses
    dur = p.shape[0] / fps
    if beats is not None:
        tempo, mb = beats
    elif track.beats is not None and len(track.beats) > 1:
        mb = np.asarray(track.beats, dtype=np.float64)
        tempo = 60.0 / float(np.median(np.diff(mb)))
    elif track.y is not None:
        tempo, mb = track_beats(y=track.y)
    else:
        tempo, mb = float("nan"), np.zeros(0)
    mb = mb[mb <= dur]
    kb = metrics.kinematic_beats(poses=p, fps=fps)
    period = metrics.motion_period(poses=p, fps=fps)
    octaves = config.loop_octaves if track.kind == "loop" else config.song_octaves
    beat_s = 60.0 / tempo if tempo > 0 else math.nan
    tm = metrics.tempo_match(motion_period_s=period, beat_period_s=beat_s,
                             tolerance=config.tempo_tolerance, octaves=octaves)
    pn = metrics.normalise_poses(poses=p)
    limbs_self = metrics.limb_plausibility(poses=pn)
    limbs = metrics.limb_plausibility(poses=pn, reference=limb_reference) if limb_reference is not None \
        else limbs_self
    in_frame = track.in_frame if track.in_frame is not None else in_frame_pixels(
        poses=p, frame_size=config.frame_size)
    ph = metrics.beat_phase(music_beats=mb, kinematic_beats=kb)
    chance = metrics.beat_align_chance(music_beats=mb, kinematic_beats=kb, duration_s=dur,
                                       n_shifts=config.chance_shifts, seed=seed)
    row = {
        "song": track.name, "kind": track.kind, "seconds": round(dur, 2),
        "music_bpm": tempo, "bas": chance["bas"], "bas_chance": chance["chance"],
        "bas_over_chance": chance["ratio"],
        "on_beat": ph["on_beat"], "phase_resultant": ph["resultant"],
        "kinematic_beats_per_s": len(kb) / dur,
        "kinematic_beats_per_music_beat": (len(kb) / len(mb)) if len(mb) else math.nan,
        "motion_period_s": period, "tempo_ratio": tm["ratio"], "tempo_multiple": tm["multiple"],
        "tempo_error": tm["error"], "tempo_followed": tm["followed"],
        "freeze": metrics.freeze_ratio(poses=p, fps=fps),
        "mean_speed": float(np.mean(metrics.joint_speed(poses=p, fps=fps))),
        "jitter": metrics.high_frequency_share(poses=p, fps=fps), "step_ratio": metrics.step_ratio(poses=p),
        "stretched_frames": limbs["stretched_frames"], "max_limb_ratio": limbs["max_ratio"],
        "stretched_frames_self": limbs_self["stretched_frames"],
        "in_frame": in_frame, **track.extra,
        "_kinetic": metrics.kinetic_features(poses=p, fps=fps, window_s=config.window_s),
        "_music_beats": mb, "_kinematic_beats": kb,
    }
    if track.beats_per_bar:
        bar = metrics.bar_autocorrelation(poses=p, fps=fps, beat_period_s=beat_s)
        speed_bar = metrics.bar_autocorrelation(poses=p, fps=fps, beat_period_s=beat_s, signal_kind="speed")
        bpb = int(track.beats_per_bar)
        row.update(beats_per_bar=bpb, bar_marked_beats=bar["marked"],
                   bar_right=metrics.bar_marked_right(marked=bar["marked"], beats_per_bar=bpb),
                   bar_marked_speed_beats=speed_bar["marked"],
                   bar_right_speed=metrics.bar_marked_right(marked=speed_bar["marked"], beats_per_bar=bpb),
                   **{f"acf_{k}_beats": v for k, v in bar["acf"].items()})
    return row


# ----------------------------------------------------------------------------------- reactivity
def reactivity(*, dancer, config: EvalConfig = EvalConfig(), seed: int = 0, quiet: bool = False
               ) -> tuple[list[dict], dict[str, Any]]:
    """The model on drum loops: tempo following, silence gaps, quiet vs loud.

    Returns (per-loop rows, summary dict).
    """
    from dancepose.models.cli import progress

    from dancepose.models.perform import perform

    rows = []
    for bpm in progress(drumloops.TEST_TEMPI, desc="tempo loops", unit="loop", quiet=quiet):
        y = drumloops.drum_loop(bpm=bpm, seconds=config.loop_seconds, seed=seed)
        poses = perform(y, dancer=dancer, seed=seed).poses
        # judge the steady state: the first 4 s let the causal beat tracker lock on
        skip = 4 * MODEL_FPS
        tr = Track(name=f"loop_{bpm}bpm", kind="loop", poses=poses[skip:], y=y[skip * HOP_LENGTH:])
        grid = np.arange(0.0, config.loop_seconds, 60.0 / bpm) - skip / MODEL_FPS
        row = score_track(tr, config=config, beats=(float(bpm), grid[grid >= 0]), seed=seed)
        row["requested_bpm"] = bpm
        rows.append(row)

    gap_bpm = GAP_BPM
    sections = drumloops.gap_sections()
    y = drumloops.sectioned_loop(bpm=gap_bpm, sections=sections, seed=seed)
    poses = perform(y, dancer=dancer, seed=seed).poses
    on = drumloops.section_mask(sections=sections, n_frames=len(poses), fps=MODEL_FPS)
    energy = metrics.motion_energy(poses=poses, fps=MODEL_FPS, window_s=0.25)
    sr_ = metrics.settle_and_resume(energy=energy, fps=MODEL_FPS, music_on=on)
    beat_s = 60.0 / gap_bpm
    gaps = {"bpm": gap_bpm, "settle_s": sr_["settle_s"], "resume_s": sr_["resume_s"],
            "resume_beats": [r / beat_s if np.isfinite(r) else math.nan for r in sr_["resume_s"]],
            "silence_level": sr_["silence_level"], "music_level": sr_["music_level"]}

    dyn = drumloops.dynamics_sections()
    y2 = drumloops.sectioned_loop(bpm=gap_bpm, sections=dyn, seed=seed)
    poses2 = perform(y2, dancer=dancer, seed=seed).poses
    gain = drumloops.section_mask(sections=dyn, n_frames=len(poses2), fps=MODEL_FPS, key="gain_db")
    e2 = metrics.motion_energy(poses=poses2, fps=MODEL_FPS)
    t = np.arange(len(poses2)) / MODEL_FPS
    settled = np.zeros(len(t), dtype=bool)
    for s in dyn:  # skip the first 2 s of every section (transition)
        settled |= (t >= s.start_s + 2.0) & (t < s.end_s)
    loud = float(np.mean(e2[settled & (gain > -1)]))
    quiet_e = float(np.mean(e2[settled & (gain < -1)]))
    summary = {
        "tempo": [{"bpm": r["requested_bpm"], "motion_period_s": r["motion_period_s"],
                   "ratio": r["tempo_ratio"], "followed": r["tempo_followed"]} for r in rows],
        "gaps": gaps,
        "dynamics": {"loud_energy": loud, "quiet_energy": quiet_e,
                     "loud_over_quiet": loud / quiet_e if quiet_e > 0 else math.inf,
                     "quiet_db": dyn[0].gain_db},
        "_gap_track": (poses, y, on), "_dyn_track": (poses2, y2),
    }
    return rows, summary


# ----------------------------------------------------------------------------------- summary
def _finite(values: Sequence[float]) -> np.ndarray:
    v = np.array([x for x in values if x is not None], dtype=np.float64)
    return v[np.isfinite(v)]


def nanmean(values: Sequence[float]) -> float:
    v = _finite(values)
    return float(v.mean()) if v.size else float("nan")


def nanmedian(values: Sequence[float]) -> float:
    v = _finite(values)
    return float(np.median(v)) if v.size else float("nan")


def nanmax(values: Sequence[float]) -> float:
    v = _finite(values)
    return float(v.max()) if v.size else float("nan")


def pool_kinetic(rows: list[dict]) -> np.ndarray:
    """The body-kinetic feature windows of ``rows``, stacked [shape=(n, d)]."""
    feats = [r["_kinetic"] for r in rows if len(r["_kinetic"])]
    return np.concatenate(feats) if feats else np.zeros((0, 0))


def _ratio(a: float, b: float) -> float:
    return a / b if np.isfinite(a) and np.isfinite(b) and b > 0 else float("nan")


def _kind_figures(rows: list[dict], *, real: dict | None) -> dict[str, float]:
    """Figures of one kind of rows; ratios to ``real`` (the real-dance figures) when given."""
    f = {"mean_speed": nanmean([r["mean_speed"] for r in rows]),
         "kinematic_beat_rate": nanmean([r["kinematic_beats_per_s"] for r in rows]),
         "bas": nanmean([r["bas"] for r in rows]), "bas_chance": nanmean([r["bas_chance"] for r in rows])}
    f["bas_over_chance"] = _ratio(f["bas"], f["bas_chance"])
    barred = [r for r in rows if "bar_right" in r]
    if barred:
        f["bar_marked"] = sum(bool(r["bar_right"]) for r in barred) / len(barred)
        f["bar_marked_speed"] = sum(bool(r["bar_right_speed"]) for r in barred) / len(barred)
        f["bar_songs"] = len(barred)
    kin = pool_kinetic(rows)
    f["diversity"] = metrics.diversity(features=kin) if len(kin) > 1 else float("nan")
    f["jitter"] = nanmedian([r["jitter"] for r in rows])
    f["step_ratio"] = nanmean([r["step_ratio"] for r in rows])
    f["step_ratio_max"] = nanmax([r["step_ratio"] for r in rows])
    if real is not None:
        f["speed_ratio"] = _ratio(f["mean_speed"], real["mean_speed"])
        f["kinematic_beat_rate_ratio"] = _ratio(f["kinematic_beat_rate"], real["kinematic_beat_rate"])
        f["diversity_ratio"] = _ratio(f["diversity"], real["diversity"])
    return f


def jitter_ratios(gen: list[dict], gt: list[dict]) -> dict[str, float]:
    """Jitter of each generated row ÷ the real dance's on the same song: {song: ratio}."""
    real = {r["song"]: r["jitter"] for r in gt}
    return {r["song"]: _ratio(r["jitter"], real.get(r["song"], float("nan"))) for r in gen}


def summarise(*, rows: list[dict], react: dict | None, long_run: dict | None, ref_feats: dict,
              config: EvalConfig, notes: list[str]) -> dict:
    """The summary: per-kind means, real-dance references, the dancer's figures against real dance."""
    by = {k: [r for r in rows if r["kind"] == k] for k in ("gt", "gt_mismatched", "generated", "file", "loop")}
    summary: dict[str, Any] = {}
    figures: dict[str, Any] = {}
    gt, gen, mis = by["gt"], by["generated"], by["gt_mismatched"]
    for kind, rs in (("gt", gt), ("gt_mismatched", mis), ("generated", gen), ("file", by["file"])):
        if rs:
            summary[kind] = {k: nanmean([r[k] for r in rs]) for k in
                             ("bas", "bas_chance", "on_beat", "phase_resultant", "tempo_error", "freeze",
                              "stretched_frames", "in_frame", "jitter", "step_ratio")}
            summary[kind]["tempo_followed"] = sum(bool(r["tempo_followed"]) for r in rs) / len(rs)
    if gt:
        gt_f = pool_kinetic(gt)
        summary["real"] = _kind_figures(gt, real=None)
        refs = {}
        for name, f in ref_feats.items():
            refs[name] = {"diversity": metrics.diversity(features=f),
                          "fid_k_vs_gt_val": metrics.frechet_distance(a=gt_f, b=f)}
        summary["references"] = refs
        fid_real = refs.get("dwm_train", {}).get("fid_k_vs_gt_val", float("nan"))
        summary["real"]["fid_real_vs_real"] = fid_real
        if mis:
            summary["discrimination"] = _discrimination(gt=gt, mis=mis, notes=notes)
        if gen:
            g = _kind_figures(gen, real=summary["real"])
            gen_f = pool_kinetic(gen)
            g["fid"] = metrics.frechet_distance(a=gen_f, b=gt_f)
            if "dwm_train" in ref_feats:
                g["fid_vs_train_songs"] = metrics.frechet_distance(a=gen_f, b=ref_feats["dwm_train"])
            g["fid_real_vs_real"] = fid_real
            g["fid_over_real"] = _ratio(g["fid"], fid_real)
            ratios = jitter_ratios(gen, gt)
            g["jitter_ratio_by_song"] = ratios
            g["jitter_over_real"] = nanmedian(list(ratios.values()))
            g["jitter_over_real_max"] = nanmax(list(ratios.values()))
            summary["vs_real"] = g
            figures.update({k: g[k] for k in ("speed_ratio", "kinematic_beat_rate_ratio", "diversity_ratio",
                                              "fid_over_real", "bas_over_chance", "jitter_over_real",
                                              "jitter_over_real_max", "step_ratio_max") if k in g})
            if "bar_marked" in g:
                figures["bar_marked"] = g["bar_marked"]
                figures["bar_marked_speed"] = g["bar_marked_speed"]
            figures["freeze"] = max(max(r.get("freeze_whole", r["freeze"]) for r in gen),
                                    long_run["freeze"] if long_run else 0.0)
    if long_run is not None:
        figures["in_frame"] = long_run["in_frame"]
        figures["stretched_frames"] = max([long_run["stretched_frames"]] + [r["stretched_frames"] for r in gen])
        figures.setdefault("freeze", long_run["freeze"])
    if react is not None:
        figures["loops_followed"] = sum(bool(t["followed"]) for t in react["tempo"]) / len(react["tempo"])
        settle = react["gaps"]["settle_s"]
        figures["settle_s"] = max((s if np.isfinite(s) else math.inf) for s in settle) if settle else math.nan
        res = react["gaps"]["resume_beats"]
        figures["resume_beats"] = max((r if np.isfinite(r) else math.inf) for r in res) if res else math.nan
    summary["figures"] = figures
    return summary


def _discrimination(*, gt: list[dict], mis: list[dict], notes: list[str]) -> dict:
    """Which metrics tell real dance to its own music from real dance to another song's?"""
    disc = {}
    own = {r["song"]: r for r in gt}
    for key, sign in (("bas", 1.0), ("bas_over_chance", 1.0), ("on_beat", 1.0), ("tempo_error", -1.0)):
        # tempo_error: lower is better → compare negated values
        pairs = [(sign * float(own[m["song"].split("~")[0]][key]), sign * float(m[key])) for m in mis]
        pairs = [(a, b) for a, b in pairs if np.isfinite(a) and np.isfinite(b)]
        wins = sum(a > b for a, b in pairs)
        mean_own = float(np.mean([a for a, _ in pairs])) if pairs else math.nan
        mean_mis = float(np.mean([b for _, b in pairs])) if pairs else math.nan
        ok = bool(pairs) and wins >= 0.8 * len(pairs) and \
            mean_own - mean_mis > 0.1 * max(abs(mean_own), abs(mean_mis))
        disc[key] = {"own_music": sign * mean_own, "mismatched_music": sign * mean_mis, "own_wins": wins,
                     "songs": len(pairs), "discriminates": ok}
    bad = [k for k, v in disc.items() if not v["discriminates"]]
    good = [k for k, v in disc.items() if v["discriminates"]]
    notes.append("On this (ballroom) data real dance scores "
                 + (f"clearly better with its own music on {', '.join(good)}" if good else
                    "no better with its own music than with another song's")
                 + (f"; {', '.join(bad)} do(es) not discriminate real pairings here "
                    "(speed minima are only weakly beat-locked in ballroom)" if bad else "")
                 + ". Diversity / FID_k / freeze / limbs / frame do not depend on the music.")
    return disc
