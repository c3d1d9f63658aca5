"""The dancer that performs: a pipeline of small stages in plain numpy (no TensorFlow import).

One step ≈ 0.1 ms, so the live loop, ``dancepose render`` and ``dancepose evaluate`` all run the very
same code.  Every model frame passes through

``network → sampling → dynamics → groove → limb clamp → silence gate``

* **network** (:class:`NetworkStage`): the trained autoregressive LSTM, run from its exported weights;
  it reads the normalised music features and the pose it produced one frame earlier and outputs the
  parameters of a Gaussian mixture over the next pose;
* **sampling** (:class:`SamplingStage`, :class:`SamplingConfig`): draws the next pose from that
  mixture (component kept while plausible, smooth AR(1) spread), which is fed back to the network;
* **dynamics** (:class:`DynamicsStage`, :class:`DynamicsConfig`): dance bigger to louder passages;
* **groove** (:class:`GrooveStage`, :class:`GrooveConfig`): an optional hand-made bounce and sway on
  the tracked beat — a style that can be switched off (``GrooveConfig(enabled=False)``);
* **limb clamp** (:class:`LimbClampConfig`): limbs never grow past their longest length in the data;
* **silence gate** (:class:`SilenceGate`, :class:`IdleConfig`): when the ``activity`` feature falls the
  pose blends into a gentle idle sway; the network keeps listening, and when music returns the learned
  motion fades back in within a fraction of a second.

Each stage has a frozen config; together they form :class:`StageConfig`, saved under ``"stages"`` in
the model directory's ``config.json`` (older model directories without it load with the defaults and
their legacy ``"generation"`` / ``"groove"`` entries).  A model directory holds

* ``config.json`` — format name and version, network hyperparameters, stage configs, feature and
  skeleton versions, training summary;
* ``dancer.npz`` — the LSTM/head weights (``network.export_weights``) and the normalisation statistics
  (``feature_mean/std``, ``pose_mean/std``) they were trained with, the rest pose and the longest
  plausible length of every limb (``limb_max``);
* optionally ``model.keras`` — the Keras training model (to continue training; not needed to dance).

Loading checks the shape and finiteness of every weight and statistic: a wrong-shaped or non-finite
array is a :class:`~dancepose.models.errors.ModelError` naming the file and the array.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .clock import MODEL_FPS
from .errors import ModelError
from .features import (COL_ACTIVITY, COL_BEAT_CONF, COL_BEAT_COS, COL_BEAT_SIN, COL_METER, COL_RMS_DB,
                       COL_TEMPO, FEATURE_VERSION, N_FEATURES)
from .network import NetworkConfig, mdn_split, phase_inputs, phase_mean_pose, phase_mean_tables
from .skeleton import N_JOINTS, SKELETON_NAME, SKELETON_VERSION, clamp_limb_lengths

MODEL_FORMAT = "dancepose-model"
MODEL_VERSION = 1
DEFAULT_MODEL_DIR = Path(__file__).with_name("default")
N_POSE = 2 * N_JOINTS


# ===================================================================================== configs
@dataclass(frozen=True)
class SamplingConfig:
    """How the next pose is drawn from the network's mixture.

    ``temperature``: of the component choice (0 → the most likely component, deterministic);
    ``sigma_scale``: scale of the sampled spread (0 → the component mean); the spread is smooth noise,
    AR(1) with ``noise_correlation`` per frame, so sampling adds motion rather than jitter; a component,
    once chosen, is kept with probability ``component_hold`` while it stays plausible (p > 0.1).
    """

    temperature: float = 1.0
    sigma_scale: float = 1.0
    noise_correlation: float = 0.95
    component_hold: float = 0.95
    #: ``"smooth"``: the spread is the mixture's σ × AR(1) noise in time (the original design).
    #: ``"beat"``: the spread is *phase-locked*: a cycle through whole-body pose variations (the real
    #: dance's principal pose modes) once per bar — 3 beats in 3/4, 2 in 4/4; the beats evenly round
    #: a random ellipse in mode space, so the cycle has no slow drift — eased between beats by the
    #: tracked beat phase (velocity zero on the beat), slowly renewing from bar to bar, so the moves land
    #: on the beat and mark the bar at any tempo.  Where the beat confidence is low it blends into the
    #: same variation drifting smoothly (AR(1)).
    spread: str = "smooth"
    #: "beat" spread: size of the poses moved through, in units of the real dance's pose variation (the
    #: model's ``pose_modes``: its principal whole-body modes; independent coordinates without them).
    pattern_scale: float = 1.0
    #: "beat" spread: how much of the bar's cycle is kept from one bar to the next.
    pattern_hold: float = 0.8
    #: "beat" spread: beat confidence at which the phase-locked spread is used fully.
    full_confidence: float = 0.5
    #: Feed the sampled pose (True) or the component mean (False) back to the network.  The network
    #: integrates what it is fed, so fed-back spread becomes slow drift; the mean keeps the spread a
    #: layer on top of the learned trajectory.
    feedback_spread: bool = True


@dataclass(frozen=True)
class DynamicsConfig:
    """Dance bigger to louder passages.

    The level (dBFS, smoothed over ``smooth_s``) is compared with its running peak (which decays
    ``decay_db_per_s``, like a compressor's release): at the peak the motion is full size, ``range_db``
    below it the learned motion's excursions from the rest pose and the groove shrink to ``floor``.
    """

    enabled: bool = True
    smooth_s: float = 0.5
    decay_db_per_s: float = 0.5
    range_db: float = 20.0
    floor: float = 0.45


@dataclass(frozen=True)
class GrooveConfig:
    """The hand-made beat-locked groove layered on the learned motion (an optional style).

    A knee-bend bounce that bottoms out on every beat and a side sway that turns on every beat (period
    two beats), both driven by the causal beat phase of the features and scaled by the tracker's
    confidence, so they fade on music without a clear pulse.  The bounce depth is ``bounce`` body units
    at 120 BPM and scales with the beat period (clipped to ``depth_range`` × ``bounce``).
    ``enabled=False`` (or zero amplitudes) switches it off: the motion is then the learned one alone.
    """

    enabled: bool = True
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
    ``sway_amp`` (body units): the idle sway; ``threshold``: activity below which the gate closes.
    """

    attack_s: float = 0.08
    release_s: float = 0.15
    threshold: float = 0.3
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
        """JSON-ready dict {stage: {field: value}}."""
        return {name: asdict(getattr(self, name)) for name in _STAGE_TYPES}

    @classmethod
    def from_dict(cls, d: dict | None, *, legacy: dict | None = None, source: str = "config") -> "StageConfig":
        """Build from ``config.json["stages"]``; missing stages or fields take their defaults.

        ``legacy``: the whole config of an older model (its ``"generation"`` and ``"groove"`` entries
        are used when ``"stages"`` is absent).  Unknown stages or fields, or values of the wrong type,
        raise :class:`ModelError` naming ``source``.
        """
        d = dict(d or {})
        if not d and legacy:
            if isinstance(legacy.get("generation"), dict):
                d["sampling"] = legacy["generation"]
            if isinstance(legacy.get("groove"), dict):
                d["groove"] = legacy["groove"]
        if not isinstance(d, dict):
            raise ModelError(f"{source}: 'stages' must be a mapping")
        unknown = sorted(set(d) - set(_STAGE_TYPES))
        if unknown:
            raise ModelError(f"{source}: unknown dancer stage(s) {', '.join(unknown)}")
        parts = {}
        for name, typ in _STAGE_TYPES.items():
            values = d.get(name, {})
            if not isinstance(values, dict):
                raise ModelError(f"{source}: stage {name!r} must be a mapping")
            names = {f.name: f for f in dataclasses.fields(typ)}
            bad = sorted(set(values) - set(names))
            if bad:
                raise ModelError(f"{source}: stage {name!r} has unknown field(s) {', '.join(bad)}")
            kw = {}
            for k, v in values.items():
                default = getattr(typ(), k)
                try:
                    if isinstance(default, bool):
                        if not isinstance(v, bool):
                            raise TypeError
                        kw[k] = v
                    elif isinstance(default, str):
                        if not isinstance(v, str):
                            raise TypeError
                        kw[k] = v
                    elif isinstance(default, tuple):
                        kw[k] = tuple(float(x) for x in v)
                    else:
                        kw[k] = float(v)
                        if not np.isfinite(kw[k]):
                            raise ValueError
                except (TypeError, ValueError):
                    raise ModelError(f"{source}: stage {name}.{k} has an invalid value {v!r}") from None
            parts[name] = typ(**kw)
        if parts["sampling"].spread not in ("smooth", "beat"):
            raise ModelError(f"{source}: stage sampling.spread must be 'smooth' or 'beat', "
                             f"not {parts['sampling'].spread!r}")
        return cls(**parts)

    def replace(self, **stages) -> "StageConfig":
        """A copy with some stage configs replaced, e.g. ``replace(groove=GrooveConfig(enabled=False))``."""
        return dataclasses.replace(self, **stages)


# ===================================================================================== stages
def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class NetworkStage:
    """The autoregressive LSTM + mixture head in numpy (Keras gate order i, f, c, o).

    ``step(features)`` → mixture parameters [shape=(K·(2·n_pose + 1),)]; ``feedback(pose_norm)`` sets
    the previous pose (normalised) that the next step reads.
    """

    def __init__(self, *, weights: dict, stats: dict, layers: int, hidden: int, mixtures: int,
                 phase_harmonics: int = 0, phase_to_head: bool = False) -> None:
        self.w = weights
        self.n_layers, self.hidden, self.mixtures = layers, hidden, mixtures
        self.phase_harmonics, self.phase_to_head = phase_harmonics, phase_to_head
        #: Phase-functioned mean pose [shape=(tables, 2K + 1, N_POSE)] the network's output is added to.
        self.phase_mean = stats["phase_mean"].astype(np.float32) if "phase_mean" in stats else None
        self.fmean = stats["feature_mean"].astype(np.float32)
        self.fstd = stats["feature_std"].astype(np.float32)
        self.pmean = stats["pose_mean"].astype(np.float32)
        self.pstd = stats["pose_std"].astype(np.float32)

    def reset(self, *, prev_pose: np.ndarray) -> None:
        """Zero state; ``prev_pose`` [shape=(J, 2)] body units is the first previous pose."""
        self.h = [np.zeros(self.hidden, np.float32) for _ in range(self.n_layers)]
        self.c = [np.zeros(self.hidden, np.float32) for _ in range(self.n_layers)]
        base = np.asarray(prev_pose, np.float32).reshape(-1)
        if self.phase_mean is not None:  # the motion around the mean pose (its constant term)
            base = base - self.phase_mean[0, 0]
        self.prev = ((base - self.pmean) / self.pstd).astype(np.float32)

    def denormalise(self, y: np.ndarray, features: np.ndarray | None = None) -> np.ndarray:
        """Network output (normalised) → pose [shape=(J, 2)] body units (+ the phase mean pose)."""
        pose = y * self.pstd + self.pmean
        if self.phase_mean is not None and features is not None:
            pose = pose + phase_mean_pose(features, self.phase_mean)
        return pose.reshape(N_JOINTS, 2)

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
            ig = _sigmoid(z[:H])
            fg = _sigmoid(z[H:2 * H])
            cc = np.tanh(z[2 * H:3 * H])
            og = _sigmoid(z[3 * H:])
            self.c[i] = fg * self.c[i] + ig * cc
            self.h[i] = og * np.tanh(self.c[i])
            x = self.h[i]
        if self.phase_harmonics and self.phase_to_head:
            x = np.concatenate([x, ph])
        return x @ w["head_kernel"] + w["head_bias"]

    def feedback(self, y: np.ndarray) -> None:
        self.prev = np.asarray(y, dtype=np.float32)


def beat_timing(features: np.ndarray) -> tuple[float, float]:
    """(beat phase 0…1, 0 on the beat; beat period in s) of one feature row — what the stages that move
    with the tracked beat (sampling's beat spread, groove) read."""
    phase = float(np.arctan2(features[COL_BEAT_SIN], features[COL_BEAT_COS]) / (2 * np.pi)) % 1.0
    return phase, 0.5 / 2.0 ** float(features[COL_TEMPO])  # COL_TEMPO = log2(BPM / 120)


def crossed_beat(last_phase: float | None, phase: float) -> bool:
    """The beat phase wrapped between two consecutive frames (a beat passed)."""
    return last_phase is not None and last_phase > 0.75 and phase < 0.25


class SamplingStage:
    """Mixture parameters → next normalised pose (see :class:`SamplingConfig`).

    ``lead_s``: how long after its audio a pose will be seen (s); the phase-locked spread eases into
    its beat values that much early (the live engine sets its display delay; offline 0).
    """

    def __init__(self, config: SamplingConfig, *, mixtures: int, modes: np.ndarray | None = None) -> None:
        if config.spread not in ("smooth", "beat"):
            raise ModelError(f"sampling spread must be 'smooth' or 'beat', not {config.spread!r}")
        self.config, self.mixtures = config, mixtures
        #: Whole-body pose variations [shape=(m, N_POSE)], normalised units (identity: each coordinate).
        self.modes = np.eye(N_POSE, dtype=np.float32) if modes is None else np.asarray(modes, np.float32)
        self.lead_s = 0.0

    def reset(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.eps = np.zeros(N_POSE, np.float32)
        self.k = -1
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
        self.drift_z = np.zeros(m, np.float32)
        self.last_phase = None

    def _beat_spread(self, features: np.ndarray) -> np.ndarray:
        """The phase-locked mode weights at this frame [shape=(m,)] (unit variance at the beats)."""
        c = self.config
        phase, beat_s = beat_timing(features)
        phase = (phase + self.lead_s / beat_s) % 1.0
        if crossed_beat(self.last_phase, phase):  # a beat: next segment
            period = 3 if float(features[COL_METER]) < 0.5 else 2  # beats per repeat: the bar, 2 in 4/4
            self.slot = (self.slot + 1) % period
            if self.slot == 0:  # a new bar: the cycle renews a little
                r = c.pattern_hold
                self.cycle = r * self.cycle + np.sqrt(1.0 - r * r) * self.rng.standard_normal(self.cycle.shape)
            ang = 2.0 * np.pi * ((self.slot + 1) % period) / period
            self.seg_from = self.beat_z.copy()
            self.seg_to = (np.cos(ang) * self.cycle[0] + np.sin(ang) * self.cycle[1]).astype(np.float32)
        self.last_phase = phase
        ease = 0.5 - 0.5 * np.cos(np.pi * phase)  # 0 → 1 across the beat, still at both ends
        self.beat_z = self.seg_from + ease * (self.seg_to - self.seg_from)
        return self.beat_z

    def __call__(self, params: np.ndarray, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """→ (the pose fed back to the network, the pose performed), both normalised [shape=(N_POSE,)]."""
        c, rng = self.config, self.rng
        logits, mu, log_sigma = mdn_split(params, n_pose=N_POSE, mixtures=self.mixtures)
        if c.temperature > 0:
            p = np.exp((logits - logits.max()) / c.temperature)
            p /= p.sum()
            keep = self.k >= 0 and p[self.k] > 0.1 and rng.random() < c.component_hold
            k = self.k if keep else int(rng.choice(self.mixtures, p=p))
        else:
            k = int(np.argmax(logits))
        self.k = k
        y = mu[k]
        r = c.noise_correlation
        if c.spread == "beat":
            self.drift_z = r * self.drift_z + np.sqrt(1.0 - r * r) * rng.standard_normal(self.drift_z.shape)
            a = min(1.0, max(0.0, float(features[COL_BEAT_CONF]) / c.full_confidence))
            z = a * self._beat_spread(features) + np.sqrt(1.0 - a * a) * self.drift_z
            y = y + c.pattern_scale * (z @ self.modes)
        elif c.sigma_scale > 0:
            self.eps = r * self.eps + np.sqrt(1.0 - r * r) * rng.standard_normal(self.eps.shape)
            y = y + c.sigma_scale * np.exp(log_sigma[k]) * self.eps
        y = y.astype(np.float32)
        return (y if c.feedback_spread else mu[k].astype(np.float32)), y


class DynamicsStage:
    """Scale the excursions from the rest pose with the loudness below its running peak."""

    def __init__(self, config: DynamicsConfig, *, rest_pose: np.ndarray) -> None:
        self.config, self.rest_pose = config, rest_pose
        self.alpha = 1.0 - np.exp(-1.0 / (config.smooth_s * MODEL_FPS))

    def reset(self) -> None:
        self.power = 1e-6
        self.peak = -60.0
        self.intensity = 1.0

    def __call__(self, pose: np.ndarray, features: np.ndarray) -> np.ndarray:
        dy = self.config
        if not dy.enabled:
            return pose
        power = 10.0 ** (float(features[COL_RMS_DB]) * 6.0)  # COL_RMS_DB holds dBFS / 60
        self.power += self.alpha * (power - self.power)  # smoothed in power, not in dB
        level = 10.0 * np.log10(self.power + 1e-12)
        self.peak = max(self.peak - dy.decay_db_per_s / MODEL_FPS, level)
        below = self.peak - level
        self.intensity = float(np.clip(1.0 - (1.0 - dy.floor) * below / dy.range_db, dy.floor, 1.0))
        return self.rest_pose + self.intensity * (pose - self.rest_pose)


class GrooveStage:
    """The optional bounce and sway on the tracked beat (see :class:`GrooveConfig`).

    ``lead_s``: how long after its audio a pose will be seen (s); the live engine sets it to its display
    delay so the bounce bottoms out on the beat as it is seen; offline it is 0.
    """

    def __init__(self, config: GrooveConfig) -> None:
        self.config = config
        self.lead_s = 0.0

    def reset(self) -> None:
        self.beats = 0
        self.last_phase = 0.0

    def __call__(self, pose: np.ndarray, features: np.ndarray, *, intensity: float) -> np.ndarray:
        g = self.config
        phase, beat_s = beat_timing(features)
        if crossed_beat(self.last_phase, phase):
            self.beats += 1
        self.last_phase = phase
        amount = min(1.0, float(features[COL_BEAT_CONF]) / g.full_confidence)
        if not g.enabled or amount <= 0 or (g.bounce == 0 and g.sway == 0):
            return pose
        out = pose.copy()
        # Height above the lowest joint, 0…1: the feet stay planted, the body above bends and sways.
        h = -pose[:, 1]
        h = (h - h.min()) / max(float(h.max() - h.min()), 1e-6)
        lift = np.clip(h * 2.0, 0.0, 1.0)  # knees move half as much as hips and above
        # The beat phase is a prediction, so the bounce can bottom out on the beat as it is seen.
        ahead = phase + self.lead_s / beat_s
        down = 0.5 * (1.0 + np.cos(2.0 * np.pi * ahead))  # 1 on the beat, 0 half-way between beats
        side = np.cos(np.pi * (self.beats + ahead))  # extreme on every beat, period two beats
        depth = g.bounce * float(np.clip(beat_s / 0.5, *g.depth_range))
        out[:, 1] += intensity * amount * depth * down * lift
        out[:, 0] += intensity * amount * g.sway * side * h
        return out


class SilenceGate:
    """Fast attack, slower release, towards an idle sway around the rest pose when the music stops."""

    def __init__(self, config: IdleConfig, *, rest_pose: np.ndarray) -> None:
        self.config, self.rest_pose = config, rest_pose
        self.up = 1.0 - np.exp(-1.0 / (config.attack_s * MODEL_FPS))
        self.down = 1.0 - np.exp(-1.0 / (config.release_s * MODEL_FPS))

    def reset(self) -> None:
        self.gate = 0.0
        self.t = 0

    def idle_pose(self, t: float) -> np.ndarray:
        pose = self.rest_pose.copy()
        c = self.config
        s = np.sin(2.0 * np.pi * c.sway_hz * t)
        height = -pose[:, 1] - float(np.min(-pose[:, 1]))  # 0 at the feet, up the body
        pose[:, 0] += c.sway_amp * s * height / max(float(height.max()), 1e-6)
        pose[:, 1] += 0.3 * c.sway_amp * np.sin(4.0 * np.pi * c.sway_hz * t)
        return pose

    def __call__(self, pose: np.ndarray, features: np.ndarray) -> np.ndarray:
        target = 1.0 if float(features[COL_ACTIVITY]) > self.config.threshold else 0.0
        rate = self.up if target > self.gate else self.down
        self.gate += rate * (target - self.gate)
        self.t += 1
        if self.gate > 0.999:
            return pose
        return self.gate * pose + (1.0 - self.gate) * self.idle_pose(self.t / MODEL_FPS)


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
class Dancer:
    """A trained dancer.  ``Dancer.load(model_dir)``; then ``reset(seed)`` and ``step`` per model frame,
    or ``generate`` for a whole feature array.

    ``stages`` (:class:`StageConfig`) configures everything after the network; ``idle``, ``groove`` and
    ``dynamics`` override single stages (kept for older callers).
    """

    def __init__(self, *, weights: dict, stats: dict, config: dict, stages: StageConfig | None = None,
                 idle: IdleConfig | None = None, groove: GrooveConfig | None = None,
                 dynamics: DynamicsConfig | None = None, name: str = "dancer") -> None:
        self.config = config
        self.name = name
        st = stages if stages is not None else StageConfig.from_dict(config.get("stages"), legacy=config)
        overrides = {k: v for k, v in (("silence", idle), ("groove", groove), ("dynamics", dynamics))
                     if v is not None}
        self.stages = st.replace(**overrides) if overrides else st
        self._weights, self._stats = weights, stats
        net = config["network"]
        self.rest_pose = stats["rest_pose"].astype(np.float32).reshape(N_JOINTS, 2)
        self.limb_max = stats["limb_max"].astype(np.float32)
        self.network = NetworkStage(weights=weights, stats=stats, layers=int(net["layers"]),
                                    hidden=int(net["hidden"]), mixtures=int(net["mixtures"]),
                                    phase_harmonics=int(net.get("phase_harmonics", 0)),
                                    phase_to_head=bool(net.get("phase_to_head", False)))
        #: 0: a network step per model frame; N: the network runs on the beat clock (N steps per beat).
        self.steps_per_beat = int(net.get("steps_per_beat", 0))
        self.sampling = SamplingStage(self.stages.sampling, mixtures=int(net["mixtures"]),
                                      modes=stats.get("pose_modes"))
        self.dynamics = DynamicsStage(self.stages.dynamics, rest_pose=self.rest_pose)
        self.groove = GrooveStage(self.stages.groove)
        self.silence = SilenceGate(self.stages.silence, rest_pose=self.rest_pose)
        self.reset()

    # ------------------------------------------------------------------ variants
    def with_stages(self, **stages) -> "Dancer":
        """The same trained network with some stage configs replaced (a fresh, reset dancer).

        Example: ``dancer.with_stages(groove=GrooveConfig(enabled=False))`` — the learned motion alone.
        """
        return Dancer(weights=self._weights, stats=self._stats, config=self.config,
                      stages=self.stages.replace(**stages), name=self.name)

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
        """How long after its audio a pose will be seen (s); the live engine sets its display delay."""
        return self.groove.lead_s

    @lead_s.setter
    def lead_s(self, value: float) -> None:
        self.groove.lead_s = self.sampling.lead_s = float(value)

    @property
    def intensity(self) -> float:
        """The dynamics stage's current size of the motion (floor … 1)."""
        return self.dynamics.intensity

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
        return cls(weights=weights, stats=stats, config=config, stages=stages or saved_stages, name=d.name)

    # ------------------------------------------------------------------ stepping
    def reset(self, seed: int = 0) -> None:
        """Start a new performance (state to zero, the rest pose as the previous pose)."""
        self._rng = np.random.default_rng(seed)
        self.network.reset(prev_pose=self.rest_pose)
        self.sampling.reset(self._rng)
        self._beats = 0.0  # beat-clock count (in steps) and the pose segment being traversed
        self._next_step = 0
        self._last_beat_phase = None
        self._from = self._to = self.rest_pose
        self.dynamics.reset()
        self.groove.reset()
        self.silence.reset()

    def step(self, features: np.ndarray) -> np.ndarray:
        """Advance one model frame through every stage.

        Parameters
        ----------
        features : np.ndarray [shape=(N_FEATURES,)]
            One row of :func:`dancepose.models.features.music_features` / ``FeatureStream.process``.

        Returns
        -------
        pose : np.ndarray [shape=(N_JOINTS, 2)] in body units (pelvis near the origin, y down,
            torso length ≈ 1).
        """
        pose = self._beat_clock_pose(features) if self.steps_per_beat else self._network_pose(features)
        pose = self.dynamics(pose, features)
        pose = self.groove(pose, features, intensity=self.dynamics.intensity)
        if self.stages.limbs.enabled:
            pose = clamp_limb_lengths(pose, self.limb_max)
        return self.silence(pose, features)

    def _network_pose(self, features: np.ndarray) -> np.ndarray:
        """One network step + sampling → the next pose (body units); fed back to the network."""
        params = self.network.step(features)
        self.last_params = params  # mixture parameters of this step (for tests and inspection)
        fed, y = self.sampling(params, features)
        self.network.feedback(fed)
        return self.network.denormalise(y, features)

    def _beat_clock_pose(self, features: np.ndarray) -> np.ndarray:
        """The beat clock: a network step each time the beat phase passes a step (1/N beat), predicting
        the pose of the next step; in between, the pose moves from the last to the next step's pose as
        the phase advances."""
        from .network import beat_advance, beat_phase_of

        phase = float(beat_phase_of(features))
        last = phase if self._last_beat_phase is None else self._last_beat_phase
        self._beats += float(beat_advance(np.array([phase]), last)[0]) * self.steps_per_beat
        self._last_beat_phase = phase
        while self._beats >= self._next_step:
            self._from, self._to = self._to, self._network_pose(features)
            self._next_step += 1
        frac = float(np.clip(self._beats - (self._next_step - 1), 0.0, 1.0))
        return self._from + frac * (self._to - self._from)

    def idle_pose(self, t: float) -> np.ndarray:
        """The idle sway at time ``t`` seconds: the rest pose gently swaying. [shape=(N_JOINTS, 2)]"""
        return self.silence.idle_pose(t)

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
