"""The dancer that performs: a chain of small stages in plain numpy (no TensorFlow import).

One step ≈ 0.15 ms, so the live loop, ``dancepose render`` and ``dancepose evaluate`` all run the very
same code.  Every model frame passes through the chain (:class:`StageChain`)

``network → sampling → dynamics → groove → limb clamp → silence gate``

and every stage has one call shape, ``stage(pose, frame) -> pose`` (madmom's ``SequentialProcessor``):
``pose`` [shape=(N_JOINTS, 2)] body units, the previous stage's output; ``frame`` (:class:`Frame`) the
model frame's context — its feature row, its beat (:class:`BeatTiming`, decoded *once* per frame by
:class:`BeatReader`), its index, and what earlier stages leave for later ones (the network's
:class:`Mixture`, the dynamics stage's ``intensity``).  A stage returns a new array (it never changes
``pose`` in place) and has ``reset(rng)``.

* **network** (:class:`NetworkStage`): the trained autoregressive LSTM, run from its exported weights;
  it reads the normalised music features and the pose fed back one frame earlier, puts the Gaussian
  mixture over the next pose on the frame and returns its most likely mean;
* **sampling** (:class:`SamplingStage`, :class:`SamplingConfig`): draws the pose from that mixture (the
  component kept while plausible, the spread beat-locked or smooth) and chooses what is fed back;
* **dynamics** (:class:`DynamicsStage`, :class:`DynamicsConfig`): dance bigger to louder passages;
* **groove** (:class:`GrooveStage`, :class:`GrooveConfig`): an optional hand-made bounce and sway on
  the tracked beat — a style, off in the shipped dancer;
* **limb clamp** (:class:`LimbClamp`, :class:`LimbClampConfig`): limbs never grow past their longest
  length in the data;
* **silence gate** (:class:`SilenceGate`, :class:`IdleConfig`): when the ``activity`` feature falls the
  pose blends into a gentle idle sway; the network keeps listening, and when music returns the learned
  motion fades back in within a fraction of a second.

Adding a stage: a frozen config dataclass (a field of :class:`StageConfig`), a class with
``reset(rng)`` and ``__call__(pose, frame) -> pose``, and a line in :meth:`Dancer.build_chain`; or, for a
stage not saved with the model, :meth:`Dancer.with_stage` (``dancer.with_stage("style", make, after="sampling")``).
:meth:`Dancer.step` only runs the chain.

Each stage has a frozen config; together they form :class:`StageConfig`, saved under ``"stages"`` in
the model directory's ``config.json``.  The class defaults are what ships.  Older model directories load
as they danced: without ``"stages"`` they get :data:`LEGACY_STAGES` and their ``"generation"`` /
``"groove"`` entries, and fields missing from an unversioned ``"stages"`` take their legacy values.
A model directory holds

* ``config.json`` — format name and version, network hyperparameters, stage configs, feature and
  skeleton versions, training summary;
* ``dancer.npz`` — the LSTM/head weights (``network.export_weights``) and the normalisation statistics
  (``feature_mean/std``, ``pose_mean/std``) they were trained with, the rest pose, the longest
  plausible length of every limb (``limb_max``) and optionally the principal pose modes
  (``pose_modes``) of the training dance;
* optionally ``model.keras`` — the Keras training model (to continue training; not needed to dance).

Loading checks the shape and finiteness of every weight and statistic: a wrong-shaped or non-finite
array is a :class:`~dancepose.models.errors.ModelError` naming the file and the array.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple, Protocol, Sequence

import numpy as np

from .clock import MODEL_FPS
from .errors import ModelError
from .features import (COL_ACTIVITY, COL_BEAT_CONF, COL_METER, COL_RMS_DB, COL_TEMPO, FEATURE_VERSION,
                       N_FEATURES, row_beat_phase)
from .network import NetworkConfig, beat_advance, mdn_split, phase_inputs, phase_mean_pose, phase_mean_tables
from .skeleton import N_JOINTS, SKELETON_NAME, SKELETON_VERSION, clamp_limb_lengths

MODEL_FORMAT = "dancepose-model"
MODEL_VERSION = 1
DEFAULT_MODEL_DIR = Path(__file__).with_name("default")
N_POSE = 2 * N_JOINTS
#: Version of the ``"stages"`` entry of config.json (absent: written before the class defaults were what
#: ships; missing fields then take :data:`LEGACY_STAGES`' values).
STAGES_VERSION = 2

# ===================================================================================== configs
@dataclass(frozen=True)
class SamplingConfig:
    """How the pose is drawn from the network's mixture (the defaults are what ships).

    ``temperature``: of the component choice (0 → the most likely component, deterministic); a
    component, once chosen, is kept with probability ``component_hold`` while it stays plausible
    (p > 0.1); ``sigma_scale``: size of the smooth spread (0 → the component mean).
    """

    temperature: float = 1.0
    sigma_scale: float = 1.0
    #: The random part of the spread (the beat spread's drift, the smooth spread) is white noise through
    #: ``noise_poles`` cascaded one-pole low-passes of coefficient ``noise_correlation`` per frame, scaled
    #: to unit variance (:class:`SmoothNoise`).  1 pole is AR(1), whose spectrum falls only as 1/f² — a
    #: figure twitching at every frame (4 % of its power above 4 Hz at 0.95, 130 × real dance); 3 poles
    #: at 0.95 put 4·10⁻⁷ of it there.
    noise_correlation: float = 0.95
    noise_poles: int = 3
    component_hold: float = 0.95
    #: The performed mean follows the chosen component's mean through a critically damped low-pass
    #: (:class:`CriticalFollower`) that settles a step to 5 % in ``mean_smoothing_s`` seconds: a switch of
    #: component glides instead of jumping, and the network's frame-by-frame reactions to transients (a
    #: click, a drum hit) are smoothed; the mean lags by 0.42 × this (0: the bare mean).
    mean_smoothing_s: float = 0.3
    #: The weight of the beat spread (from the beat confidence) is smoothed by two one-pole low-passes of
    #: this time constant (s) so a flickering confidence does not shake the pose (0: per frame).
    confidence_smoothing_s: float = 0.15
    #: ``"beat"``: the spread is *phase-locked*: a cycle through whole-body pose variations (the real
    #: dance's principal pose modes) once per bar — 3 beats in 3/4, 2 in 4/4; the beats evenly round
    #: a random ellipse in mode space, so the cycle has no slow drift — eased between beats by the
    #: tracked beat phase (velocity zero on the beat), slowly renewing from bar to bar, so the moves land
    #: on the beat and mark the bar at any tempo.  Where the beat confidence is low it blends into the
    #: same variation drifting smoothly.
    #: ``"smooth"``: the spread is the mixture's σ × AR(1) noise in time (the original design).
    spread: str = "beat"
    #: "beat" spread: size of the poses moved through, in units of the real dance's pose variation (the
    #: model's ``pose_modes``: its principal whole-body modes; independent coordinates without them).
    pattern_scale: float = 0.9
    #: "beat" spread: how much of the bar's cycle is kept from one bar to the next.
    pattern_hold: float = 0.8
    #: "beat" spread: beat confidence at which the phase-locked spread is used fully.
    full_confidence: float = 0.5
    #: "beat" spread: the share of the beat the move between two beat poses takes, centred half-way
    #: between the beats (1: the whole beat; less: a quicker move and a hold around the beat), in triple
    #: (3/4) and in duple (2/4, 4/4) metre.  Real dance on the 30 training songs: waltzes flow, the duple
    #: dances are crisper (mean joint acceleration ÷ (BPM/100)² ≈ 5–7 in waltzes, 9–13 in cha-cha,
    #: rumba and tango).
    move_span: tuple[float, float] = (1.0, 0.7)
    #: "beat" spread: the profile of each move: ``"cosine"`` (velocity a raised cosine: still at both ends,
    #: the acceleration jumps there) or ``"minimum_jerk"`` (10u³ − 15u⁴ + 6u⁵: velocity and acceleration
    #: zero at both ends, the profile of human reaching moves; less power at high frequencies).
    ease: str = "minimum_jerk"
    #: Feed the sampled pose (True) or the component mean (False) back to the network.  The network
    #: integrates what it is fed, so fed-back spread becomes slow drift; the mean keeps the spread a
    #: layer on top of the learned trajectory.
    feedback_spread: bool = False


@dataclass(frozen=True)
class DynamicsConfig:
    """Dance bigger to louder passages.

    The level (dBFS, its power smoothed over ``smooth_s`` by ``poles`` cascaded one-poles of
    ``smooth_s / poles`` each) is compared with its running peak (which decays ``decay_db_per_s``, like a
    compressor's release): at the peak the motion is full size, ``range_db`` below it the learned
    motion's excursions from the rest pose and the groove shrink to ``floor``.  One pole lets every drum
    hit through as a kink in the size of the motion (power above 4 Hz); two smooth it.
    """

    enabled: bool = True
    smooth_s: float = 0.5
    poles: int = 2
    decay_db_per_s: float = 0.5
    range_db: float = 20.0
    floor: float = 0.45


@dataclass(frozen=True)
class GrooveConfig:
    """The hand-made beat-locked groove layered on the learned motion (an optional style, off by default).

    A knee-bend bounce that bottoms out on every beat and a side sway that turns on every beat (period
    two beats), both driven by the causal beat phase of the features and scaled by the tracker's
    confidence, so they fade on music without a clear pulse.  The bounce depth is ``bounce`` body units
    at 120 BPM and scales with the beat period (clipped to ``depth_range`` × ``bounce``).
    ``enabled=False`` (or zero amplitudes): the motion is the learned one alone.
    """

    enabled: bool = False
    bounce: float = 0.4
    sway: float = 0.10
    depth_range: tuple[float, float] = (0.6, 1.5)
    #: beat confidence at which the groove reaches full amplitude
    full_confidence: float = 0.5


@dataclass(frozen=True)
class LimbClampConfig:
    """Limbs never grow past ``limb_max`` (1.1 × their 99th-percentile length in the training data)."""

    enabled: bool = True


@dataclass(frozen=True)
class IdleConfig:
    """How the dancer settles when the music stops (the silence gate).

    ``attack_s`` / ``release_s``: time constants of the music gate going up / down; ``sway_hz`` and
    ``sway_amp`` (body units): the idle sway; ``threshold``: activity below which the gate closes, and
    ``threshold + hysteresis`` above which it opens again (activity hovering at the threshold would
    flip the gate frame by frame); ``smoothing_s``: a second one-pole after the gate, so the blend into
    the idle sway has no kinks.
    """

    attack_s: float = 0.12
    release_s: float = 0.06
    threshold: float = 0.3
    hysteresis: float = 0.2
    smoothing_s: float = 0.1
    sway_hz: float = 0.3
    sway_amp: float = 0.03


_STAGE_TYPES = {"sampling": SamplingConfig, "dynamics": DynamicsConfig, "groove": GrooveConfig,
                "limbs": LimbClampConfig, "silence": IdleConfig}


@dataclass(frozen=True)
class StageConfig:
    """The configs of all stages after the network (saved as ``config.json["stages"]``)."""

    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    dynamics: DynamicsConfig = field(default_factory=DynamicsConfig)
    groove: GrooveConfig = field(default_factory=GrooveConfig)
    limbs: LimbClampConfig = field(default_factory=LimbClampConfig)
    silence: IdleConfig = field(default_factory=IdleConfig)

    def to_dict(self) -> dict:
        """JSON-ready dict {stage: {field: value}} plus ``"version"`` (:data:`STAGES_VERSION`)."""
        return {"version": STAGES_VERSION, **{name: asdict(getattr(self, name)) for name in _STAGE_TYPES}}

    @classmethod
    def from_dict(cls, d: dict | None, *, legacy: dict | None = None, source: str = "config") -> "StageConfig":
        """Build from ``config.json["stages"]``.

        Missing stages or fields take the class defaults when ``d["version"]`` is
        :data:`STAGES_VERSION`, and :data:`LEGACY_STAGES`' values when it is absent (a model written
        before the defaults were what ships dances as it did).  ``legacy``: the whole config of an older
        model (its ``"generation"`` and ``"groove"`` entries are used when ``"stages"`` is absent).
        Unknown stages or fields, or values of the wrong type, raise :class:`ModelError` naming ``source``.
        """
        if d is not None and not isinstance(d, dict):
            raise ModelError(f"{source}: 'stages' must be a mapping")
        d = dict(d or {})
        version = d.pop("version", None)
        if version not in (None, STAGES_VERSION):
            raise ModelError(f"{source}: stages version {version!r} is not {STAGES_VERSION}")
        if not d and legacy:
            if isinstance(legacy.get("generation"), dict):
                d["sampling"] = legacy["generation"]
            if isinstance(legacy.get("groove"), dict):
                d["groove"] = legacy["groove"]
        unknown = sorted(set(d) - set(_STAGE_TYPES))
        if unknown:
            raise ModelError(f"{source}: unknown dancer stage(s) {', '.join(unknown)}")
        base = cls() if version == STAGES_VERSION else LEGACY_STAGES
        parts = {name: _stage_from_dict(d.get(name, {}), base=getattr(base, name), name=name, source=source)
                 for name in _STAGE_TYPES}
        if parts["sampling"].spread not in SPREADS:
            raise ModelError(f"{source}: stage sampling.spread must be one of {', '.join(SPREADS)}, "
                             f"not {parts['sampling'].spread!r}")
        return cls(**parts)

    def replace(self, **stages) -> "StageConfig":
        """A copy with some stage configs replaced, e.g. ``replace(groove=GrooveConfig(enabled=True))``."""
        return dataclasses.replace(self, **stages)


def _stage_from_dict(values: dict, *, base, name: str, source: str):
    """One stage's config: ``base`` with the fields of ``values`` (type-checked against ``base``'s)."""
    if not isinstance(values, dict):
        raise ModelError(f"{source}: stage {name!r} must be a mapping")
    names = {f.name for f in dataclasses.fields(base)}
    bad = sorted(set(values) - names)
    if bad:
        raise ModelError(f"{source}: stage {name!r} has unknown field(s) {', '.join(bad)}")
    kw = {}
    for k, v in values.items():
        default = getattr(base, k)
        try:
            if isinstance(default, (bool, str)):
                if not isinstance(v, type(default)):
                    raise TypeError
                kw[k] = v
            elif isinstance(default, tuple):
                kw[k] = tuple(float(x) for x in v)
            elif isinstance(default, int):
                if isinstance(v, bool) or float(v) != int(v):
                    raise ValueError
                kw[k] = int(v)
            else:
                kw[k] = float(v)
                if not np.isfinite(kw[k]):
                    raise ValueError
        except (TypeError, ValueError):
            raise ModelError(f"{source}: stage {name}.{k} has an invalid value {v!r}") from None
    return dataclasses.replace(base, **kw)


#: What a model directory written before the class defaults were what ships meant by a missing stage or
#: field: the smooth spread fed back, AR(1) noise, component switches without a fade, moves eased by a
#: cosine over the whole beat, the loudness smoothed by one pole, the groove on, a 0.15-s release with no
#: hysteresis and no second pole.
LEGACY_STAGES = StageConfig(
    sampling=SamplingConfig(spread="smooth", pattern_scale=1.0, feedback_spread=True, noise_correlation=0.95,
                            noise_poles=1, mean_smoothing_s=0.0, confidence_smoothing_s=0.0, move_span=(1.0, 1.0),
                            ease="cosine"),
    dynamics=DynamicsConfig(poles=1), groove=GrooveConfig(enabled=True),
    silence=IdleConfig(attack_s=0.08, release_s=0.15, hysteresis=0.0, smoothing_s=0.0))
#: The stages the default dancer shipped with before the jitter fix (issue 14), for comparisons (docs,
#: benchmarks, tests): AR(1) drift, the bare component mean, the beat spread's weight per frame, cosine moves
#: over the whole beat at 0.8 × the pose modes, the loudness smoothed by one pole, the silence gate without
#: hysteresis or second pole.
PREVIOUS_STAGES = StageConfig(
    sampling=SamplingConfig(noise_poles=1, mean_smoothing_s=0.0, confidence_smoothing_s=0.0, pattern_scale=0.8,
                            move_span=(1.0, 1.0), ease="cosine"),
    dynamics=DynamicsConfig(poles=1), silence=IdleConfig(attack_s=0.08, release_s=0.1, hysteresis=0.0,
                                                         smoothing_s=0.0))
#: The spreads of :class:`SamplingConfig`.
SPREADS = ("beat", "smooth")
#: The move profiles of the beat spread.
EASES = ("minimum_jerk", "cosine")

# ===================================================================================== one model frame
class BeatTiming(NamedTuple):
    """The tracked beat of one model frame, decoded once from its feature row by :class:`BeatReader`.

    ``phase``: of the beat heard, 0…1, 0 on the beat; ``period_s``: seconds per beat; ``confidence``:
    the tracker's, 0…1; ``beats_per_bar``: 3 or 4; ``ahead``: the beat phase when this frame's pose is
    *seen* (``phase + lead_s / period_s``, not wrapped; see :attr:`Dancer.lead_s`); ``count``: beats heard
    since the start; ``new_beat``: the seen phase passed a beat since the last frame.
    """

    phase: float
    period_s: float
    confidence: float
    beats_per_bar: int
    ahead: float
    count: int
    new_beat: bool

    @property
    def seen(self) -> float:
        """The beat phase when the pose is seen, 0…1."""
        return self.ahead % 1.0


def crossed_beat(last_phase: float | None, phase: float) -> bool:
    """The beat phase wrapped between two consecutive frames (a beat passed)."""
    return last_phase is not None and last_phase > 0.75 and phase < 0.25


class BeatReader:
    """Feature row → :class:`BeatTiming`: the one decoding of the beat columns (phase from
    ``beat_sin``/``beat_cos``, period from ``tempo`` = log2(BPM / 120), confidence, metre) and the beat
    count, for every stage that moves with the beat.

    ``lead_s``: how long after its audio a pose will be seen (s); the live engine sets its display delay
    (through :attr:`Dancer.lead_s`); offline 0.
    """

    def __init__(self) -> None:
        self.lead_s = 0.0
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.last_phase: float | None = None
        self.last_seen: float | None = None

    def __call__(self, features: np.ndarray) -> BeatTiming:
        phase = row_beat_phase(features)
        period = 0.5 / 2.0 ** float(features[COL_TEMPO])
        ahead = phase + self.lead_s / period
        seen = ahead % 1.0
        if crossed_beat(self.last_phase, phase):
            self.count += 1
        new_beat = crossed_beat(self.last_seen, seen)
        self.last_phase, self.last_seen = phase, seen
        return BeatTiming(phase=phase, period_s=period, confidence=float(features[COL_BEAT_CONF]),
                          beats_per_bar=3 if float(features[COL_METER]) < 0.5 else 4, ahead=ahead,
                          count=self.count, new_beat=new_beat)


@dataclass(slots=True)
class Mixture:
    """The network's Gaussian mixture over the next pose (normalised units) and how to read it.

    ``logits`` [shape=(K,)], ``mu`` and ``log_sigma`` [shape=(K, N_POSE)]; a pose ``y`` in normalised
    units is ``y · scale + offset`` in body units.  ``feedback``: what the sampling stage chose to feed
    back to the network (None: the most likely component's mean).
    """

    logits: np.ndarray
    mu: np.ndarray
    log_sigma: np.ndarray
    scale: np.ndarray
    offset: np.ndarray
    feedback: np.ndarray | None = None

    def pose(self, y: np.ndarray) -> np.ndarray:
        """Normalised pose [shape=(N_POSE,)] → body units [shape=(N_JOINTS, 2)]."""
        return (y * self.scale + self.offset).reshape(N_JOINTS, 2)

    def most_likely(self) -> np.ndarray:
        """The mean of the most likely component [shape=(N_POSE,)] (normalised)."""
        return self.mu[int(np.argmax(self.logits))]


@dataclass(slots=True)
class Frame:
    """The context every stage of one model frame reads, and where stages leave values for later ones.

    ``features`` [shape=(N_FEATURES,)] the row; ``beat`` its :class:`BeatTiming`; ``index``: model frames
    since the reset (0 first); ``mixture``: the network's (:class:`Mixture`, set by the network stage);
    ``intensity``: the size of the motion, floor … 1 (set by the dynamics stage, read by the groove).
    """

    features: np.ndarray
    beat: BeatTiming
    index: int
    mixture: Mixture | None = None
    intensity: float = 1.0


# ===================================================================================== the chain
class Stage(Protocol):
    """What a dancer stage is: ``reset(rng)`` at the start of a performance, then one call per model
    frame, ``stage(pose [shape=(N_JOINTS, 2)], frame) -> pose`` (a new array)."""

    def reset(self, rng: np.random.Generator) -> None: ...

    def __call__(self, pose: np.ndarray, frame: Frame) -> np.ndarray: ...


class StageChain:
    """Stages called in order, each on the previous one's pose (madmom's ``SequentialProcessor``); a
    chain is itself a stage.

    Parameters
    ----------
    stages : sequence of (name, stage)
    """

    def __init__(self, stages: Sequence[tuple[str, Stage]]) -> None:
        self.names = tuple(name for name, _ in stages)
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"stage names must be unique, got {self.names}")
        self.stages = tuple(stage for _, stage in stages)

    def reset(self, rng: np.random.Generator) -> None:
        for stage in self.stages:
            stage.reset(rng)

    def __call__(self, pose: np.ndarray, frame: Frame) -> np.ndarray:
        for stage in self.stages:
            pose = stage(pose, frame)
        return pose

    def __getitem__(self, name: str) -> Stage:
        try:
            return self.stages[self.names.index(name)]
        except ValueError:
            raise KeyError(f"no stage {name!r} in the chain {' → '.join(self.names)}") from None

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def __repr__(self) -> str:
        return f"StageChain({' → '.join(self.names)})"

    def inserted(self, name: str, stage: Stage, *, after: str | None = None) -> "StageChain":
        """A chain with ``stage`` added after the stage ``after`` (None: at the start)."""
        i = 0 if after is None else self.names.index(after) + 1 if after in self.names else None
        if i is None:
            raise KeyError(f"no stage {after!r} in the chain {' → '.join(self.names)}")
        pairs = list(zip(self.names, self.stages))
        return StageChain(pairs[:i] + [(name, stage)] + pairs[i:])

# ===================================================================================== stages
def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class NetworkStage:
    """The autoregressive LSTM + mixture head in numpy (Keras gate order i, f, c, o).

    As a stage: one LSTM step on ``frame.features`` and the pose fed back from the last mixture; the new
    :class:`Mixture` goes to ``frame.mixture`` and ``pose`` is passed on unchanged — a prediction is a
    distribution, and drawing a pose from it is the sampling stage's job.
    ``step(features)`` → the raw mixture parameters [shape=(K·(2·n_pose + 1),)].
    """

    def __init__(self, *, weights: dict, stats: dict, layers: int, hidden: int, mixtures: int,
                 phase_harmonics: int = 0, phase_to_head: bool = False,
                 rest_pose: np.ndarray | None = None) -> None:
        self.w = weights
        self.n_layers, self.hidden, self.mixtures = layers, hidden, mixtures
        self.phase_harmonics, self.phase_to_head = phase_harmonics, phase_to_head
        #: Phase-functioned mean pose [shape=(tables, 2K + 1, N_POSE)] the network's output is added to.
        self.phase_mean = stats["phase_mean"].astype(np.float32) if "phase_mean" in stats else None
        self.fmean = stats["feature_mean"].astype(np.float32)
        self.fstd = stats["feature_std"].astype(np.float32)
        self.pmean = stats["pose_mean"].astype(np.float32)
        self.pstd = stats["pose_std"].astype(np.float32)
        self.rest_pose = (stats["rest_pose"] if rest_pose is None else rest_pose).astype(np.float32)

    def reset(self, rng: np.random.Generator | None = None) -> None:
        """Zero state; the rest pose is the first previous pose."""
        self.h = [np.zeros(self.hidden, np.float32) for _ in range(self.n_layers)]
        self.c = [np.zeros(self.hidden, np.float32) for _ in range(self.n_layers)]
        base = self.rest_pose.reshape(-1)
        if self.phase_mean is not None:  # the motion around the mean pose (its constant term)
            base = base - self.phase_mean[0, 0]
        self._start = ((base - self.pmean) / self.pstd).astype(np.float32)
        self.last: Mixture | None = None
        self.last_params: np.ndarray | None = None

    @property
    def prev(self) -> np.ndarray:
        """The normalised pose [shape=(N_POSE,)] the next step reads: what was fed back from the last
        mixture (its most likely mean when no stage chose), the rest pose at first."""
        m = self.last
        if m is None:
            return self._start
        return np.asarray(m.most_likely() if m.feedback is None else m.feedback, dtype=np.float32)

    def __call__(self, pose: np.ndarray, frame: Frame) -> np.ndarray:
        params = self.step(frame.features)
        self.last_params = params  # mixture parameters of this step (for tests and inspection)
        logits, mu, log_sigma = mdn_split(params, n_pose=N_POSE, mixtures=self.mixtures)
        offset = self.pmean
        if self.phase_mean is not None:
            offset = self.pmean + phase_mean_pose(frame.features, self.phase_mean)
        self.last = frame.mixture = Mixture(logits=logits, mu=mu, log_sigma=log_sigma, scale=self.pstd,
                                            offset=offset)
        return pose

    def step(self, features: np.ndarray) -> np.ndarray:
        raw = np.asarray(features, dtype=np.float32)
        f = (raw - self.fmean) / self.fstd
        if self.phase_harmonics:
            ph = phase_inputs(raw, harmonics=self.phase_harmonics)
            x = np.concatenate([f, ph, self.prev])
        else:
            x = np.concatenate([f, self.prev])
        w, H = self.w, self.hidden
        for i in range(self.n_layers):
            z = x @ w[f"lstm{i}_kernel"] + self.h[i] @ w[f"lstm{i}_recurrent"] + w[f"lstm{i}_bias"]
            sg = _sigmoid(z)  # all four blocks at once (fewer numpy calls); the cell block uses tanh
            ig, fg, og = sg[:H], sg[H:2 * H], sg[3 * H:]
            cc = np.tanh(z[2 * H:3 * H])
            self.c[i] = fg * self.c[i] + ig * cc
            self.h[i] = og * np.tanh(self.c[i])
            x = self.h[i]
        if self.phase_harmonics and self.phase_to_head:
            x = np.concatenate([x, ph])
        return x @ w["head_kernel"] + w["head_bias"]


class SmoothNoise:
    """Unit-variance noise with no power above a few Hz, one value per model frame.

    White noise through ``poles`` cascaded one-pole low-passes ``s ← r·s + (1 − r)·x``; the output is
    scaled to unit variance (from the impulse response).  Its spectrum falls as f^(−2·poles) above the
    corner (1 − r)·fps / 2π (0.24 Hz at r = 0.95, 30 fps); ``poles=1`` is AR(1) noise
    (``r·s + √(1 − r²)·x``).
    The cascade is stepped as one linear map of its state, ``S ← A·S + b·xᵀ``.

    Parameters
    ----------
    size : int
        Values per frame.
    r : float in [0, 1)
    poles : int ≥ 1
    """

    def __init__(self, size: int, *, r: float, poles: int) -> None:
        self.size, self.r, self.poles = int(size), float(r), int(poles)
        if self.poles == 1:
            gain = math.sqrt(1.0 - self.r * self.r)
        else:  # impulse response of the cascade: (1 − r)^n · C(i + n − 1, n − 1) · r^i
            i = np.arange(int(60 / max(1.0 - self.r, 1e-3)) + 200, dtype=np.float64)
            binom = np.ones_like(i)
            for j in range(1, self.poles):
                binom *= (i + j) / j
            h = (1.0 - self.r) ** self.poles * binom * self.r ** i
            gain = float((1.0 - self.r) / np.sqrt(np.sum(h * h)))
        # pole k after one frame: r·s_k + (1 − r)·(pole k−1 after the frame), pole 0 fed gain·x
        n, r = self.poles, self.r
        self.A = np.zeros((n, n))
        self.b = np.zeros((n, 1))
        for k in range(n):
            self.b[k, 0] = gain * (1.0 - r) ** k
            for j in range(k + 1):
                self.A[k, j] = r * (1.0 - r) ** (k - j)
        self.reset()

    def reset(self) -> None:
        self.state = np.zeros((self.poles, self.size))

    def __call__(self, rng: np.random.Generator) -> np.ndarray:
        """The next value [shape=(size,)] (draws ``size`` standard normals from ``rng``)."""
        self.state = self.A @ self.state + self.b * rng.standard_normal(self.size)
        return self.state[-1]


class CriticalFollower:
    """A critically damped second-order low-pass: ``y`` follows a target with ``y'' = w²(u − y) − 2w·y'``,
    stepped exactly once per model frame (the target held over the frame).  A step of the target is
    followed without overshoot, position and velocity continuous, to 5 % in ``settle_s``; a ramp lags by
    0.42 · ``settle_s``; power above the corner frequency w/2π falls as f⁻⁴.  ``settle_s`` 0: ``y = u``.
    """

    def __init__(self, settle_s: float) -> None:
        w = 4.744 / (settle_s * MODEL_FPS) if settle_s > 0 else 0.0  # (1 + wt)·e^(−wt) = 0.05 at wt = 4.744
        e = math.exp(-w)
        #: exact one-frame step of (x, v), x = y − u: (x, v) ← e·((1 + w)x + v, −w²x + (1 − w)v)
        self.step = np.array([[e * (1 + w), e], [-e * w * w, e * (1 - w)]]) if settle_s > 0 else None
        self.reset()

    def reset(self) -> None:
        self.y: np.ndarray | None = None
        self.state: np.ndarray | None = None  # [x; v] [shape=(2, n)]

    def __call__(self, target: np.ndarray) -> np.ndarray:
        """The next output [shape=target.shape] for this frame's target (the first frame: the target)."""
        if self.step is None:
            return target
        if self.y is None:
            self.y, self.state = np.array(target, dtype=np.float64), np.zeros((2,) + np.shape(target))
            return self.y
        np.subtract(self.y, target, out=self.state[0])
        self.state = self.step @ self.state
        self.y = target + self.state[0]
        return self.y


class SamplingStage:
    """``frame.mixture`` → the pose drawn from it (see :class:`SamplingConfig`); sets what is fed back
    (``frame.mixture.feedback``).

    ``modes`` [shape=(m, N_POSE)]: whole-body pose variations (normalised units) the beat spread moves
    through (None: one per coordinate).
    """

    def __init__(self, config: SamplingConfig, *, modes: np.ndarray | None = None) -> None:
        if config.spread not in SPREADS:
            raise ModelError(f"sampling spread must be one of {', '.join(SPREADS)}, not {config.spread!r}")
        if not (0.0 <= config.noise_correlation < 1.0 and config.noise_poles >= 1 and config.mean_smoothing_s >= 0
                and config.confidence_smoothing_s >= 0 and len(config.move_span) == 2
                and all(0.0 < v <= 1.0 for v in config.move_span) and config.ease in EASES):
            raise ModelError(f"invalid sampling config: noise_correlation in [0, 1), noise_poles ≥ 1, "
                             f"mean_smoothing_s and confidence_smoothing_s ≥ 0, move_span two values in (0, 1], "
                             f"ease one of {', '.join(EASES)} ({config})")
        self.config = config
        self.modes = np.eye(N_POSE, dtype=np.float32) if modes is None else np.asarray(modes, np.float32)
        r, poles = config.noise_correlation, config.noise_poles
        self.noise = SmoothNoise(len(self.modes) if config.spread == "beat" else N_POSE, r=r, poles=poles)
        self.mean = CriticalFollower(config.mean_smoothing_s)
        tau = config.confidence_smoothing_s
        self.a_rate = 1.0 - float(np.exp(-1.0 / (tau * MODEL_FPS))) if tau > 0 else 1.0

    def reset(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.noise.reset()
        self.mean.reset()
        self.drift = np.zeros(self.noise.size, np.float32)  # the last value of the smooth noise
        self.k = -1
        self.a = [0.0, 0.0]  # the beat spread's weight, two smoothing stages
        # phase-locked spread: the bar's cycle through mode space, z_s = cos(2πs/L) a + sin(2πs/L) b for beat
        # slot s of a bar of L beats, and the segment being eased through (drawn only for the beat spread:
        # the smooth spread's random stream stays as it always was)
        m = len(self.modes)
        self.cycle = (rng.standard_normal((2, m)).astype(np.float32) if self.config.spread == "beat"
                      else np.zeros((2, m), np.float32))
        self.slot = 0
        self.seg_from = np.zeros(m, np.float32)
        self.seg_to = self.cycle[0].copy()
        self.beat_z = np.zeros(m, np.float32)

    def _beat_spread(self, beat: BeatTiming) -> np.ndarray:
        """The phase-locked mode weights at this frame [shape=(m,)] (unit variance at the beats)."""
        c = self.config
        if beat.new_beat:  # a beat (as seen): next segment
            period = 3 if beat.beats_per_bar == 3 else 2  # beats per repeat: the bar, 2 in 4/4
            self.slot = (self.slot + 1) % period
            if self.slot == 0:  # a new bar: the cycle renews a little
                r = c.pattern_hold
                self.cycle = r * self.cycle + np.sqrt(1.0 - r * r) * self.rng.standard_normal(self.cycle.shape)
            ang = 2.0 * np.pi * ((self.slot + 1) % period) / period
            self.seg_from = self.beat_z.copy()
            self.seg_to = (np.cos(ang) * self.cycle[0] + np.sin(ang) * self.cycle[1]).astype(np.float32)
        span = c.move_span[beat.beats_per_bar != 3]
        u = beat.seen if span >= 1.0 else min(1.0, max(0.0, (beat.seen - 0.5) / span + 0.5))
        if c.ease == "cosine":
            ease = 0.5 - 0.5 * np.cos(np.pi * u)  # 0 → 1 across the move, still at both ends
        else:
            ease = u * u * u * (10.0 + u * (6.0 * u - 15.0))  # minimum jerk: smooth to the acceleration
        self.beat_z = self.seg_from + ease * (self.seg_to - self.seg_from)
        return self.beat_z

    def _weight(self, confidence: float) -> float:
        """The beat spread's weight 0…1 from the beat confidence, smoothed in time."""
        target = min(1.0, max(0.0, confidence / self.config.full_confidence))
        if self.a_rate >= 1.0:
            return target
        a = self.a
        a[0] += self.a_rate * (target - a[0])
        a[1] += self.a_rate * (a[0] - a[1])
        return a[1]

    def _component(self, logits: np.ndarray) -> int:
        """The component drawn (kept while plausible) or, at temperature 0, the most likely."""
        c, rng = self.config, self.rng
        if c.temperature > 0:
            p = np.exp((logits - logits.max()) / c.temperature)
            p /= p.sum()
            keep = self.k >= 0 and p[self.k] > 0.1 and rng.random() < c.component_hold
            return self.k if keep else int(rng.choice(len(logits), p=p))
        return int(np.argmax(logits))

    def __call__(self, pose: np.ndarray, frame: Frame) -> np.ndarray:
        c, m = self.config, frame.mixture
        self.k = k = self._component(m.logits)
        y = self.mean(m.mu[k])
        if c.spread == "beat":
            self.drift = self.noise(self.rng)
            a = self._weight(frame.beat.confidence)
            z = a * self._beat_spread(frame.beat) + np.sqrt(1.0 - a * a) * self.drift
            y = y + c.pattern_scale * (z @ self.modes)
        elif c.sigma_scale > 0:
            self.drift = self.noise(self.rng)
            y = y + c.sigma_scale * np.exp(m.log_sigma[k]) * self.drift
        y = y.astype(np.float32)
        m.feedback = y if c.feedback_spread else m.mu[k].astype(np.float32)
        return m.pose(y)


class DynamicsStage:
    """Scale the excursions from the rest pose with the loudness below its running peak; the size
    (floor … 1) goes to ``frame.intensity``."""

    def __init__(self, config: DynamicsConfig, *, rest_pose: np.ndarray) -> None:
        if config.poles < 1 or config.smooth_s <= 0:
            raise ModelError(f"invalid dynamics config: poles ≥ 1 and smooth_s > 0 ({config})")
        self.config, self.rest_pose = config, rest_pose
        self.alpha = 1.0 - math.exp(-1.0 / (config.smooth_s / config.poles * MODEL_FPS))

    def reset(self, rng: np.random.Generator | None = None) -> None:
        self.powers = [1e-6] * self.config.poles
        self.peak = -60.0
        self.intensity = 1.0

    def __call__(self, pose: np.ndarray, frame: Frame) -> np.ndarray:
        dy = self.config
        power = 10.0 ** (float(frame.features[COL_RMS_DB]) * 6.0)  # COL_RMS_DB holds dBFS / 60
        ps = self.powers
        for i in range(len(ps)):  # smoothed in power, not in dB
            ps[i] += self.alpha * (power - ps[i])
            power = ps[i]
        level = 10.0 * math.log10(power + 1e-12)
        self.peak = max(self.peak - dy.decay_db_per_s / MODEL_FPS, level)
        below = self.peak - level
        self.intensity = frame.intensity = min(1.0, max(dy.floor, 1.0 - (1.0 - dy.floor) * below / dy.range_db))
        return self.rest_pose + self.intensity * (pose - self.rest_pose)


class GrooveStage:
    """The optional bounce and sway on the tracked beat (see :class:`GrooveConfig`), sized by
    ``frame.intensity``; it bottoms out on the beat as it is seen (``frame.beat.ahead``)."""

    def __init__(self, config: GrooveConfig) -> None:
        self.config = config

    def reset(self, rng: np.random.Generator | None = None) -> None:
        pass

    def __call__(self, pose: np.ndarray, frame: Frame) -> np.ndarray:
        g, beat = self.config, frame.beat
        amount = min(1.0, beat.confidence / g.full_confidence)
        if amount <= 0 or (g.bounce == 0 and g.sway == 0):
            return pose
        out = pose.copy()
        # Height above the lowest joint, 0…1: the feet stay planted, the body above bends and sways.
        h = -pose[:, 1]
        h = (h - h.min()) / max(float(h.max() - h.min()), 1e-6)
        lift = np.clip(h * 2.0, 0.0, 1.0)  # knees move half as much as hips and above
        down = 0.5 * (1.0 + np.cos(2.0 * np.pi * beat.ahead))  # 1 on the beat, 0 half-way between beats
        side = np.cos(np.pi * (beat.count + beat.ahead))  # extreme on every beat, period two beats
        depth = g.bounce * float(np.clip(beat.period_s / 0.5, *g.depth_range))
        out[:, 1] += frame.intensity * amount * depth * down * lift
        out[:, 0] += frame.intensity * amount * g.sway * side * h
        return out


class LimbClamp:
    """Limbs never longer than ``limb_max`` [shape=(N_JOINTS,)] (the limb ending at each joint)."""

    def __init__(self, *, limb_max: np.ndarray) -> None:
        self.limb_max = limb_max

    def reset(self, rng: np.random.Generator | None = None) -> None:
        pass

    def __call__(self, pose: np.ndarray, frame: Frame) -> np.ndarray:
        return clamp_limb_lengths(pose, self.limb_max)


class SilenceGate:
    """Fast attack, slower release, towards an idle sway around the rest pose when the music stops."""

    def __init__(self, config: IdleConfig, *, rest_pose: np.ndarray) -> None:
        self.config, self.rest_pose = config, rest_pose
        self.up = 1.0 - np.exp(-1.0 / (config.attack_s * MODEL_FPS))
        self.down = 1.0 - np.exp(-1.0 / (config.release_s * MODEL_FPS))
        self.smooth = 1.0 - math.exp(-1.0 / (config.smoothing_s * MODEL_FPS)) if config.smoothing_s > 0 else 1.0

    def reset(self, rng: np.random.Generator | None = None) -> None:
        self.gate = 0.0
        self.open = False
        self.blend = 0.0  # the gate after its second pole

    def idle_pose(self, t: float) -> np.ndarray:
        """The idle sway at time ``t`` seconds: the rest pose gently swaying. [shape=(N_JOINTS, 2)]"""
        pose = self.rest_pose.copy()
        c = self.config
        s = np.sin(2.0 * np.pi * c.sway_hz * t)
        height = -pose[:, 1] - float(np.min(-pose[:, 1]))  # 0 at the feet, up the body
        pose[:, 0] += c.sway_amp * s * height / max(float(height.max()), 1e-6)
        pose[:, 1] += 0.3 * c.sway_amp * np.sin(4.0 * np.pi * c.sway_hz * t)
        return pose

    def __call__(self, pose: np.ndarray, frame: Frame) -> np.ndarray:
        c, activity = self.config, float(frame.features[COL_ACTIVITY])
        self.open = activity > c.threshold + (0.0 if self.open else c.hysteresis)
        target = 1.0 if self.open else 0.0
        rate = self.up if target > self.gate else self.down
        self.gate += rate * (target - self.gate)
        self.blend += self.smooth * (self.gate - self.blend)
        if self.blend > 0.999:
            return pose
        return self.blend * pose + (1.0 - self.blend) * self.idle_pose((frame.index + 1) / MODEL_FPS)


class BeatClock:
    """Runs ``inner`` (network + sampling) on the beat clock: a step each time the beat phase passes
    1/``steps_per_beat`` of a beat, predicting the pose of the next step; in between, the pose moves
    from the last to the next step's pose as the phase advances."""

    def __init__(self, inner: StageChain, *, steps_per_beat: int, rest_pose: np.ndarray) -> None:
        self.inner, self.steps_per_beat, self.rest_pose = inner, steps_per_beat, rest_pose

    def reset(self, rng: np.random.Generator) -> None:
        self.inner.reset(rng)
        self._beats = 0.0  # beat-clock count (in steps) and the pose segment being traversed
        self._next_step = 0
        self._last_phase: float | None = None
        self._from = self._to = self.rest_pose

    def __call__(self, pose: np.ndarray, frame: Frame) -> np.ndarray:
        phase = frame.beat.phase
        last = phase if self._last_phase is None else self._last_phase
        self._beats += float(beat_advance(np.array([phase]), last)[0]) * self.steps_per_beat
        self._last_phase = phase
        while self._beats >= self._next_step:
            self._from, self._to = self._to, self.inner(self._to, frame)
            self._next_step += 1
            # a second step in the same frame: the beat it crossed was already seen
            frame = dataclasses.replace(frame, beat=frame.beat._replace(new_beat=False))
        frac = float(np.clip(self._beats - (self._next_step - 1), 0.0, 1.0))
        return self._from + frac * (self._to - self._from)

# ===================================================================================== loading checks
STAT_KEYS = ("feature_mean", "feature_std", "pose_mean", "pose_std", "rest_pose", "limb_max")


def expected_shapes(*, layers: int, hidden: int, mixtures: int, n_inputs: int, head_extra: int = 0,
                    phase_mean_harmonics: int = 0) -> dict[str, tuple]:
    """The shape every array of ``dancer.npz`` must have (``n_inputs``: of the first LSTM layer;
    ``head_extra``: inputs of the head besides the last hidden state)."""
    shapes: dict[str, tuple] = {}
    dim = n_inputs
    for i in range(layers):
        shapes[f"lstm{i}_kernel"] = (dim, 4 * hidden)
        shapes[f"lstm{i}_recurrent"] = (hidden, 4 * hidden)
        shapes[f"lstm{i}_bias"] = (4 * hidden,)
        dim = hidden
    n_out = mixtures * (2 * N_POSE + 1)
    shapes["head_kernel"] = (hidden + head_extra, n_out)
    shapes["head_bias"] = (n_out,)
    shapes.update(feature_mean=(N_FEATURES,), feature_std=(N_FEATURES,), pose_mean=(N_POSE,),
                  pose_std=(N_POSE,), rest_pose=(N_JOINTS, 2), limb_max=(N_JOINTS,))
    if phase_mean_harmonics:
        shapes["phase_mean"] = (phase_mean_tables(), 2 * phase_mean_harmonics + 1, N_POSE)
    return shapes


def validate_arrays(arrays: dict[str, np.ndarray], *, shapes: dict[str, tuple], source: str) -> None:
    """Raise :class:`ModelError` naming ``source`` for a missing, wrong-shaped or non-finite array,
    or a non-positive standard deviation."""
    missing = [k for k in shapes if k not in arrays]
    if missing:
        raise ModelError(f"corrupt model weights {source}: missing {', '.join(missing)}")
    for k, shape in shapes.items():
        a = arrays[k]
        if a.shape != shape and not (k == "rest_pose" and a.size == N_POSE):
            raise ModelError(f"bad model weights {source}: {k} has shape {a.shape}, expected {shape}")
        if not np.issubdtype(a.dtype, np.number) or not np.isfinite(a).all():
            raise ModelError(f"bad model weights {source}: {k} holds non-finite values (NaN or inf)")
    for k in ("feature_std", "pose_std"):
        if not (arrays[k] > 0).all():
            raise ModelError(f"bad model weights {source}: {k} has non-positive entries")


# ===================================================================================== the dancer
#: Builds a stage from the dancer it goes into (:meth:`Dancer.with_stage`).
StageFactory = Callable[["Dancer"], Stage]


class Dancer:
    """A trained dancer.  ``Dancer.load(model_dir)``; then ``reset(seed)`` and ``step`` per model frame,
    or ``generate`` for a whole feature array.

    ``stages`` (:class:`StageConfig`) configures everything after the network; ``extra_stages``:
    stages not saved with the model, as (name, factory, after) — see :meth:`with_stage`.

    Attributes
    ----------
    chain : StageChain
        The stages every model frame runs through (``dancer.chain["sampling"]`` …).
    network : NetworkStage
    rest_pose : np.ndarray [shape=(N_JOINTS, 2)]
    limb_max : np.ndarray [shape=(N_JOINTS,)]
    """

    def __init__(self, *, weights: dict, stats: dict, config: dict, stages: StageConfig | None = None,
                 extra_stages: Sequence[tuple[str, StageFactory, str]] = (), name: str = "dancer",
                 moves: tuple | None = None) -> None:
        self.config = config
        self.name = name
        #: A personal dancer's (MoveLibrary, MovesConfig) (:mod:`.moves`): its player replaces network and
        #: sampling at the head of the chain.  None for a trained dancer.
        self.moves = moves
        self.stages = stages if stages is not None else StageConfig.from_dict(config.get("stages"), legacy=config)
        self._weights, self._stats = weights, stats
        self.extra_stages = tuple(extra_stages)
        net = config["network"]
        self.rest_pose = stats["rest_pose"].astype(np.float32).reshape(N_JOINTS, 2)
        self.limb_max = stats["limb_max"].astype(np.float32)
        self.network = NetworkStage(weights=weights, stats=stats, layers=int(net["layers"]),
                                    hidden=int(net["hidden"]), mixtures=int(net["mixtures"]),
                                    phase_harmonics=int(net.get("phase_harmonics", 0)),
                                    phase_to_head=bool(net.get("phase_to_head", False)), rest_pose=self.rest_pose)
        #: 0: a network step per model frame; N: the network runs on the beat clock (N steps per beat).
        self.steps_per_beat = int(net.get("steps_per_beat", 0))
        self.beat = BeatReader()
        self.chain = self.build_chain()
        for name_, make, after in self.extra_stages:
            self.chain = self.chain.inserted(name_, make(self), after=after)
        self.reset()

    def build_chain(self) -> StageChain:
        """The stages of :attr:`stages` in order (switched-off stages are left out)."""
        s = self.stages
        head = [("network", self.network),
                ("sampling", SamplingStage(s.sampling, modes=self._stats.get("pose_modes")))]
        if self.steps_per_beat:
            head = [("beat_clock", BeatClock(StageChain(head), steps_per_beat=self.steps_per_beat,
                                             rest_pose=self.rest_pose))]
        if self.moves is not None:  # a personal dancer: the person's moves, re-timed onto the beat
            from .moves import MovePlayer

            player = MovePlayer(self.moves[0], config=self.moves[1])
            head = [("moves", player)]
        tail = [("dynamics", DynamicsStage(s.dynamics, rest_pose=self.rest_pose)) if s.dynamics.enabled else None,
                ("groove", GrooveStage(s.groove)) if s.groove.enabled else None,
                ("limbs", LimbClamp(limb_max=self.limb_max)) if s.limbs.enabled else None,
                ("silence", SilenceGate(s.silence, rest_pose=self.rest_pose))]
        if self.moves is not None and player.copies is not None:  # the player watches what is shown
            tail.append(("copies", player.copies))
        return StageChain(head + [t for t in tail if t is not None])

    # ------------------------------------------------------------------ variants
    def with_stages(self, **stages) -> "Dancer":
        """The same trained network with some stage configs replaced (a fresh, reset dancer).

        Example: ``dancer.with_stages(groove=GrooveConfig(enabled=True))`` — the hand-made bounce on.
        """
        return Dancer(weights=self._weights, stats=self._stats, config=self.config,
                      stages=self.stages.replace(**stages), extra_stages=self.extra_stages, name=self.name,
                      moves=self.moves)

    def with_stage(self, name: str, make: StageFactory, *, after: str) -> "Dancer":
        """The same dancer (a fresh, reset one) with one more stage, ``make(dancer)``, after the stage
        ``after`` (e.g. ``"sampling"``: the stage then sees the sampled pose before the dynamics)."""
        return Dancer(weights=self._weights, stats=self._stats, config=self.config, stages=self.stages,
                      extra_stages=self.extra_stages + ((name, make, after),), name=self.name, moves=self.moves)

    def without_groove(self) -> "Dancer":
        """The same dancer with the groove stage switched off."""
        return self.with_groove(False)

    def with_groove(self, enabled: bool | None) -> "Dancer":
        """The groove stage (the hand-made bounce) switched on or off; None or no change: this dancer."""
        if enabled is None or bool(enabled) == self.stages.groove.enabled:
            return self
        return self.with_stages(groove=dataclasses.replace(self.stages.groove, enabled=bool(enabled)))

    @property
    def lead_s(self) -> float:
        """How long after its audio a pose will be seen (s): the stages moving with the beat read the beat
        that far ahead (:attr:`BeatTiming.ahead`); the live engine sets its display delay."""
        return self.beat.lead_s

    @lead_s.setter
    def lead_s(self, value: float) -> None:
        self.beat.lead_s = float(value)

    @property
    def last_params(self) -> np.ndarray | None:
        """The network's raw mixture parameters of the last step (for tests and inspection)."""
        return self.network.last_params

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, model_dir: str | os.PathLike | None = None, *, stages: StageConfig | None = None) -> "Dancer":
        """Load a model directory (``None``: the default dancer shipped with dancepose).

        Parameters
        ----------
        model_dir : path or None
        stages : StageConfig or None
            Override the stage configs saved with the model.

        Raises
        ------
        ModelError
            Missing directory or files, corrupt files, an incompatible format/feature/skeleton version,
            or a weight or statistic of the wrong shape or with non-finite values (the message names the
            file and the array).
        """
        d = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
        if not d.is_dir():
            raise ModelError(f"model directory not found: {d}")
        cfg_path, npz_path = d / "config.json", d / "dancer.npz"
        for p in (cfg_path, npz_path):
            if not p.is_file():
                raise ModelError(f"model directory {d} is incomplete: {p.name} is missing "
                                 f"(train one with `dancepose train`)")
        try:
            config = json.loads(cfg_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"corrupt model config {cfg_path}: {exc}") from None
        if not isinstance(config, dict) or config.get("format") != MODEL_FORMAT:
            raise ModelError(f"{cfg_path} is not a dancepose model config")
        checks = (("version", MODEL_VERSION), ("feature_version", FEATURE_VERSION),
                  ("skeleton", SKELETON_NAME), ("skeleton_version", SKELETON_VERSION))
        for key, want in checks:
            if config.get(key) != want:
                raise ModelError(f"model {d} has {key}={config.get(key)!r} but this dancepose needs "
                                 f"{want!r}; retrain it with `dancepose train`")
        try:
            net = config["network"]
            layers, hidden, mixtures = int(net["layers"]), int(net["hidden"]), int(net["mixtures"])
            harmonics, to_head = int(net.get("phase_harmonics", 0)), bool(net.get("phase_to_head", False))
            mean_harmonics = int(net.get("phase_mean_harmonics", 0))
            if min(layers, hidden, mixtures) < 1 or min(harmonics, mean_harmonics) < 0:
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise ModelError(f"{cfg_path} lacks the network description (layers, hidden, mixtures); "
                             f"retrain it with `dancepose train`") from None
        if int(net.get("n_features", N_FEATURES)) != N_FEATURES or int(net.get("n_pose", N_POSE)) != N_POSE:
            raise ModelError(f"model {d} was trained for other feature/pose sizes")
        saved_stages = StageConfig.from_dict(config.get("stages"), legacy=config, source=str(cfg_path))
        try:
            with np.load(npz_path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except Exception as exc:  # zip/CRC/format errors all mean "corrupt"
            raise ModelError(f"corrupt model weights {npz_path}: {exc}") from None
        n_phase = NetworkConfig(n_features=N_FEATURES, n_pose=N_POSE, phase_harmonics=harmonics).n_phase
        shapes = expected_shapes(layers=layers, hidden=hidden, mixtures=mixtures,
                                 n_inputs=N_FEATURES + n_phase + N_POSE, head_extra=n_phase if to_head else 0,
                                 phase_mean_harmonics=mean_harmonics)
        if "pose_modes" in arrays:  # optional (older models: the beat spread varies each coordinate)
            m = arrays["pose_modes"].shape[0] if arrays["pose_modes"].ndim else 1
            shapes["pose_modes"] = (int(np.clip(m, 1, N_POSE)), N_POSE)
        validate_arrays(arrays, shapes=shapes, source=str(npz_path))
        stats = {k: arrays.pop(k) for k in STAT_KEYS + (("phase_mean",) if mean_harmonics else ())
                 + (("pose_modes",) if "pose_modes" in arrays else ())}
        weights = {k: v.astype(np.float32) for k, v in arrays.items() if k in shapes}
        moves = None
        if "moves" in config:  # a personal dancer (``dancepose learn``)
            from .moves import load_moves

            moves = load_moves(d, config["moves"])
        return cls(weights=weights, stats=stats, config=config, stages=stages or saved_stages, name=d.name,
                   moves=moves)

    # ------------------------------------------------------------------ stepping
    def reset(self, seed: int = 0) -> None:
        """Start a new performance (state to zero, the rest pose as the previous pose)."""
        self._rng = np.random.default_rng(seed)
        self.beat.reset()
        self.chain.reset(self._rng)
        self._pose = self.rest_pose
        self._index = 0

    def step(self, features: np.ndarray) -> np.ndarray:
        """Advance one model frame through the chain.

        Parameters
        ----------
        features : np.ndarray [shape=(N_FEATURES,)]
            One row of :func:`dancepose.models.features.music_features` / ``FeatureStream.process``.

        Returns
        -------
        pose : np.ndarray [shape=(N_JOINTS, 2)] in body units (pelvis near the origin, y down,
            torso length ≈ 1).
        """
        frame = Frame(features=features, beat=self.beat(features), index=self._index)
        self._index += 1
        self._pose = self.chain(self._pose, frame)
        return self._pose

    def idle_pose(self, t: float) -> np.ndarray:
        """The idle sway at time ``t`` seconds: the rest pose gently swaying. [shape=(N_JOINTS, 2)]"""
        return self.chain["silence"].idle_pose(t)

    def steps(self, features: np.ndarray) -> np.ndarray:
        """:meth:`step` on consecutive feature rows (no reset).

        features [shape=(n, N_FEATURES)] → poses [shape=(n, N_JOINTS, 2)] float32.
        """
        features = np.asarray(features, dtype=np.float32)
        out = np.empty((len(features), N_JOINTS, 2), dtype=np.float32)
        step = self.step
        for t in range(len(features)):
            out[t] = step(features[t])
        return out

    def generate(self, features: np.ndarray, *, seed: int = 0) -> np.ndarray:
        """A whole performance.  features [shape=(T, N_FEATURES)] → poses [shape=(T, N_JOINTS, 2)]."""
        self.reset(seed)
        return self.steps(features)
