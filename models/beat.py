"""The dancer's ears: a causal beat / bar / tempo / meter tracker (numpy only, per frame).

Two parts, run once per feature frame by :class:`dancepose.models.features.FeatureStream`:

1. :class:`BeatNet` — a small recurrent network (dense → 2 × GRU → softmax over *no beat / beat /
   downbeat*) over the frame's log-mel bands (relative to the automatic gain) and their positive
   differences (:func:`beat_inputs`).  Trained in Keras by :mod:`dancepose.offline.beats` on reference
   beats with tempo-stretch, gain and pink-noise augmentation, split by song; the weights ship as
   ``models/beatnet.npz`` (with the input normalisation) and run here in numpy.  The network is taught
   to mark each beat ``lag`` frames *after* it happens, so it has heard the onset when it says so.
2. :class:`BarPointer` — the forward algorithm of the bar-pointer state-space model (Krebs, Böck &
   Widmer 2015; Böck, Krebs & Widmer 2016): hidden state = meter {3, 4} × beat interval × position in
   the bar, positions advance ``substeps`` per frame (so 30 fps frames give the timing resolution of
   a 60 fps model), the tempo may change only at beat boundaries (exponential transition in the
   interval ratio), the meter only at bar boundaries.  The read-outs are posterior means: beat and bar
   phase (advanced by ``lag`` frames, so phase 0 falls *on* the beat, before it is heard), tempo,
   meter, and a confidence from how concentrated the phase posterior is times the recent evidence.

:class:`BeatTracker` joins both and adds what the live dancer needs: a smoothed, never-backward beat
phase, a beat counter, a fixed tempo (:meth:`BeatTracker.fix_tempo`) and tap tempo
(:meth:`BeatTracker.tap`).  Everything here is numpy: live start-up does not import TensorFlow.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .clock import MODEL_FPS, N_MELS
from .errors import ModelError, ParameterError
from .tempo import MAX_BPM, MIN_BPM, fold_bpm

#: Inputs of the beat network per frame: N_MELS relative log-mel bands, N_MELS positive differences.
N_BEAT_INPUTS: int = 2 * N_MELS
#: Version of the beat network file layout / input definition.
BEATNET_VERSION: int = 1
BEATNET_PATH = Path(__file__).with_name("beatnet.npz")
#: Log-mel floor (dB below the automatic-gain reference) and the input scales.
FLOOR_DB: float = 80.0
REL_SCALE_DB: float = 20.0
DIFF_SCALE_DB: float = 10.0


# ---------------------------------------------------------------------------------------- inputs
def beat_input_frame(*, mel_db: np.ndarray, prev_mel_db: np.ndarray | None, agc_ref: float,
                     out: np.ndarray) -> None:
    """One frame of network input (the streaming form of :func:`beat_inputs`).

    Parameters
    ----------
    mel_db : np.ndarray [shape=(N_MELS,)]   log-mel power (dB) of this frame
    prev_mel_db : np.ndarray [shape=(N_MELS,)] or None   the previous frame's (None on frame 0)
    agc_ref : float   automatic-gain reference level (dB) after this frame
    out : np.ndarray [shape=(N_BEAT_INPUTS,)]   written in place
    """
    floor = agc_ref - FLOOR_DB
    cur = np.maximum(mel_db, floor)
    out[:N_MELS] = (cur - agc_ref) / REL_SCALE_DB
    if prev_mel_db is None:
        out[N_MELS:] = 0.0
    else:
        out[N_MELS:] = np.maximum(0.0, cur - np.maximum(prev_mel_db, floor)) / DIFF_SCALE_DB


def beat_inputs(*, mel_db: np.ndarray, agc_decay: float, agc_init: float) -> np.ndarray:
    """Network inputs of a whole sequence at once (training); equal to the streaming frames.

    Parameters
    ----------
    mel_db : np.ndarray [shape=(T, N_MELS)]   log-mel power (dB) per frame
    agc_decay : float   dB the gain reference falls per frame
    agc_init : float   reference level before frame 0

    Returns
    -------
    np.ndarray [shape=(T, N_BEAT_INPUTS)] float32
    """
    mel_db = np.asarray(mel_db, dtype=np.float64)
    t = np.arange(len(mel_db), dtype=np.float64)
    # ref_t = max(ref_{t-1} - d, peak_t)  ⇔  max(init - d, cummax(peak_s + d s)) - d t
    ref = np.maximum(agc_init - agc_decay, np.maximum.accumulate(mel_db.max(axis=1) + agc_decay * t)) \
        - agc_decay * t
    floor = (ref - FLOOR_DB)[:, None]
    cur = np.maximum(mel_db, floor)
    out = np.empty((len(mel_db), N_BEAT_INPUTS), dtype=np.float64)
    out[:, :N_MELS] = (cur - ref[:, None]) / REL_SCALE_DB
    out[0, N_MELS:] = 0.0
    out[1:, N_MELS:] = np.maximum(0.0, cur[1:] - np.maximum(mel_db[:-1], floor[1:])) / DIFF_SCALE_DB
    return out.astype(np.float32)


# ---------------------------------------------------------------------------------------- network
def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class BeatNet:
    """The beat/downbeat activation network in numpy, one frame at a time.

    ``arrays`` (the ``.npz``): ``version``, ``lag`` (frames), ``mean``/``std`` [shape=(N_BEAT_INPUTS,)],
    ``dense_w`` [shape=(N_BEAT_INPUTS, d)], ``dense_b``, ``gru{i}_w`` [shape=(in, 3u)], ``gru{i}_u``
    [shape=(u, 3u)], ``gru{i}_b`` [shape=(2, 3u)] (Keras GRU, gates z r h, ``reset_after``), ``out_w``
    [shape=(u, 3)], ``out_b``.
    """

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        try:
            if int(arrays["version"]) != BEATNET_VERSION:
                raise ModelError(f"beat network version {int(arrays['version'])}, expected {BEATNET_VERSION}")
            self.lag = int(arrays["lag"])
            self.mean = np.asarray(arrays["mean"], np.float32)
            self.inv_std = (1.0 / np.asarray(arrays["std"], np.float32)).astype(np.float32)
            self.dense_w = np.asarray(arrays["dense_w"], np.float32)
            self.dense_b = np.asarray(arrays["dense_b"], np.float32)
            self.grus = []
            i = 0
            while f"gru{i}_w" in arrays:
                self.grus.append((np.asarray(arrays[f"gru{i}_w"], np.float32),
                                  np.asarray(arrays[f"gru{i}_u"], np.float32),
                                  np.asarray(arrays[f"gru{i}_b"], np.float32)))
                i += 1
            self.out_w = np.asarray(arrays["out_w"], np.float32)
            self.out_b = np.asarray(arrays["out_b"], np.float32)
        except KeyError as e:
            raise ModelError(f"beat network file lacks {e}") from None
        if self.mean.shape != (N_BEAT_INPUTS,) or not self.grus:
            raise ModelError("beat network file has the wrong input size or no recurrent layer")
        # The input normalisation folded into the first layer: ((x - mean) / std) W + b = x W' + b'.
        self._w0 = (self.dense_w * self.inv_std[:, None]).astype(np.float32)
        self._b0 = (self.dense_b - (self.mean * self.inv_std) @ self.dense_w).astype(np.float32)
        self.reset()

    @classmethod
    def load(cls, path: str | Path = BEATNET_PATH) -> "BeatNet":
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls({k: z[k] for k in z.files})
        except (OSError, ValueError) as e:
            raise ModelError(f"cannot read beat network {path}: {e}") from None

    def reset(self) -> None:
        self.h = [np.zeros(u.shape[0], np.float32) for _, u, _ in self.grus]
        # work buffers: the live step allocates nothing
        self._v = np.empty(self._w0.shape[1], np.float32)
        self._xw = [np.empty(w.shape[1], np.float32) for w, _, _ in self.grus]
        self._hu = [np.empty(u.shape[1], np.float32) for _, u, _ in self.grus]
        self._o = np.empty(self.out_w.shape[1], np.float32)

    def step(self, x: np.ndarray) -> np.ndarray:
        """x [shape=(N_BEAT_INPUTS,)] float32 → probabilities [shape=(3,)] (no beat, beat, downbeat)."""
        v = self._v
        np.dot(np.asarray(x, np.float32), self._w0, out=v)
        v += self._b0
        np.maximum(v, 0.0, out=v)
        for j, (w, u, b) in enumerate(self.grus):
            h, xw, hu = self.h[j], self._xw[j], self._hu[j]
            n = len(h)
            np.dot(v, w, out=xw)
            xw += b[0]
            np.dot(h, u, out=hu)
            hu += b[1]
            zr = xw[:2 * n]  # the gates z, r = sigmoid(xw + hu) = (1 + tanh((xw + hu) / 2)) / 2, in place
            zr += hu[:2 * n]
            zr *= 0.5
            np.tanh(zr, out=zr)
            zr += 1.0
            zr *= 0.5
            hh = xw[2 * n:]  # candidate tanh(xw + r · hu)
            hr = hu[2 * n:]
            hr *= zr[n:]
            hh += hr
            np.tanh(hh, out=hh)
            h -= hh  # h = hh + z (h - hh)
            h *= zr[:n]
            h += hh
            v = h
        np.dot(v, self.out_w, out=self._o)
        self._o += self.out_b
        o = self._o.tolist()  # 3 logits: softmax in plain Python is cheaper
        m = max(o)
        e = [math.exp(a - m) for a in o]
        s = e[0] + e[1] + e[2]
        return np.array([e[0] / s, e[1] / s, e[2] / s])

    def run(self, x: np.ndarray) -> np.ndarray:
        """A whole sequence, frame by frame from a fresh state: [shape=(T, N_BEAT_INPUTS)] → (T, 3)."""
        self.reset()
        return np.array([self.step(f) for f in x]).reshape(-1, 3)


# ---------------------------------------------------------------------------------------- filter
@dataclass(frozen=True)
class BeatConfig:
    """Parameters of the bar-pointer filter and the read-outs."""

    #: Tempo states: the one range of :mod:`dancepose.models.tempo` (``--bpm``, held and folded tempi).
    min_bpm: float = MIN_BPM
    max_bpm: float = MAX_BPM
    #: Bar positions advanced per frame (timing resolution = 1 / (MODEL_FPS * substeps) s).
    substeps: int = 2
    meters: tuple[int, ...] = (3, 4)
    #: Tempo transition at beat boundaries: exp(-tempo_lambda * |n'/n - 1|) (Krebs et al. use 100).
    tempo_lambda: float = 100.0
    #: Non-beat states see (p_no_beat) / (obs_lambda - 1), beat states p_beat / p_downbeat.
    obs_lambda: float = 16.0
    #: Tempo prior: every beat the mass arriving at a beat is weighted by a log-normal in the tempo,
    #: centred on ``tempo_prior_bpm`` with ``tempo_prior_octaves`` standard deviation (0: none, flat).
    #: Between metrical levels that explain the onsets about equally well (3:2 in a waltz, 2:1) it
    #: leans to the one nearer the centre, as human tappers do.
    tempo_prior_bpm: float = 120.0
    tempo_prior_octaves: float = 1.0
    #: Probability of switching meter at a bar line.
    meter_switch: float = 1e-3
    #: Fraction of the posterior spread uniformly every frame (lets it re-lock after a change).
    uniform_mix: float = 1e-4
    #: Gain of the displayed phase toward the posterior mean per frame.
    phase_gain: float = 0.35
    #: Time constant (s) of the running on-beat / off-beat activation averages behind the confidence.
    evidence_tau_s: float = 2.0
    #: Mean on-beat activation that counts as full evidence.
    evidence_full: float = 0.2
    #: Tap tempo: taps further apart than this (s) start a new tap sequence.
    tap_timeout_s: float = 2.0
    #: Beat network file (None: the shipped ``models/beatnet.npz``).
    net_path: str | None = None


class BarPointer:
    """Forward filter of the bar-pointer model; see the module docstring.

    State ``i`` = (meter ``m``, interval ``n`` positions per beat, bar position ``p`` in [0, m n)).
    """

    def __init__(self, *, config: BeatConfig = BeatConfig(), lag: int = 0) -> None:
        c = config
        if c.min_bpm <= 0 or c.max_bpm <= c.min_bpm or c.substeps < 1 or not c.meters:
            raise ParameterError(f"invalid beat tracker config {c}")
        self.config = c
        self.lag = lag
        q = c.substeps
        pos_fps = MODEL_FPS * q
        n_lo = int(np.ceil(pos_fps * 60.0 / c.max_bpm))
        n_hi = int(np.floor(pos_fps * 60.0 / c.min_bpm))
        self.intervals = np.arange(n_lo, n_hi + 1)  # positions per beat
        self.bpm_grid = 60.0 * pos_fps / self.intervals
        K = len(self.intervals)
        meters, tempi, pos, beat, within = [], [], [], [], []
        for mi, m in enumerate(c.meters):
            for k, n in enumerate(self.intervals):
                p = np.arange(m * n)
                meters.append(np.full(len(p), mi)); tempi.append(np.full(len(p), k)); pos.append(p)
                beat.append(p // n); within.append(p % n)
        self.meter_idx = np.concatenate(meters)
        self.tempo_idx = np.concatenate(tempi)
        self.pos = np.concatenate(pos)
        self.beat_in_bar = np.concatenate(beat)
        self.within = np.concatenate(within)
        n_s = len(self.pos)
        self.n_states = n_s
        nk = self.intervals[self.tempo_idx]
        mk = np.asarray(c.meters)[self.meter_idx]
        # index of state (mi, k, p)
        offset = np.zeros((len(c.meters), K), np.int64)
        o = 0
        for mi, m in enumerate(c.meters):
            for k, n in enumerate(self.intervals):
                offset[mi, k] = o
                o += m * n
        self._offset = offset
        self._block_starts = offset.ravel()
        # Beat crossings: columns (mi, beat b, offset o); rows tempo k.
        cols = [(mi, b, oo) for mi, m in enumerate(c.meters) for b in range(m) for oo in range(q)]
        self._cross_src = np.empty((K, len(cols)), np.int64)
        self._cross_dst = np.empty((K, len(cols)), np.int64)
        for j, (mi, b, oo) in enumerate(cols):
            m = c.meters[mi]
            for k, n in enumerate(self.intervals):
                self._cross_src[k, j] = offset[mi, k] + b * n + (n - q + oo)
                self._cross_dst[k, j] = offset[mi, k] + ((b + 1) % m) * n + oo
        self._cross_is_down = np.array([(b + 1) % c.meters[mi] == 0 for mi, b, oo in cols])
        # Meter switch at bar lines: the columns ending a bar mix across meters (same offset).
        self._switch = None
        if len(c.meters) > 1 and c.meter_switch > 0:
            sw = np.eye(len(cols))
            ends = [[j for j, (mi, b, oo) in enumerate(cols) if mi == mj and b == c.meters[mj] - 1]
                    for mj in range(len(c.meters))]
            for group in zip(*ends):  # one column per meter, same offset
                for j in group:
                    for i in group:
                        sw[j, i] = 1.0 - c.meter_switch if i == j else c.meter_switch / (len(group) - 1)
            self._switch = sw.astype(np.float32)
        ratio = self.intervals[None, :] / self.intervals[:, None]
        a = np.exp(-c.tempo_lambda * np.abs(ratio - 1.0))
        a[a < 1e-6] = 0.0
        self._trans = (a / a.sum(axis=1, keepdims=True)).T.astype(np.float32)  # new = trans @ old
        if c.tempo_prior_octaves > 0:  # folded into the transition: arrive = (w · trans) @ cross
            w = np.exp(-0.5 * (np.log2(self.bpm_grid / c.tempo_prior_bpm) / c.tempo_prior_octaves) ** 2)
            self._trans = (self._trans * (w / w.max())[:, None]).astype(np.float32)
        # Read-out vectors: phase of each state `lag` frames ahead.
        ahead = (self.within + lag * q) / nk
        bar_ahead = (self.pos + lag * q) / (mk * nk)
        # (4, n_states): row-major so that readout @ p is a plain gemv (fast, no BLAS threading).
        self._readout = np.ascontiguousarray(np.stack(
            [np.cos(2 * np.pi * ahead), np.sin(2 * np.pi * ahead),
             np.cos(2 * np.pi * bar_ahead), np.sin(2 * np.pi * bar_ahead)]), dtype=np.float32)
        # The flat prior: every (meter, tempo) equally likely, spread over its positions (a uniform
        # over *states* would favour slow tempi, which have more positions).
        block = (mk * nk).astype(np.float64)
        self._flat = (1.0 / (len(c.meters) * K) / block).astype(np.float32)
        self._uniform = (config.uniform_mix * self._flat).astype(np.float32)
        self._log_n = np.log(self.intervals.astype(np.float64))
        self._log_n_list = self._log_n.tolist()
        self._tempo_mask: np.ndarray | None = None
        self.reset()

    def reset(self) -> None:
        self.p = self._flat.copy()
        self._spare = np.empty_like(self.p)
        K, cols = self._cross_src.shape
        self._cross = np.empty((K, cols), np.float32)
        self._cross_sw = np.empty((K, cols), np.float32)
        self._arrive = np.empty((K, cols), np.float32)
        self._col_obs = np.empty(cols, np.float32)
        self.prior_beat = 0.0

    def set_tempo_mask(self, bpm: float | None, *, tolerance: float = 0.04) -> None:
        """Restrict the tempo to ``bpm`` ± ``tolerance`` (at least the nearest interval); None releases."""
        if bpm is None:
            self._tempo_mask = None
            self._uniform = (self.config.uniform_mix * self._flat).astype(np.float32)
            return
        near = np.abs(np.log(self.bpm_grid / bpm)) <= np.log1p(tolerance)
        near[int(np.argmin(np.abs(np.log(self.bpm_grid / bpm))))] = True
        self._tempo_mask = near[self.tempo_idx].astype(np.float32)
        masked = self._flat * self._tempo_mask
        self._uniform = (self.config.uniform_mix * masked / masked.sum()).astype(np.float32)
        self.p *= self._tempo_mask
        s = self.p.sum()
        self.p = self.p / s if s > 0 else masked / masked.sum()

    def set_phase(self, *, bpm: float, beats_since: float) -> None:
        """Concentrate the posterior on tempo ``bpm`` with the last beat ``beats_since`` beats ago."""
        meter_post = self.meter_posterior()
        d = np.abs(np.log(self.bpm_grid / bpm))
        tempo_w = np.exp(-0.5 * (d / 0.02) ** 2)
        ph = (self.within / self.intervals[self.tempo_idx] - beats_since % 1.0 + 0.5) % 1.0 - 0.5
        w = tempo_w[self.tempo_idx] * np.exp(-0.5 * (ph / 0.04) ** 2) * meter_post[self.meter_idx]
        if self._tempo_mask is not None:
            w *= self._tempo_mask
        s = w.sum()
        if s > 0:
            self.p = (w / s).astype(np.float32)

    def step(self, act: np.ndarray) -> None:
        """Advance one frame and weigh by the activation ``act`` [shape=(3,)] (none, beat, downbeat)."""
        c = self.config
        q = c.substeps
        old, new = self.p, self._spare  # two state vectors, used in turn: nothing is allocated per frame
        cross = self._cross
        np.take(old, self._cross_src, out=cross, mode="wrap")  # (K, cols): mass reaching a beat boundary
        # this frame (indices are always valid; "wrap" only spares numpy a buffered copy)
        if self._switch is not None:
            np.dot(cross, self._switch, out=self._cross_sw)
            cross = self._cross_sw
        none = float(act[0]) / (c.obs_lambda - 1.0)
        # Within a beat every state moves q positions on: one shifted copy of the flat state vector
        # (the beat-start states it also fills are overwritten below).
        np.multiply(old[:-q], none, out=new[q:])
        arrive = np.dot(self._trans, cross, out=self._arrive)
        #: prior probability that this frame is a beat (mass arriving at a beat start), before the
        #: observation: with the activation it tells how well the music fits the predicted grid.
        self.prior_beat = float(arrive.sum())
        obs = self._col_obs
        obs[:] = float(act[1])
        obs[self._cross_is_down] = float(act[2])
        arrive *= obs
        new[self._cross_dst] = arrive
        if self._tempo_mask is not None:
            new *= self._tempo_mask
        s = float(new.sum())
        if not math.isfinite(s) or s <= 0:
            new[:] = self._flat if self._tempo_mask is None else self._flat * self._tempo_mask
            s = float(new.sum())
        u = c.uniform_mix
        new *= (1.0 - u) / s
        if u > 0:
            new += self._uniform
        self.p, self._spare = new, old

    # -------------------------------------------------------------- read-outs
    def block_mass(self) -> np.ndarray:
        """Posterior mass per (meter, tempo) [shape=(len(meters), K)]."""
        return np.add.reduceat(self.p, self._block_starts).reshape(len(self.config.meters), -1)

    def meter_posterior(self) -> np.ndarray:
        return self.block_mass().sum(axis=1)

    def tempo_posterior(self) -> np.ndarray:
        return self.block_mass().sum(axis=0)

    def readout(self) -> tuple[float, float, float, float, np.ndarray]:
        """(beat phase, its resultant length, bar phase, bpm, meter posterior) of the posterior."""
        c0, s0, c1, s1 = (self._readout @ self.p).tolist()
        beat = (math.atan2(s0, c0) / (2 * math.pi)) % 1.0
        res = math.hypot(c0, s0)
        bar = (math.atan2(s1, c1) / (2 * math.pi)) % 1.0
        # the tempo: the interval posterior's peak, refined by a log-interval mean over ±2 intervals
        # (98 numbers: plain floats cost less than numpy calls here)
        rows = self.block_mass().tolist()
        tp = [sum(col) for col in zip(*rows)]
        k = max(range(len(tp)), key=tp.__getitem__)
        lo, hi = max(0, k - 2), min(len(tp), k + 3)
        w = tp[lo:hi]
        log_n = sum(a * b for a, b in zip(w, self._log_n_list[lo:hi])) / max(sum(w), 1e-12)
        bpm = 60.0 * MODEL_FPS * self.config.substeps / math.exp(log_n)
        return beat, res, bar, bpm, np.array([sum(r) for r in rows])


class BeatTracker:
    """Activation network + bar-pointer filter + the live read-outs; one :meth:`step` per frame."""

    def __init__(self, *, config: BeatConfig = BeatConfig(), net: BeatNet | None = None) -> None:
        self.config = config
        self.net = net if net is not None else BeatNet.load(config.net_path or BEATNET_PATH)
        self.filter = BarPointer(config=config, lag=self.net.lag)
        self._ev_alpha = 1.0 - float(np.exp(-1.0 / (config.evidence_tau_s * MODEL_FPS)))
        self._fixed_bpm: float | None = None
        self.reset()

    def reset(self) -> None:
        self.net.reset()
        self.filter.reset()
        if self._fixed_bpm is not None:
            self.filter.set_tempo_mask(self._fixed_bpm)
        self.frames = 0
        self.beat_phase = 0.0
        self.bar_phase = 0.0
        self.tempo_bpm = 120.0 if self._fixed_bpm is None else self._fixed_bpm
        self.beats_per_bar = 4
        self.confidence = 0.0
        self.beat_count = 0
        self.activation = 0.0
        self._ev = [0.0, 1e-3, 0.0, 1e-3]  # running means: act·pb, pb, act·(1-pb), 1-pb
        self._taps: list[float] = []

    def step(self, x: np.ndarray, *, activity: float) -> None:
        """One frame: network input ``x`` [shape=(N_BEAT_INPUTS,)] and the 0…1 music activity gate."""
        act = self.net.step(x)
        self.activation = float(act[1]) + float(act[2])
        f = self.filter
        f.step(act)
        beat, res, bar, bpm, meter_post = f.readout()
        if self._fixed_bpm is not None:
            bpm = self._fixed_bpm
        self.tempo_bpm = float(bpm)
        self.beats_per_bar = self.config.meters[int(meter_post.argmax())]
        # Displayed phase: advance at the tempo, pulled toward the posterior mean, never backward.
        adv = bpm / (60.0 * MODEL_FPS)
        err = (beat - (self.beat_phase + adv) + 0.5) % 1.0 - 0.5
        step = min(max(adv + self.config.phase_gain * err, 0.0), 0.5)
        new_phase = self.beat_phase + step
        if new_phase >= 1.0:
            self.beat_count += 1
        self.beat_phase = new_phase % 1.0
        self.bar_phase = bar
        # Confidence: phase concentration × how much more the network fires where the filter expected
        # a beat than elsewhere (on/off contrast) × how strongly it fires there × activity.
        pb = f.prior_beat
        a_ = self.activation
        al, ev = self._ev_alpha, self._ev
        for i, v in enumerate((a_ * pb, pb, a_ * (1.0 - pb), 1.0 - pb)):
            ev[i] += al * (v - ev[i])
        on = ev[0] / ev[1]
        off = ev[2] / ev[3]
        contrast = max(0.0, (on - off) / (on + off + 1e-6))
        self.confidence = min(1.0, max(0.0, res * contrast * min(1.0, on / self.config.evidence_full) * activity))
        self.frames += 1

    def fix_tempo(self, bpm: float | None) -> None:
        """Hold the tempo at ``bpm`` (the phase is still tracked); None releases it.

        Live, only :class:`dancepose.models.tempo.TempoAuthority` calls this (``--bpm``, Link).
        """
        if bpm is not None and not (self.config.min_bpm <= bpm <= self.config.max_bpm):
            raise ParameterError(f"tempo {bpm:g} BPM is outside {self.config.min_bpm:g}–{self.config.max_bpm:g}")
        self._fixed_bpm = None if bpm is None else float(bpm)
        self.filter.set_tempo_mask(self._fixed_bpm)
        if bpm is not None:
            self.tempo_bpm = float(bpm)

    def tap(self, time_s: float) -> None:
        """A tap at stream time ``time_s``; two or more set the tempo and put the beat on the taps."""
        now = self.frames / MODEL_FPS
        if self._taps and (time_s - self._taps[-1] > self.config.tap_timeout_s or time_s <= self._taps[-1]):
            self._taps = []
        self._taps.append(float(time_s))
        self._taps = self._taps[-8:]
        if len(self._taps) < 2:
            return
        period = float(np.median(np.diff(self._taps)))
        # A held tempo stays held (the taps place its beat); else the taps' tempo, folded into the range
        # (taps at 230 BPM are a 115-BPM beat tapped in eighths).
        bpm = self._fixed_bpm or float(np.clip(fold_bpm(60.0 / period) or 120.0, self.config.min_bpm,
                                               self.config.max_bpm))
        period = 60.0 / bpm
        since = (now - self._taps[-1]) / period  # beats since the last tap
        self.filter.set_phase(bpm=bpm, beats_since=since - self.net.lag * bpm / (60.0 * MODEL_FPS))
        # The tap moves the beat, not the count: a tap just ahead of the analysed audio (since < 0) puts the
        # phase back before a beat the count may already have passed; keep the position continuous.
        phase = since % 1.0
        self.beat_count = round(self.beat_count + self.beat_phase - phase)
        self.beat_phase = phase
        if self._fixed_bpm is None:
            self.tempo_bpm = bpm
