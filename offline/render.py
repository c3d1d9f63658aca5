"""``dancepose render``: the dancer performing to a song, as a video as long as the song.

The output's suffix chooses the container (:mod:`dancepose.models.media.formats`): ``.mp4`` H.264 + AAC,
``.webm`` VP9 + Opus, ``.mov`` ProRes 4444 + PCM.  ``background="transparent"`` keeps an alpha channel
(WebM, MOV) for compositing in an editor; ``save_frames`` also writes a PNG sequence (RGBA when transparent).

Audio → :func:`dancepose.models.features.music_features` → ``Dancer.generate`` (poses at ``MODEL_FPS``) →
linear interpolation to the video frame rate → :mod:`dancepose.models.media.draw` (the same drawing as
the live window) → :class:`dancepose.models.media.recorder.Mp4Recorder` (the same MP4 writer as
``--record``).

All inputs (audio, model, background) are checked before anything is written: bad input leaves no file.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from dancepose.models.clock import MODEL_FPS, OUTPUT_SAMPLE_RATE, SAMPLE_RATE, resample
from dancepose.models.errors import InputError, ParameterError


def resample_poses(poses: np.ndarray, *, n_frames: int, fps: float,
                   source_fps: float = MODEL_FPS) -> np.ndarray:
    """Linearly interpolate a pose track to another frame rate.

    Parameters
    ----------
    poses : np.ndarray [shape=(T, J, 2)]
        Pose ``t`` belongs to time ``t / source_fps``.
    n_frames : int
        Output frames; frame ``k`` is at time ``k / fps``.  Times past the last pose hold it.
    fps, source_fps : float

    Returns
    -------
    np.ndarray [shape=(n_frames, J, 2)] float32
    """
    poses = np.asarray(poses, dtype=np.float32)
    if poses.ndim != 3 or len(poses) == 0:
        raise ParameterError(f"poses must have shape (T>0, J, 2), got {poses.shape}")
    return resample(poses, fps=source_fps, times=np.arange(n_frames) / float(fps))


def n_video_frames(n_samples: int, *, fps: float, sample_rate: int = SAMPLE_RATE) -> int:
    """Frames needed to cover ``n_samples`` of audio, the last partial frame included."""
    return max(1, int(math.ceil(n_samples * fps / sample_rate - 1e-9)))


def frame_drawer(*, stage, style, transparent: bool):
    """The per-frame drawing of a render: ``draw(pose_px (J, 2)) -> (H, W, 3) RGB`` or ``(H, W, 4)`` RGBA
    (``transparent``: the figure with exact alpha over nothing, :class:`~dancepose.models.media.draw.AlphaFigure`).
    """
    from dancepose.models.media import draw

    work = stage.copy()
    if transparent:
        figure = draw.AlphaFigure(work.get_size())

        def draw_rgba(pose_px: np.ndarray) -> np.ndarray:
            figure.draw(work, pose_px, style=style)
            return draw.surface_to_rgba(work)

        return draw_rgba

    def draw_rgb(pose_px: np.ndarray) -> np.ndarray:
        work.blit(stage, (0, 0))
        draw.draw_figure(work, pose_px, style=style)
        return draw.surface_to_rgb(work)

    return draw_rgb


def render_video(*, audio: str | os.PathLike, model_dir: str | os.PathLike | None = None,
                 out: str | os.PathLike, fps: int = 30, size: tuple[int, int] = (1280, 720),
                 background: "str | os.PathLike | tuple[int, int, int] | None" = None,
                 save_pose: str | os.PathLike | None = None, seed: int = 0, quiet: bool = False,
                 style: str = "stick", save_openpose: str | os.PathLike | None = None,
                 groove: bool | None = None, save_frames: str | os.PathLike | None = None) -> Path:
    """Render the dancer dancing to ``audio`` into a video with the song.

    Parameters
    ----------
    audio : path
        Song (any format ffmpeg decodes, also a video's soundtrack).
    model_dir : path or None
        Trained dancer; None = the built-in default dancer.
    out : path
        Output ``.mp4`` (H.264 yuv420p + AAC), ``.webm`` (VP9 + Opus) or ``.mov`` (ProRes 4444 + PCM),
        exactly as long as the song (``ceil(duration * fps)`` frames; the audio is padded by less than one
        frame).
    fps : int
        Video frame rate; poses come at ``MODEL_FPS`` and are linearly interpolated.
    size : (int, int)
        Width, height in pixels (even).
    background : path, (r, g, b), ``draw.TRANSPARENT`` or None
        Background image (scaled to cover) or a flat colour (chroma keying); None = the default stage
        (black for ``style="openpose"``); transparent (``(0, 0, 0, 0)``, needs ``.webm`` or ``.mov``): the
        video keeps an alpha channel, transparent off the figure.
    save_pose : path or None
        Also write the motion as a ``PoseSequence`` (keypoints in the video's pixels, at ``fps``,
        ``source="generated:<model name>"``).
    seed : int
        Generation seed (same song + model + seed → same dance).
    quiet : bool
        No progress bar.
    style : str
        ``stick`` (default) or ``openpose`` (the ControlNet OpenPose look).
    save_openpose : path or None
        Also write every video frame's pose as OpenPose JSON (COCO-18 ``pose_keypoints_2d``) into this
        folder.
    groove : bool or None
        Switch the dancer's groove stage (beat-locked bounce) on or off; None: as saved with the model.
    save_frames : path or None
        Also write every frame as a PNG into this folder (``frame_000000.png`` …; RGBA when transparent).

    Returns
    -------
    Path of the video.

    Raises
    ------
    InputError
        Missing, undecodable, empty or silent audio; bad background image.
    ModelError
        Missing or corrupt model.
    ParameterError
        Bad fps or size.
    """
    from dancepose.models.audio import is_silent, load_audio
    from dancepose.models.dancer import Dancer
    from dancepose.models.perform import perform
    from dancepose.models.posefile import PoseSequence
    from dancepose.models.cli import progress
    from dancepose.models.media import draw
    from dancepose.models.media.openpose import write_openpose_json
    from dancepose.models.media.formats import VIDEO_SUFFIXES, video_format
    from dancepose.models.media.frames import PngSequenceWriter
    from dancepose.models.media.recorder import Mp4Recorder

    width, height = int(size[0]), int(size[1])
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise ParameterError(f"size must be even and at least 16x16, got {width}x{height}")
    if not (0 < fps <= 240):
        raise ParameterError(f"fps must be in (0, 240], got {fps}")
    from dancepose.models.media.openpose import FILE_BYTES
    from dancepose.models.outputs import check_output_dir, check_output_file

    audio = Path(audio)
    # ---- outputs first (extension, path, not a device, writable); free space once the length is known
    out = check_output_file(out, suffixes=VIDEO_SUFFIXES, what="render output")
    transparent = draw.is_transparent(background)
    video_format(out, alpha=transparent, what="render output")  # a transparent .mp4 fails here
    if save_pose is not None:
        save_pose = check_output_file(save_pose, suffixes=(".pose.npz",), what="--save-pose")
    if save_openpose is not None:
        save_openpose = check_output_dir(save_openpose)

    # ---- everything that can fail on bad input happens before any file is created
    y = load_audio(audio, sr=SAMPLE_RATE)
    if len(y) == 0 or is_silent(y):
        raise InputError(f"{audio.name}: audio is silent")
    dancer = Dancer.load(model_dir).with_groove(groove)
    style_, background = draw.look(style=style, background=background)
    stage = draw.make_stage(width, height, background=background,
                            floor_units=draw.floor_units_for(dancer.rest_pose))
    track = load_audio(audio, sr=OUTPUT_SAMPLE_RATE, channels=2, warn=None)  # warned once, above

    n_frames = n_video_frames(len(y), fps=fps)
    if save_pose is not None:  # room for the files that are written after the video, before rendering it
        check_output_file(save_pose, suffixes=(".pose.npz",), what="--save-pose",
                          expected_bytes=PoseSequence.file_bytes(n_frames))
    if save_openpose is not None:  # one small file per frame: a disk block each
        check_output_dir(save_openpose, expected_bytes=n_frames * FILE_BYTES)
    poses = perform(y, dancer=dancer, seed=seed).poses
    poses_px = draw.pose_to_pixels(resample_poses(poses, n_frames=n_frames, fps=fps),
                                   width=width, height=height)
    draw_frame = frame_drawer(stage=stage, style=style_, transparent=transparent)

    # Checks the free space for the song's length; writes temporaries only; finalises on close().
    rec = Mp4Recorder(out, width=width, height=height, fps=fps, sample_rate=OUTPUT_SAMPLE_RATE,
                      audio_channels=2, drop_when_behind=False, quiet=quiet,
                      expected_seconds=n_frames / float(fps), what="render output", alpha=transparent)
    pngs = None
    try:
        if save_frames is not None:
            pngs = PngSequenceWriter(save_frames, width=width, height=height, alpha=transparent,
                                     expected_frames=n_frames)
        rec.add_audio(track)
        for k in progress(range(n_frames), quiet=quiet, desc=f"render {out.name}", unit="frame"):
            frame = draw_frame(poses_px[k])
            rec.process(frame)
            if pngs is not None:
                pngs.write(frame)
        if pngs is not None:
            pngs.close()
    except BaseException as exc:
        rec.abort()  # interrupted or failed: an incomplete render is not kept, no temporaries remain
        if pngs is not None:
            pngs.abort(exc)
        raise
    result = rec.close()
    if result is None:  # pragma: no cover - n_frames >= 1 always
        raise InputError(f"{audio.name}: nothing to render")
    if save_pose is not None:
        PoseSequence(keypoints=poses_px, confidence=np.ones(poses_px.shape[:2], np.float32), fps=float(fps),
                     image_size=(width, height), source=f"generated:{dancer.name}").save(save_pose)
    if save_openpose is not None:
        write_openpose_json(save_openpose, draw.coco18_points(poses_px), image_size=(width, height))
    return result
