"""A person's own moves, re-timed onto the beat the dancer hears: the move library and its player.

A *personal* dancer (``dancepose learn``) keeps the person's motion itself — their clean stretches, in
body units on the model clock — cut into **units**: the motion from one beat to the next (the music's
beats where the source had music, else the motion's own rhythm, its speed minima).  The player is the
first stage of such a dancer (it takes the place of the network and the sampling stage; dynamics,
limb clamp and silence gate follow as for every dancer) and works like the motion matching of game
engines and ChoreoMaster's graph of beat-long motion nodes:

* **Re-timing.**  The tracked beat phase (the frame's :class:`~dancepose.models.dancer.BeatTiming`,
  as it will be seen) drives a beat position; the current unit is played
  time-warped so that it starts and ends on beats (it spans 1, 2 or 4 beats: the fewest that do not
  play it faster than the person danced it).  Unit ends are the person's kinematic beats, so their speed minima land
  on the beats heard — live and offline alike, causally.  Time slows into every beat (the accent) as
  much as the person's own speed minima need to read as kinematic beats (:func:`library_accent`).
* **Choosing.**  At every unit end the next unit is the best match of the pose and velocity being shown
  (motion matching) among the units not played recently; the unit that follows in the source wins
  while allowed, but never for more than ``max_run_bars`` bar in a row, so the dance is recombined
  from the person's moves, not a replay of the source.  One of the ``candidates`` best is drawn (seeded).
* **Blending.**  The difference between the pose shown and the new unit's start (position and
  velocity) decays as a critically damped spring (inertialisation), so nothing jumps.
* **Phrasing.**  The units chosen fill a bar, a phrase, which is danced up to four times before the
  next is chosen, so the body's rise and fall repeats with the bar (the report card's tempo measure);
  a repeat is danced only while it cannot copy the source for more than 2 bars, as the replay test
  counts copies, watched on the poses shown (:class:`CopyTracker`).

One step costs a few microseconds (an interpolation of two frames and a 2-term offset); a unit change,
a vectorised cost over all units (tens of microseconds for ten minutes of source).

File format ``moves.npz`` (``dancepose-moves`` version 1, no pickle): ``frames`` float32 (N, J, 2) body
units at MODEL_FPS; ``unit_start``, ``unit_end`` float64 (U,) fractional frame positions in ``frames``;
``unit_run`` int32 (U,) the clean stretch a unit belongs to (consecutive units of a run follow each
other in the source); ``run_frames`` int64 (R, 2) the [start, stop) frames of every run in ``frames``;
``unit_source`` int32 (U,) index into ``source_names`` str (S,); ``unit_mirrored`` bool (U,).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .clock import MODEL_FPS
from .errors import ModelError, ParameterError
from .skeleton import N_JOINTS, Joint

MOVES_FORMAT = "dancepose-moves"
MOVES_VERSION = 1
MOVES_FILE = "moves.npz"
#: Points per unit at which moves are compared (:func:`_same_moves`).
SHAPE_SAMPLES = 9
#: Libraries of at most this many source frames (30 s, mirrored copies not counted) have their copies
#: watched as they are shown (:class:`CopyTracker`, ≈ 0.1 ms a frame); larger ones use ``min_excursion``.
WATCH_FRAMES = 900
#: The beats a unit may span (:meth:`MovePlayer._span_for`).
SPANS = (1.0, 2.0, 4.0)


@dataclass(frozen=True)
class MovesConfig:
    """How the player re-times and recombines the person's units (saved in ``config.json["moves"]``).

    Attributes
    ----------
    max_run_bars : float
        Longest stretch played in the source's own order, in bars of the music heard (the tracked metre:
        3 or 4 beats); then the next unit must come from elsewhere.  1 = half the 2-bar limit on copying
        the source.
    same_move : float
        A unit whose move (pelvis-relative poses at 9 even points of it, each against the other's nearest
        of three: :func:`_same_moves`) is on average within this many torso lengths per joint (RMS) of the
        unit that follows in the source — or whose first half is — counts as that unit (a repeated move):
        choosing it continues the run.
    recent_beats : float
        A unit played within this many beats is not chosen again.
    candidates : int
        The next unit is drawn among this many best matches.
    velocity_weight : float
        Weight of the velocity mismatch (per beat) against the pose mismatch in the matching cost.
    rise_weight : float
        Weight of the difference between the candidate's rise and fall (mean joint height at 0, ¼ … 1 of
        the unit) and the current unit's: the body keeps its level and bounce from beat to beat, so the
        rise and fall repeats with the beat.
    blend_s : float
        Time constant of the transition offset's decay (critically damped; ≈ gone after 3 ×).
    catch_up : float
        The beat position follows the tracked phase at most this many times the tempo (it never runs
        backwards), so a phase correction is absorbed smoothly.
    accent : float
        0…1: time runs ``1 − accent`` times as fast at every beat heard as on average (and ``1 + accent``
        times mid-way), also within a unit spanning 2 or 4 beats: a speed minimum, a kinematic beat, on
        every beat, the way the base dancer eases into it.  The least accent: a library whose speed minima
        are shallow is played with more (``beat_depth``).
    max_speedup : float
        A unit spans one beat unless that plays it more than this many times faster than the person
        danced it; then two beats, then four (:meth:`MovePlayer._span_for`).  1: never faster than the
        person — played 1.2 × faster, a break dancer's motion had 2.5–3 × the source's power above 4 Hz
        (the spectrum moves up with the rate and falls steeply).
    beat_depth, max_accent : float
        Every unit is eased into its beats enough that its speed on a beat is at most ``beat_depth`` × its
        mean speed — a clear kinematic beat — with an accent between ``accent`` and ``max_accent``
        (:func:`library_accent`: the person's own speed at their units' ends against its mean decides how
        much is needed).  A source whose speed minima are shallow (a 70-s video clip: its units' ends at
        0.87 × their mean speed, against 0.55 for AIST++ ch05's break dancer) had its played minima anywhere in the
        beat, and a phrase repeated four times made one such unit a run off the beat (BAS ÷ chance 1.2).
        ``max_accent = accent``: the previous player.
    lock_beats : float
        Time constant (beats) of the phase-locked loop that moves the beat position with the tracked
        phase (:meth:`MovePlayer._advance`).
    phrase_bars, phrase_repeats : float
        The units chosen are grouped into phrases of ``phrase_bars`` bars (units that would overrun the
        phrase are chosen last), and a phrase is danced ``phrase_repeats`` times before the next is
        chosen — as dancers repeat a bar's figure while the music repeats (ChoreoMaster keeps the
        choreography's structure with the music's).  The body's rise and fall then repeats with the bar:
        freely recombined units gave it the period of the person's cycle of moves (5–8 beats), which is no
        multiple of the beat.  1: no repeats (the previous player).
    max_copy_bars : float
        A phrase is repeated only while that cannot copy the source for longer than this many bars (the
        issue's limit) — the copy run so far, plus the phrase, plus a blend, as the replay test
        (``evaluation.style.longest_copy``) counts it on the poses shown (:class:`CopyTracker`, libraries
        of up to ``WATCH_FRAMES`` source frames); and, once a copy run is half that long, units that could
        go on with it are not chosen.  0: not watched.
    min_excursion : float
        In larger libraries (copies not watched), a phrase is repeated only when one of its units moves at
        least this far (torso lengths per joint, pelvis-relative) from the pose nearest all of it: a
        nearly still phrase, repeated, reads as the source standing still (:func:`_excursion`).
    """

    max_run_bars: float = 1.0
    same_move: float = 0.2
    recent_beats: float = 16.0
    candidates: int = 4
    velocity_weight: float = 0.05
    rise_weight: float = 10.0
    blend_s: float = 0.3
    catch_up: float = 2.0
    lock_beats: float = 1.5
    max_speedup: float = 1.0
    accent: float = 0.2
    beat_depth: float = 0.6
    max_accent: float = 0.35
    phrase_bars: float = 1.0
    phrase_repeats: float = 4.0
    max_copy_bars: float = 2.0
    min_excursion: float = 0.45

    def __post_init__(self) -> None:
        if not (self.max_run_bars > 0 and self.recent_beats >= 0 and self.same_move >= 0 and self.candidates >= 1
                and self.velocity_weight >= 0 and self.rise_weight >= 0 and self.blend_s > 0 and self.catch_up >= 1
                and self.lock_beats > 0 and 0 <= self.accent < 1 and self.max_speedup >= 1
                and self.accent <= self.max_accent < 1 and self.beat_depth > 0
                and self.phrase_bars > 0 and self.phrase_repeats >= 1 and self.max_copy_bars >= 0
                and self.min_excursion >= 0):
            raise ParameterError(f"invalid MovesConfig {self}")


@dataclass(frozen=True)
class MoveLibrary:
    """The person's motion and its units (see the module docstring for the arrays)."""

    frames: np.ndarray
    unit_start: np.ndarray
    unit_end: np.ndarray
    unit_run: np.ndarray
    unit_source: np.ndarray
    unit_mirrored: np.ndarray
    source_names: tuple[str, ...]
    run_frames: np.ndarray

    def __post_init__(self) -> None:
        self.validate(source="move library")

    def validate(self, *, source: str) -> None:
        """Raise :class:`ModelError` naming ``source`` for inconsistent or non-finite arrays."""
        f, u = self.frames, len(self.unit_start)
        if f.ndim != 3 or f.shape[1:] != (N_JOINTS, 2) or len(f) < 2:
            raise ModelError(f"bad move library {source}: frames has shape {f.shape}, expected (N, {N_JOINTS}, 2)")
        if not np.isfinite(f).all():
            raise ModelError(f"bad move library {source}: frames hold non-finite values (NaN or inf)")
        if u < 2:
            raise ModelError(f"bad move library {source}: fewer than 2 units")
        for name in ("unit_end", "unit_run", "unit_source", "unit_mirrored"):
            if getattr(self, name).shape != (u,):
                raise ModelError(f"bad move library {source}: {name} has shape "
                                 f"{getattr(self, name).shape}, expected ({u},)")
        s, e = self.unit_start, self.unit_end
        if not (np.isfinite(s).all() and np.isfinite(e).all() and (s >= 0).all() and (e <= len(f) - 1).all()
                and (e - s >= 1).all()):
            raise ModelError(f"bad move library {source}: unit boundaries outside the frames or empty units")
        if len(self.source_names) == 0 or (self.unit_source < 0).any() \
                or (self.unit_source >= len(self.source_names)).any():
            raise ModelError(f"bad move library {source}: unit_source does not index source_names")
        r = self.run_frames
        if r.ndim != 2 or r.shape[1] != 2 or (self.unit_run < 0).any() or (self.unit_run >= len(r)).any() \
                or (r[:, 0] < 0).any() or (r[:, 1] > len(f)).any() or (r[:, 1] <= r[:, 0]).any() \
                or (s < r[self.unit_run, 0]).any() or (e > r[self.unit_run, 1] - 1).any():
            raise ModelError(f"bad move library {source}: runs do not hold their units")

    def runs(self, *, mirrored: bool | None = None) -> list[np.ndarray]:
        """The clean stretches as separate tracks [each shape=(n, J, 2)] (``mirrored``: only those)."""
        out = []
        for r, (a, b) in enumerate(self.run_frames):
            m = self.unit_mirrored[self.unit_run == r]
            if mirrored is None or (len(m) and bool(m[0]) == mirrored):
                out.append(self.frames[a:b])
        return out

    @property
    def n_units(self) -> int:
        return int(len(self.unit_start))

    @property
    def seconds(self) -> float:
        """Length of the motion the units cover (s), mirrored copies included."""
        return float(np.sum(self.unit_end - self.unit_start)) / MODEL_FPS

    def successors(self) -> np.ndarray:
        """Index of the unit that follows each unit in the source (-1: none). [shape=(U,)] int"""
        nxt = np.full(self.n_units, -1, np.int64)
        same = (self.unit_run[1:] == self.unit_run[:-1]) & (np.abs(self.unit_start[1:] - self.unit_end[:-1]) < 1e-6)
        nxt[:-1][same] = np.arange(1, self.n_units)[same]
        return nxt

    # ------------------------------------------------------------------ file
    def save(self, path: str | os.PathLike) -> Path:
        """Write ``moves.npz`` atomically (:func:`dancepose.models.outputs.atomic_output`)."""
        from .outputs import atomic_output

        path = Path(path)
        with atomic_output(path) as tmp:
            np.savez_compressed(tmp, format=np.str_(MOVES_FORMAT), version=np.int32(MOVES_VERSION),
                                frames=self.frames.astype(np.float32), unit_start=self.unit_start,
                                unit_end=self.unit_end, unit_run=self.unit_run.astype(np.int32),
                                unit_source=self.unit_source.astype(np.int32),
                                unit_mirrored=self.unit_mirrored.astype(bool),
                                source_names=np.array(self.source_names, dtype=np.str_),
                                run_frames=self.run_frames.astype(np.int64))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "MoveLibrary":
        """Read and check a ``moves.npz``.  Raises :class:`ModelError` naming the file."""
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"personal model is incomplete: {path} is missing (learn it again with "
                             f"`dancepose learn`)")
        try:
            with np.load(path, allow_pickle=False) as z:
                d = {k: z[k] for k in z.files}
        except Exception as exc:  # zip/CRC/format errors all mean "corrupt"
            raise ModelError(f"corrupt move library {path}: {exc}") from None
        if str(d.get("format", "")) != MOVES_FORMAT:
            raise ModelError(f"{path} is not a dancepose move library")
        if int(d.get("version", 0)) != MOVES_VERSION:
            raise ModelError(f"{path} has move-library version {d.get('version')!r}; this dancepose reads "
                             f"{MOVES_VERSION}: learn it again with `dancepose learn`")
        keys = ("frames", "unit_start", "unit_end", "unit_run", "unit_source", "unit_mirrored", "source_names",
                "run_frames")
        missing = [k for k in keys if k not in d]
        if missing:
            raise ModelError(f"corrupt move library {path}: missing {', '.join(missing)}")
        try:
            return cls(frames=d["frames"].astype(np.float32), unit_start=d["unit_start"].astype(np.float64),
                       unit_end=d["unit_end"].astype(np.float64), unit_run=d["unit_run"].astype(np.int64),
                       unit_source=d["unit_source"].astype(np.int64),
                       unit_mirrored=d["unit_mirrored"].astype(bool),
                       source_names=tuple(str(s) for s in np.atleast_1d(d["source_names"])),
                       run_frames=d["run_frames"].astype(np.int64).reshape(-1, 2))
        except ModelError as exc:
            raise ModelError(str(exc).replace("move library", f"move library {path}", 1)) from None
        except (TypeError, ValueError) as exc:
            raise ModelError(f"corrupt move library {path}: {exc}") from None


def load_moves(model_dir: Path, entry: object) -> tuple[MoveLibrary, MovesConfig]:
    """The move library and player config of a personal model directory (``config.json["moves"]``).

    Raises
    ------
    ModelError
        A malformed ``"moves"`` entry, or a missing, corrupt or inconsistent move library (naming the file).
    """
    import dataclasses

    source = Path(model_dir) / "config.json"
    if not isinstance(entry, dict):
        raise ModelError(f"{source}: 'moves' must be a mapping")
    values = {k: v for k, v in entry.items() if k != "file"}
    names = {f.name for f in dataclasses.fields(MovesConfig)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ModelError(f"{source}: moves has unknown field(s) {', '.join(unknown)}")
    try:
        config = MovesConfig(**{k: (int(v) if k == "candidates" else float(v)) for k, v in values.items()})
    except (TypeError, ValueError, ParameterError) as exc:
        raise ModelError(f"{source}: invalid moves config: {exc}") from None
    name = entry.get("file", MOVES_FILE)
    if not isinstance(name, str) or Path(name).name != name:
        raise ModelError(f"{source}: moves.file must be a file name in the model directory")
    return MoveLibrary.load(Path(model_dir) / name), config


def _unit_features(lib: MoveLibrary) -> dict[str, np.ndarray]:
    """Per unit: start/end pose [shape=(U, 2J)], start/end velocity per unit of progress, length (frames)."""
    f = lib.frames.reshape(len(lib.frames), -1).astype(np.float64)

    def at(pos: np.ndarray) -> np.ndarray:
        i = np.clip(np.floor(pos).astype(np.int64), 0, len(f) - 2)
        w = (pos - i)[:, None]
        return f[i] * (1.0 - w) + f[i + 1] * w

    s, e = lib.unit_start, lib.unit_end
    length = e - s
    # the move itself: pelvis-relative poses at SHAPE_SAMPLES even points of the unit; its rise and fall
    # (mean height of the joints at 0, ¼ … 1 of it)
    pts = np.linspace(0.0, 1.0, SHAPE_SAMPLES)
    poses = np.stack([at(s + k * length) for k in pts], axis=1).reshape(len(s), len(pts), -1, 2)
    shape = poses - poses[:, :, Joint.PELVIS:Joint.PELVIS + 1]
    quarters = np.searchsorted(pts, np.linspace(0.0, 1.0, 5))
    return {"start": at(s), "end": at(e), "length": length, "shape": shape,
            "rise": poses[:, quarters][..., 1].mean(axis=2),
            "v_start": (at(s + 1.0) - at(s)) * length[:, None],
            "v_end": (at(e) - at(e - 1.0)) * length[:, None]}


def _same_moves(shape: np.ndarray, *, threshold: float) -> np.ndarray:
    """Which units are the same move, as the replay test (``evaluation.style.longest_copy``) would see it.

    ``shape`` [shape=(U, K, J, 2)]: pelvis-relative poses at K even points of every unit.  Units ``a`` and
    ``b`` are the same move when, averaged over the K points, the RMS distance per joint from ``a``'s pose
    at point k to the nearest of ``b``'s at k − 1, k, k + 1 is within ``threshold`` (a repeat danced a
    little early or late is still a repeat).  Symmetric, True on the diagonal. → [shape=(U, U)] bool
    """
    u, k_n = shape.shape[:2]
    x = shape.reshape(u, k_n, -1).astype(np.float32)
    per_joint = x.shape[2] / 2
    sq = (x * x).sum(axis=2)                                   # (U, K)
    total = np.zeros((u, u), np.float32)
    for k in range(k_n):
        best = None
        for kk in range(max(0, k - 1), min(k_n, k + 2)):
            d2 = sq[:, k, None] + sq[None, :, kk] - 2.0 * (x[:, k] @ x[:, kk].T)
            best = d2 if best is None else np.minimum(best, d2)
        total += np.sqrt(np.maximum(best, 0.0) / per_joint)
    d = total / k_n
    same = np.minimum(d, d.T) <= threshold
    np.fill_diagonal(same, True)
    return same


class CopyTracker:
    """The replay test, one pose at a time: after every pose shown, the length (frames) of the longest
    run of recent poses that copies the person's source frame for frame.  ``evaluation.style.longest_copy``
    is this tracker run over a whole dance (one dynamic programme for the test and the player).

    The arithmetic: a pose copies source segment n → n + 1 when it is on average within
    ``tolerance`` torso lengths per joint (pelvis-relative) of the segment's nearest point; a run goes on
    from segment m to n when 0 ≤ n − m ≤ 2.  One update costs O(source frames).
    """

    def __init__(self, source: np.ndarray, *, tolerance: float = 0.15, max_advance: int = 2) -> None:
        """source [shape=(N, N_JOINTS, 2)]: the person's poses (body units), passages separated by a NaN
        frame (:meth:`of_library` builds it from a move library)."""
        keep = [j for j in range(N_JOINTS) if j != Joint.PELVIS]
        s_all = np.asarray(source, dtype=np.float64)
        ok = np.isfinite(s_all).all(axis=(1, 2))
        s = np.where(ok[:, None, None], s_all, 0.0)
        s = (s[:, keep] - s[:, Joint.PELVIS:Joint.PELVIS + 1]).reshape(len(s), -1).astype(np.float32)
        self.a, self.v = s[:-1], s[1:] - s[:-1]
        self.ok = ok[:-1] & ok[1:]
        self.vv = np.maximum((self.v * self.v).sum(axis=1), 1e-12)
        self.keep, self.tolerance, self.max_advance = keep, np.float32(tolerance), max_advance
        self._d, self._t = np.empty_like(self.a), np.empty_like(self.a)  # work space of update
        self.reset()

    @classmethod
    def of_library(cls, library: MoveLibrary, **kw) -> "CopyTracker":
        """The tracker of a personal dancer: its library's unmirrored source passages."""
        gap = np.full((1, N_JOINTS, 2), np.nan, np.float32)
        runs = library.runs(mirrored=False) or library.runs()
        return cls(np.concatenate([x for r in runs for x in (r, gap)]), **kw)

    def reset(self, rng: np.random.Generator | None = None) -> None:
        self.run = np.zeros(len(self.a), np.int32)
        self.current = 0  # the longest run ending at the last pose

    def __call__(self, pose: np.ndarray, frame) -> np.ndarray:
        """As the last stage of a personal dancer's chain: watch the pose shown, pass it on unchanged."""
        self.update(pose)
        return pose

    def continuing(self, poses: np.ndarray, *, after: np.ndarray, min_run: int) -> np.ndarray:
        """Which of ``poses`` [shape=(U, N_JOINTS, 2)], shown ``after`` [shape=(U,)] frames from now, could
        still belong to a copy run now at least ``min_run`` frames long: the source within reach of such a
        run by then (0 … 2 frames per frame) holds a frame they copy. [shape=(U,)] bool"""
        live = np.flatnonzero(self.run >= max(min_run, 1))
        out = np.zeros(len(poses), bool)
        if len(live) == 0 or len(poses) == 0:
            return out
        reach_end = live + int(np.ceil(self.max_advance * float(np.max(after))))
        window = np.zeros(len(self.a) + 1, np.int32)           # the source frames any live run can reach
        np.add.at(window, live, 1)
        np.add.at(window, np.minimum(reach_end + 1, len(self.a)), -1)
        idx = np.flatnonzero((np.cumsum(window)[:-1] > 0) & self.ok)
        g = (poses[:, self.keep] - poses[:, Joint.PELVIS:Joint.PELVIS + 1]).reshape(len(poses), -1)
        a, v = self.a[idx], self.v[idx]
        d = g[:, None] - a[None]                                               # (U, S, D)
        alpha = np.clip((d * v[None]).sum(axis=2) / self.vv[idx][None], 0.0, 1.0)
        r = (d - alpha[..., None] * v[None]).reshape(len(poses), len(idx), -1, 2)
        near = np.sqrt((r * r).sum(axis=3)).mean(axis=2) <= self.tolerance  # (U, S)
        for u in np.flatnonzero(near.any(axis=1)):
            hits = idx[near[u]]
            k = np.searchsorted(live, hits, side="right") - 1  # the nearest live run at or before each hit
            ok = k >= 0
            out[u] = bool(np.any(hits[ok] - live[k[ok]] <= self.max_advance * after[u]))
        return out

    def update(self, pose: np.ndarray) -> int:
        """pose [shape=(N_JOINTS, 2)] shown → the longest copy run ending with it (frames)."""
        g = (pose[self.keep] - pose[Joint.PELVIS]).reshape(-1).astype(np.float32)
        d, t = self._d, self._t
        np.subtract(g, self.a, out=d)
        alpha = np.einsum("nd,nd->n", d, self.v)
        alpha /= self.vv
        np.clip(alpha, 0.0, 1.0, out=alpha)
        np.multiply(self.v, alpha[:, None], out=t)
        d -= t
        d *= d
        dist = np.sqrt(d.reshape(len(d), -1, 2).sum(axis=2)).mean(axis=1)
        near = (dist <= self.tolerance) & self.ok
        prev = self.run.copy()
        for k in range(1, self.max_advance + 1):
            np.maximum(prev[k:], self.run[:-k], out=prev[k:])
        self.run = np.where(near, prev + 1, 0).astype(np.int32)
        self.current = int(self.run.max())
        return self.current


def _excursion(lib: MoveLibrary) -> np.ndarray:
    """How far every unit's pelvis-relative pose moves from the pose nearest all of it: the smallest, over
    the unit's frames, of the largest mean joint distance (torso lengths) to any other of its frames.
    A unit of little excursion stays near one pose throughout. [shape=(U,)]"""
    f = lib.frames.astype(np.float32)
    rel = np.delete(f - f[:, Joint.PELVIS:Joint.PELVIS + 1], Joint.PELVIS, axis=1)
    out = np.zeros(lib.n_units, np.float32)
    for u, (s, e) in enumerate(zip(lib.unit_start, lib.unit_end)):
        seg = rel[int(np.ceil(s)):int(np.floor(e)) + 1:2]
        if len(seg) < 2:
            continue
        d = np.linalg.norm(seg[:, None] - seg[None], axis=-1).mean(axis=-1)
        out[u] = d.max(axis=1).min()
    return out


def library_accent(lib: MoveLibrary, *, config: MovesConfig) -> float:
    """The accent a library's units are played with (``MovesConfig.beat_depth``): the least in
    ``accent`` … ``max_accent`` that makes its typical unit's speed on a beat — ``1 − accent`` × its
    speed at its ends — at most ``beat_depth`` × its mean speed (the median over units of ends ÷ mean).
    One accent for all units: the warp's rate at a beat stays the same from unit to unit.  The speed is
    the kinematic beats' as seen (mean joint speed, forward differences, smoothed over 5/60 s as Bailando's
    and ``offline.metrics.kinematic_beats``), travel included: not ``offline.phrases.motion_speed``, the
    pelvis-relative speed the units were cut on.  With that one instead the test's studio dancer's accent
    fell from over 0.3 to 0.29 and its BAS ÷ chance on an unheard song from 3.54 / 3.50 to 3.12 / 3.27 (seeds 0 / 1;
    2.40 → 2.38 and 3.29 → 3.27 on two validation sources)."""
    from scipy import ndimage

    ratio = []
    for r, (a, b) in enumerate(lib.run_frames):  # each clean stretch on its own: no speed across a seam
        f = lib.frames[a:b].astype(np.float64)
        step = np.linalg.norm(np.diff(f, axis=0), axis=-1).mean(axis=1)
        speed = ndimage.gaussian_filter1d(np.append(step, step[-1]), sigma=5.0 / 60.0 * MODEL_FPS, mode="nearest")
        at = np.arange(len(speed))
        for s, e in zip(lib.unit_start[lib.unit_run == r] - a, lib.unit_end[lib.unit_run == r] - a):
            mean = speed[int(np.floor(s)):int(np.ceil(e)) + 1].mean()
            if mean > 1e-9:
                ratio.append(0.5 * (np.interp(s, at, speed) + np.interp(e, at, speed)) / mean)
    if not ratio:
        return config.accent
    need = 1.0 - config.beat_depth / max(float(np.median(ratio)), 1e-9)
    return float(min(max(need, config.accent), config.max_accent))


class MovePlayer:
    """The move library as the first stage of a dancer's chain: ``stage(pose, frame) -> pose``.

    It reads the beat as it will be *seen* (``frame.beat.ahead``: the live engine's display delay is
    the dancer's ``lead_s``), so the units' ends (speed minima) are seen on the beat.
    """

    def __init__(self, library: MoveLibrary, *, config: MovesConfig = MovesConfig()) -> None:
        self.library, self.config = library, config
        self.frames = np.ascontiguousarray(library.frames, dtype=np.float32)
        feats = _unit_features(library)
        self.start_pose = feats["start"].astype(np.float32)
        self.start_vel = feats["v_start"].astype(np.float32)
        self.end_vel = feats["v_end"].astype(np.float32)
        self.end_pose = feats["end"].astype(np.float32)
        self.similar = _same_moves(feats["shape"], threshold=config.same_move)
        # the same *beginning* (first half): choosing such a unit after its look-alike's predecessor would
        # go on with the source's passage for a while, a copy as much as the unit itself
        half = SHAPE_SAMPLES // 2 + 1
        self.continues_like = self.similar | _same_moves(feats["shape"][:, :half], threshold=config.same_move)
        self.rise = feats["rise"].astype(np.float32)
        self.excursion = _excursion(library)
        # every unit's pose mid-way, where a copy is looked for (a blend has hidden the seam by then)
        mid = (0.5 * (library.unit_start + library.unit_end)).astype(int)
        self.mid_pose = self.frames[np.minimum(mid, len(self.frames) - 1)]
        # a small library's moves are few and look alike: a repeated phrase can copy the source, so the
        # player watches the copy as the replay test measures it (O(source frames) a frame: small ones only)
        small = sum(len(r) for r in library.runs(mirrored=False)) <= WATCH_FRAMES
        self.copies = CopyTracker.of_library(library) if config.max_copy_bars > 0 and small else None
        self.length_s = (feats["length"] / MODEL_FPS).astype(np.float64)
        self.accent = library_accent(library, config=config)  # how strongly it eases into every beat
        runs = library.unit_run
        medians = {r: float(np.median(self.length_s[runs == r])) for r in np.unique(runs)}
        self.run_length_s = np.array([medians[r] for r in runs])
        self.successor = library.successors()
        self.predecessor = np.full(library.n_units, -1, np.int64)
        has = self.successor >= 0
        self.predecessor[self.successor[has]] = np.flatnonzero(has)
        self._rng = np.random.default_rng(0)
        self.reset(self._rng)

    def reset(self, rng: np.random.Generator) -> None:
        """Start again: first unit near the library's typical start pose, beat position unknown."""
        self._rng = rng
        mean = self.start_pose.mean(axis=0)
        d = ((self.start_pose - mean) ** 2).sum(axis=1)
        k = min(self.config.candidates, len(d))
        self.unit = int(rng.choice(np.argsort(d)[:k]))
        self.span = 1.0            # beats the current unit spans
        self.q = self.target = 0.0  # beat position shown / tracked
        self.q0 = 0.0              # beat position where the current unit started
        self.run_beats = 1.0       # beats played in source order up to the current unit's end
        self.run_units = [self.unit]  # the units of that run
        self.phrase: list[tuple[int, float]] = []  # the phrase being danced: (unit, span) chosen since it began
        self.phrase_beats = 0.0    # beats it spans so far
        self.replay: list[tuple[int, float]] = []  # (unit, span) still to dance in the phrase's repeats
        self.repeats_done = 0      # times the phrase has been repeated
        self.beats_per_bar = 4
        self.last_phase: float | None = None
        self.played = np.full(self.library.n_units, -np.inf)  # beat position each unit was last started
        self.avoid_until = np.full(self.library.n_units, -np.inf)  # continuations of ended runs
        self.off_x = np.zeros(2 * N_JOINTS, np.float32)   # transition offset at the last change
        self.off_v = np.zeros(2 * N_JOINTS, np.float32)
        self.off_t = 0.0
        self.prev = None           # last pose shown (flat) and its velocity per second
        self.vel = np.zeros(2 * N_JOINTS, np.float32)

    # ------------------------------------------------------------------ timing
    def _advance(self, phase: float, beat_s: float) -> None:
        """Move the beat position with the tracked one, smoothly: a phase-locked loop.

        The position advances at the tracked rate (the phase's advance, averaged over ``lock_beats``)
        plus a correction of the phase error that takes ``lock_beats`` to settle, never backwards and
        at most ``catch_up`` × the rate.  The tracker's frame-to-frame phase noise thus never reaches the
        motion as speed jitter, and its corrections are absorbed within a beat.
        """
        c = self.config
        nominal = 1.0 / (max(beat_s, 1e-3) * MODEL_FPS)  # beats per frame at the tracked tempo
        if self.last_phase is None:
            self.q = self.target = phase  # the first unit ends on the next beat
            self.q0 = 0.0
            self.last_phase = phase
            self.span = 1.0
            self.rate = nominal
            return
        d = (phase - self.last_phase + 0.5) % 1.0 - 0.5
        self.last_phase = phase
        self.target += d
        gain = min(1.0, nominal / c.lock_beats)  # per frame: the phase error settles over lock_beats beats
        rate_gain = min(1.0, nominal / (2.0 * c.lock_beats))  # the rate, over twice as long
        self.rate += rate_gain * (min(max(d, 0.0), c.catch_up * nominal) - self.rate)
        err = self.target - (self.q + self.rate)  # the error left after advancing at the rate
        if err > 1.0:  # lost more than a beat (the tracker re-locked): skip whole beats, keep the phase
            self.q += np.floor(err)
            err -= np.floor(err)
        self.q += min(max(self.rate + gain * err, 0.0), c.catch_up * max(self.rate, nominal))

    def _span_for(self, unit: int, beat_s: float) -> float:
        """Beats a unit spans: the fewest of 1, 2 or 4 that play its stretch (the median unit of the
        stretch, so a stretch keeps one span and its rhythm) at most ``max_speedup`` times the person's
        speed — slower rather than faster: sped-up motion carries power above 4 Hz, slowed motion does not
        (7 % hysteresis, so a tempo near an edge does not flip the span).  Units start and end on beats,
        so the person's speed minima land on them."""
        ratio = self.run_length_s[unit] / max(beat_s, 1e-3)
        for span in SPANS[:-1]:
            edge = span * self.config.max_speedup * (1.07 if span >= self.span else 1.0 / 1.07)
            if ratio < edge:
                return span
        return SPANS[-1]

    def span_of_runs(self, beat_s: float) -> np.ndarray:
        """:meth:`_span_for` of every unit at once. [shape=(U,)]"""
        ratio = self.run_length_s / max(beat_s, 1e-3)
        out = np.full(len(ratio), SPANS[-1])
        for span in SPANS[-2::-1]:
            edge = span * self.config.max_speedup * (1.07 if span >= self.span else 1.0 / 1.07)
            out[ratio < edge] = span
        return out

    # ------------------------------------------------------------------ choosing
    def _choose(self, beat_s: float, room: float = np.inf) -> tuple[int, bool]:
        """The next unit, and whether it continues the source's order: motion matching on the pose and
        velocity shown, runs in source order (or a repeat of the same move) limited."""
        c = self.config
        nxt = int(self.successor[self.unit])
        recent = np.flatnonzero(self.played > self.q - c.recent_beats)
        like_recent = self.similar[recent].any(axis=0)
        # variety (soft): not a move played lately, nor one that resumes a run of such a move
        soft = like_recent | ((self.predecessor >= 0) & like_recent[np.maximum(self.predecessor, 0)])
        hard = np.zeros(len(soft), bool)  # never: the current unit, or going on with the source past a bar
        hard[self.unit] = True
        same = np.zeros(len(soft), bool)
        if nxt >= 0:
            same = self.continues_like[nxt]
            if self.run_beats + self._span_for(nxt, beat_s) <= c.max_run_bars * self.beats_per_bar \
                    and self._span_for(nxt, beat_s) <= room + 1e-6:
                return nxt, True
            # the run ends here: its continuation in the source — the next bar of units, and any repeat
            # of them elsewhere — stays out for a while, so the copy is not resumed by a detour
            ahead, k = [], nxt
            while k >= 0 and len(ahead) < 4:
                ahead.append(k)
                k = int(self.successor[k])
            self.avoid_until[self.continues_like[ahead].any(axis=0)] = self.q + c.recent_beats
        # nor a move of the run that just ended: going back a few units and on again would replay the
        # same passage with a seam (small libraries of a low-amplitude dancer read as one long copy)
        hard |= self.similar[self.run_units].any(axis=0)
        hard |= self.avoid_until > self.q
        cost = ((self.start_pose - self.prev) ** 2).mean(axis=1)
        vel_beat = self.vel * (self.span * beat_s)  # shown velocity per unit of progress
        cost += c.velocity_weight * ((self.start_vel - vel_beat) ** 2).mean(axis=1)
        rhythm = self.rise[nxt if nxt >= 0 else self.unit]  # the rise and fall the person would do next
        cost += c.rise_weight * ((self.rise - rhythm) ** 2).mean(axis=1)
        # keep the rhythm's level: units spanning as many beats as the current one
        spans = self.span_of_runs(beat_s)
        cost += spans != self.span
        too_long = spans > room + 1e-6  # would overrun the phrase (the bar)
        # a small library runs out of fresh moves: variety gives way first, then the copy limit
        only_current = np.arange(len(soft)) == self.unit
        again = self.similar[self.unit]  # the move being danced now
        if self.copies is not None:  # nor a unit that goes on with a copy of the source already long
            bar_frames = self.beats_per_bar * beat_s * MODEL_FPS
            if self.copies.current >= 0.5 * c.max_copy_bars * bar_frames - 3.0 * c.blend_s * MODEL_FPS:
                # the best few candidates, looked at mid-way
                order = np.argsort(np.where(hard | soft | too_long, np.inf, cost))[:4 * c.candidates]
                after = 0.5 * spans[order] * beat_s * MODEL_FPS
                hard[order[self.copies.continuing(self.mid_pose[order], after=after,
                                                  min_run=int(0.5 * self.copies.current))]] = True
        for banned in (hard | soft | too_long, hard | too_long, hard | soft, hard,
                       again | ((self.avoid_until > self.q) & same), again, only_current):
            if not banned.all():
                break
        cost[banned] = np.inf
        k = min(c.candidates, int(np.isfinite(cost).sum()))
        best = np.argpartition(cost, k - 1)[:k]
        choice = int(self._rng.choice(best))
        return choice, bool(same[choice])

    def _next(self, beat_s: float) -> tuple[int, bool, float]:
        """The next unit, whether it continues the source's order, and the beats it spans: the phrase's
        repeat while one is due, else a new choice, which starts or extends a phrase.  A phrase fills
        ``phrase_bars`` bars and is danced ``phrase_repeats`` times (with the spans it had)."""
        c = self.config
        bar = c.phrase_bars * self.beats_per_bar
        if not self.replay and self.phrase_beats >= bar - 1e-6:
            # complete: repeat it, unless it overran the bar or its end runs on into its start in the
            # source (the repeat would go on copying the source)
            first, last = self.phrase[0][0], self.phrase[-1][0]
            after = self.successor[self.continues_like[last]]  # what follows the last move in the source
            wraps = bool(self.continues_like[after[after >= 0], first].any())
            if self.copies is not None:  # the copy it would make at worst: through the repeat and the next
                # unit's blend, after the run so far if the repeat can go on with it (one of its units, looked
                # at mid-way when it will be shown, is in the source within reach of that run).  Counting the
                # run so far always, a phrase that is itself a bar of the source was never repeated: small
                # libraries' rise and fall had 6-beat periods at 140–160 BPM (AIST++ ch05: loops 14 → 20 of 20)
                limit = c.max_copy_bars * self.beats_per_bar * beat_s * MODEL_FPS
                new = (self.phrase_beats * beat_s + 3.0 * c.blend_s) * MODEL_FPS
                safe = new <= limit
                if safe and self.copies.current + new > limit:  # only a run this long matters
                    units = [u for u, _ in self.phrase]
                    spans = np.array([s for _, s in self.phrase], np.float64)
                    when = (np.cumsum(spans) - 0.5 * spans) * beat_s * MODEL_FPS
                    safe = not self.copies.continuing(self.mid_pose[units], after=when,
                                                      min_run=int(limit - new)).any()
            else:
                safe = max(self.excursion[u] for u, _ in self.phrase) >= c.min_excursion
            if self.phrase_beats <= bar + 1e-6 and not wraps and safe and self.repeats_done + 1 < c.phrase_repeats:
                self.repeats_done += 1
                self.replay = list(self.phrase)
            else:
                self.repeats_done = 0
                self.phrase, self.phrase_beats = [], 0.0
        if self.replay and self._span_for(self.replay[0][0], beat_s) > self.replay[0][1]:
            # the tempo went up since: the repeat would play the unit faster than the person danced it
            self.replay, self.repeats_done = [], 0
            self.phrase, self.phrase_beats = [], 0.0
        if self.replay:
            nxt, span = self.replay.pop(0)
            return nxt, nxt == int(self.successor[self.unit]), span
        nxt, follows = self._choose(beat_s, room=bar - self.phrase_beats)
        span = self._span_for(nxt, beat_s)
        self.phrase.append((nxt, span))
        self.phrase_beats += span
        return nxt, follows, span

    def _change(self, beat_s: float, base_end: np.ndarray) -> None:
        """End of the current unit (``base_end``: its last pose): pick the next.  The unit that follows in
        the source goes on from the same pose (only its different warp rate is a step in velocity, blended
        away); any other starts from what is shown — the offset between the two, in pose and velocity,
        then decays (inertialisation)."""
        nxt, follows, span = self._next(beat_s)
        continues = nxt == int(self.successor[self.unit])
        old_end_vel = self.end_vel[self.unit] / (self.span * beat_s)
        self.q0 += self.span
        self.unit = nxt
        self.span = span
        self.run_beats = self.run_beats + self.span if follows else self.span
        self.run_units = self.run_units + [nxt] if follows else [nxt]
        self.played[nxt] = self.q0
        new_vel = self.start_vel[nxt] / (self.span * beat_s)
        if continues:  # same motion, another warp rate: only the step in velocity is blended away
            x, v = self._offset(self.off_t), self._offset_velocity(self.off_t)
            self.off_x, self.off_v = x, (v + old_end_vel - new_vel).astype(np.float32)
        else:
            self.off_x = (base_end + self._offset(self.off_t) - self.start_pose[nxt]).astype(np.float32)
            self.off_v = (self.vel - new_vel).astype(np.float32)
        self.off_t = 0.0

    def _offset_velocity(self, t: float) -> np.ndarray:
        """d/dt of :meth:`_offset` (per second)."""
        w = 1.0 / self.config.blend_s
        return (self.off_v - w * (self.off_v + w * self.off_x) * t) * np.float32(np.exp(-w * t))

    def _offset(self, t: float) -> np.ndarray:
        """The transition offset ``t`` s after the last change: a critically damped decay of its pose and
        velocity difference. [shape=(2 N_JOINTS,)]"""
        w = 1.0 / self.config.blend_s
        return (self.off_x + (self.off_v + w * self.off_x) * t) * np.float32(np.exp(-w * t))

    # ------------------------------------------------------------------ stepping
    def _pose_at(self, unit: int, progress: float) -> np.ndarray:
        pos = self.library.unit_start[unit] + progress * (self.library.unit_end[unit] - self.library.unit_start[unit])
        i = min(int(pos), len(self.frames) - 2)
        w = np.float32(pos - i)
        return (self.frames[i] * (1.0 - w) + self.frames[i + 1] * w).reshape(-1)

    def __call__(self, pose: np.ndarray, frame) -> np.ndarray:
        """The next pose [shape=(N_JOINTS, 2)] body units; ``pose`` (the chain's input) is not used, the
        beat of ``frame`` (:class:`dancepose.models.dancer.Frame`) is: its phase when seen and its period."""
        beat = frame.beat
        self.beats_per_bar = int(beat.beats_per_bar)
        self._advance(beat.ahead % 1.0, max(float(beat.period_s), 1e-3))
        beat_s = 1.0 / (max(self.rate, 1e-4) * MODEL_FPS)  # the beat period the phase actually advances at
        while (self.q - self.q0) >= self.span:
            self._change(beat_s, self._pose_at(self.unit, 1.0))
        x = min(max(self.q - self.q0, 0.0), self.span)  # beats into the unit
        a = self.accent
        if a:  # slower into and out of every beat, faster between: the beat is marked (0: an even warp)
            x -= a * np.sin(2.0 * np.pi * x) / (2.0 * np.pi)
        progress = x / self.span
        self.off_t += 1.0 / MODEL_FPS
        out = self._pose_at(self.unit, progress) + self._offset(self.off_t)
        if self.prev is not None:
            self.vel = (out - self.prev) * MODEL_FPS
        self.prev = out
        return out.reshape(N_JOINTS, 2)
