"""The dancer network (Keras, TensorFlow backend) — used for training only.

An autoregressive LSTM conditioned on music: at every model frame it reads the music features of that
frame and the pose it produced one frame earlier, and outputs the next pose.  Trained with
*auto-conditioning* (Zhou et al., "Auto-Conditioned Recurrent Networks for Extended Complex Human
Motion Synthesis", ICLR 2018): in each training window the previous-pose input alternates between
ground truth (with noise) and the network's own output, so it learns to recover from its own errors
instead of collapsing to a mean or frozen pose over minutes of generation.

Phase-aware option (``phase_harmonics`` > 0): every musical phase among the features (each
``X_sin``/``X_cos`` pair: the beat, and the bar when the extractor provides it) is expanded into its
first ``phase_harmonics`` harmonics ``sin kφ, cos kφ``.  They are extra inputs of the LSTM and — with
``phase_to_head`` — also feed the mixture head directly, so the predicted motion can be a function of
where in the beat and bar the music is (phase-conditioned output), not only of the past motion.

Performing does not use Keras: :mod:`dancepose.models.dancer` runs the same equations in numpy from
the exported weights (one step ≈ 0.1 ms instead of 32 ms for ``model.predict``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class NetworkConfig:
    """Every hyperparameter of the network (saved in the model directory's ``config.json``)."""

    n_features: int
    n_pose: int
    hidden: int = 192
    layers: int = 2
    dropout: float = 0.1
    #: Mixture components of the output distribution (mixture density network head).
    mixtures: int = 5
    #: Harmonics of every phase pair given to the network (0: none, the original design).
    phase_harmonics: int = 0
    #: The phase harmonics also feed the mixture head directly (phase-conditioned output).
    phase_to_head: bool = False
    #: 0: one network step per model frame.  N > 0: the network runs on the *beat clock* — one step
    #: each time the tracked beat phase advances by 1/N of a beat — and predicts the pose of the next
    #: step; the poses in between are interpolated by the beat phase (motion per phase step).
    steps_per_beat: int = 0
    #: 0: off.  K > 0: a *phase-functioned mean pose* — a Fourier series (K harmonics) of the bar phase,
    #: one per metre (3/4, 4/4), fitted to the training dance by least squares — is added to the network's
    #: output, and the network models the motion around it.  The bar's rise and fall then follow the bar
    #: the tracker hears at any tempo (phase-conditioned output).
    phase_mean_harmonics: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def n_phase(self) -> int:
        """Number of phase-harmonic inputs."""
        return 2 * self.phase_harmonics * len(phase_pairs())


def phase_pairs(names: tuple[str, ...] | None = None) -> list[tuple[int, int]]:
    """Column pairs (sin, cos) of the musical phases in the features: every ``X_sin`` with an ``X_cos``."""
    if names is None:
        from .features import FEATURE_NAMES

        names = FEATURE_NAMES
    names = tuple(names)
    return [(i, names.index(n[:-4] + "_cos")) for i, n in enumerate(names)
            if n.endswith("_sin") and n[:-4] + "_cos" in names]


def beat_advance(phase: np.ndarray, previous: float) -> np.ndarray:
    """How far the beat phase moved forward between frames (in beats, ≥ 0).

    phase [shape=(T,)] in [0, 1) (0 on the beat); ``previous``: the phase before the first frame.  A
    backward step (a phase correction larger than half a beat the other way) counts as no advance, so the
    beat count never runs backwards.
    """
    p = np.concatenate([[previous], np.asarray(phase, dtype=np.float64)])
    d = np.mod(np.diff(p), 1.0)
    return np.where(d > 0.5, 0.0, d)


def bar_phase_of(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bar phase (0…1, 0 on the downbeat) and 4/4 weight (0: 3/4 … 1: 4/4) of feature rows
    [shape=(..., N_FEATURES)] → two [shape=(...)]."""
    from .features import COL_METER, bar_phase

    f = np.asarray(features, dtype=np.float64)
    return bar_phase(features=f), np.clip(f[..., COL_METER], 0.0, 1.0)


def phase_mean_tables() -> int:
    """Tables of the phase-functioned mean pose: 2 (3/4, 4/4) with bar features, else 1."""
    from .features import FEATURE_NAMES

    return 2 if "bar_sin" in FEATURE_NAMES else 1


def fourier_basis(phi: np.ndarray, *, harmonics: int) -> np.ndarray:
    """[1, cos 2πkφ, sin 2πkφ for k = 1 … K] of phases [shape=(...)] → [shape=(..., 2K + 1)]."""
    phi = np.asarray(phi, dtype=np.float64)
    cols = [np.ones_like(phi)]
    for k in range(1, harmonics + 1):
        cols += [np.cos(2 * np.pi * k * phi), np.sin(2 * np.pi * k * phi)]
    return np.stack(cols, axis=-1)


def phase_mean_pose(features: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """The phase-functioned mean pose of feature rows [shape=(..., N_FEATURES)] → [shape=(..., D)].

    coef [shape=(tables, 2K + 1, D)]: table 0 for 3/4, table 1 (if present) for 4/4, blended by the
    metre column.
    """
    phi, w4 = bar_phase_of(features)
    b = fourier_basis(phi, harmonics=(coef.shape[1] - 1) // 2)
    out = b @ coef[0]
    if coef.shape[0] > 1:
        out = out + w4[..., None] * (b @ coef[1] - out)
    return out.astype(np.float32)


def fit_phase_mean(features: np.ndarray, poses: np.ndarray, *, harmonics: int, ridge: float = 1e-3) -> np.ndarray:
    """Least-squares Fourier fit of poses on the bar phase, one table per metre.

    features [shape=(n, N_FEATURES)], poses [shape=(n, D)] (finite rows only are used) →
    coef [shape=(tables, 2K + 1, D)].  A table without frames falls back to the other's fit.
    """
    f = np.asarray(features, dtype=np.float64)
    p = np.asarray(poses, dtype=np.float64)
    ok = np.isfinite(p).all(axis=1) & np.isfinite(f).all(axis=1)
    f, p = f[ok], p[ok]
    phi, w4 = bar_phase_of(f)
    b = fourier_basis(phi, harmonics=harmonics)
    tables = phase_mean_tables()
    coef = np.zeros((tables, b.shape[1], p.shape[1]))
    masks = [w4 < 0.5, w4 >= 0.5] if tables == 2 else [np.ones(len(p), bool)]
    for m, mask in enumerate(masks):
        use = mask if mask.sum() > 10 * b.shape[1] else np.ones(len(p), bool)
        a = b[use]
        coef[m] = np.linalg.solve(a.T @ a + ridge * len(a) * np.eye(a.shape[1]), a.T @ p[use])
    return coef.astype(np.float32)


#: Principal modes of the training poses kept for the beat-locked spread (``pose_modes``).
N_POSE_MODES: int = 8


def fit_pose_modes(poses: np.ndarray, *, modes: int = N_POSE_MODES) -> np.ndarray:
    """The principal modes of normalised poses, each scaled by its standard deviation.

    poses [shape=(n, D)] (normalised: zero mean, unit variance per coordinate; non-finite rows skipped)
    → [shape=(modes, D)]: ``z @ modes`` with ``z ~ N(0, I)`` is a random whole-body pose variation with
    the real dance's covariance in its ``modes`` strongest directions (an arm raised with its hand, a
    lean with its hips), where independent noise per coordinate would bend the body apart.
    """
    p = np.asarray(poses, dtype=np.float64)
    p = p[np.isfinite(p).all(axis=1)]
    if len(p) < 2:
        return np.eye(min(modes, p.shape[1]), p.shape[1], dtype=np.float32)
    p = p - p.mean(axis=0)
    cov = p.T @ p / (len(p) - 1)
    w, v = np.linalg.eigh(cov)
    order = np.argsort(w)[::-1][:modes]
    return (v[:, order] * np.sqrt(np.maximum(w[order], 0.0))).T.astype(np.float32)


def phase_inputs(features: np.ndarray, *, harmonics: int) -> np.ndarray:
    """The phase-harmonic inputs of raw (unnormalised) features.

    features [shape=(..., N_FEATURES)] → [shape=(..., 2 · harmonics · n_pairs)]: per phase pair and
    k = 1 … harmonics, ``sin kφ, cos kφ`` (φ from the pair, so k = 1 is the pair itself, re-normalised).
    """
    f = np.asarray(features, dtype=np.float32)
    out = []
    for cs, cc in phase_pairs():
        phi = np.arctan2(f[..., cs], f[..., cc])
        for k in range(1, harmonics + 1):
            out += [np.sin(k * phi), np.cos(k * phi)]
    if not out:
        return np.zeros(f.shape[:-1] + (0,), np.float32)
    return np.stack(out, axis=-1).astype(np.float32)


def _keras():
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    return keras


#: log σ of the mixture components is clipped to this range (normalised pose units).
LOG_SIGMA_RANGE = (-6.0, 2.0)


def mdn_split(params, *, n_pose: int, mixtures: int):
    """Split head outputs [shape=(..., mixtures*(2*n_pose+1))] (numpy) into logits [shape=(..., K)],
    means [shape=(..., K, D)] and clipped log standard deviations [shape=(..., K, D)]."""
    k, d = mixtures, n_pose
    lead = params.shape[:-1]
    logits = params[..., :k]
    mu = params[..., k:k + k * d].reshape(lead + (k, d))
    log_sigma = np.clip(params[..., k + k * d:].reshape(lead + (k, d)), *LOG_SIGMA_RANGE)
    return logits, mu, log_sigma


def build_model(*, n_features: int, n_pose: int, hidden: int = 192, layers: int = 2,
                dropout: float = 0.1, mixtures: int = 5, phase_harmonics: int = 0, phase_to_head: bool = False,
                steps_per_beat: int = 0, phase_mean_harmonics: int = 0):
    """Build the training model.

    Inputs: ``x`` [shape=(batch, time, n_features + n_pose + 1 + n_phase)] — per frame the normalised
    music features, the normalised *previous* ground-truth pose, a 0/1 flag: 1 = feed that ground truth
    as the previous pose, 0 = feed the network's own previous output (the mixture mean;
    auto-conditioning), and the phase harmonics (:func:`phase_inputs`, ``n_phase`` =
    ``NetworkConfig.n_phase``; none by default).  The LSTM reads ``[music, phase, previous pose]``; the
    head reads ``[h, phase]`` when ``phase_to_head`` else ``h``.  (``steps_per_beat`` changes what a
    time step is — a model frame or a step of the beat clock — and ``phase_mean_harmonics`` what the
    poses are measured from — not the network.)

    Output: [shape=(batch, time, mixtures * (2 * n_pose + 1))] — per frame the parameters of a
    Gaussian mixture over the next normalised pose: ``mixtures`` logits, then the means, then the
    log standard deviations (diagonal), see :func:`mdn_split`.  A mixture rather than a single mean:
    regressing the mean of many possible next moves is what makes dancers freeze.
    """
    keras = _keras()
    from keras import ops

    @keras.saving.register_keras_serializable(package="dancepose")
    class AutoregressiveCell(keras.layers.Layer):
        def __init__(self, n_features, n_pose, hidden, layers, dropout, mixtures, n_phase=0,
                     phase_to_head=False, **kwargs):
            super().__init__(**kwargs)
            self.n_features, self.n_pose = n_features, n_pose
            self.n_phase, self.phase_to_head = n_phase, bool(phase_to_head)
            self.hidden, self.n_layers, self.dropout = hidden, layers, dropout
            self.mixtures = mixtures
            self.cells = [keras.layers.LSTMCell(hidden, name=f"lstm_{i}") for i in range(layers)]
            self.drop = keras.layers.Dropout(dropout)
            self.n_out = mixtures * (2 * n_pose + 1)
            self.head = keras.layers.Dense(self.n_out, name="head")
            self.state_size = [hidden] * (2 * layers) + [n_pose]
            self.output_size = self.n_out

        def build(self, input_shape):
            dim = self.n_features + self.n_phase + self.n_pose
            for cell in self.cells:
                cell.build((None, dim))
                dim = self.hidden
            self.head.build((None, self.hidden + (self.n_phase if self.phase_to_head else 0)))
            self.built = True

        def call(self, inputs, states, training=False):
            f, d = self.n_features, self.n_pose
            music = inputs[:, :f]
            gt_prev = inputs[:, f:f + d]
            use_gt = inputs[:, f + d:f + d + 1]
            phase = inputs[:, f + d + 1:f + d + 1 + self.n_phase]
            prev = use_gt * gt_prev + (1.0 - use_gt) * states[-1]
            x = ops.concatenate([music, phase, prev], axis=-1)
            new_states = []
            for i, cell in enumerate(self.cells):
                x, (h, c) = cell(x, [states[2 * i], states[2 * i + 1]], training=training)
                new_states += [h, c]
                x = self.drop(x, training=training)
            if self.phase_to_head:
                x = ops.concatenate([x, phase], axis=-1)
            y = self.head(x)
            k, d = self.mixtures, self.n_pose
            w = ops.softmax(y[:, :k], axis=-1)
            mu = ops.reshape(y[:, k:k + k * d], (-1, k, d))
            mean = ops.sum(w[:, :, None] * mu, axis=1)
            return y, new_states + [mean]

        def get_config(self):
            return {**super().get_config(), "n_features": self.n_features, "n_pose": self.n_pose,
                    "hidden": self.hidden, "layers": self.n_layers, "dropout": self.dropout,
                    "mixtures": self.mixtures, "n_phase": self.n_phase, "phase_to_head": self.phase_to_head}

    n_phase = NetworkConfig(n_features=n_features, n_pose=n_pose, phase_harmonics=phase_harmonics).n_phase
    cell = AutoregressiveCell(n_features, n_pose, hidden, layers, dropout, mixtures, n_phase=n_phase,
                              phase_to_head=phase_to_head, name="dancer_cell")
    inp = keras.Input(shape=(None, n_features + n_pose + 1 + n_phase), name="x")
    out = keras.layers.RNN(cell, return_sequences=True, name="dancer")(inp)
    return keras.Model(inp, out, name="dancepose_dancer")


def mdn_loss(*, n_pose: int, mixtures: int):
    """Negative log-likelihood of the target pose under the predicted mixture (per dimension)."""
    import math

    from keras import ops

    lo, hi = LOG_SIGMA_RANGE

    def loss(y_true, y_pred):
        k, d = mixtures, n_pose
        logits = y_pred[..., :k]
        mu = ops.reshape(y_pred[..., k:k + k * d], (-1, k, d))
        log_sigma = ops.clip(ops.reshape(y_pred[..., k + k * d:], (-1, k, d)), lo, hi)
        y = ops.reshape(y_true, (-1, 1, d))
        z = (y - mu) * ops.exp(-log_sigma)
        log_n = -0.5 * ops.sum(z * z, axis=-1) - ops.sum(log_sigma, axis=-1) - 0.5 * d * math.log(2 * math.pi)
        log_w = ops.log_softmax(ops.reshape(logits, (-1, k)), axis=-1)
        return -ops.mean(ops.logsumexp(log_w + log_n, axis=-1)) / d

    return loss


def export_weights(model) -> dict:
    """The numpy weights :class:`~dancepose.models.dancer.Dancer` runs on.

    Keys ``lstm{i}_kernel`` [shape=(in, 4H)], ``lstm{i}_recurrent`` [shape=(H, 4H)], ``lstm{i}_bias``
    [shape=(4H,)] (Keras gate order i, f, c, o), ``head_kernel`` [shape=(H (+ n_phase), n_out)],
    ``head_bias``.
    """
    cell = model.get_layer("dancer").cell
    out = {}
    for i, lstm in enumerate(cell.cells):
        k, r, b = (np.asarray(w, dtype=np.float32) for w in lstm.get_weights())
        out[f"lstm{i}_kernel"], out[f"lstm{i}_recurrent"], out[f"lstm{i}_bias"] = k, r, b
    hk, hb = (np.asarray(w, dtype=np.float32) for w in cell.head.get_weights())
    out["head_kernel"], out["head_bias"] = hk, hb
    return out
