"""``dancepose run``: the one command — extract pose from a dance video, learn the person's dancer, render a song.

The dancer is a personal one (``dancepose learn``, :mod:`dancepose.offline.learn`): the person's moves,
re-timed by the dancer it builds on (``base``, the shipped default) — one minute of video is far too
little to train a generator from scratch, and no training is needed.

All inputs (video, song, background) and the outputs are checked first, before minutes of extraction
(:func:`_check_inputs`).

Work goes to ``out_dir``::

    out_dir/pose/<video stem>.pose.npz   (extract; skipped when already there — extraction resumes)
    out_dir/model/                       (learn; skipped when the model is newer than the pose file)
    out_dir/<audio stem>.mp4             (render, with the song)
    out_dir/<audio stem>.pose.npz        (the rendered motion)
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from dancepose.models.errors import InputError


def _model_is_fresh(model_dir: Path, pose_file: Path) -> bool:
    files = [model_dir / "config.json", model_dir / "dancer.npz"]
    if not all(f.is_file() for f in files):
        return False
    return min(f.stat().st_mtime for f in files) >= pose_file.stat().st_mtime


def _check_inputs(*, video: Path, audio: Path, background: str | os.PathLike | None, out: Path, mp4: Path,
                  fps: int, size: tuple[int, int]) -> None:
    """Everything ``run`` needs, checked before extraction and training start (minutes of work).

    The video has a picture, the song decodes and is not silent, the background is an image, the outputs
    can be written with room for the render.

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
                 base: str | os.PathLike | None = None, mirror: bool = False, fps: int = 30,
                 size: tuple[int, int] = (1280, 720), quiet: bool = False) -> Path:
    """Extract → learn → render in one go.

    Parameters
    ----------
    video : path
        A dance video (its soundtrack, when it has music, sets the beats the moves are cut at).
    audio : path
        The song to dance to.
    background : path or None
        Background image for the render.
    out_dir : path
        Work and output folder (see module docstring).
    base : path or None
        The dancer whose timing the personal dancer builds on (None: the shipped default).
    mirror : bool
        Also learn the moves mirrored.
    fps, size : see :func:`dancepose.offline.render.render_video`.
    quiet : bool
        No progress output.

    Returns
    -------
    Path of the rendered MP4.
    """
    from dancepose.offline.learn import learn_dancer
    from dancepose.offline.render import render_video

    video, audio, out = Path(video), Path(audio), Path(out_dir)
    mp4 = out / f"{audio.stem}.mp4"
    _check_inputs(video=video, audio=audio, background=background, out=out, mp4=mp4, fps=fps, size=size)
    if base is not None:
        from dancepose.models.dancer import Dancer

        Dancer.load(base)  # a bad base fails now, not after the extraction

    def say(msg: str) -> None:
        if not quiet:
            print(f"run: {msg}", file=sys.stderr)

    model_dir = out / "model"
    pose_file = out / "pose" / f"{video.stem}.pose.npz"
    if pose_file.is_file() and _model_is_fresh(model_dir, pose_file):
        say(f"1-2/3 model {model_dir} is up to date (delete it to learn again)")
    else:
        say(f"1-2/3 extracting pose from {video.name} and learning the dancer")
        learn_dancer(sources=[video], out_dir=model_dir, base=base, mirror_moves=mirror, work_dir=out / "pose",
                     quiet=quiet)
    say(f"3/3 rendering {mp4}")
    render_video(audio=audio, model_dir=model_dir, out=mp4, fps=fps, size=size, background=background,
                 save_pose=out / f"{audio.stem}.pose.npz", seed=0, quiet=quiet)
    say(f"done: {mp4}")
    return mp4
