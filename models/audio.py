"""Audio loading on the dancepose clock: any file ffmpeg can decode → mono float32 at ``SAMPLE_RATE``.

Decoding uses the ffmpeg binary bundled with imageio-ffmpeg (no system ffmpeg needed), called with an
argument list.  Errors become one-line :class:`InputError` messages.

Bad samples are cleaned here, at the audio boundary (:func:`finite_samples`): a float WAV holding NaN or
infinite samples becomes silence there, with one warning line, so nothing downstream (features, the
dancer's sampling) ever sees them.  The live sources do the same with what they capture.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
import tempfile
from typing import Callable, Iterator

import numpy as np

from .clock import SAMPLE_RATE
from .errors import InputError, ParameterError

#: RMS level (dBFS) below which a whole file counts as silent.
SILENCE_DBFS: float = -60.0


def ffmpeg_exe() -> str:
    """Path of the bundled ffmpeg binary."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def warn_line(msg: str) -> None:
    """The one warning line of the offline commands (stderr)."""
    print(f"dancepose: warning: {msg}", file=sys.stderr)


def finite_samples(y: np.ndarray, *, what: str, warn: Callable[[str], None] | None = warn_line) -> np.ndarray:
    """``y`` with NaN and infinite samples set to 0 (silence); ``warn`` is told once how many there were.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (n, c)] float
        Returned as it is when every sample is finite (no copy); else a cleaned copy (or cleaned in place
        when writable).
    what : str
        How the warning names the audio (a file name, ``"the microphone"``).
    warn : callable(str) or None
        None: clean silently.

    Returns
    -------
    np.ndarray, same shape and dtype
    """
    if np.isfinite(y).all():  # the usual case: one pass, no copy
        return y
    bad = ~np.isfinite(y)
    if not y.flags.writeable:
        y = y.copy()
    y[bad] = 0.0
    if warn is not None:
        warn(f"{what}: {int(bad.sum())} NaN or infinite samples set to silence")
    return y


def load_audio(path: str | os.PathLike, *, sr: int = SAMPLE_RATE, offset: float = 0.0,
               duration: float | None = None, channels: int = 1,
               warn: Callable[[str], None] | None = warn_line) -> np.ndarray:
    """Decode an audio (or video) file.

    Parameters
    ----------
    path : str or PathLike
        Any file with an audio stream ffmpeg can decode (wav, mp3, m4a, mp4, webm …).
    sr : int > 0
        Output sample rate.
    offset, duration : float
        Start time and length in seconds (``duration=None``: to the end).
    channels : int
        1 for mono (mixed down), 2 for stereo.
    warn : callable(str) or None
        Told once when NaN or infinite samples were set to silence (None: silently).

    Returns
    -------
    y : np.ndarray [shape=(n,)] or [shape=(n, channels)] float32 in [-1, 1]

    Raises
    ------
    InputError
        Missing file, no audio stream, or undecodable data.
    """
    path = _checked_input(path, sr=sr, channels=channels)
    cmd = _decode_command(path, sr=sr, offset=offset, duration=duration, channels=channels)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        raise _decode_error(path, proc.returncode, proc.stderr)
    y = np.frombuffer(proc.stdout, dtype=np.float32)
    if channels > 1:
        y = y[: len(y) // channels * channels].reshape(-1, channels)
    if len(y) == 0:
        raise InputError(f"{path.name} holds no audio samples (zero length)")
    return np.ascontiguousarray(finite_samples(y, what=path.name, warn=warn))


def audio_blocks(path: str | os.PathLike, *, sr: int = SAMPLE_RATE, channels: int = 1, offset: float = 0.0,
                 duration: float | None = None, block_seconds: float = 10.0,
                 warn: Callable[[str], None] | None = warn_line) -> Iterator[np.ndarray]:
    """Decode an audio (or video) file block by block: what :func:`load_audio` returns, in pieces.

    Memory stays at one block whatever the length of the file (a 1-hour song is 345 MB at 24 kHz mono
    and 1.27 GB at 44.1 kHz stereo as one array).  The blocks put end to end equal ``load_audio(path,
    sr=sr, channels=channels, offset=offset, duration=duration)`` bit for bit.  Closing the generator
    early stops the decoder.

    Parameters
    ----------
    path : str or PathLike
    sr : int > 0
    channels : int
        1 (mixed down) or 2.
    offset, duration : float
        Start time and length in seconds (``duration=None``: to the end).
    block_seconds : float > 0
        Length of every block but the last.
    warn : callable(str) or None
        Told once, at the end, how many NaN or infinite samples were set to silence (None: silently).

    Yields
    ------
    np.ndarray [shape=(n,)] or [shape=(n, channels)] float32 in [-1, 1]

    Raises
    ------
    InputError
        Missing file, no audio stream, undecodable or zero-length data (a file that breaks part-way
        raises after the blocks decoded before the break).
    """
    path = _checked_input(path, sr=sr, channels=channels)
    if not block_seconds > 0:
        raise ParameterError(f"block_seconds must be > 0, got {block_seconds}")
    frame_bytes = 4 * channels
    block_bytes = max(1, int(round(block_seconds * sr))) * frame_bytes
    cmd = _decode_command(path, sr=sr, offset=offset, duration=duration, channels=channels)
    got = bad = 0
    with tempfile.TemporaryFile() as err:   # ffmpeg's messages: never a pipe that could fill up
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        try:
            while data := proc.stdout.read(block_bytes):
                y = np.frombuffer(data[: len(data) // frame_bytes * frame_bytes], dtype=np.float32)
                if channels > 1:
                    y = y.reshape(-1, channels)
                if len(y):
                    got += len(y)
                    clean = finite_samples(y, what=path.name, warn=None)
                    if clean is not y:
                        bad += int(np.count_nonzero(~np.isfinite(y)))
                    yield clean
            proc.wait()
        finally:
            if proc.poll() is None:   # closed early (or interrupted): stop decoding
                proc.kill()
                proc.wait()
            proc.stdout.close()
        if proc.returncode != 0:
            err.seek(0)
            raise _decode_error(path, proc.returncode, err.read())
    if got == 0:
        raise InputError(f"{path.name} holds no audio samples (zero length)")
    if bad and warn is not None:
        warn(f"{path.name}: {bad} NaN or infinite samples set to silence")


def _checked_input(path: str | os.PathLike, *, sr: int, channels: int) -> Path:
    path = Path(path)
    if sr <= 0 or channels not in (1, 2):
        raise ParameterError(f"invalid sr={sr} or channels={channels}")
    if not path.exists():
        raise InputError(f"audio file not found: {path}")
    if path.is_dir():
        raise InputError(f"expected an audio file, got a directory: {path}")
    return path


def _decode_command(path: Path, *, sr: int, offset: float, duration: float | None, channels: int) -> list[str]:
    """ffmpeg's arguments: the first audio stream of ``path`` as float32 samples on stdout."""
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error"]
    if offset > 0:
        cmd += ["-ss", f"{offset:.6f}"]
    cmd += ["-i", str(path)]
    if duration is not None:
        cmd += ["-t", f"{duration:.6f}"]
    return cmd + ["-map", "0:a:0", "-vn", "-ac", str(channels), "-ar", str(sr), "-f", "f32le", "pipe:1"]


def _decode_error(path: Path, returncode: int, stderr: bytes) -> InputError:
    """ffmpeg's failure as one line."""
    err = stderr.decode("utf-8", "replace").strip()
    if "matches no streams" in err or "does not contain any stream" in err:
        return InputError(f"{path.name} has no audio stream")
    last = err.splitlines()[-1] if err else f"ffmpeg exit code {returncode}"
    return InputError(f"cannot decode audio from {path.name}: {last}")


def rms_dbfs(y: np.ndarray) -> float:
    """RMS level of a signal in dBFS.  y : np.ndarray [shape=(n,) or (n, c)]"""
    y = np.asarray(y, dtype=np.float64)
    if y.size == 0:
        return float("-inf")
    return float(10.0 * np.log10(np.mean(y * y) + 1e-20))


def is_silent(y: np.ndarray, *, threshold_dbfs: float = SILENCE_DBFS) -> bool:
    """True when the whole signal is quieter than ``threshold_dbfs`` (RMS)."""
    return rms_dbfs(y) < threshold_dbfs
