"""Video containers, codecs and pixel formats in one place: the output's suffix chooses everything.

``dancepose render -o`` and ``dancepose-live --record`` both write through
:class:`~dancepose.models.media.recorder.Mp4Recorder`, which asks :func:`video_format` for

* the encoder arguments (codec, pixel format, with or without an alpha channel) — for ``.mp4`` the H.264
  encoders of :mod:`dancepose.models.media.encoders` (libx264, or a hardware one with ``--encoder``),
* the audio codec of the final mux and the container's mux flags,
* what the probe of the finished file must find (video and audio codec, the alpha channel).

:meth:`VideoFormat.encoding` turns a row into the recorder's
:class:`~dancepose.models.media.encoders.Encoding`.

=========  ===========================================  ==========================  ===================
suffix     video                                        alpha                       audio
=========  ===========================================  ==========================  ===================
``.mp4``   H.264 (libx264, yuv420p)                     none                        AAC
``.webm``  VP9 (libvpx-vp9, yuv420p / yuva420p)         ``alpha_mode 1`` in WebM    Opus
``.mov``   ProRes 4444 (prores_ks, yuv(a)444p10le)      the 4444 alpha plane        PCM 16-bit
=========  ===========================================  ==========================  ===================

The bundled ffmpeg's native VP9 decoder ignores WebM's alpha (it sits in Matroska BlockAdditional side
data): :func:`decode_frames` decodes VP9 with ``libvpx-vp9``, as browsers and editors do.
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from dancepose.models.errors import InputError, OutputError, ParameterError


@dataclass(frozen=True)
class VideoFormat:
    """One container with its codecs.

    Attributes
    ----------
    suffix : str
        ``.mp4``, ``.webm`` or ``.mov``.
    name : str
        For messages and ``--help``.
    video_codec, audio_codec : str
        The codec names the probe (``ffmpeg -i``) must find.
    encoder : tuple of str or None
        ffmpeg output arguments of the video encoder, without the pixel format; None: H.264 from
        :func:`dancepose.models.media.encoders.h264` (libx264 ``veryfast`` unless another is chosen).
    pix_fmt : str
        Encoded pixel format of opaque video.
    alpha_pix_fmt : str or None
        Encoded pixel format with an alpha channel; None: the codec has none.
    audio : tuple of str
        ffmpeg output arguments of the audio encoder in the final mux.
    mux : tuple of str
        Container flags of the final mux.
    decoder : tuple of str
        ffmpeg input arguments that decode the video *with* its alpha.
    bits_per_pixel : float
        Generous encoded size of dancepose's pictures (bits per pixel per frame), for the free-space check.
    """

    suffix: str
    name: str
    video_codec: str
    audio_codec: str
    encoder: tuple[str, ...] | None
    pix_fmt: str
    alpha_pix_fmt: str | None
    audio: tuple[str, ...]
    mux: tuple[str, ...] = ()
    decoder: tuple[str, ...] = ()
    bits_per_pixel: float = 0.02

    @property
    def has_alpha(self) -> bool:
        return self.alpha_pix_fmt is not None

    def encode_args(self, *, alpha: bool) -> list[str]:
        """Encoder arguments for opaque (``alpha=False``) or transparent video."""
        if alpha and not self.has_alpha:
            raise ParameterError(f"{self.name} has no alpha channel: use {' or '.join(ALPHA_SUFFIXES)}")
        if self.encoder is None:
            from dancepose.models.media.encoders import h264

            return list(h264(preset="veryfast").video_args)
        return [*self.encoder, "-pix_fmt", self.alpha_pix_fmt if alpha else self.pix_fmt]

    def encoding(self, *, alpha: bool = False, video=None):
        """The recorder's :class:`~dancepose.models.media.encoders.Encoding` for this container.

        ``video``: an H.264 ``Encoding`` chosen by ``--encoder`` (only for ``.mp4``); its video arguments
        are kept, the container's audio and mux arguments used.
        """
        from dancepose.models.media.encoders import Encoding

        if video is not None and self.encoder is None:
            return replace(video, suffixes=(self.suffix,), audio_args=self.audio, mux_args=self.mux)
        name = "libx264" if self.encoder is None else self.encoder[1]
        return Encoding(name, tuple(self.encode_args(alpha=alpha)), suffixes=(self.suffix,), audio_args=self.audio,
                        mux_args=self.mux)

    def check(self, info: dict, *, alpha: bool, audio: bool = True, what: str = "video") -> None:
        """Raise ``OutputError`` unless a probe (:func:`~dancepose.models.media.probe.probe_streams`) found
        this format's video codec, its audio codec (``audio``) and, with ``alpha``, the alpha channel."""
        v, a = info.get("video") or {}, info.get("audio") or {}
        if v.get("codec") != self.video_codec:
            raise OutputError(f"{what}: expected {self.video_codec} video, found {v.get('codec')}")
        if audio and a.get("codec") != self.audio_codec:
            raise OutputError(f"{what}: expected {self.audio_codec} audio, found {a.get('codec')}")
        if alpha and not v.get("alpha"):
            raise OutputError(f"{what}: the video has no alpha channel ({v.get('pix_fmt')})")


#: Every container dancepose writes, by suffix.
FORMATS: dict[str, VideoFormat] = {
    ".mp4": VideoFormat(
        suffix=".mp4", name="MP4 (H.264 + AAC)", video_codec="h264", audio_codec="aac",
        encoder=None, pix_fmt="yuv420p",
        alpha_pix_fmt=None, audio=("-c:a", "aac", "-b:a", "160k"), mux=("-movflags", "+faststart"),
        bits_per_pixel=0.02),
    # VP9 in real-time mode (cpu-used 8): fast enough for a live recording at 60 fps on one core.
    ".webm": VideoFormat(
        suffix=".webm", name="WebM (VP9 + Opus)", video_codec="vp9", audio_codec="opus",
        encoder=("-c:v", "libvpx-vp9", "-crf", "24", "-b:v", "0", "-deadline", "realtime", "-cpu-used", "8",
                 "-row-mt", "1", "-g", "120"),
        pix_fmt="yuv420p", alpha_pix_fmt="yuva420p", audio=("-c:a", "libopus", "-b:a", "128k"),
        decoder=("-c:v", "libvpx-vp9"), bits_per_pixel=0.1),
    # ProRes 4444 (every frame a key frame, 10-bit, 8-bit alpha plane): what editors import with alpha.
    ".mov": VideoFormat(
        suffix=".mov", name="QuickTime (ProRes 4444 + PCM)", video_codec="prores", audio_codec="pcm_s16le",
        encoder=("-c:v", "prores_ks", "-profile:v", "4444", "-alpha_bits", "8", "-vendor", "apl0"),
        pix_fmt="yuv444p10le", alpha_pix_fmt="yuva444p10le", audio=("-c:a", "pcm_s16le"),
        mux=("-movflags", "+faststart"), bits_per_pixel=1.0),
}
#: Suffixes of video outputs.
VIDEO_SUFFIXES: tuple[str, ...] = tuple(FORMATS)
#: Suffixes whose codec keeps an alpha channel (``--background transparent``).
ALPHA_SUFFIXES: tuple[str, ...] = tuple(s for s, f in FORMATS.items() if f.has_alpha)
#: Name pattern of ``--save-frames`` PNGs (frame index from 0).
FRAME_PATTERN: str = "frame_{:06d}.png"


def video_format(path: str | os.PathLike, *, alpha: bool = False, what: str = "video") -> VideoFormat:
    """The format for an output path's suffix.

    Raises
    ------
    ParameterError
        Unknown suffix, or ``alpha`` with a codec that has no alpha channel (H.264).
    """
    suffix = Path(path).suffix.lower()
    fmt = FORMATS.get(suffix)
    if fmt is None:
        raise ParameterError(f"{what} must end with {', '.join(VIDEO_SUFFIXES)}, got {str(path)!r}")
    if alpha and not fmt.has_alpha:
        raise ParameterError(f"{what}: {fmt.name} has no alpha channel; a transparent background needs "
                             f"{' or '.join(ALPHA_SUFFIXES)} (or --save-frames DIR for PNGs)")
    return fmt


def decode_frames(path: str | os.PathLike, *, width: int, height: int, start: int = 0,
                  count: int = 1) -> np.ndarray:
    """Decode frames as RGBA with the bundled ffmpeg (alpha kept; opaque codecs give alpha 255).

    Parameters
    ----------
    path : path-like
    width, height : int
        The video's size.
    start, count : int
        First frame (from 0) and how many.

    Returns
    -------
    np.ndarray [shape=(count, height, width, 4)] uint8 (fewer frames if the video ends first)
    """
    from dancepose.models.audio import ffmpeg_exe

    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", *(fmt.decoder if fmt else ()), "-i", str(path),
           "-vf", f"select=gte(n\\,{int(start)})", "-fps_mode", "passthrough", "-frames:v", str(int(count)),
           "-f", "rawvideo", "-pix_fmt", "rgba", "-"]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if r.returncode != 0:
        raise InputError(f"cannot decode {path.name}: {r.stderr.decode('utf-8', 'replace').strip()[-200:]}")
    n = len(r.stdout) // (width * height * 4)
    return np.frombuffer(r.stdout[: n * width * height * 4], np.uint8).reshape(n, height, width, 4)
