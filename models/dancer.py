"""The dancer that performs: the trained network's step in plain numpy (no TensorFlow import).

One step ≈ 0.1 ms, so the live loop, ``dancepose render`` and ``dancepose evaluate`` all run the very
same code.  A model directory holds

* ``config.json`` — format name and version, network hyperparameters, feature and skeleton versions,
  training summary;
* ``dancer.npz`` — the LSTM/head weights (``network.export_weights``) and the normalisation statistics
  (``feature_mean/std``, ``pose_mean/std``) they were trained with, the rest pose and the longest
  plausible length of every limb (``limb_max``);
* optionally ``model.keras`` — the Keras training model (to continue training; not needed to dance).

Silence is handled here, so every consumer behaves the same: when the ``activity`` feature falls the
pose blends into a gentle idle sway around the rest pose; the network keeps listening, and when music
returns the learned motion fades back in within a fraction of a second.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .clock import MODEL_FPS
from .errors import ModelError
from .features import (COL_ACTIVITY, COL_BEAT_CONF, COL_BEAT_COS, COL_BEAT_SIN, COL_RMS_DB, COL_TEMPO,
                       FEATURE_VERSION, N_FEATURES)
from .network import mdn_split
from .skeleton import N_JOINTS, SKELETON_NAME, SKELETON_VERSION, clamp_limb_lengths

MODEL_FORMAT = "dancepose-model"
MODEL_VERSION = 1
DEFAULT_MODEL_DIR = Path(__file__).with_name("default")


@dataclass(frozen=True)
class IdleConfig:
    """How the dancer settles when the music stops.

    ``attack_s`` / ``release_s``: time constants of the music gate going up / down; ``sway_hz`` and
    ``sway_amp`` (body units): the idle sway; ``threshold``: activity below which the gate closes.
    """

    attack_s: float = 0.08
    release_s: float = 0.15
    threshold: float = 0.3
    sway_hz: float = 0.3
    sway_amp: float = 0.03


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@dataclass(frozen=True)
class GrooveConfig:
    """The beat-locked groove layered on the learned motion.

    The learned network decides *what* to dance; the groove makes the body mark the beat it hears: a
    knee-bend bounce that bottoms out on every beat and a side sway that turns on every beat (period two
    beats), both driven by the causal beat phase of the features and scaled by the tracker's confidence,
    so they fade on music without a clear pulse.  The bounce depth is ``bounce`` body units at 120 BPM
    and scales with the beat period (clipped to ``depth_range`` × ``bounce``), so slow music gets deep
    bends and fast music quick small ones, at a similar speed.  Zero amplitudes switch it off.
    """

    bounce: float = 0.4
    sway: float = 0.10
    depth_range: tuple[float, float] = (0.6, 1.5)
    #: beat confidence at which the groove reaches full amplitude
    full_confidence: float = 0.5


@dataclass(frozen=True)
class DynamicsConfig:
    """Dance bigger to louder passages.

    The level (dBFS, smoothed over ``smooth_s``) is compared with its running peak (which decays
    ``decay_db_per_s``, like a compressor's release): at the peak the motion is full size, ``range_db``
    below it the learned motion's excursions from the rest pose and the groove shrink to ``floor``.
    """

    smooth_s: float = 0.5
    decay_db_per_s: float = 0.5
    range_db: float = 20.0
    floor: float = 0.45


class Dancer:
    """A trained dancer.  ``Dancer.load(model_dir)``; then ``step`` per model frame or ``generate``."""

    def __init__(self, *, weights: dict, stats: dict, config: dict, idle: IdleConfig = IdleConfig(),
                 groove: GrooveConfig | None = None, dynamics: DynamicsConfig = DynamicsConfig(),
                 name: str = "dancer") -> None:
        self.config = config
        self.name = name
        self.idle = idle
        self.groove = groove if groove is not None else GrooveConfig(**config.get("groove", {}))
        self.dynamics = dynamics
        #: How long after its audio a pose will be seen (s); the live engine sets it to its display delay,
        #: offline rendering shows every pose at its own time (0).
        self.lead_s = 0.0
        self._lvl_alpha = 1.0 - np.exp(-1.0 / (dynamics.smooth_s * MODEL_FPS))
        self.n_layers = int(config["network"]["layers"])
        self.hidden = int(config["network"]["hidden"])
        self._w = weights
        self._fmean = stats["feature_mean"].astype(np.float32)
        self._fstd = stats["feature_std"].astype(np.float32)
        self._pmean = stats["pose_mean"].astype(np.float32)
        self._pstd = stats["pose_std"].astype(np.float32)
        self.rest_pose = stats["rest_pose"].astype(np.float32).reshape(N_JOINTS, 2)
        self.limb_max = stats["limb_max"].astype(np.float32)
        gen = config.get("generation", {})
        #: Sampling temperature of the mixture components and scale of their spread (0 → mean of the
        #: most likely component, deterministic).
        self.temperature = float(gen.get("temperature", 1.0))
        self.sigma_scale = float(gen.get("sigma_scale", 1.0))
        self.mixtures = int(config["network"]["mixtures"])
        #: The sampled spread is smooth noise (AR(1) with this correlation per frame), so sampling adds
        #: motion rather than jitter; and a component, once chosen, is kept while it stays plausible.
        self.noise_correlation = float(gen.get("noise_correlation", 0.95))
        self.component_hold = float(gen.get("component_hold", 0.95))
        self._up = 1.0 - np.exp(-1.0 / (idle.attack_s * MODEL_FPS))
        self._down = 1.0 - np.exp(-1.0 / (idle.release_s * MODEL_FPS))
        self.reset()

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, model_dir: str | os.PathLike | None = None) -> "Dancer":
        """Load a model directory (``None``: the default dancer shipped with dancepose).

        Raises
        ------
        ModelError
            Missing directory or files, corrupt files, or an incompatible format/feature/skeleton version.
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
            with np.load(npz_path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except Exception as exc:  # zip/CRC/format errors all mean "corrupt"
            raise ModelError(f"corrupt model weights {npz_path}: {exc}") from None
        stat_keys = ("feature_mean", "feature_std", "pose_mean", "pose_std", "rest_pose", "limb_max")
        missing = [k for k in stat_keys if k not in arrays]
        try:
            net = config["network"]
            layers = int(net["layers"])
            int(net["hidden"]), int(net["mixtures"])
            need = [f"lstm{i}_{n}" for i in range(layers) for n in ("kernel", "recurrent", "bias")]
            missing += [k for k in need + ["head_kernel", "head_bias"] if k not in arrays]
        except (KeyError, TypeError, ValueError):
            raise ModelError(f"{cfg_path} lacks the network description (layers, hidden, mixtures); "
                             f"retrain it with `dancepose train`") from None
        if missing:
            raise ModelError(f"corrupt model weights {npz_path}: missing {', '.join(missing)}")
        if arrays["feature_mean"].shape != (N_FEATURES,) or arrays["pose_mean"].shape != (N_JOINTS * 2,):
            raise ModelError(f"model {d} was trained for other feature/pose sizes")
        stats = {k: arrays.pop(k) for k in stat_keys}
        weights = {k: v.astype(np.float32) for k, v in arrays.items()}
        return cls(weights=weights, stats=stats, config=config, name=d.name)

    # ------------------------------------------------------------------ stepping
    def reset(self, seed: int = 0) -> None:
        """Start a new performance (state to zero, the rest pose as the previous pose)."""
        self._rng = np.random.default_rng(seed)
        self._h = [np.zeros(self.hidden, np.float32) for _ in range(self.n_layers)]
        self._c = [np.zeros(self.hidden, np.float32) for _ in range(self.n_layers)]
        self._prev = ((self.rest_pose.reshape(-1) - self._pmean) / self._pstd).astype(np.float32)
        self._gate = 0.0
        self._power = 1e-6
        self._peak = -60.0
        self.intensity = 1.0
        self._t = 0
        self._eps = np.zeros(2 * N_JOINTS, np.float32)
        self._k = -1
        self._beats = 0
        self._last_phase = 0.0

    def step(self, features: np.ndarray) -> np.ndarray:
        """Advance one model frame.

        Parameters
        ----------
        features : np.ndarray [shape=(N_FEATURES,)]
            One row of :func:`dancepose.models.features.music_features` / ``FeatureStream.process``.

        Returns
        -------
        pose : np.ndarray [shape=(N_JOINTS, 2)] in body units (pelvis near the origin, y down,
            torso length ≈ 1).
        """
        f = (np.asarray(features, dtype=np.float32) - self._fmean) / self._fstd
        x = np.concatenate([f, self._prev])
        w = self._w
        for i in range(self.n_layers):
            z = x @ w[f"lstm{i}_kernel"] + self._h[i] @ w[f"lstm{i}_recurrent"] + w[f"lstm{i}_bias"]
            H = self.hidden
            ig = _sigmoid(z[:H])
            fg = _sigmoid(z[H:2 * H])
            cc = np.tanh(z[2 * H:3 * H])
            og = _sigmoid(z[3 * H:])
            self._c[i] = fg * self._c[i] + ig * cc
            self._h[i] = og * np.tanh(self._c[i])
            x = self._h[i]
        params = x @ w["head_kernel"] + w["head_bias"]
        self.last_params = params  # mixture parameters of this step (for tests and inspection)
        logits, mu, log_sigma = mdn_split(params, n_pose=2 * N_JOINTS, mixtures=self.mixtures)
        rng = self._rng
        if self.temperature > 0:
            p = np.exp((logits - logits.max()) / self.temperature)
            p /= p.sum()
            keep = self._k >= 0 and p[self._k] > 0.1 and rng.random() < self.component_hold
            k = self._k if keep else int(rng.choice(self.mixtures, p=p))
        else:
            k = int(np.argmax(logits))
        self._k = k
        y = mu[k]
        if self.sigma_scale > 0:
            r = self.noise_correlation
            self._eps = r * self._eps + np.sqrt(1.0 - r * r) * rng.standard_normal(self._eps.shape)
            y = y + self.sigma_scale * np.exp(log_sigma[k]) * self._eps
        self._prev = y.astype(np.float32)
        danced = (y * self._pstd + self._pmean).reshape(N_JOINTS, 2)
        danced = self._dynamics(danced, features)
        danced = self._groove(danced, features)
        # Limbs never grow past their longest length in the training data (1.1 × its 99th percentile).
        danced = clamp_limb_lengths(danced, self.limb_max)
        # Silence gate: fast attack, slower release, towards an idle sway.
        target = 1.0 if float(features[COL_ACTIVITY]) > self.idle.threshold else 0.0
        rate = self._up if target > self._gate else self._down
        self._gate += rate * (target - self._gate)
        self._t += 1
        if self._gate > 0.999:
            return danced
        return self._gate * danced + (1.0 - self._gate) * self.idle_pose(self._t / MODEL_FPS)

    def _dynamics(self, pose: np.ndarray, features: np.ndarray) -> np.ndarray:
        dy = self.dynamics
        power = 10.0 ** (float(features[COL_RMS_DB]) * 6.0)  # COL_RMS_DB holds dBFS / 60
        self._power += self._lvl_alpha * (power - self._power)  # smoothed in power, not in dB
        level = 10.0 * np.log10(self._power + 1e-12)
        self._peak = max(self._peak - dy.decay_db_per_s / MODEL_FPS, level)
        below = self._peak - level
        self.intensity = float(np.clip(1.0 - (1.0 - dy.floor) * below / dy.range_db, dy.floor, 1.0))
        return self.rest_pose + self.intensity * (pose - self.rest_pose)

    def _groove(self, pose: np.ndarray, features: np.ndarray) -> np.ndarray:
        g = self.groove
        phase = float(np.arctan2(features[COL_BEAT_SIN], features[COL_BEAT_COS]) / (2 * np.pi)) % 1.0
        if self._last_phase > 0.75 and phase < 0.25:
            self._beats += 1
        self._last_phase = phase
        amount = min(1.0, float(features[COL_BEAT_CONF]) / g.full_confidence)
        if amount <= 0 or (g.bounce == 0 and g.sway == 0):
            return pose
        out = pose.copy()
        # Height above the lowest joint, 0…1: the feet stay planted, the body above bends and sways.
        h = -pose[:, 1]
        h = (h - h.min()) / max(float(h.max() - h.min()), 1e-6)
        lift = np.clip(h * 2.0, 0.0, 1.0)  # knees move half as much as hips and above
        beat_s = 0.5 / 2.0 ** float(features[COL_TEMPO])  # COL_TEMPO = log2(BPM / 120)
        # A display that shows this pose `lead_s` after its audio was heard gets the groove of that later
        # moment: the beat phase is a prediction, so the bounce can bottom out on the beat as it is seen.
        ahead = phase + self.lead_s / beat_s
        down = 0.5 * (1.0 + np.cos(2.0 * np.pi * ahead))  # 1 on the beat, 0 half-way between beats
        side = np.cos(np.pi * (self._beats + ahead))  # extreme on every beat, period two beats
        depth = g.bounce * float(np.clip(beat_s / 0.5, *g.depth_range))
        out[:, 1] += self.intensity * amount * depth * down * lift
        out[:, 0] += self.intensity * amount * g.sway * side * h
        return out

    def idle_pose(self, t: float) -> np.ndarray:
        """The idle sway at time ``t`` seconds: the rest pose gently swaying. [shape=(N_JOINTS, 2)]"""
        pose = self.rest_pose.copy()
        s = np.sin(2.0 * np.pi * self.idle.sway_hz * t)
        height = -pose[:, 1] - float(np.min(-pose[:, 1]))  # 0 at the feet, up the body
        pose[:, 0] += self.idle.sway_amp * s * height / max(float(height.max()), 1e-6)
        pose[:, 1] += 0.3 * self.idle.sway_amp * np.sin(4.0 * np.pi * self.idle.sway_hz * t)
        return pose

    def generate(self, features: np.ndarray, *, seed: int = 0) -> np.ndarray:
        """A whole performance.  features [shape=(T, N_FEATURES)] → poses [shape=(T, N_JOINTS, 2)]."""
        features = np.asarray(features, dtype=np.float32)
        self.reset(seed)
        out = np.empty((len(features), N_JOINTS, 2), dtype=np.float32)
        for t in range(len(features)):
            out[t] = self.step(features[t])
        return out
