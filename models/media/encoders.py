"""Video encoders of dancepose's recordings: every ffmpeg codec argument in one place.

An :class:`Encoding` says how a recording's pictures are encoded (the ffmpeg arguments before and after
the raw-video input) and how the final file is muxed (container suffixes, audio codec, mux flags).
:func:`h264` builds the H.264 ones: ``libx264`` (software, always there) and the hardware encoders a
user's ffmpeg may have — ``h264_v4l2m2m`` (Raspberry Pi), ``h264_vaapi`` (Intel/AMD on Linux),
``h264_nvenc`` (NVIDIA), ``h264_videotoolbox`` (macOS).  :func:`choose_encoding` tries the one asked
for with a real two-frame encode and falls back to libx264 with one line saying why.  Other formats
(transparent VP9 / ProRes) build their own :class:`Encoding` and go through the same recorder.

libx264 settings (measured on dancepose's pictures, 1280×720 at 60 fps on this 2-core Xeon, CPU per
frame of the ffmpeg process): ``veryfast`` 8.9 ms, ``superfast`` 8.1 ms, ``ultrafast`` 5.2 ms (4.9 ms
with one thread); a stage and a stick figure compress to 2.6 kB a frame at CRF 20 even at
``ultrafast`` (≈ 1.3 Mbit/s), so the recording uses ``ultrafast``: the encoder is the largest cost of
a live recording, and on a small machine it shares the cores with the show.  Threads: one per
available core, at most :data:`X264_MAX_THREADS` (a recording runs beside the show, never instead
of it).
"""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass

from dancepose.models.errors import ParameterError
from dancepose.models.media.formats import VIDEO_SUFFIXES, video_format

#: The H.264 encoders ``--encoder`` offers; ``auto`` tries the hardware ones in this order.
H264_ENCODERS: tuple[str, ...] = ("libx264", "h264_v4l2m2m", "h264_vaapi", "h264_nvenc", "h264_videotoolbox")
ENCODER_CHOICES: tuple[str, ...] = H264_ENCODERS + ("auto",)
#: libx264 preset and quality of live recordings (see the module notes).
X264_PRESET: str = "ultrafast"
X264_CRF: int = 20
X264_MAX_THREADS: int = 2
#: Bit rate of the hardware encoders that take no constant-quality setting (bits/s at 1280×720, scaled
#: with the pixel count).
HW_BITRATE_720P: int = 6_000_000
#: The VA-API render node (the first GPU).
VAAPI_DEVICE: str = "/dev/dri/renderD128"
#: Seconds a trial encode may take before the encoder is declared unusable.
PROBE_TIMEOUT_S: float = 20.0


@dataclass(frozen=True)
class Encoding:
    """How a recording is encoded and muxed (ffmpeg arguments; the recorder adds input and output).

    Attributes
    ----------
    name : str
        The video encoder (``libx264``, ``h264_vaapi`` …).
    input_args : tuple of str
        Global/input options placed before the raw-video input (e.g. the VA-API device).
    video_args : tuple of str
        Codec, options and output pixel format of the video stream.
    suffixes : tuple of str
        Extensions the final file may have (the first is the default).
    audio_args : tuple of str
        Audio codec arguments of the final mux.
    mux_args : tuple of str
        Container options of the final mux.
    """

    name: str
    video_args: tuple[str, ...]
    input_args: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = (".mp4",)
    audio_args: tuple[str, ...] = ("-c:a", "aac", "-b:a", "160k")
    mux_args: tuple[str, ...] = ("-movflags", "+faststart")


def default_threads() -> int:
    """Encoder threads: one per core this process may run on, at most :data:`X264_MAX_THREADS`."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, X264_MAX_THREADS))


def h264(name: str = "libx264", *, width: int = 1280, height: int = 720, preset: str = X264_PRESET,
         threads: int | None = None) -> Encoding:
    """The :class:`Encoding` of one H.264 encoder (MP4, AAC audio).

    Parameters
    ----------
    name : str
        One of :data:`H264_ENCODERS`.
    width, height : int
        Picture size (sets the bit rate of the hardware encoders that need one).
    preset : str
        libx264 preset (live: :data:`X264_PRESET`; ``render`` uses ``veryfast``).
    threads : int or None
        libx264 threads (None: x264's own choice).

    Raises
    ------
    ParameterError
        An unknown encoder name.
    """
    rate = str(int(HW_BITRATE_720P * max(width * height, 1) / (1280 * 720)))
    if name == "libx264":
        t = () if threads is None else ("-threads", str(max(1, int(threads))))
        return Encoding(name, ("-c:v", "libx264", "-preset", preset, "-crf", str(X264_CRF), *t,
                               "-pix_fmt", "yuv420p"))
    if name == "h264_v4l2m2m":
        return Encoding(name, ("-c:v", "h264_v4l2m2m", "-b:v", rate, "-pix_fmt", "yuv420p"))
    if name == "h264_vaapi":
        return Encoding(name, ("-vf", "format=nv12,hwupload", "-c:v", "h264_vaapi", "-qp", str(X264_CRF)),
                        input_args=("-vaapi_device", VAAPI_DEVICE))
    if name == "h264_nvenc":
        return Encoding(name, ("-c:v", "h264_nvenc", "-preset", "p2", "-rc", "vbr", "-cq", "23", "-b:v", "0",
                               "-pix_fmt", "yuv420p"))
    if name == "h264_videotoolbox":
        return Encoding(name, ("-c:v", "h264_videotoolbox", "-b:v", rate, "-pix_fmt", "yuv420p"))
    raise ParameterError(f"unknown video encoder {name!r} (choose from {', '.join(ENCODER_CHOICES)})")


def _reason(stderr: str) -> str:
    """The first informative line of ffmpeg's complaint, without its ``[codec @ 0x…]`` prefixes."""
    for line in stderr.splitlines():
        text = re.sub(r"\[[^\]]*@ 0x[0-9a-f]+\]\s*", "", line).strip()
        if text and not text.startswith(("Error while opening encoder", "Terminating thread", "Task finished")):
            return text.rstrip(".")
    return "it failed a test encode"


def probe_encoding(encoding: Encoding, *, ffmpeg: str) -> str | None:
    """Try ``encoding`` on two small frames with ``ffmpeg``: None if it works, else why not (one line)."""
    cmd = [ffmpeg, "-nostdin", "-v", "error", *encoding.input_args, "-f", "lavfi", "-i",
           "color=black:s=256x144:r=30", "-frames:v", "2", *encoding.video_args, "-f", "null", "-"]
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"a test encode took more than {PROBE_TIMEOUT_S:.0f} s"
    except OSError as exc:
        return str(exc)
    err = r.stderr.decode("utf-8", "replace")
    # ffmpeg can exit 0 although the encoder never opened ("Nothing was written into output file")
    if r.returncode != 0 or "Could not open encoder" in err or "Nothing was written" in err:
        return _reason(err)
    return None


def choose_encoding(requested: str, *, ffmpeg: str, width: int, height: int,
                    threads: int | None = None) -> tuple[Encoding, str | None]:
    """The encoder to record with: ``requested`` if it works here, else libx264.

    Parameters
    ----------
    requested : str
        One of :data:`ENCODER_CHOICES`; ``auto`` takes the first hardware encoder that works.
    ffmpeg : str
        The ffmpeg executable.
    width, height : int
    threads : int or None
        libx264 threads (default :func:`default_threads`).

    Returns
    -------
    (Encoding, note)
        ``note`` is one line for the user when the request fell back to libx264 (else None).
    """
    if requested not in ENCODER_CHOICES:
        raise ParameterError(f"unknown video encoder {requested!r} (choose from {', '.join(ENCODER_CHOICES)})")
    x264 = h264("libx264", width=width, height=height, threads=default_threads() if threads is None else threads)
    if requested == "libx264":
        return x264, None
    tried = H264_ENCODERS[1:] if requested == "auto" else (requested,)
    reasons = []
    for name in tried:
        enc = h264(name, width=width, height=height)
        why = probe_encoding(enc, ffmpeg=ffmpeg)
        if why is None:
            return enc, None
        reasons.append(f"{name}: {why}")
    if requested == "auto":
        return x264, "--encoder auto: no hardware H.264 encoder works here; recording with libx264"
    return x264, f"--encoder {requested} does not work here ({reasons[0].split(': ', 1)[1]}); recording with libx264"


#: File types a live recording can be written as (the containers of :mod:`dancepose.models.media.formats`).
RECORD_SUFFIXES: tuple[str, ...] = VIDEO_SUFFIXES


def encoding_for_path(path, *, encoder: str, ffmpeg: str, width: int, height: int,
                      alpha: bool = False) -> tuple[Encoding, str | None]:
    """The :class:`Encoding` of a recording to ``path`` (by its extension) and the fallback note, if any.

    ``.mp4``: H.264 from :func:`choose_encoding` (``encoder`` is ``--encoder``).  ``.webm`` / ``.mov``:
    VP9 / ProRes 4444 from :func:`~dancepose.models.media.formats.video_format` (``alpha``: keep the
    alpha channel); ``--encoder`` only chooses among H.264 encoders.
    """
    suffix = os.path.splitext(str(path))[1].lower()
    if suffix not in RECORD_SUFFIXES:
        raise ParameterError(f"cannot record {path}: the file must end with {' or '.join(RECORD_SUFFIXES)}")
    fmt = video_format(path, alpha=alpha, what="--record")
    if fmt.encoder is not None:
        note = None if encoder == "libx264" else f"--encoder {encoder} is for .mp4 (H.264); {fmt.name} is used"
        return fmt.encoding(alpha=alpha), note
    enc, note = choose_encoding(encoder, ffmpeg=ffmpeg, width=width, height=height)
    return fmt.encoding(video=enc), note
