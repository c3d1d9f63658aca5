"""The one music-feature extractor of dancepose — causal, streaming, identical offline and live.

Feature frame ``t`` belongs to time ``t / MODEL_FPS`` and is computed from the ``N_FFT`` samples *before*
that instant, ``y[t*HOP - N_FFT : t*HOP]`` (zeros before the start): no future audio is ever used, which
is what lets the live dancer run on a microphone.  :class:`FeatureStream` consumes chunks of any size;
:func:`music_features` is the same stream fed the whole signal at once, so chunked and whole-song
features are equal by construction (and tested to be).

Columns (``FEATURE_NAMES``):

* ``mel_00 … mel_23`` — log-mel band energies (dB) relative to a slow automatic-gain reference (the
  running peak level, decaying 1 dB/s), so songs mastered at different levels look alike;
* ``onset`` — spectral flux (mean positive log-mel increase), divided by its running RMS;
* ``rms_db`` — absolute frame level in dBFS (scaled by 1/60);
* ``beat_sin``, ``beat_cos`` — the beat phase of the causal beat tracker (phase 0 = on the beat; a
  prediction: it reaches 0 when the beat sounds, not when it has been heard);
* ``tempo`` — log2(BPM / 120) of the tracked tempo;
* ``beat_conf`` — 0…1 confidence of the tracker (concentration of its phase posterior × recent beat
  evidence × activity): low for silence, speech, noise, a held chord;
* ``activity`` — 0…1, smoothed "music is playing" gate from the level (silence → 0);
* ``bar_sin``, ``bar_cos`` — the bar phase (0 = on the downbeat);
* ``meter`` — beats per bar − 3 (0: 3/4, 1: 4/4);
* ``beat_act`` — the beat network's beat + downbeat probability of this frame (heard, not predicted).

The tracker (:mod:`dancepose.models.beat`): a small recurrent network gives a beat / downbeat
activation per frame, and the forward algorithm of a bar-pointer state-space model (tempo × position in
the bar × meter 3/4) turns it into phases, tempo, meter and confidence.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .clock import HOP_LENGTH, MODEL_FPS, N_FFT, N_MELS, SAMPLE_RATE
from .beat import DIFF_SCALE_DB, FLOOR_DB, N_BEAT_INPUTS, REL_SCALE_DB, BeatConfig, BeatTracker
from .errors import ParameterError

#: 2: learned beat activation + bar-pointer filter; bar phase, meter and beat activation appended.
FEATURE_VERSION = 2

FEATURE_NAMES: tuple[str, ...] = tuple(f"mel_{i:02d}" for i in range(N_MELS)) + (
    "onset", "rms_db", "beat_sin", "beat_cos", "tempo", "beat_conf", "activity",
    "bar_sin", "bar_cos", "meter", "beat_act",
)
N_FEATURES: int = len(FEATURE_NAMES)
COL_MEL = slice(0, N_MELS)
COL_ONSET = N_MELS
COL_RMS_DB = N_MELS + 1
COL_BEAT_SIN = N_MELS + 2
COL_BEAT_COS = N_MELS + 3
COL_TEMPO = N_MELS + 4
COL_BEAT_CONF = N_MELS + 5
COL_ACTIVITY = N_MELS + 6
COL_BAR_SIN = N_MELS + 7
COL_BAR_COS = N_MELS + 8
COL_METER = N_MELS + 9
COL_BEAT_ACT = N_MELS + 10
#: Tempo of ``tempo`` = 0 (the column is log2(BPM / TEMPO_REF_BPM)).
TEMPO_REF_BPM: float = 120.0

#: The mel filterbank, ``librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=MEL_FMIN,
#: fmax=MEL_FMAX)``, stored beside this module so live start-up does not pay librosa's import (≈1 s).
#: ``tests/test_features.py`` checks it against librosa.
MEL_FMIN, MEL_FMAX = 30.0, 8000.0
MELBANK_PATH = Path(__file__).with_name("melbank.npy")


@dataclass(frozen=True)
class FeatureConfig:
    """Parameters of the feature extractor (defaults are what the models are trained with)."""

    #: The beat / bar / tempo tracker.
    beat: BeatConfig = BeatConfig()
    #: Automatic gain: the reference level decays this many dB per second.
    agc_decay_db_per_s: float = 1.0
    #: Level gate (dBFS) for ``activity`` and its smoothing time constant (s).
    gate_dbfs: float = -50.0
    gate_width_db: float = 4.0
    activity_tau_s: float = 0.15
    #: Sound keeps ``activity`` up this long (s), so the gaps between the hits of sparse music do not
    #: count as silence.
    activity_hold_s: float = 0.5
    #: Time constant (s) of the running onset RMS used to normalise the onset strength.
    onset_norm_tau_s: float = 3.0


def beat_phase(*, features: np.ndarray) -> np.ndarray:
    """The beat phase the features carry (0 … 1, 0 on the beat), decoded from their sin / cos columns.

    Parameters
    ----------
    features : np.ndarray [shape=(..., N_FEATURES)]

    Returns
    -------
    np.ndarray [shape=(...)]
    """
    return _phase(features, COL_BEAT_SIN, COL_BEAT_COS)


def bar_phase(*, features: np.ndarray) -> np.ndarray:
    """The bar phase the features carry (0 … 1, 0 on the downbeat); shapes as :func:`beat_phase`."""
    return _phase(features, COL_BAR_SIN, COL_BAR_COS)


def row_beat_phase(row: np.ndarray) -> float:
    """:func:`beat_phase` of one feature row [shape=(N_FEATURES,)] on plain floats (the live step's
    per-frame path, where a handful of numpy-scalar operations cost more than the arithmetic)."""
    return math.atan2(float(row[COL_BEAT_SIN]), float(row[COL_BEAT_COS])) / (2.0 * math.pi) % 1.0


def _phase(features: np.ndarray, col_sin: int, col_cos: int) -> np.ndarray:
    f = np.asarray(features)
    return np.mod(np.arctan2(f[..., col_sin], f[..., col_cos]) / (2 * np.pi), 1.0)


def load_melbank() -> np.ndarray:
    """The mel filterbank [shape=(N_MELS, 1 + N_FFT // 2)], float32."""
    try:
        bank = np.load(MELBANK_PATH, allow_pickle=False)
    except FileNotFoundError:  # only in a broken checkout; librosa recreates it
        bank = compute_melbank()
    if bank.shape != (N_MELS, 1 + N_FFT // 2):
        raise ParameterError(f"{MELBANK_PATH} has shape {bank.shape}; rebuild it with compute_melbank()")
    return bank.astype(np.float32)


def compute_melbank() -> np.ndarray:
    """Build the mel filterbank with librosa (slow import; used to create ``melbank.npy``)."""
    import librosa

    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=MEL_FMIN,
                               fmax=MEL_FMAX).astype(np.float32)


def mel_db_frames(frames: np.ndarray, *, window: np.ndarray, melbank: np.ndarray) -> np.ndarray:
    """Log-mel power (dB) of audio frames [shape=(T, N_FFT)] → [shape=(T, N_MELS)] float64."""
    spec = np.fft.rfft(frames * window, axis=1)
    power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
    return 10.0 * np.log10((power @ melbank.T).astype(np.float64) + 1e-10)


class FeatureStream:
    """Causal streaming music features.

    Feed mono float32 audio at ``SAMPLE_RATE`` in chunks of any size with :meth:`process`; it returns
    the feature frames completed by that chunk.  Frame ``t`` is emitted as soon as ``t * HOP_LENGTH``
    samples have arrived and uses only samples before that point.

    Read-outs for displays: ``tempo_bpm``, ``beat_phase`` (0…1, 0 = beat), ``bar_phase`` (0 =
    downbeat), ``beats_per_bar``, ``beat_confidence``, ``beat_count``, ``level_db`` (dBFS of the last
    frame), ``frames_done``.  Live control: :meth:`fix_tempo`, :meth:`tap`.
    """

    #: Automatic-gain reference (dB) before the first frame.
    AGC_INIT_DB: float = -30.0

    def __init__(self, *, config: FeatureConfig = FeatureConfig()) -> None:
        self.config = config
        self._melbank = load_melbank()
        self._window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)  # periodic Hann, like librosa
        c = config
        self._beat = BeatTracker(config=c.beat)
        self._beat_in = np.zeros(N_BEAT_INPUTS, dtype=np.float32)
        # Per-frame work (the live path allocates next to nothing and makes few numpy calls: after the
        # live loop's sleep each call's code runs cold): the mel filterbank cut to the FFT bins it uses
        # (the rest are zero), with each row twice — for the squared real and imaginary parts of the
        # spectrum, interleaved — so that power and mel bands are one square and one product.
        used = np.flatnonzero(self._melbank.any(axis=0))
        lo, hi = int(used[0]), int(used[-1]) + 1
        self._ri = slice(2 * lo, 2 * hi)
        self._melbank_ri = np.ascontiguousarray(np.repeat(self._melbank[:, lo:hi].T, 2, axis=0))
        self._wbuf = np.empty(N_FFT, dtype=np.float32)
        self._sq = np.empty(2 * (hi - lo), dtype=np.float32)
        self._mel32 = np.empty(N_MELS, dtype=np.float32)
        self._agc_decay = c.agc_decay_db_per_s / MODEL_FPS
        self._act_alpha = 1.0 - np.exp(-1.0 / (c.activity_tau_s * MODEL_FPS))
        self._hold_frames = int(round(c.activity_hold_s * MODEL_FPS))
        self._onorm_alpha = 1.0 - np.exp(-1.0 / (c.onset_norm_tau_s * MODEL_FPS))
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget all audio: the next sample is time 0."""
        # last N_FFT samples + partial hop, and room for a few display frames' audio after them
        self._buf = np.zeros(N_FFT + 4 * HOP_LENGTH, dtype=np.float32)
        self._buf_fill = N_FFT  # zeros before the start count as history
        self._n_samples = 0
        self.frames_done = 0
        self._prev_mel_db: list[float] | None = None
        self._agc_ref = self.AGC_INIT_DB
        self._onset_ms = 1e-2
        self._beat.reset()
        self._activity = 0.0
        self._hold = 0
        self.level_db = -120.0

    @property
    def tempo_bpm(self) -> float:
        return self._beat.tempo_bpm

    @property
    def beat_phase(self) -> float:
        return self._beat.beat_phase

    @property
    def bar_phase(self) -> float:
        return self._beat.bar_phase

    @property
    def beats_per_bar(self) -> int:
        return self._beat.beats_per_bar

    @property
    def beat_confidence(self) -> float:
        return self._beat.confidence

    @property
    def beat_count(self) -> int:
        return self._beat.beat_count

    def fix_tempo(self, bpm: float | None) -> None:
        """Hold the tempo at ``bpm`` (the beat phase is still tracked); ``None`` releases it."""
        self._beat.fix_tempo(bpm)

    def tap(self, time_s: float | None = None) -> None:
        """A tap at stream time ``time_s`` (default: now, ``frames_done / MODEL_FPS``).  Two or more taps
        set the tempo from their intervals and put the beat on them."""
        self._beat.tap(self.frames_done / MODEL_FPS if time_s is None else float(time_s))

    # ------------------------------------------------------------------ processing
    def process(self, y: np.ndarray) -> np.ndarray:
        """Consume audio and return the newly completed feature frames.

        Parameters
        ----------
        y : np.ndarray [shape=(n,)]
            Mono audio at ``SAMPLE_RATE``, float in [-1, 1].  ``n`` may be 0.

        Returns
        -------
        features : np.ndarray [shape=(m, N_FEATURES)] float32, ``m`` ≥ 0
        """
        y = np.asarray(y, dtype=np.float32)
        if y.ndim != 1:
            raise ParameterError(f"FeatureStream.process expects mono audio of shape (n,), got {y.shape}")
        # Frame t needs samples [t*HOP - N_FFT, t*HOP).  Frames ready after this chunk:
        total = self._n_samples + len(y)
        first = self.frames_done
        n_new = total // HOP_LENGTH - first + 1  # frame `last` is ready when total >= last*HOP
        # History (the samples from first*HOP - N_FFT on), then the chunk: in place when it fits (live).
        fill, buf = self._buf_fill, self._buf
        if fill + len(y) <= len(buf):
            buf[fill:fill + len(y)] = y
            audio = buf[:fill + len(y)]
        else:
            audio = np.concatenate([buf[:fill], y])
        out = np.empty((max(n_new, 0), N_FEATURES), dtype=np.float32)
        for i in range(n_new):
            out[i] = self._frame(audio[i * HOP_LENGTH:i * HOP_LENGTH + N_FFT])
        self.frames_done = first + max(n_new, 0)
        self._store(audio, total)
        return out

    def _store(self, audio: np.ndarray, total: int) -> None:
        """Keep the samples from (frames_done*HOP - N_FFT) to the end for the next call."""
        tail = audio[self.frames_done * HOP_LENGTH - N_FFT - (total - len(audio)):]
        if len(tail) > len(self._buf):
            self._buf = np.zeros(len(tail), dtype=np.float32)
        self._buf[: len(tail)] = tail  # (overlapping in place: numpy copies safely)
        self._buf_fill = len(tail)
        self._n_samples = total

    def _mel_db(self, frame: np.ndarray) -> tuple[list[float], float]:
        """Log-mel power (dB) of one frame [shape=(N_FFT,)] and its mean square."""
        w = self._wbuf
        np.multiply(frame, self._window, out=w)
        spec = np.fft.rfft(w).view(np.float64)  # re, im interleaved
        np.square(spec[self._ri], out=self._sq)
        np.dot(self._sq, self._melbank_ri, out=self._mel32)
        mel_db = [10.0 * math.log10(v + 1e-10) for v in self._mel32.tolist()]
        return mel_db, float(np.dot(frame, frame)) / N_FFT

    def _frame(self, frame: np.ndarray) -> list[float]:
        """One feature row (N_FEATURES values) from the frame's audio [shape=(N_FFT,)].

        The band arithmetic runs on 24 plain floats: cheaper than a dozen numpy calls on 24-element
        arrays, which is what the live loop pays for most (cold code after every frame's sleep)."""
        c = self.config
        mel_db, mean_square = self._mel_db(frame)
        level = 10.0 * math.log10(mean_square + 1e-12)
        self.level_db = level
        self._agc_ref = ref = max(self._agc_ref - self._agc_decay, max(mel_db))
        # Bands relative to the gain reference, floored FLOOR_DB below it; their positive differences
        # from the previous frame (on the same floor) are the beat network's input and the onset flux.
        floor = ref - FLOOR_DB
        cur = [v if v > floor else floor for v in mel_db]
        rel = [(v - ref) / REL_SCALE_DB for v in cur]  # = max(mel - ref, -80) / 20: also the mel columns
        prev = self._prev_mel_db
        if prev is None:
            flux, diff = 0.0, [0.0] * N_MELS
        else:
            d = [v - (p if p > floor else floor) for v, p in zip(cur, prev)]
            d = [v if v > 0.0 else 0.0 for v in d]
            flux = sum(d) / N_MELS
            diff = [v / DIFF_SCALE_DB for v in d]
        self._prev_mel_db = mel_db
        x = self._beat_in
        x[:] = rel + diff
        gate = 1.0 / (1.0 + math.exp(-(level - c.gate_dbfs) / c.gate_width_db))
        flux *= gate
        self._onset_ms += self._onorm_alpha * (flux * flux - self._onset_ms)
        onset = flux / math.sqrt(self._onset_ms + 1e-6)
        self._hold = self._hold_frames if gate > 0.5 else max(self._hold - 1, 0)
        self._activity += self._act_alpha * ((1.0 if self._hold > 0 else gate) - self._activity)
        bt = self._beat
        bt.step(x, activity=self._activity)
        ph = 2.0 * math.pi * bt.beat_phase
        bar = 2.0 * math.pi * bt.bar_phase
        return rel + [min(onset, 10.0), max(level, -120.0) / 60.0, math.sin(ph), math.cos(ph),
                      math.log2(bt.tempo_bpm / TEMPO_REF_BPM), bt.confidence, self._activity,
                      math.sin(bar), math.cos(bar), bt.beats_per_bar - 3, bt.activation]


def music_features(*, y: np.ndarray, config: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """Features of a whole signal: exactly what :class:`FeatureStream` yields for it.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono audio at ``SAMPLE_RATE``.

    Returns
    -------
    features : np.ndarray [shape=(n // HOP_LENGTH + 1, N_FEATURES)] float32
        Row ``t`` describes the audio before time ``t / MODEL_FPS``.
    """
    return FeatureStream(config=config).process(y)
