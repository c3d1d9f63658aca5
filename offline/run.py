"""``dancepose run``: the one command — extract pose from a dance video, train a dancer, render a song.

Work goes to ``out_dir``::

    out_dir/pose/<video stem>.pose.npz   (extract; skipped when already there — extraction resumes)
    out_dir/model/                       (train; skipped when the model is newer than the pose file)
    out_dir/<audio stem>.mp4             (render, with the song)
    out_dir/<audio stem>.pose.npz        (the rendered motion)
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from dancepose.models.errors import InputError, ParameterError


def _model_is_fresh(model_dir: Path, pose_file: Path) -> bool:
    files = [model_dir / "config.json", model_dir / "dancer.npz"]
    if not all(f.is_file() for f in files):
        return False
    return min(f.stat().st_mtime for f in files) >= pose_file.stat().st_mtime


def run_pipeline(*, video: str | os.PathLike, audio: str | os.PathLike,
                 background: str | os.PathLike | None = None, out_dir: str | os.PathLike,
                 epochs: int = 6, fps: int = 30, size: tuple[int, int] = (1280, 720),
                 quiet: bool = False) -> Path:
    """Extract → train → render in one go.

    Parameters
    ----------
    video : path
        A dance video with its music (the audio beside the pose is the video's soundtrack).
    audio : path
        The song to dance to.
    background : path or None
        Background image for the render.
    out_dir : path
        Work and output folder (see module docstring).
    epochs : int > 0
        Training epochs.
    fps, size : see :func:`dancepose.offline.render.render_video`.
    quiet : bool
        No progress output.

    Returns
    -------
    Path of the rendered MP4.
    """
    from dancepose.offline.extract import extract_pose
    from dancepose.offline.render import render_video
    from dancepose.offline.train import train_dancer

    video, audio, out = Path(video), Path(audio), Path(out_dir)
    if epochs < 1:
        raise ParameterError(f"epochs must be >= 1, got {epochs}")
    for p, what in ((video, "video"), (audio, "audio")):
        if not p.is_file():
            raise InputError(f"{what} file not found: {p}")
    if background is not None and not Path(background).is_file():
        raise InputError(f"background image not found: {background}")
    out.mkdir(parents=True, exist_ok=True)

    def say(msg: str) -> None:
        if not quiet:
            print(f"run: {msg}", file=sys.stderr)

    say(f"1/3 extracting pose from {video.name}")
    pose_files = extract_pose(sources=[video], out_dir=out / "pose", quiet=quiet)
    if not pose_files:
        raise InputError(f"{video.name}: no pose extracted")
    pose_file = Path(pose_files[0])

    model_dir = out / "model"
    if _model_is_fresh(model_dir, pose_file):
        say(f"2/3 model {model_dir} is up to date (delete it to retrain)")
    else:
        say(f"2/3 training a dancer ({epochs} epochs)")
        train_dancer(data=[pose_file], out_dir=model_dir, epochs=epochs, seed=0, val_songs=0,
                     max_minutes=None, quiet=quiet)

    mp4 = out / f"{audio.stem}.mp4"
    say(f"3/3 rendering {mp4}")
    render_video(audio=audio, model_dir=model_dir, out=mp4, fps=fps, size=size, background=background,
                 save_pose=out / f"{audio.stem}.pose.npz", seed=0, quiet=quiet)
    say(f"done: {mp4}")
    return mp4
