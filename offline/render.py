"""``dancepose render``: the dancer performing to a song, as a video as long as the song.

The output's suffix chooses the container (:mod:`dancepose.models.media.formats`): ``.mp4`` H.264 + AAC,
``.webm`` VP9 + Opus, ``.mov`` ProRes 4444 + PCM.  ``background="transparent"`` keeps an alpha channel
(WebM, MOV) for compositing in an editor; ``save_frames`` also writes a PNG sequence (RGBA when transparent).

Audio blocks (:func:`dancepose.models.audio.audio_blocks`) → the streaming
:class:`~dancepose.models.perform.Performer` (poses at ``MODEL_FPS``, as live) → linear interpolation to
the video frame rate (:class:`FrameClock`) → :mod:`dancepose.models.media.draw` (the same drawing as the
live window) → :class:`dancepose.models.media.recorder.Mp4Recorder` (the same writer as ``--record``),
one frame at a time.  The song's track for the video is decoded block by block beside it.  Memory stays
at a few blocks of audio and one frame whatever the song's length (a 1-hour song peaked at 7 GB when it
was decoded and performed whole); only the poses are kept, as compact arrays (26 MB for an hour at
30 fps), for ``--save-pose`` and ``--save-openpose``.  Block by block gives the same poses and frames, bit
for bit, as the whole song at once.

All inputs (audio, model, background) are checked before anything is written: bad input leaves no file.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from dancepose.models.clock import MODEL_FPS, OUTPUT_SAMPLE_RATE, SAMPLE_RATE, resample
from dancepose.models.errors import InputError, ParameterError

#: Seconds of audio decoded, performed and drawn at a time (chunks of at least a few seconds give the
#: features of the whole song bit for bit).
BLOCK_SECONDS: float = 10.0


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


class FrameClock:
    """Poses arriving at ``MODEL_FPS`` in blocks → the poses of video frames at ``fps``, as soon as known.

    Video frame ``k`` is at ``k / fps`` s and interpolates the two poses around it; it is ready once the
    later one has arrived (or the stream has ended: the last pose is then held).  The result equals
    :func:`resample_poses` of the whole track, bit for bit; only the poses still needed are kept.

    Parameters
    ----------
    fps : float
        Video frame rate.
    n_frames : int
        Frames of the whole video.
    """

    def __init__(self, *, fps: float, n_frames: int) -> None:
        self.fps, self.n_frames = float(fps), int(n_frames)
        self.next = 0                       # first video frame not yet returned
        self._first = 0                     # model frame of self._poses[0]
        self._poses: np.ndarray | None = None

    def push(self, poses: np.ndarray, *, final: bool = False) -> np.ndarray:
        """Add the next model poses; return the video frames they complete.

        Parameters
        ----------
        poses : np.ndarray [shape=(n, J, 2)]
            The next ``n`` ≥ 0 model frames.
        final : bool
            No more poses will come: every remaining frame is returned.

        Returns
        -------
        np.ndarray [shape=(m, J, 2)] float32, frames ``next - m … next - 1`` (``next`` after the call).
        """
        poses = np.asarray(poses, dtype=np.float32)
        if len(poses):
            self._poses = poses if self._poses is None else np.concatenate([self._poses, poses])
        if self._poses is None:
            if final:
                raise ParameterError("no pose to draw")
            return np.zeros((0,) + poses.shape[1:], np.float32)
        last = self._first + len(self._poses) - 1
        stop = self.n_frames if final else min(self.n_frames, int((last + 1) / MODEL_FPS * self.fps) + 2)
        times = np.arange(self.next, stop) / self.fps     # as np.arange(n_frames) / fps, whole video
        if not final:   # only frames whose later pose has arrived (never clipped at the current end)
            times = times[: int(np.count_nonzero(np.floor(times * MODEL_FPS) + 1 <= last))]
        out = resample(self._poses, fps=MODEL_FPS, times=times, first=self._first)
        self.next += len(times)
        if self.next < self.n_frames:   # forget the poses before the next frame's first one
            keep = min(last, int(np.floor(self.next / self.fps * MODEL_FPS)))
            self._poses, self._first = self._poses[keep - self._first:], keep
        return out


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
    from dancepose.models.dancer import Dancer
    from dancepose.models.posefile import PoseSequence
    from dancepose.models.media import draw
    from dancepose.models.media.formats import VIDEO_SUFFIXES, video_format
    from dancepose.models.media.openpose import write_openpose_json
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
    n_samples = song_samples(audio)
    dancer = Dancer.load(model_dir).with_groove(groove)
    style_, background = draw.look(style=style, background=background)
    stage = draw.make_stage(width, height, background=background,
                            floor_units=draw.floor_units_for(dancer.rest_pose))
    n_frames = n_video_frames(n_samples, fps=fps)
    if save_pose is not None:  # room for the files that are written after the video, before rendering it
        check_output_file(save_pose, suffixes=(".pose.npz",), what="--save-pose",
                          expected_bytes=PoseSequence.file_bytes(n_frames))
    if save_openpose is not None:  # one small file per frame: a disk block each
        check_output_dir(save_openpose, expected_bytes=n_frames * FILE_BYTES)

    # Checks the free space for the song's length; writes temporaries only; finalises on close().
    rec = Mp4Recorder(out, width=width, height=height, fps=fps, sample_rate=OUTPUT_SAMPLE_RATE,
                      audio_channels=2, drop_when_behind=False, quiet=quiet,
                      expected_seconds=n_frames / float(fps), what="render output", alpha=transparent)
    result, poses_px = _record(rec, audio=audio, dancer=dancer, seed=seed, fps=fps, n_frames=n_frames,
                               draw_frame=frame_drawer(stage=stage, style=style_, transparent=transparent),
                               save_frames=save_frames, quiet=quiet)
    if save_pose is not None:
        PoseSequence(keypoints=poses_px, confidence=np.ones(poses_px.shape[:2], np.float32), fps=float(fps),
                     image_size=(width, height), source=f"generated:{dancer.name}").save(save_pose)
    if save_openpose is not None:
        write_openpose_json(save_openpose, draw.coco18_points(poses_px), image_size=(width, height))
    return result


def _record(rec, *, audio: Path, dancer, seed: int, fps: int, n_frames: int, draw_frame,
            save_frames: str | os.PathLike | None, quiet: bool) -> tuple[Path, np.ndarray]:
    """Perform the song into ``rec`` (and a PNG sequence); the finished video and every frame's pose.

    Interrupted or failed: nothing is kept (the recorder and the PNG folder are aborted, no temporaries).
    """
    pngs = None
    try:
        if save_frames is not None:
            from dancepose.models.media.frames import PngSequenceWriter

            pngs = PngSequenceWriter(save_frames, width=rec.width, height=rec.height, alpha=rec.alpha,
                                     expected_frames=n_frames)
        poses_px = _perform_into(rec, audio=audio, dancer=dancer, seed=seed, fps=fps, n_frames=n_frames,
                                 draw_frame=draw_frame, also=pngs.write if pngs is not None else None,
                                 quiet=quiet, name=rec.path.name)
        if pngs is not None:
            pngs.close()
    except BaseException as exc:
        rec.abort()
        if pngs is not None:
            pngs.abort(exc)
        raise
    result = rec.close()
    if result is None:  # pragma: no cover - n_frames >= 1 always
        raise InputError(f"{audio.name}: nothing to render")
    return result, poses_px


def song_samples(audio: Path) -> int:
    """Samples of a song at ``SAMPLE_RATE`` (one pass of the decoder, one block in memory).

    Raises
    ------
    InputError
        Missing, undecodable, empty or silent (RMS below ``SILENCE_DBFS``) audio.
    """
    from dancepose.models.audio import SILENCE_DBFS, audio_blocks

    n, energy = 0, 0.0
    for y in audio_blocks(audio, sr=SAMPLE_RATE, block_seconds=6 * BLOCK_SECONDS):  # warns once
        y64 = y.astype(np.float64)
        n, energy = n + len(y), energy + float(np.dot(y64, y64))
    if 10.0 * np.log10(energy / n + 1e-20) < SILENCE_DBFS:
        raise InputError(f"{audio.name}: audio is silent")
    return n


def _perform_into(rec, *, audio: Path, dancer, seed: int, fps: int, n_frames: int, draw_frame,
                  also=None, quiet: bool, name: str) -> np.ndarray:
    """Stream the song through the performer into ``rec``: its track, and every frame drawn (also given
    to ``also``, e.g. a PNG sequence, when not None).

    Returns
    -------
    np.ndarray [shape=(n_frames, N_JOINTS, 2)] float32, the pose of every frame in the video's pixels.
    """
    from dancepose.models.audio import audio_blocks
    from dancepose.models.cli import progress
    from dancepose.models.media import draw
    from dancepose.models.perform import Performer, one_blas_thread
    from dancepose.models.skeleton import N_JOINTS

    performer = Performer(dancer=dancer, seed=seed)
    clock = FrameClock(fps=fps, n_frames=n_frames)
    poses_px = np.empty((n_frames, N_JOINTS, 2), np.float32)
    mono = audio_blocks(audio, sr=SAMPLE_RATE, block_seconds=BLOCK_SECONDS, warn=None)  # warned once, above
    track = audio_blocks(audio, sr=OUTPUT_SAMPLE_RATE, channels=2, block_seconds=BLOCK_SECONDS, warn=None)
    bar = progress(total=n_frames, quiet=quiet, desc=f"render {name}", unit="frame")
    blas = one_blas_thread()  # as perform() (the same round-off); the other core is ffmpeg's
    try:
        for y in _with_end(mono):
            stereo = next(track, None) if y is not None else None
            if stereo is not None:               # the same seconds of the song's own track
                rec.add_audio(stereo)
            first = clock.next
            poses = performer.process(y) if y is not None else np.zeros((0, N_JOINTS, 2), np.float32)
            px = draw.pose_to_pixels(clock.push(poses, final=y is None), width=rec.width, height=rec.height)
            poses_px[first:clock.next] = px
            for pose in px:
                frame = draw_frame(pose)
                rec.process(frame)
                if also is not None:
                    also(frame)
                bar.update(1)
        for stereo in track:                     # what is left of the track (it may run a little longer)
            rec.add_audio(stereo)
    finally:   # interrupted or failed: stop both decoders now
        blas.restore_original_limits()
        bar.close()
        mono.close()
        track.close()
    return poses_px


def _with_end(blocks):
    """The blocks, then None (the end of the song)."""
    yield from blocks
    yield None
