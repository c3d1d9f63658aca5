"""``dancepose train``: (pose, music) pairs → a trained dancer model directory.

Validation is split by song (:func:`dataset.split_songs`), never by frames of one song.  Every epoch
draws fresh random windows (random camera yaw and mirroring for mocap), trains the auto-conditioned
LSTM (:mod:`dancepose.models.network`), measures the validation loss, and — when it improved — exports
the numpy dancer (``dancer.npz`` + ``config.json``) so an interrupted run leaves the best model so far.
A PNG of the loss curves is written beside it.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from dancepose.models.clock import MODEL_FPS, resample
from dancepose.models.dancer import MODEL_FORMAT, MODEL_VERSION, StageConfig
from dancepose.models.errors import InputError
from dancepose.models.features import FEATURE_NAMES, FEATURE_VERSION, N_FEATURES
from dancepose.models.network import (NetworkConfig, build_model, export_weights, fit_phase_mean, fit_pose_modes,
                                      mdn_loss, phase_inputs, phase_mean_pose, phase_pairs)
from dancepose.models.outputs import atomic_output, check_output_dir, save_npz
from dancepose.models.skeleton import (JOINT_NAMES, N_JOINTS, SKELETON_NAME, SKELETON_VERSION, Joint,
                                       limb_lengths_by_child, mirror)
from dancepose.offline.dataset import Song, load_songs, song_poses_2d, split_songs, to_beat_clock

N_POSE = N_JOINTS * 2


#: The stages a trained dancer performs with unless told otherwise: the stage configs' class defaults,
#: which are what ships (the beat-locked spread in the training poses' principal modes, the hand-made
#: groove off, …; see :class:`dancepose.models.dancer.StageConfig`).
PERFORMING_STAGES = StageConfig()


@dataclass(frozen=True)
class TrainConfig:
    """Training hyperparameters (saved in ``config.json``)."""

    window: int = 90  # frames per training window (3 s)
    batch_size: int = 32
    windows_per_epoch: int = 1536
    learning_rate: float = 2e-3
    warmup_frames: int = 10  # ground-truth previous poses at the start of every window
    teacher_frames: int = 1  # then cycles of teacher_frames ground truth …
    free_frames: int = 0  # … and free_frames of the network's own output (auto-conditioning)
    input_noise: float = 0.1  # std of the noise on ground-truth previous poses (normalised units)
    tempo_augment: float = 1.25  # windows are time-stretched by a factor in [1/x, x] (music and motion)
    #: The stages after the network the trained dancer is saved with (sampling, groove, …); not used
    #: in training, only when it performs.
    stages: StageConfig = field(default_factory=lambda: PERFORMING_STAGES)


def _valid_starts(song: Song, length: int) -> np.ndarray:
    ok = song.valid.astype(np.int32)
    c = np.concatenate([[0], np.cumsum(ok)])
    starts = np.arange(0, len(ok) - length)
    return starts[(c[starts + length + 1] - c[starts]) == length + 1]


def _window_poses(song: Song, start: int, length: int, rng: np.random.Generator, augment: bool) -> np.ndarray:
    """Body-unit poses of frames ``start … start + length`` (inclusive) [shape=(length + 1, J, 2)]."""
    sub = Song(name=song.name, features=song.features[start:start + length + 1],
               valid=song.valid[start:start + length + 1],
               poses3d=None if song.poses3d is None else song.poses3d[start:start + length + 1],
               poses2d=None if song.poses2d is None else song.poses2d[start:start + length + 1])
    yaw = float(rng.uniform(0, 360)) if augment else 0.0
    mirrored = bool(rng.random() < 0.5) if augment else False
    return song_poses_2d(sub, yaw_deg=yaw, mirrored=mirrored)


def tempo_columns(names: tuple[str, ...] = FEATURE_NAMES) -> list[int]:
    """Columns holding log2(BPM / 120) (``tempo``): shifted by log2(speed) when a window is stretched."""
    return [i for i, n in enumerate(names) if n == "tempo"]


def stretch_window(feats: np.ndarray, poses: np.ndarray, *, speed: float, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Play a window ``speed`` times faster: music features and poses resampled together.

    feats [shape=(m, N_FEATURES)], poses [shape=(m, ...)] with m ≥ (length) * speed + 2 frames →
    ([shape=(length + 1, N_FEATURES)], [shape=(length + 1, ...)]).  The tempo feature is shifted by
    log2(speed) and every phase (sin, cos) pair — beat, and bar when the features have one — is
    re-normalised, so the window reads as the same dance to the same music at another tempo: the
    phases run ``speed`` times faster with the motion, which teaches the dancer to follow the tempo and
    the bar it hears.
    """
    pos = np.arange(length + 1) * speed
    f = resample(feats, fps=1.0, times=pos).astype(np.float32)
    for c in tempo_columns():
        f[:, c] += np.log2(speed)
    for cs, cc in phase_pairs():
        norm = np.hypot(f[:, cs], f[:, cc])
        norm = np.where(norm < 1e-6, 1.0, norm)
        f[:, cs] /= norm
        f[:, cc] /= norm
    return f, resample(poses, fps=1.0, times=pos).astype(np.float32)


class WindowSampler:
    """Draws (music, previous pose, flag) → pose windows from songs."""

    def __init__(self, songs: list[Song], *, cfg: TrainConfig, stretch: bool = True) -> None:
        self.cfg = cfg
        self.songs = songs
        #: Tempo-stretch augmentation (off on the beat clock, where a step is a fraction of a beat at any tempo).
        self.stretch = stretch
        self.span = int(np.ceil(cfg.window * max(cfg.tempo_augment if stretch else 1.0, 1.0))) + 2
        self.starts = [_valid_starts(s, self.span) for s in songs]
        weights = np.array([len(s) for s in self.starts], dtype=np.float64)
        if weights.sum() == 0:
            raise InputError(f"no song has {self.span + 1} consecutive frames of pose "
                             f"({self.span / MODEL_FPS:.1f} s); need longer clips")
        self.p = weights / weights.sum()

    def raw(self, n: int, rng: np.random.Generator, *, augment: bool = True) -> tuple[np.ndarray, np.ndarray]:
        L = self.cfg.window
        feats = np.empty((n, L + 1, N_FEATURES), np.float32)
        poses = np.empty((n, L + 1, N_POSE), np.float32)
        for i in range(n):
            k = int(rng.choice(len(self.songs), p=self.p))
            start = int(rng.choice(self.starts[k]))
            song = self.songs[k]
            a = self.cfg.tempo_augment
            speed = float(np.exp(rng.uniform(-np.log(a), np.log(a)))) if augment and a > 1 and self.stretch else 1.0
            pose_span = _window_poses(song, start, self.span, rng, augment)
            feats[i], p = stretch_window(song.features[start:start + self.span + 1], pose_span,
                                         speed=speed, length=L)
            poses[i] = p.reshape(L + 1, N_POSE)
        return feats, poses

    def batch(self, n: int, rng: np.random.Generator, stats: dict, *, augment: bool = True,
              phase_harmonics: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Inputs [shape=(n, window, N_FEATURES + N_POSE + 1 + n_phase)] and targets [shape=(n, window, N_POSE)]
        (see :func:`dancepose.models.network.build_model`)."""
        cfg = self.cfg
        feats, poses = self.raw(n, rng, augment=augment)
        if "phase_mean" in stats:  # the network models the motion around the phase-functioned mean pose
            poses = poses - phase_mean_pose(feats, stats["phase_mean"])
        f = (feats[:, 1:] - stats["feature_mean"]) / stats["feature_std"]
        p = (poses - stats["pose_mean"]) / stats["pose_std"]
        prev = p[:, :-1] + cfg.input_noise * rng.standard_normal(p[:, :-1].shape).astype(np.float32)
        flag = np.zeros((n, cfg.window, 1), np.float32)
        cycle = cfg.teacher_frames + cfg.free_frames
        for i in range(n):
            phase = int(rng.integers(cycle))
            t = np.arange(cfg.window)
            flag[i, :, 0] = ((t < cfg.warmup_frames) | (((t + phase) % cycle) < cfg.teacher_frames))
        phase = phase_inputs(feats[:, 1:], harmonics=phase_harmonics)
        x = np.concatenate([f, prev, flag, phase], axis=-1).astype(np.float32)
        return x, p[:, 1:].astype(np.float32)


def compute_stats(songs: list[Song], sampler: WindowSampler, rng: np.random.Generator, *,
                  phase_mean_harmonics: int = 0) -> dict:
    """Normalisation statistics, rest pose, limb limits and the principal pose modes (for the beat-locked
    spread) from the training songs (and, with
    ``phase_mean_harmonics``, the phase-functioned mean pose; the pose statistics are then those of the
    motion around it)."""
    allf = np.concatenate([s.features[s.valid] for s in songs])
    fmean, fstd = allf.mean(0), allf.std(0)
    fstd = np.where(fstd < 1e-3, 1.0, fstd)
    feats, poses = sampler.raw(min(400, 8 * len(songs) + 40), rng)
    extra = {}
    flat_f, flat_p = feats.reshape(-1, feats.shape[-1]), poses.reshape(-1, N_POSE)
    if phase_mean_harmonics:
        extra["phase_mean"] = fit_phase_mean(flat_f, flat_p, harmonics=phase_mean_harmonics)
        resid = flat_p - phase_mean_pose(flat_f, extra["phase_mean"])
    else:
        resid = flat_p
    resid = resid[np.isfinite(resid).all(axis=1)]
    pts = poses.reshape(-1, N_JOINTS, 2)
    pts = pts[np.isfinite(pts).all(axis=(1, 2))]
    pmean, pstd = resid.mean(0), resid.std(0)
    pstd = np.where(pstd < 1e-3, 1.0, pstd)
    extra["pose_modes"] = fit_pose_modes((resid - pmean) / pstd)
    rest, limb_max = rest_and_limb_max(pts)
    return {"feature_mean": fmean.astype(np.float32), "feature_std": fstd.astype(np.float32),
            "pose_mean": pmean.astype(np.float32), "pose_std": pstd.astype(np.float32),
            "rest_pose": rest.astype(np.float32), "limb_max": limb_max.astype(np.float32), **extra}


def rest_and_limb_max(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rest pose and the longest plausible length of every limb of a dancer's poses.

    points [shape=(n, J, 2)] body units, all finite → rest pose [shape=(J, 2)]: the median of the frames
    facing the camera (the widest 30 % of shoulders), oriented with the right side on image left; limb
    maxima [shape=(J,)]: 1.1 × the 99th percentile of the length of the limb ending at each joint.
    """
    width = points[:, Joint.L_SHOULDER, 0] - points[:, Joint.R_SHOULDER, 0]
    front = points[np.abs(width) >= np.quantile(np.abs(width), 0.7)]
    w = front[:, Joint.L_SHOULDER, 0] - front[:, Joint.R_SHOULDER, 0]
    front = np.where((w < 0)[:, None, None], mirror(front), front)
    rest = np.median(front, axis=0)
    limb_max = 1.1 * np.quantile(limb_lengths_by_child(points), 0.99, axis=0)
    return rest.astype(np.float32), limb_max.astype(np.float32)


def save_model_dir(out_dir: Path, *, model, stats: dict, net: NetworkConfig, cfg: TrainConfig,
                   summary: dict) -> None:
    """Write ``dancer.npz`` and ``config.json`` (atomically; config last)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = export_weights(model)
    save_npz(out_dir / "dancer.npz", compressed=True, **weights, **stats)
    config = {
        "format": MODEL_FORMAT, "version": MODEL_VERSION,
        "feature_version": FEATURE_VERSION, "feature_names": list(FEATURE_NAMES),
        "skeleton": SKELETON_NAME, "skeleton_version": SKELETON_VERSION, "joint_names": list(JOINT_NAMES),
        "fps": MODEL_FPS, "network": net.to_dict(), "training": {k: v for k, v in asdict(cfg).items() if k != "stages"},
        "stages": cfg.stages.to_dict(),
        "summary": summary,
    }
    with atomic_output(out_dir / "config.json") as tmp:
        tmp.write_text(json.dumps(config, indent=2))


def _plot_losses(path: Path, history: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(ep, [h["loss"] for h in history], "o-", label="train")
    if any(h.get("val_loss") is not None for h in history):
        ax.plot(ep, [h.get("val_loss") for h in history], "s-", label="validation (held-out songs)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (mixture NLL per pose dimension)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def train_dancer(*, data: list[str | os.PathLike], out_dir: str | os.PathLike, epochs: int = 12,
                 seed: int = 0, val_songs: int | None = None, max_minutes: float | None = None,
                 net: dict | None = None, cfg: TrainConfig = TrainConfig(), songs: list[Song] | None = None,
                 quiet: bool = False) -> Path:
    """Train a dancer and write its model directory.

    Parameters
    ----------
    data : list of paths
        Dance-with-Melody sequence folders, ``.pose.npz`` files, or directories holding either.
    out_dir : path
        Model directory to (over)write: ``config.json``, ``dancer.npz``, ``model.keras``, ``loss.png``.
    epochs : int > 0
    seed : int
        Seeds numpy, Python and TensorFlow: the same data and seed reproduce the same model.
    val_songs : int or None
        Songs held out for validation (see :func:`dataset.split_songs`).
    max_minutes : float or None
        Stop after the epoch that crosses this wall-clock budget.
    net : dict or None
        Overrides of :class:`~dancepose.models.network.NetworkConfig` (hidden, layers, dropout,
        phase_harmonics, phase_to_head).
    songs : list of Song or None
        Already loaded songs (``data`` is then only recorded).

    Returns
    -------
    Path of the model directory.
    """
    from dancepose.models.cli import progress

    from dancepose.models.errors import ParameterError

    if epochs < 1:
        raise ParameterError(f"epochs must be ≥ 1, got {epochs}")
    out_dir = check_output_dir(out_dir)  # before hours of training, not after
    t0 = time.time()
    if songs is None:
        songs = load_songs(list(data), quiet=quiet)
    train, val = split_songs(songs, val_songs=val_songs, seed=seed)
    if not train:
        raise InputError("no training songs")
    netcfg = NetworkConfig(n_features=N_FEATURES, n_pose=N_POSE, **(net or {}))
    if netcfg.steps_per_beat:
        train = [to_beat_clock(s, steps_per_beat=netcfg.steps_per_beat) for s in train]
        val = [to_beat_clock(s, steps_per_beat=netcfg.steps_per_beat) for s in val]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    stretch = not netcfg.steps_per_beat
    sampler = WindowSampler(train, cfg=cfg, stretch=stretch)
    val_sampler = WindowSampler(val, cfg=cfg, stretch=stretch) if val else None
    stats = compute_stats(train, sampler, rng, phase_mean_harmonics=netcfg.phase_mean_harmonics)
    model = build_model(**netcfg.to_dict())
    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate, clipnorm=1.0),
                  loss=mdn_loss(n_pose=N_POSE, mixtures=netcfg.mixtures))
    ph = netcfg.phase_harmonics
    val_xy = val_sampler.batch(256, np.random.default_rng(seed + 1), stats, augment=True,
                               phase_harmonics=ph) if val_sampler else None
    history: list[dict] = []
    best = np.inf
    steps = max(1, cfg.windows_per_epoch // cfg.batch_size)
    summary = {"train_songs": [s.name for s in train], "val_songs": [s.name for s in val],
               "train_frames": int(sum(s.n_frames for s in train)), "seed": seed}
    for epoch in range(1, epochs + 1):
        te = time.time()
        x, y = sampler.batch(steps * cfg.batch_size, rng, stats, phase_harmonics=ph)
        bar = progress(total=steps, desc=f"epoch {epoch}/{epochs}", unit="batch", quiet=quiet)
        losses = []
        for b in range(steps):
            sl = slice(b * cfg.batch_size, (b + 1) * cfg.batch_size)
            losses.append(float(model.train_on_batch(x[sl], y[sl])))
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
            bar.update()
        bar.close()
        val_loss = float(model.evaluate(*val_xy, batch_size=128, verbose=0)) if val_xy else None
        rec = {"epoch": epoch, "loss": float(np.mean(losses)), "val_loss": val_loss,
               "seconds": round(time.time() - te, 2)}
        history.append(rec)
        score = val_loss if val_loss is not None else rec["loss"]
        if not quiet:
            print(f"epoch {epoch}: loss {rec['loss']:.4f}"
                  + (f", val {val_loss:.4f}" if val_loss is not None else "") + f" ({rec['seconds']} s)")
        if score < best:
            best = score
            summary.update(best_epoch=epoch, best_score=score, history=history)
            save_model_dir(out_dir, model=model, stats=stats, net=netcfg, cfg=cfg, summary=summary)
            model.save(out_dir / "model.keras")
        if max_minutes is not None and (time.time() - t0) > 60 * max_minutes:
            break
    summary.update(history=history, minutes=round((time.time() - t0) / 60, 2))
    cfgfile = out_dir / "config.json"
    conf = json.loads(cfgfile.read_text())
    conf["summary"] = summary
    cfgfile.write_text(json.dumps(conf, indent=2))
    _plot_losses(out_dir / "loss.png", history)
    failed = getattr(songs, "failed", ())
    if failed:  # the batch policy: carry on, then exit non-zero (the model above is written)
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        raise InputError(f"{out_dir} trained on {len(songs)} songs; {len(failed)} skipped: {failed[0]}{more}")
    return out_dir
