"""``dancepose run``: the one command — extract pose from a dance video, train a dancer, render a song.

All inputs (video with its soundtrack, song, background) and the outputs are checked first, before
minutes of extraction and training (:func:`_check_inputs`).

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


def _check_inputs(*, video: Path, audio: Path, background: str | os.PathLike | None, out: Path, mp4: Path,
                  fps: int, size: tuple[int, int]) -> None:
    """Everything ``run`` needs, checked before extraction and training start (minutes of work).

    The video has a picture and a soundtrack (the music the pose is paired with), the song decodes and
    is not silent, the background is an image, the outputs can be written with room for the render.

    Raises
    ------
    InputError, OutputError, ParameterError
    """
    from dancepose.models.audio import is_silent, load_audio
    from dancepose.models.clock import OUTPUT_SAMPLE_RATE, SAMPLE_RATE
    from dancepose.models.media import draw
    from dancepose.models.media.probe import probe_streams
    from dancepose.models.media.recorder import estimate_bytes
    from dancepose.models.outputs import check_output_dir, check_output_file

    for p, what in ((video, "video"), (audio, "audio")):
        if not p.is_file():
            raise InputError(f"{what} file not found: {p}")
    info = probe_streams(video)
    if info["video"] is None:
        raise InputError(f"{video.name} has no video stream")
    if info["audio"] is None:
        raise InputError(f"{video.name} has no soundtrack: the dancer learns from the music of the video")
    y = load_audio(audio, sr=SAMPLE_RATE)
    if len(y) == 0 or is_silent(y):
        raise InputError(f"{audio.name}: audio is silent")
    if background is not None:
        draw.make_stage(int(size[0]), int(size[1]), background=background)  # InputError if not an image
    seconds = len(y) / SAMPLE_RATE
    need = estimate_bytes(width=int(size[0]), height=int(size[1]), fps=fps, seconds=seconds,
                          sample_rate=OUTPUT_SAMPLE_RATE, channels=2)
    check_output_dir(out, expected_bytes=need)
    check_output_file(mp4, suffixes=(".mp4",), what="render output")


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
    mp4 = out / f"{audio.stem}.mp4"
    _check_inputs(video=video, audio=audio, background=background, out=out, mp4=mp4, fps=fps, size=size)

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

    say(f"3/3 rendering {mp4}")
    render_video(audio=audio, model_dir=model_dir, out=mp4, fps=fps, size=size, background=background,
                 save_pose=out / f"{audio.stem}.pose.npz", seed=0, quiet=quiet)
    say(f"done: {mp4}")
    return mp4
