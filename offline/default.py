"""Reproduce the default dancer shipped in ``models/default`` from ``../shared/data`` (one command).

``dancepose build-default ../shared/data -o models/default`` runs:

1. ``dancepose extract`` (MediaPipe) on the shared dance videos that have music → ``<work>/videos/*.pose.npz``;
2. ``dancepose train`` on the 35 Dance-with-Melody sequences + those pose files, split by song
   (validation: :data:`dancepose.offline.dataset.VALIDATION_SONGS`), seeded.

Everything is seeded; on an idle 2-core machine about 10 minutes, under load about 30.
"""
from __future__ import annotations

import os
from pathlib import Path

from dancepose.models.audio import is_silent, load_audio
from dancepose.models.errors import InputError
from dancepose.models.outputs import atomic_output_dir, check_output_dir
from dancepose.offline.train import TrainConfig, train_dancer

#: The recipe of the shipped dancer.  24 epochs: the shipped network is the best of 24 (epoch 23), where
#: the feature-version-2 rebuild was stopped for machine load (≈ 29 min of epochs on a loaded 2-core box).
DEFAULT_EPOCHS = 24
DEFAULT_SEED = 0
#: Network overrides (:class:`dancepose.models.network.NetworkConfig`) and training config of the recipe.
#: The phase-aware options (``phase_mean_harmonics``, ``phase_harmonics``/``phase_to_head``,
#: ``steps_per_beat``) scored worse in the time available (see README) and are off.
DEFAULT_NET: dict = {}
#: Performing stages: ``train.PERFORMING_STAGES`` (beat-locked spread, groove off), the best report card.
DEFAULT_TRAIN = TrainConfig()


def default_data(*, shared: str | os.PathLike, work_dir: str | os.PathLike, quiet: bool = False) -> list[Path]:
    """The training data of the default dancer: the DwM folder, then the extracted poses of the shared
    dance videos that have music (extracted into ``work_dir/videos``, resumable)."""
    from dancepose.offline.extract import extract_pose

    shared = Path(shared)
    dwm = shared / "dance_with_melody"
    videos_dir = shared / "dance_videos"
    if not dwm.is_dir():
        raise InputError(f"{dwm} not found: pass the shared data folder (with dance_with_melody/)")
    data: list[Path] = [dwm]
    videos = sorted(videos_dir.glob("*.mp4")) if videos_dir.is_dir() else []
    with_music = []
    for v in videos:
        try:
            if not is_silent(load_audio(v), threshold_dbfs=-35.0):
                with_music.append(v)
        except InputError:
            pass
    if with_music:
        data += extract_pose(sources=with_music, out_dir=Path(work_dir) / "videos", quiet=quiet)
    return data


def build_default(*, shared: str | os.PathLike, out_dir: str | os.PathLike, work_dir: str | os.PathLike | None = None,
                  epochs: int = DEFAULT_EPOCHS, seed: int = DEFAULT_SEED, net: dict | None = None,
                  cfg: TrainConfig = DEFAULT_TRAIN, quiet: bool = False) -> Path:
    """Extract the shared videos' poses and train the default dancer into ``out_dir``.

    Parameters
    ----------
    shared : path
        The shared data folder (holding ``dance_with_melody/`` and ``dance_videos/``).
    out_dir : path
        Model directory to write (``models/default`` to replace the shipped dancer).
    work_dir : path or None
        Where extracted poses go (default ``<out_dir>/../default_work``); extraction resumes there.
    net, cfg : the network overrides and training config (default: the shipped recipe).
    """
    out_dir = check_output_dir(out_dir)  # before the extraction and the training, not after
    work = Path(work_dir) if work_dir else out_dir.parent / f"{out_dir.name}_work"
    check_output_dir(work)
    data = default_data(shared=shared, work_dir=work, quiet=quiet)
    # The dancer's files are replaced only by complete new ones; nothing else in the folder is touched.
    with atomic_output_dir(out_dir) as tmp:
        train_dancer(data=data, out_dir=tmp, epochs=epochs, seed=seed, net=DEFAULT_NET if net is None else net,
                     cfg=cfg, quiet=quiet)
        (tmp / "model.keras").unlink(missing_ok=True)  # the numpy dancer is all that performs; keep it small
    return out_dir
