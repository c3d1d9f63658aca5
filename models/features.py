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
* ``beat_sin``, ``beat_cos`` — the beat phase of an online beat tracker (phase 0 = on the beat): the
  dancer can anticipate the next beat from it;
* ``tempo`` — log2(BPM / 120) of the online tempo estimate;
* ``beat_conf`` — 0…1 confidence of the tempo estimate (autocorrelation peak height);
* ``activity`` — 0…1, smoothed "music is playing" gate from the level (silence → 0).

The online beat tracker: every frame the last ``TEMPO_WINDOW_S`` seconds of the onset envelope are
autocorrelated; the strongest lag between 60 and 200 BPM (log-normal prior centred on 120 BPM, like
librosa's ``tempo``) refined by parabolic interpolation gives the period; a comb over the recent
envelope gives the phase of the last beat, and a phase-locked oscillator smooths both.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .clock import HOP_LENGTH, MODEL_FPS, N_FFT, N_MELS, SAMPLE_RATE
from .errors import ParameterError

FEATURE_VERSION = 1

FEATURE_NAMES: tuple[str, ...] = tuple(f"mel_{i:02d}" for i in range(N_MELS)) + (
    "onset", "rms_db", "beat_sin", "beat_cos", "tempo", "beat_conf", "activity",
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

#: The mel filterbank, ``librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=MEL_FMIN,
#: fmax=MEL_FMAX)``, stored beside this module so live start-up does not pay librosa's import (≈1 s).
#: ``tests/test_features.py`` checks it against librosa.
MEL_FMIN, MEL_FMAX = 30.0, 8000.0
MELBANK_PATH = Path(__file__).with_name("melbank.npy")


@dataclass(frozen=True)
class FeatureConfig:
    """Parameters of the feature extractor (defaults are what the models are trained with)."""

    #: Seconds of onset envelope the tempo estimate looks at.
    tempo_window_s: float = 6.0
    #: Tempo search range (BPM) and prior (log-normal around ``tempo_prior_bpm``, ``tempo_prior_octaves`` wide).
    min_bpm: float = 60.0
    max_bpm: float = 200.0
    tempo_prior_bpm: float = 120.0
    tempo_prior_octaves: float = 1.0
    #: Phase-locked oscillator gains: how strongly the comb phase / tempo estimate pull the oscillator.
    phase_gain: float = 0.15
    period_gain: float = 0.1
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


class FeatureStream:
    """Causal streaming music features.

    Feed mono float32 audio at ``SAMPLE_RATE`` in chunks of any size with :meth:`process`; it returns
    the feature frames completed by that chunk.  Frame ``t`` is emitted as soon as ``t * HOP_LENGTH``
    samples have arrived and uses only samples before that point.

    Read-outs for displays: ``tempo_bpm``, ``beat_phase`` (0…1, 0 = beat), ``beat_confidence``,
    ``level_db`` (dBFS of the last frame), ``frames_done``.
    """

    def __init__(self, *, config: FeatureConfig = FeatureConfig()) -> None:
        self.config = config
        self._melbank = load_melbank()
        self._window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)  # periodic Hann, like librosa
        c = config
        self._hist_len = int(round(c.tempo_window_s * MODEL_FPS))
        self._min_lag = int(np.floor(MODEL_FPS * 60.0 / c.max_bpm))
        self._max_lag = int(np.ceil(MODEL_FPS * 60.0 / c.min_bpm))
        lags = np.arange(self._max_lag + 2, dtype=np.float64)
        with np.errstate(divide="ignore"):
            bpm = 60.0 * MODEL_FPS / lags
            self._prior = np.exp(-0.5 * (np.log2(bpm / c.tempo_prior_bpm) / c.tempo_prior_octaves) ** 2)
        self._prior[: self._min_lag] = 0.0
        self._agc_decay = c.agc_decay_db_per_s / MODEL_FPS
        self._act_alpha = 1.0 - np.exp(-1.0 / (c.activity_tau_s * MODEL_FPS))
        self._hold_frames = int(round(c.activity_hold_s * MODEL_FPS))
        self._onorm_alpha = 1.0 - np.exp(-1.0 / (c.onset_norm_tau_s * MODEL_FPS))
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget all audio: the next sample is time 0."""
        self._buf = np.zeros(N_FFT + HOP_LENGTH, dtype=np.float32)  # last N_FFT samples + partial hop
        self._buf_fill = N_FFT  # zeros before the start count as history
        self._n_samples = 0
        self.frames_done = 0
        self._prev_mel_db: np.ndarray | None = None
        self._agc_ref = -30.0
        self._onset_ms = 1e-2
        self._onset_hist = np.zeros(self._hist_len, dtype=np.float64)
        self._n_onsets = 0
        self._period = 60.0 * MODEL_FPS / self.config.tempo_prior_bpm
        self._phase = 0.0
        self.beat_count = 0
        self._fixed_period: float | None = None
        self._taps: list[float] = []
        self.beat_confidence = 0.0
        self._activity = 0.0
        self._hold = 0
        self.level_db = -120.0

    @property
    def tempo_bpm(self) -> float:
        return 60.0 * MODEL_FPS / self._period

    @property
    def beat_phase(self) -> float:
        return self._phase % 1.0

    @property
    def beats_per_bar(self) -> int:
        """Beats per bar (this tracker assumes 4)."""
        return 4

    @property
    def bar_phase(self) -> float:
        """0…1 through the bar, 0 on the downbeat (counted from the first beat)."""
        return ((self.beat_count % self.beats_per_bar) + self.beat_phase) / self.beats_per_bar

    # ------------------------------------------------------------------ live controls
    def fix_tempo(self, bpm: float | None) -> None:
        """Hold the tempo at ``bpm`` (the phase still follows the music); None releases it."""
        if bpm is None:
            self._fixed_period = None
            return
        if not (20.0 <= float(bpm) <= 400.0):
            raise ParameterError(f"tempo must be between 20 and 400 BPM, got {bpm}")
        self._fixed_period = 60.0 * MODEL_FPS / float(bpm)
        self._period = self._fixed_period

    def tap(self, time_s: float | None = None) -> None:
        """A tap (on the beat) at stream time ``time_s`` (default: now).

        Two or more taps less than 2 s apart set the tempo from their intervals and put the beat on them.
        """
        now = max(self.frames_done - 1, 0) / MODEL_FPS  # time of the newest feature frame
        t = now if time_s is None else float(time_s)
        if self._taps and not (0.1 < t - self._taps[-1] < 2.0):
            self._taps = []
        self._taps = (self._taps + [t])[-8:]
        if len(self._taps) < 2:
            return
        interval = float(np.median(np.diff(self._taps)))
        self._period = interval * MODEL_FPS
        if self._fixed_period is not None:
            self._fixed_period = self._period
        self._phase = ((now - self._taps[-1]) * MODEL_FPS / self._period) % 1.0
        self.beat_confidence = max(self.beat_confidence, 0.5)

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
        last = total // HOP_LENGTH  # inclusive: frame `last` is ready when total >= last*HOP
        n_new = last - first + 1
        # History: the samples from (first*HOP - N_FFT) on, then the chunk.
        hist = self._buf[: self._buf_fill]
        audio = np.concatenate([hist, y]) if len(y) else hist
        # audio[0] is the sample at absolute index first*HOP - N_FFT (history is kept that way).
        if n_new <= 0:
            self._store(audio, total)
            return np.zeros((0, N_FEATURES), dtype=np.float32)
        frames = np.lib.stride_tricks.sliding_window_view(audio, N_FFT)[::HOP_LENGTH][:n_new]
        spec = np.fft.rfft(frames * self._window, axis=1)
        power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
        mel = power @ self._melbank.T  # (n_new, N_MELS)
        ms = np.mean(frames.astype(np.float64) ** 2, axis=1)
        out = np.empty((n_new, N_FEATURES), dtype=np.float32)
        for i in range(n_new):
            out[i] = self._frame(mel[i], ms[i])
        self.frames_done = last + 1
        self._store(audio, total)
        return out

    def _store(self, audio: np.ndarray, total: int) -> None:
        """Keep the samples from (frames_done*HOP - N_FFT) to the end for the next call."""
        keep_from_abs = self.frames_done * HOP_LENGTH - N_FFT
        audio_start_abs = total - len(audio)
        tail = audio[keep_from_abs - audio_start_abs:]
        if len(tail) > len(self._buf):
            self._buf = np.zeros(len(tail), dtype=np.float32)
        self._buf[: len(tail)] = tail
        self._buf_fill = len(tail)
        self._n_samples = total

    def _frame(self, mel: np.ndarray, mean_square: float) -> np.ndarray:
        c = self.config
        mel_db = 10.0 * np.log10(mel.astype(np.float64) + 1e-10)
        level = 10.0 * np.log10(mean_square + 1e-12)
        self.level_db = level
        peak = float(mel_db.max())
        self._agc_ref = max(self._agc_ref - self._agc_decay, peak)
        rel = np.maximum(mel_db - self._agc_ref, -80.0)
        if self._prev_mel_db is None:
            flux = 0.0
        else:
            flux = float(np.mean(np.maximum(0.0, np.maximum(mel_db, self._agc_ref - 80.0)
                                            - np.maximum(self._prev_mel_db, self._agc_ref - 80.0))))
        self._prev_mel_db = mel_db
        gate = 1.0 / (1.0 + np.exp(-(level - c.gate_dbfs) / c.gate_width_db))
        flux *= gate
        self._onset_ms += self._onorm_alpha * (flux * flux - self._onset_ms)
        onset = flux / np.sqrt(self._onset_ms + 1e-6)
        self._hold = self._hold_frames if gate > 0.5 else max(self._hold - 1, 0)
        self._activity += self._act_alpha * ((1.0 if self._hold > 0 else gate) - self._activity)
        self._beat_update(onset)
        ph = 2.0 * np.pi * self._phase
        f = np.empty(N_FEATURES, dtype=np.float64)
        f[COL_MEL] = rel / 20.0
        f[COL_ONSET] = min(onset, 10.0)
        f[COL_RMS_DB] = max(level, -120.0) / 60.0
        f[COL_BEAT_SIN] = np.sin(ph)
        f[COL_BEAT_COS] = np.cos(ph)
        f[COL_TEMPO] = np.log2(self.tempo_bpm / c.tempo_prior_bpm)
        f[COL_BEAT_CONF] = self.beat_confidence
        f[COL_ACTIVITY] = self._activity
        return f

    def _beat_update(self, onset: float) -> None:
        c = self.config
        h = self._onset_hist
        h[:-1] = h[1:]
        h[-1] = onset
        self._n_onsets += 1
        # Advance the oscillator one frame.
        self._phase += 1.0 / self._period
        if self._phase >= 1.0:
            self._phase -= 1.0
            self.beat_count += 1
        n_valid = min(self._n_onsets, len(h))
        if n_valid < 2 * self._max_lag:
            return
        x = h[-n_valid:] - h[-n_valid:].mean()
        energy = float(np.dot(x, x))
        if energy < 1e-9:
            self.beat_confidence *= 0.98
            return
        lags = np.arange(self._min_lag, self._max_lag + 2)
        ac = np.array([np.dot(x[lag:], x[:-lag]) for lag in lags]) / energy
        weighted = ac[:-1] * self._prior[lags[:-1]]
        k = int(np.argmax(weighted))
        lag = float(lags[k])
        if 0 < k < len(weighted) - 1:  # parabolic refinement on the raw ACF
            a, b, d = ac[k - 1], ac[k], ac[k + 1]
            den = a - 2 * b + d
            if den < 0:
                lag += float(np.clip(0.5 * (a - d) / den, -0.5, 0.5))
        conf = float(np.clip(ac[k], 0.0, 1.0))
        self.beat_confidence += 0.1 * (conf - self.beat_confidence)
        # Tempo: pull the oscillator period toward the estimate, more when confident.
        self._period += c.period_gain * conf * (lag - self._period)
        if self._fixed_period is not None:
            self._period = self._fixed_period
        # Phase: comb over the recent envelope — where did the last beat fall?
        p = self._period
        n_beats = int((n_valid - 1) // p)
        if n_beats < 2:
            return
        offsets = np.arange(0.0, p, 0.25)  # candidate "frames since last beat"
        idx = (n_valid - 1) - offsets[:, None] - p * np.arange(n_beats)[None, :]
        env = np.interp(idx, np.arange(n_valid), h[-n_valid:])
        score = env.sum(axis=1)
        best = offsets[int(np.argmax(score))]
        target = best / p  # phase now, if the last beat was `best` frames ago
        err = ((target - self._phase + 0.5) % 1.0) - 0.5
        self._phase += c.phase_gain * conf * err
        self._phase %= 1.0


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
