"""``dancepose learn``: a person's videos (or pose files, OpenPose JSON, AIST++ keypoints) → their own dancer.

sources → one pose track each (:mod:`.sources`; videos through the extractor, ``--ray`` for many) →
clean stretches (:mod:`.stretches`: no cuts, close-ups, other people, gaps or stills) → body units on
the model clock, mirrored copies with ``mirror`` → beat-long units (:mod:`.phrases`: the music's beats
where the source has music, else the motion's own) → a personal model directory.

The personal dancer keeps the person's moves and takes its musical timing from the dancer it builds on
(``base``, the shipped default unless given): its beat/bar tracker and its performing stages (dynamics,
limb clamp with the person's limb lengths, silence gate to the person's rest pose).  The move player
(:mod:`dancepose.models.moves`) re-times the units onto the beat heard and recombines them by motion
matching, live and offline alike.

A personal model directory is a model directory like any other (``Dancer.load``, ``render``,
``dancepose-live -m``, ``evaluate``)::

    config.json   the base's config + "moves" (player config) + "personal" (what was learned from what)
    dancer.npz    the base's network and statistics, with the person's rest pose and limb lengths
    moves.npz     the person's clean motion and its units (their data: it stays with them)

No training: learning takes seconds per minute of source after extraction.
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence, TextIO

import numpy as np

from dancepose.models.clock import MODEL_FPS, resample
from dancepose.models.errors import InputError, ParameterError
from dancepose.models.moves import MOVES_FILE, MoveLibrary, MovesConfig
from dancepose.models.posefile import MISSING
from dancepose.models.skeleton import mirror, to_body_units

from .phrases import PhraseConfig, music_beat_times, segment_stretch
from .sources import SourceMotion, find_sources, load_sources
from .stretches import StretchConfig, StretchReport, clean_stretches

#: Less clean motion than this in all sources together cannot make a dancer.
MIN_SECONDS = 4.0


@dataclass(frozen=True)
class LearnConfig:
    """Every knob of ``learn`` (saved in ``config.json["personal"]``)."""

    stretches: StretchConfig = field(default_factory=StretchConfig)
    phrases: PhraseConfig = field(default_factory=PhraseConfig)
    moves: MovesConfig = field(default_factory=MovesConfig)
    #: Frame rate of OpenPose JSON folders (OpenPose does not store it).
    openpose_fps: float = 30.0


@dataclass
class LearnReport:
    """What ``learn`` did: per source the stretches kept and how they were cut, and the totals."""

    model_dir: Path
    sources: list[dict]
    units: int
    seconds: float
    learn_seconds: float
    failed: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [s["line"] for s in self.sources]
        out += [f"{name}: failed: {why}" for name, why in self.failed.items()]
        out.append(f"learned {self.units} units from {self.seconds:.1f} s of clean motion in "
                   f"{self.learn_seconds:.1f} s → {self.model_dir}")
        return out


def stretch_poses(m: SourceMotion, start: int, stop: int) -> np.ndarray:
    """Frames ``start:stop`` of a source in body units at MODEL_FPS [shape=(T, J, 2)] float32."""
    seq = m.seq
    kp = seq.keypoints[start:stop].astype(np.float64)
    n = int(np.floor((stop - start - 1) / seq.fps * MODEL_FPS)) + 1
    pts = resample(kp, fps=seq.fps, times=np.arange(n) / MODEL_FPS)
    return to_body_units(pts, fps=MODEL_FPS)


@dataclass
class _Collected:
    frames: list[np.ndarray] = field(default_factory=list)
    units: list[tuple[float, float, int, int, bool]] = field(default_factory=list)  # start, end, run, source, mirrored
    run_frames: list[tuple[int, int]] = field(default_factory=list)
    n_frames: int = 0
    runs: int = 0

    def add(self, poses: np.ndarray, units: list[tuple[float, float]], *, source: int, mirrored: bool) -> None:
        if not units:
            return
        base = self.n_frames
        self.frames.append(poses.astype(np.float32))
        self.units += [(base + s, base + e, self.runs, source, mirrored) for s, e in units]
        self.run_frames.append((base, base + len(poses)))
        self.n_frames += len(poses)
        self.runs += 1


def collect_units(motions: Sequence[SourceMotion], *, config: LearnConfig, mirrored: bool,
                  ) -> tuple[MoveLibrary, list[dict], np.ndarray]:
    """Clean stretches → units of every source.

    Returns (the move library, one summary dict per source, every kept frame [shape=(n, J, 2)] for the
    rest pose and limb lengths, key poses of images included).

    Raises
    ------
    InputError
        Less than :data:`MIN_SECONDS` of clean motion, or no unit at all.
    """
    acc = _Collected()
    summaries, poses_all = [], []
    for i, m in enumerate(motions):
        rep: StretchReport = clean_stretches(m.seq, name=m.name, config=config.stretches)
        music = None
        if m.audio is not None and rep.stretches:
            music = music_beat_times(m.audio, seconds=m.seq.duration, min_confidence=config.phrases.min_confidence)
        how, n_units = [], 0
        for a, b in rep.stretches:
            poses = stretch_poses(m, a, b)
            units, cut_by = segment_stretch(poses, offset_s=a / m.seq.fps, music=music, config=config.phrases)
            how.append(cut_by)
            n_units += len(units)
            poses_all.append(poses)
            acc.add(poses, units, source=i, mirrored=False)
            if mirrored:
                acc.add(mirror(poses), units, source=i, mirrored=True)
        if m.kind == "image" and (m.seq.flags != MISSING).all():
            poses_all.append(to_body_units(m.seq.keypoints.astype(np.float64), fps=m.seq.fps))
        line = rep.line() + (f", {n_units} units by the {'music' if 'music' in how else 'motion'}'s beats"
                             if rep.stretches else "")
        if m.note:
            line += f" [{m.note}]"
        summaries.append({**rep.to_dict(), "kind": m.kind, "music": str(m.audio) if m.audio else None,
                          "cut_by": how, "units": n_units, "line": line})
    kept = sum(s["kept_s"] for s in summaries)
    if kept < MIN_SECONDS or len(acc.units) < 2:
        detail = "; ".join(s["line"] for s in summaries) or "no source could be read"
        raise InputError(f"too little clean dance to learn from: {kept:.1f} s (need {MIN_SECONDS:g} s with the "
                         f"whole body in view, no cuts): {detail}")
    u = np.array(acc.units, dtype=np.float64)
    lib = MoveLibrary(frames=np.concatenate(acc.frames), unit_start=u[:, 0], unit_end=u[:, 1],
                      unit_run=u[:, 2].astype(np.int64), unit_source=u[:, 3].astype(np.int64),
                      unit_mirrored=u[:, 4].astype(bool), source_names=tuple(m.name for m in motions),
                      run_frames=np.array(acc.run_frames, dtype=np.int64))
    return lib, summaries, np.concatenate(poses_all)


def _base_arrays(base: str | os.PathLike | None) -> tuple[dict, dict, str]:
    """The base dancer's config and arrays (checked by loading it), and its name."""
    from dancepose.models.dancer import DEFAULT_MODEL_DIR, Dancer

    Dancer.load(base)  # every check a model gets (exit 4 naming the file)
    d = Path(base) if base is not None else DEFAULT_MODEL_DIR
    config = json.loads((d / "config.json").read_text())
    with np.load(d / "dancer.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    for key in ("moves", "personal"):  # a personal dancer as the base: build on its base network
        config.pop(key, None)
    return config, arrays, "default" if base is None else str(base)


def write_personal_model(out_dir: Path, *, base_config: dict, base_arrays: dict, library: MoveLibrary,
                         rest: np.ndarray, limb_max: np.ndarray, personal: dict, moves: MovesConfig) -> None:
    """Write ``config.json``, ``dancer.npz`` and ``moves.npz`` into ``out_dir`` (an atomic temp folder)."""
    from dancepose.models.outputs import atomic_output

    arrays = dict(base_arrays, rest_pose=rest.astype(np.float32), limb_max=limb_max.astype(np.float32))
    with atomic_output(out_dir / "dancer.npz") as tmp:
        np.savez_compressed(tmp, **arrays)
    library.save(out_dir / MOVES_FILE)
    config = dict(base_config, moves={"file": MOVES_FILE, **asdict(moves)}, personal=personal)
    with atomic_output(out_dir / "config.json") as tmp:
        tmp.write_text(json.dumps(config, indent=2))


def learn_dancer(*, sources: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
                 base: str | os.PathLike | None = None, mirror_moves: bool = False, ray: str | None = None,
                 work_dir: str | os.PathLike | None = None, config: LearnConfig = LearnConfig(),
                 quiet: bool = False, log: TextIO | None = None) -> LearnReport:
    """Learn a personal dancer from a person's sources.

    Parameters
    ----------
    sources : sequence of path
        Videos, images, ``*.pose.npz``, OpenPose JSON folders, AIST++ keypoints2d ``.npz``, or folders
        of them (:func:`dancepose.offline.sources.find_sources`).
    out_dir : path
        The personal model directory (replaced only when complete).
    base : path or None
        The dancer whose timing and stages it builds on (None: the shipped default).
    mirror_moves : bool
        Also learn every move mirrored left↔right.
    ray : str or None
        Extract the videos on a Ray cluster (``"local"`` or an address), as ``dancepose extract --ray``.
    work_dir : path or None
        Where extracted pose files are kept (resumable); default ``<out_dir>_work`` beside it.
    config : LearnConfig
    quiet : bool
    log : text stream or None

    Returns
    -------
    LearnReport

    Raises
    ------
    InputError
        A source is missing or of no known kind (before any work), or too little clean motion.
        Sources that fail to read are reported and skipped; if any failed, the model is still written
        and an ``InputError`` naming them is raised at the end (the batch policy).
    ModelError
        The base dancer cannot be loaded.
    OutputError
        ``out_dir`` or ``work_dir`` cannot be written.
    """
    from dancepose.models.outputs import atomic_output_dir, check_output_dir

    log = log or sys.stderr
    out = Path(out_dir)
    items = find_sources(sources)
    base_config, base_arrays, base_name = _base_arrays(base)
    check_output_dir(out.parent if out.parent != Path("") else Path("."))
    if out.exists() and not out.is_dir():
        raise ParameterError(f"{out} exists and is not a folder")
    work = check_output_dir(Path(work_dir) if work_dir is not None else out.with_name(f"{out.name}_work"))
    motions, failed = load_sources(items, work_dir=work, openpose_fps=config.openpose_fps, ray=ray,
                                   quiet=quiet, log=log)
    t0 = time.perf_counter()
    library, summaries, kept = collect_units(motions, config=config, mirrored=mirror_moves)
    from .train import rest_and_limb_max

    rest, limb_max = rest_and_limb_max(kept)
    learn_s = time.perf_counter() - t0
    seconds = sum(s["kept_s"] for s in summaries)
    personal = {"base": base_name, "mirror": mirror_moves, "seconds": round(seconds, 2),
                "units": library.n_units, "learn_seconds": round(learn_s, 2),
                "sources": [{k: v for k, v in s.items() if k != "line"} for s in summaries],
                "stretches": asdict(config.stretches), "phrases": asdict(config.phrases)}
    with atomic_output_dir(out) as tmp:
        write_personal_model(tmp, base_config=base_config, base_arrays=base_arrays, library=library,
                             rest=rest, limb_max=limb_max, personal=personal, moves=config.moves)
    report = LearnReport(model_dir=out, sources=summaries, units=library.n_units, seconds=seconds,
                         learn_seconds=learn_s, failed={str(k): v for k, v in failed.items()})
    if not quiet:
        for line in report.lines():
            print(f"learn: {line}", file=log)
    if failed:
        first = next(iter(failed.values()))
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        raise InputError(f"{out} learned from {len(motions)} sources; {len(failed)} failed: {first}{more}")
    return report


__all__ = ["LearnConfig", "LearnReport", "collect_units", "learn_dancer", "stretch_poses",
           "write_personal_model"]
