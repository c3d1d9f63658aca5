"""The beat tracker offline: reference clips, training of the beat network, per-clip evaluation.

* :func:`reference_clips` — the songs / soundtracks with reference beats (``<shared>/beats/*.beats``,
  ``time_s  beat_in_bar``, whole-file times) and their audio;
* :func:`train_beatnet` — trains :class:`dancepose.models.beat.BeatNet` in Keras on those clips (split
  by song; tempo-stretch by sampling the audio at a stretched hop (the pitch stays), gain with
  clipping and pink-noise augmentation), seeded, and writes the ``.npz`` the numpy tracker loads;
* :func:`evaluate_clip` — mir_eval beat F-measure / CMLt / AMLt (70 ms, first 5 s trimmed), tempo,
  meter and downbeat F of dancepose's causal tracker (beats where the feature phase wraps) and of
  librosa's offline ``beat_track`` on the same audio.

Reproduce the shipped network (trained on the 29 clips outside fold 0, so that 8 songs/soundtracks
stay unseen for an honest figure): ``python -m dancepose.offline.beats kfold ../shared/data -o DIR
--folds 0`` → ``DIR/fold0.npz`` = ``models/beatnet.npz`` (all folds: ``... kfold ../shared/data -o DIR``;
every clip: ``... train ../shared/data -o FILE``).
"""
from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from dancepose.models.audio import load_audio
from dancepose.models.beat import BEATNET_VERSION, N_BEAT_INPUTS, BeatNet, beat_inputs
from dancepose.models.clock import HOP_LENGTH, MODEL_FPS, N_FFT, SAMPLE_RATE
from dancepose.models.errors import InputError
from dancepose.models.features import (COL_METER, COL_TEMPO, FeatureConfig, FeatureStream, bar_phase, beat_phase,
                                       load_melbank, mel_db_frames)

#: Evaluation: beats before this time are ignored (mir_eval's default trim), tolerance window (s).
TRIM_S: float = 5.0
F_WINDOW_S: float = 0.07
TEMPO_TOLERANCE: float = 0.04


@dataclass(frozen=True)
class Clip:
    name: str
    audio: Path
    beats: Path

    def reference(self) -> np.ndarray:
        """[shape=(n, 2)]: beat time (s), beat in bar (1 = downbeat)."""
        return read_beats(self.beats)


def read_beats(path: str | os.PathLike) -> np.ndarray:
    """The one reader of ``.beats`` files: a line per beat, ``time_s  beat_in_bar`` (``#`` comments).

    Returns
    -------
    np.ndarray [shape=(n, 2)] float64, n ≥ 2, times increasing, beat in bar ≥ 1

    Raises
    ------
    InputError
        Unreadable, binary, empty, not two numeric columns, fewer than two beats, times not finite or not
        increasing, beat-in-bar numbers below 1 — one line naming the file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"malformed beats file {path}: not text (binary data?); want lines of "
                         "`time_s beat_in_bar`") from None
    except OSError as exc:
        raise InputError(f"cannot read beats file {path}: {exc.strerror or exc}") from None
    rows = [(i, ln.split()) for i, ln in enumerate(text.splitlines(), 1)
            if ln.strip() and not ln.lstrip().startswith("#")]
    if not rows:
        raise InputError(f"malformed beats file {path}: empty; want lines of `time_s beat_in_bar`")
    for i, cols in rows:
        if len(cols) != 2:
            raise InputError(f"malformed beats file {path}: line {i} has {len(cols)} column(s), want "
                             "`time_s beat_in_bar`")
    try:
        b = np.array([cols for _, cols in rows], dtype=np.float64)
    except ValueError:
        raise InputError(f"malformed beats file {path}: not numbers; want lines of `time_s beat_in_bar`"
                         ) from None
    if len(b) < 2 or not np.isfinite(b).all() or (np.diff(b[:, 0]) <= 0).any() or (b[:, 1] < 1).any():
        raise InputError(f"malformed beats file {path}: want at least two beats, finite increasing times "
                         "and beat-in-bar numbers from 1")
    return b


def reference_clips(shared: str | os.PathLike) -> list[Clip]:
    """All clips of ``shared/beats`` whose audio is present (songs first, sorted by name)."""
    shared = Path(shared)
    beat_dir = shared / "beats"
    if not beat_dir.is_dir():
        raise InputError(f"no reference beats folder {beat_dir}")
    clips = []
    for f in sorted(beat_dir.glob("*.beats")):
        name = f.stem
        for cand in (shared / "dance_with_melody" / name / "audio.mp3", shared / "dance_videos" / f"{name}.mp4"):
            if cand.is_file():
                clips.append(Clip(name, cand, f))
                break
    if not clips:
        raise InputError(f"no clips with audio under {shared}")
    return clips


def shared_root(path: str | os.PathLike | None) -> Path:
    """The shared data folder holding ``beats/`` from ``path`` (itself or its parent; None: ../shared/data)."""
    if path is None:
        path = Path(__file__).resolve().parents[2] / "shared" / "data"
    path = Path(path)
    for cand in (path, path.parent):
        if (cand / "beats").is_dir():
            return cand
    raise InputError(f"no beats/ folder with reference beats in {path} or its parent")


def folds_by_song(clips: Sequence[Clip], *, k: int, seed: int = 0) -> list[int]:
    """Fold index of each clip: songs shuffled (seeded) then dealt round-robin within each style, so
    every fold holds waltzes, Latin songs and a share of the soundtracks."""
    rng = np.random.default_rng(seed)
    style = [c.name.split("_")[1] if c.name.startswith("DANCE_") else "video" for c in clips]
    fold = [0] * len(clips)
    j = 0
    for s in sorted(set(style)):
        idx = [i for i, st in enumerate(style) if st == s]
        for i in rng.permutation(idx):
            fold[i] = j % k
            j += 1
    return fold


# ------------------------------------------------------------------------------------------- audio
def pink_noise(n: int, *, rng: np.random.Generator) -> np.ndarray:
    """Pink (1/f power) noise, unit RMS, [shape=(n,)] float32."""
    from scipy.fft import irfft, next_fast_len, rfft

    m = next_fast_len(max(n, 2), real=True)
    spec = rfft(rng.standard_normal(m))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    x = irfft(spec / np.sqrt(f), m)[:n]
    return (x / (np.sqrt(np.mean(x ** 2)) + 1e-12)).astype(np.float32)


def add_noise(y: np.ndarray, *, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``y`` plus pink noise whose RMS is ``snr_db`` below the RMS of the whole of ``y``."""
    y = np.asarray(y, np.float32)
    level = float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
    return y + pink_noise(len(y), rng=rng) * np.float32(level * 10.0 ** (-snr_db / 20.0))


def stretched_inputs(y: np.ndarray, *, rate: float = 1.0,
                     config: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """Beat-network inputs of ``y`` played ``rate`` times faster (hop ``HOP_LENGTH * rate`` samples).

    ``rate = 1`` gives exactly the inputs :class:`FeatureStream` computes.  [shape=(T, N_BEAT_INPUTS)]
    """
    y = np.asarray(y, np.float32)
    n_frames = int(len(y) / (HOP_LENGTH * rate)) + 1
    ends = np.round(np.arange(n_frames) * HOP_LENGTH * rate).astype(np.int64)
    ends = ends[ends <= len(y)]
    padded = np.concatenate([np.zeros(N_FFT, np.float32), y])
    bank, window = load_melbank(), np.hanning(N_FFT + 1)[:-1].astype(np.float32)
    out = []
    for s in range(0, len(ends), 2048):
        e = ends[s:s + 2048]
        frames = padded[e[:, None] + np.arange(N_FFT)[None, :]]
        out.append(mel_db_frames(frames, window=window, melbank=bank))
    mel_db = np.concatenate(out)
    return beat_inputs(mel_db=mel_db, agc_decay=config.agc_decay_db_per_s / MODEL_FPS,
                       agc_init=FeatureStream.AGC_INIT_DB)


def beat_targets(ref: np.ndarray, *, n_frames: int, rate: float = 1.0, lag: int) -> np.ndarray:
    """Soft targets [shape=(n_frames, 3)] (none, beat, downbeat): each beat at frame position
    ``time / rate * MODEL_FPS + lag`` is split between the two frames around it."""
    y = np.zeros((n_frames, 3), np.float32)
    for t, b in ref:
        x = t / rate * MODEL_FPS + lag
        i = int(math.floor(x))
        w = x - i
        cls = 2 if int(b) == 1 else 1
        for j, wt in ((i, 1.0 - w), (i + 1, w)):
            if 0 <= j < n_frames:
                y[j, cls] += wt
    y[:, 1:] = np.minimum(y[:, 1:], 1.0)
    y[:, 0] = np.maximum(0.0, 1.0 - y[:, 1] - y[:, 2])
    return y


# ---------------------------------------------------------------------------------------- training
@dataclass(frozen=True)
class BeatTrainConfig:
    lag: int = 2
    dense: int = 32
    units: int = 48
    layers: int = 2
    variants: int = 5          # augmented renditions per clip
    #: Tempo stretch (log-uniform rates).  0.75–1.5 was tried: held-out F 0.807 vs 0.819 (fold 0).
    rate_range: tuple[float, float] = (0.8, 1.2)
    noise_prob: float = 0.6
    snr_db: tuple[float, float] = (0.0, 25.0)
    gain_db: tuple[float, float] = (-25.0, 10.0)  # peaks above 0 dBFS are clipped
    seq_len: int = 400
    batch: int = 16
    steps: int = 1500
    lr: float = 2e-3
    seed: int = 0


def _augmented(clip: Clip, y: np.ndarray, *, cfg: BeatTrainConfig, rng: np.random.Generator):
    ref = clip.reference()
    for v in range(cfg.variants):
        rate = 1.0 if v == 0 else float(np.exp(rng.uniform(*np.log(cfg.rate_range))))
        z = y * np.float32(10.0 ** (rng.uniform(*cfg.gain_db) / 20.0))
        if v > 0 and rng.random() < cfg.noise_prob:
            z = add_noise(z, snr_db=float(rng.uniform(*cfg.snr_db)), rng=rng)
        z = np.clip(z, -1.0, 1.0)
        x = stretched_inputs(z, rate=rate)
        yield x, beat_targets(ref, n_frames=len(x), rate=rate, lag=cfg.lag)


def training_data(*, clips: Sequence[Clip], cfg: BeatTrainConfig = BeatTrainConfig(),
                  quiet: bool = False) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Augmented (inputs, targets) renditions of each clip, by name (seeded per clip)."""
    from dancepose.models.cli import progress

    data = {}
    for clip in progress(clips, desc="beat data", quiet=quiet):
        rng = np.random.default_rng([cfg.seed, sum(map(ord, clip.name))])
        data[clip.name] = list(_augmented(clip, load_audio(clip.audio), cfg=cfg, rng=rng))
    return data


def train_beatnet(*, clips: Sequence[Clip], out: str | os.PathLike | None,
                  cfg: BeatTrainConfig = BeatTrainConfig(),
                  data: Mapping[str, list[tuple[np.ndarray, np.ndarray]]] | None = None,
                  quiet: bool = False) -> dict[str, np.ndarray]:
    """Train the beat network on ``clips`` and write it to ``out`` (if given); returns the arrays.

    ``data``: :func:`training_data` of (at least) these clips, computed here when absent."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from dancepose.models.cli import progress

    if data is None:
        data = training_data(clips=clips, cfg=cfg, quiet=quiet)
    rng = np.random.default_rng(cfg.seed)
    xs = [x for c in clips for x, _ in data[c.name]]
    ys = [t for c in clips for _, t in data[c.name]]
    allx = np.concatenate(xs)
    mean = allx.mean(axis=0)
    std = allx.std(axis=0) + 1e-3
    del allx
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(cfg.seed)
    inp = keras.Input((None, N_BEAT_INPUTS))
    h = keras.layers.Dense(cfg.dense, activation="relu")(inp)
    for _ in range(cfg.layers):
        h = keras.layers.GRU(cfg.units, return_sequences=True, reset_after=True)(h)
    outp = keras.layers.Dense(3, activation="softmax")(h)
    model = keras.Model(inp, outp)
    model.compile(optimizer=keras.optimizers.Adam(cfg.lr, clipnorm=1.0), loss="categorical_crossentropy")
    lens = np.array([len(x) for x in xs])
    prob = np.maximum(lens - cfg.seq_len, 1).astype(np.float64)
    prob /= prob.sum()

    def batch():
        bx = np.zeros((cfg.batch, cfg.seq_len, N_BEAT_INPUTS), np.float32)
        by = np.zeros((cfg.batch, cfg.seq_len, 3), np.float32)
        for b in range(cfg.batch):
            i = int(rng.choice(len(xs), p=prob))
            s = int(rng.integers(0, max(1, lens[i] - cfg.seq_len)))
            seg = slice(s, s + cfg.seq_len)
            n = len(xs[i][seg])
            bx[b, :n] = (xs[i][seg] - mean) / std
            by[b, :n] = ys[i][seg]
            by[b, n:, 0] = 1.0
        return bx, by

    sched = keras.optimizers.schedules.CosineDecay(cfg.lr, cfg.steps, alpha=0.05)
    model.optimizer.learning_rate = sched
    bar = progress(range(cfg.steps), desc="beat net", quiet=quiet)
    loss_avg = None
    for _ in bar:
        bx, by = batch()
        loss = float(model.train_on_batch(bx, by))
        loss_avg = loss if loss_avg is None else 0.98 * loss_avg + 0.02 * loss
        bar.set_postfix(loss=f"{loss_avg:.4f}")
    arrays: dict[str, np.ndarray] = {"version": np.array(BEATNET_VERSION), "lag": np.array(cfg.lag),
                                     "mean": mean.astype(np.float32), "std": std.astype(np.float32)}
    dense, *grus, head = [l for l in model.layers if l.weights]
    arrays["dense_w"], arrays["dense_b"] = [w.numpy() for w in dense.weights]
    for i, g in enumerate(grus):
        arrays[f"gru{i}_w"], arrays[f"gru{i}_u"], arrays[f"gru{i}_b"] = [w.numpy() for w in g.weights]
    arrays["out_w"], arrays["out_b"] = [w.numpy() for w in head.weights]
    arrays["trained_on"] = np.array(sorted(c.name for c in clips))
    # numpy run == Keras on a real sequence (guards the GRU gate order)
    ref = model(tf.constant(((xs[0][:300] - mean) / std)[None]), training=False).numpy()[0]
    ours = BeatNet({k: v for k, v in arrays.items()}).run(xs[0][:300])
    if not np.allclose(ours, ref, atol=1e-3):
        raise RuntimeError(f"numpy beat net differs from Keras by {np.abs(ours - ref).max():.2e}")
    if out is not None:
        np.savez(out, **arrays)
    return arrays


# -------------------------------------------------------------------------------------- evaluation
def phase_wrap_frames(phase: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where a per-frame phase (0…1) wraps: ``(i, frac)`` for each wrap between frame ``i`` and ``i + 1``,
    ``frac`` (0…1) the point inside that frame, interpolated.  [each shape=(n_wraps,)]"""
    phase = np.asarray(phase, np.float64)
    d = np.diff(phase)
    idx = np.nonzero(d < -0.5)[0]  # wrap between frame i and i+1
    a, b = phase[idx], phase[idx + 1] + 1.0
    frac = np.clip((1.0 - a) / np.maximum(b - a, 1e-9), 0.0, 1.0)
    return idx, frac


def phase_wraps(phase: np.ndarray) -> np.ndarray:
    """Times (s) where a per-frame phase (0…1) wraps, interpolated inside the frame."""
    idx, frac = phase_wrap_frames(phase)
    return (idx + frac) / MODEL_FPS


def tracker_output(feats: np.ndarray) -> dict[str, np.ndarray]:
    """Beats, downbeats, per-frame tempo (BPM) and beats per bar from feature columns."""
    beat, bar = beat_phase(features=feats), bar_phase(features=feats)
    beats = phase_wraps(beat)
    bars = phase_wraps(bar)
    # downbeat = the tracked beat nearest each bar wrap
    if len(beats) and len(bars):
        j = np.clip(np.searchsorted(beats, bars), 1, len(beats) - 1) if len(beats) > 1 else np.zeros(len(bars), int)
        near = np.where(np.abs(beats[j - 1] - bars) < np.abs(beats[j] - bars), j - 1, j) if len(beats) > 1 else j
        downbeats = np.unique(beats[near])
    else:
        downbeats = np.zeros(0)
    return {"beats": beats, "downbeats": downbeats, "bpm": 120.0 * 2.0 ** feats[:, COL_TEMPO].astype(np.float64),
            "bpb": np.round(feats[:, COL_METER]).astype(int) + 3}


def _scores(ref_beats: np.ndarray, est: np.ndarray) -> dict[str, float]:
    import mir_eval

    r = mir_eval.beat.trim_beats(np.asarray(ref_beats, np.float64), min_beat_time=TRIM_S)
    e = mir_eval.beat.trim_beats(np.asarray(est, np.float64), min_beat_time=TRIM_S)
    f = mir_eval.beat.f_measure(r, e, f_measure_threshold=F_WINDOW_S)
    if len(r) < 2 or len(e) < 2:
        return {"F": f, "CMLt": 0.0, "AMLt": 0.0}
    _, cmlt, _, amlt = mir_eval.beat.continuity(r, e)
    return {"F": f, "CMLt": cmlt, "AMLt": amlt}


def reference_tempo(ref: np.ndarray) -> float:
    return 60.0 / float(np.median(np.diff(ref[:, 0])))


def evaluate_clip(*, y: np.ndarray, ref: np.ndarray, librosa_too: bool = True,
                  config: FeatureConfig = FeatureConfig()) -> dict[str, float]:
    """Scores of dancepose's causal tracker (and librosa's ``beat_track``) on one clip.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]   audio at SAMPLE_RATE, time 0 = reference time 0
    ref : np.ndarray [shape=(m, 2)]   reference beats (s) and beat-in-bar

    Returns
    -------
    dict: ``F``, ``CMLt``, ``AMLt``, ``tempo`` (median BPM after 5 s), ``tempo_ok`` (within 4 %),
    ``bpb``, ``meter_ok``, ``down_F``, ``ref_tempo``, ``ref_bpb`` and the same ``lr_*`` for librosa.
    """
    feats = FeatureStream(config=config).process(y)
    out = tracker_output(feats)
    ref_beats = ref[:, 0]
    ref_down = ref[ref[:, 1] == 1, 0]
    ref_bpm = reference_tempo(ref)
    ref_bpb = int(ref[:, 1].max())
    after = int(TRIM_S * MODEL_FPS)
    s = _scores(ref_beats, out["beats"])
    tempo = float(np.median(out["bpm"][after:]))
    bpb = int(np.bincount(out["bpb"][after:]).argmax())
    res = {**s, "tempo": tempo, "tempo_ok": float(abs(tempo / ref_bpm - 1) <= TEMPO_TOLERANCE), "bpb": bpb,
           "meter_ok": float(bpb == ref_bpb), "down_F": _scores(ref_down, out["downbeats"])["F"],
           "ref_tempo": ref_bpm, "ref_bpb": ref_bpb}
    if librosa_too:
        from dancepose.offline.evaluate import track_beats

        lr_tempo, lr_beats = track_beats(y=y)
        ls = _scores(ref_beats, lr_beats)
        res.update({f"lr_{k}": v for k, v in ls.items()})
        res["lr_tempo"] = lr_tempo
        res["lr_tempo_ok"] = float(abs(lr_tempo / ref_bpm - 1) <= TEMPO_TOLERANCE)
    return res


COLUMNS = ("F", "CMLt", "AMLt", "tempo", "bpb", "down_F")


def beat_report(*, shared: str | os.PathLike, clips: Sequence[str] | None = None, snr_db: float | None = 10.0,
                kfold_dir: str | os.PathLike | None = None, k: int = 5, seed: int = 0, seconds: float | None = None,
                librosa_too: bool = True, out_dir: str | os.PathLike | None = None,
                quiet: bool = False) -> dict[str, dict[str, dict[str, float]]]:
    """Evaluate every reference clip clean and with pink noise at ``snr_db``; print a table.

    ``kfold_dir``: score each clip with ``fold{i}.npz`` of the fold that did not train on it (the
    honest figure); otherwise the shipped network.  ``seconds``: only the first seconds of each clip.
    ``out_dir``: also write the table (``beats.txt``) and the scores (``beats.json``) there (checked
    before any work).

    Returns ``{clip: {"clean": scores, "noisy": scores}}`` (see :func:`evaluate_clip`).
    """
    from dancepose.models.cli import progress
    from dancepose.models.outputs import check_output_dir

    if out_dir is not None:
        out_dir = check_output_dir(out_dir)
    all_clips = reference_clips(shared)
    fold = folds_by_song(all_clips, k=k, seed=seed)
    chosen = [(c, g) for c, g in zip(all_clips, fold) if clips is None or c.name in set(clips)]
    if not chosen:
        raise InputError(f"none of {list(clips or [])} has reference beats under {shared}")
    results: dict[str, dict[str, dict[str, float]]] = {}
    for clip, g in progress(chosen, desc="beats", quiet=quiet):
        cfg = FeatureConfig()
        if kfold_dir is not None:
            from dataclasses import replace

            cfg = replace(cfg, beat=replace(cfg.beat, net_path=str(Path(kfold_dir) / f"fold{g}.npz")))
        ref = clip.reference()  # a malformed reference fails before the audio is decoded
        y = load_audio(clip.audio, duration=seconds)
        ref = ref[ref[:, 0] < len(y) / SAMPLE_RATE]
        results[clip.name] = {"clean": evaluate_clip(y=y, ref=ref, librosa_too=librosa_too, config=cfg)}
        if snr_db is not None:
            rng = np.random.default_rng(seed + sum(map(ord, clip.name)))
            results[clip.name]["noisy"] = evaluate_clip(y=add_noise(y, snr_db=snr_db, rng=rng), ref=ref,
                                                        librosa_too=librosa_too, config=cfg)
    table = format_report(results, snr_db=snr_db)
    print(table)
    if out_dir is not None:
        _write_beat_report(Path(out_dir), table=table, results=results, snr_db=snr_db)
    return results


def _write_beat_report(out_dir: Path, *, table: str, results: Mapping, snr_db: float | None) -> None:
    import json

    from dancepose.models.outputs import atomic_output

    with atomic_output(out_dir / "beats.txt") as tmp:
        tmp.write_text(table + "\n", encoding="utf-8")
    doc = {"snr_db": snr_db, "trim_s": TRIM_S, "f_window_s": F_WINDOW_S,
           "clips": {name: {cond: {key: float(v) for key, v in sc.items()} for cond, sc in r.items()}
                     for name, r in results.items()}}
    with atomic_output(out_dir / "beats.json") as tmp:
        tmp.write_text(json.dumps(doc, indent=2), encoding="utf-8")


def format_report(results: Mapping[str, Mapping[str, Mapping[str, float]]], *, snr_db: float | None) -> str:
    """The per-clip table (dancepose | librosa, clean | noisy) and the summary lines."""
    conds = [c for c in ("clean", "noisy") if all(c in r for r in results.values())]
    has_lr = all("lr_F" in r["clean"] for r in results.values())
    head = f"{'clip':28s} {'ref':>9s}"
    for cond in conds:
        tag = "clean" if cond == "clean" else f"{snr_db:g}dB"
        head += f" | {tag + ' F':>9s} {'CMLt':>5s} {'AMLt':>5s} {'BPM':>6s} {'bpb':>3s} {'dbF':>5s}"
        if has_lr:
            head += f" | {'lr F':>5s} {'CMLt':>5s} {'AMLt':>5s} {'BPM':>6s}"
    lines = [head, "-" * len(head)]
    for name, r in results.items():
        c0 = r["clean"]
        row = f"{name:28s} {c0['ref_tempo']:6.1f}/{c0['ref_bpb']:d}"
        for cond in conds:
            x = r[cond]
            row += (f" | {x['F']:9.3f} {x['CMLt']:5.3f} {x['AMLt']:5.3f} {x['tempo']:6.1f} {x['bpb']:3d} "
                    f"{x['down_F']:5.3f}")
            if has_lr:
                row += f" | {x['lr_F']:5.3f} {x['lr_CMLt']:5.3f} {x['lr_AMLt']:5.3f} {x['lr_tempo']:6.1f}"
        lines.append(row)
    lines.append("-" * len(head))
    for cond in conds:
        v = [r[cond] for r in results.values()]
        m = {key: float(np.mean([x[key] for x in v])) for key in ("F", "CMLt", "AMLt", "tempo_ok", "meter_ok",
                                                                   "down_F")}
        line = (f"{cond:6s} dancepose: F {m['F']:.3f}  CMLt {m['CMLt']:.3f}  AMLt {m['AMLt']:.3f}  "
                f"tempo ok {m['tempo_ok']:.0%}  meter ok {m['meter_ok']:.0%}  downbeat F {m['down_F']:.3f}")
        if has_lr:
            line += (f"   | librosa: F {np.mean([x['lr_F'] for x in v]):.3f}  CMLt "
                     f"{np.mean([x['lr_CMLt'] for x in v]):.3f}  AMLt {np.mean([x['lr_AMLt'] for x in v]):.3f}  "
                     f"tempo ok {np.mean([x['lr_tempo_ok'] for x in v]):.0%}")
        lines.append(line)
    return "\n".join(lines)


def plot_clip(*, y: np.ndarray, ref: np.ndarray, out: str | os.PathLike, title: str,
              start_s: float = 0.0, seconds: float = 12.0, config: FeatureConfig = FeatureConfig()) -> None:
    """PNG: the reference beats / downbeats against the tracker's causal beat and bar phase and the
    network's activation, over ``seconds`` from ``start_s`` (the tracker runs from time 0)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    feats = FeatureStream(config=config).process(y)
    t = np.arange(len(feats)) / MODEL_FPS
    beat, bar = beat_phase(features=feats), bar_phase(features=feats)
    from dancepose.models.features import COL_BEAT_ACT, COL_BEAT_CONF

    sel = (t >= start_s) & (t <= start_s + seconds)
    fig, ax = plt.subplots(3, 1, figsize=(11, 6), sharex=True)
    for a in ax:
        for bt, k in ref:
            if start_s <= bt <= start_s + seconds:
                a.axvline(bt, color="tab:red" if int(k) == 1 else "0.6", lw=1.6 if int(k) == 1 else 0.8, zorder=0)
    ax[0].plot(t[sel], beat[sel], color="tab:blue", lw=1.2)
    ax[0].set_ylabel("beat phase")
    ax[1].plot(t[sel], bar[sel], color="tab:green", lw=1.2)
    ax[1].set_ylabel("bar phase")
    ax[2].plot(t[sel], feats[sel, COL_BEAT_ACT], color="tab:purple", lw=1.0, label="beat activation (heard)")
    ax[2].plot(t[sel], feats[sel, COL_BEAT_CONF], color="tab:orange", lw=1.0, label="confidence")
    ax[2].legend(loc="upper right", fontsize=8)
    ax[2].set_xlabel("time (s); grey: reference beats, red: reference downbeats")
    ax[0].set_title(title)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


# ------------------------------------------------------------------------------------------- CLI
def _kfold(shared: Path, *, k: int, folds: Sequence[int], cfg: BeatTrainConfig, out_dir: Path,
           quiet: bool) -> None:
    clips = reference_clips(shared)
    fold = folds_by_song(clips, k=k, seed=cfg.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = training_data(clips=clips, cfg=cfg, quiet=quiet)
    for f in folds:
        train = [c for c, g in zip(clips, fold) if g != f]
        train_beatnet(clips=train, out=out_dir / f"fold{f}.npz", cfg=cfg, data=data, quiet=quiet)
        held = [c.name for c, g in zip(clips, fold) if g == f]
        print(f"fold {f}: held out {' '.join(held)}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dancepose.offline.beats",
                                description="train the beat network (all clips, or k folds by song)")
    p.add_argument("mode", choices=["train", "kfold", "plot"])
    p.add_argument("shared", type=Path, help="the shared data folder (with beats/)")
    p.add_argument("-o", "--out", type=Path, required=True, help="train: .npz file; kfold: folder; plot: PNG")
    p.add_argument("--clip", default="DANCE_W_3", help="plot: the clip")
    p.add_argument("--net", default=None, help="plot: beat network .npz (default: the shipped one)")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--folds", type=int, nargs="*", default=None, help="kfold: only these folds")
    p.add_argument("--steps", type=int, default=BeatTrainConfig.steps)
    p.add_argument("--lag", type=int, default=BeatTrainConfig.lag)
    p.add_argument("--stretch", type=float, nargs=2, default=BeatTrainConfig.rate_range, metavar=("LO", "HI"),
                   help="tempo-stretch range of the augmentation (rates, log-uniform)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--exclude", nargs="*", default=[], help="clips not to train on (train mode)")
    p.add_argument("-q", "--quiet", action="store_true")
    a = p.parse_args(argv)
    cfg = BeatTrainConfig(steps=a.steps, lag=a.lag, seed=a.seed, rate_range=tuple(a.stretch))
    if a.mode == "train":
        clips = [c for c in reference_clips(a.shared) if c.name not in set(a.exclude)]
        train_beatnet(clips=clips, out=a.out, cfg=cfg, quiet=a.quiet)
    elif a.mode == "plot":
        from dataclasses import replace

        clip = next(c for c in reference_clips(a.shared) if c.name == a.clip)
        cfg = FeatureConfig()
        cfg = replace(cfg, beat=replace(cfg.beat, net_path=a.net))
        plot_clip(y=load_audio(clip.audio, duration=60.0), ref=clip.reference(), out=a.out, start_s=40.0,
                  config=cfg, title=f"{clip.name}: reference beats vs dancepose's causal phase"
                                    + (f" ({Path(a.net).name})" if a.net else ""))
    else:
        _kfold(a.shared, k=a.k, folds=a.folds if a.folds is not None else range(a.k), cfg=cfg, out_dir=a.out,
               quiet=a.quiet)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
