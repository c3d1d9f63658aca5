"""Every file dancepose writes goes through here: checked before the work starts, finalised only when complete.

The one output policy (used by extract, render, live recording, training, evaluate, fetch):

1. :func:`check_output_file` / :func:`check_output_dir` before any work: the path is not under a file,
   not a device or other non-regular file, has the right extension, its folder is writable and has room
   for the expected size.  Each failure is an :class:`~dancepose.models.errors.OutputError` (one line,
   exit code 6) or a :class:`~dancepose.models.errors.ParameterError` for a wrong extension.
2. :func:`atomic_output` / :func:`atomic_output_dir`: the work writes to a hidden temporary name beside
   the target; only when the body finished (and ``verify`` accepted the result, e.g. an MP4 probed for
   its streams) is it renamed onto the final name.  On any exception — a full disk, a signal
   (:class:`~dancepose.models.cli.Interrupted` is a ``KeyboardInterrupt``), a bug — the temporary is
   removed and the final name is untouched.  ``OSError`` from a full disk, a read-only file system or
   missing permissions becomes an ``OutputError`` naming the file.
"""
from __future__ import annotations

import errno
import os
import re
import shutil
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

from .errors import OutputError, ParameterError

#: errno values that mean "this output cannot be written" (as opposed to a bug).
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                          errno.ENOTDIR, errno.EISDIR, errno.EFBIG, errno.ENAMETOOLONG})
MIB = 1 << 20


def _human(n: float) -> str:
    return f"{n / MIB:.1f} MB"


def _first_existing_ancestor(path: Path) -> Path:
    """The nearest existing path at or above ``path``; a file there means the path cannot be created."""
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _check_parent(path: Path, *, expected_bytes: int) -> None:
    anc = _first_existing_ancestor(path.parent)
    if not anc.is_dir():
        raise OutputError(f"cannot write {path}: {anc} is not a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder {path.parent}: {exc.strerror or exc}") from None
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {path}: {path.parent} is not writable")
    if expected_bytes > 0:
        free = shutil.disk_usage(path.parent).free
        if free < expected_bytes:
            raise OutputError(f"not enough free space for {path}: needs about {_human(expected_bytes)}, "
                              f"{_human(free)} free on its disk")


def check_output_file(path: str | os.PathLike, *, suffixes: Sequence[str] | None = None,
                      expected_bytes: int = 0, what: str = "output") -> Path:
    """Check that ``path`` can become a regular file; create its folder.

    Parameters
    ----------
    path : path-like
    suffixes : sequence of str or None
        Accepted endings, lower case with the dot (``(".mp4",)``, ``(".pose.npz",)``); None accepts any.
    expected_bytes : int ≥ 0
        Free space the finished file needs (an estimate; 0 skips the check).
    what : str
        How the error message names the output (``"--record"``, ``"video"`` …).

    Returns
    -------
    Path

    Raises
    ------
    ParameterError
        Wrong extension.
    OutputError
        Under a file, a directory or device at that name, folder not writable, disk too full.
    """
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except NotADirectoryError:
        raise OutputError(f"cannot write {path}: {_first_existing_ancestor(path.parent)} "
                          "is not a directory") from None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(f"cannot write {path}: it is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise OutputError(f"cannot write {path}: it is not a regular file (a device or pipe); "
                              "choose a file name")
    if suffixes and not any(path.name.lower().endswith(s) for s in suffixes):
        raise ParameterError(f"{what} must end with {' or '.join(suffixes)}, got {str(path)!r}")
    _check_parent(path, expected_bytes=expected_bytes)
    return path


def check_output_dir(path: str | os.PathLike, *, expected_bytes: int = 0) -> Path:
    """Check that ``path`` is or can become a writable directory with room; create it.

    Raises
    ------
    OutputError
    """
    path = Path(path)
    anc = _first_existing_ancestor(path)
    if anc == path and not path.is_dir():
        raise OutputError(f"cannot write into {path}: it is not a directory")
    if not anc.is_dir():
        raise OutputError(f"cannot write into {path}: {anc} is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder {path}: {exc.strerror or exc}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write into {path}: not writable")
    if expected_bytes > 0:
        free = shutil.disk_usage(path).free
        if free < expected_bytes:
            raise OutputError(f"not enough free space in {path}: needs about {_human(expected_bytes)}, "
                              f"{_human(free)} free")
    return path


def temp_name(path: str | os.PathLike) -> Path:
    """The hidden temporary beside ``path`` that :func:`atomic_output` writes (extension kept last)."""
    path = Path(path)
    return path.with_name(f".{path.name}.part{path.suffix}")


def as_output_error(exc: OSError, path: str | os.PathLike) -> OutputError | None:
    """An ``OutputError`` for an ``OSError`` that means "cannot write ``path``", else None."""
    if exc.errno in WRITE_ERRNOS:
        reason = "no space left on its disk" if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) \
            else (exc.strerror or str(exc)).lower()
        return OutputError(f"cannot write {path}: {reason}")
    return None


def _remove(p: Path) -> None:
    try:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    except OSError:
        pass


@contextmanager
def _discarded_on_failure(tmp: Path, path: Path) -> Iterator[None]:
    """Remove ``tmp`` on any exception; an ``OSError`` meaning "cannot write" becomes an ``OutputError``."""
    try:
        yield
    except OSError as exc:
        _remove(tmp)
        err = as_output_error(exc, path)
        if err is None:
            raise
        raise err from None
    except BaseException:
        _remove(tmp)
        raise


@contextmanager
def atomic_output(path: str | os.PathLike, *,
                  verify: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """Write to a temporary beside ``path``; rename onto ``path`` only when complete.

    Parameters
    ----------
    path : path-like
        The final file (checked with :func:`check_output_file` first by the caller, ideally before the
        work starts).
    verify : callable(Path) or None
        Called on the finished temporary before the rename; raising there discards it (e.g. probe an MP4
        for its streams).

    Yields
    ------
    Path
        The temporary to write to.  It has the same extension, so format-by-extension writers work.

    Raises
    ------
    OutputError
        When writing fails for lack of space or permission (the temporary is removed).
    """
    path = Path(path)
    tmp = temp_name(path)
    _remove(tmp)
    with _discarded_on_failure(tmp, path):
        yield tmp
        if not tmp.exists():
            raise OutputError(f"cannot write {path}: nothing was written")
        if verify is not None:
            verify(tmp)
        os.replace(tmp, path)


@contextmanager
def atomic_output_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Like :func:`atomic_output` for a folder: build it under a temporary name, then swap it in.

    An existing folder at ``path`` is replaced only after the new one is complete.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.part")
    old = path.with_name(f".{path.name}.old")
    _remove(tmp)
    with _discarded_on_failure(tmp, path):
        tmp.mkdir(parents=True)
        yield tmp
        if path.exists():
            _remove(old)
            os.replace(path, old)
        os.replace(tmp, path)
        _remove(old)


def verify_media(path: str | os.PathLike, *, video: bool = True, audio: bool = False,
                 duration: float | None = None, tolerance: float = 0.25, what: str = "") -> dict:
    """Probe a finished media file: it opens, has the streams asked for, reads to its end without error.

    Used before a video is finalised (``atomic_output(..., verify=...)``) or kept (``fetch``): a file
    without its index ("moov atom not found"), cut short ("partial file") or missing a stream fails.

    Parameters
    ----------
    path : path-like
    video, audio : bool
        Require a video / an audio stream.
    duration : float or None
        Expected length in seconds: every required stream must run at least ``duration - tolerance``.
    tolerance : float
        Seconds.
    what : str
        How the message names the file (default: its name).

    Returns
    -------
    dict
        The probe (see :func:`dancepose.models.media.probe.probe_streams`).

    Raises
    ------
    OutputError
        Unreadable, truncated, a stream missing or too short.
    """
    import subprocess

    from .audio import ffmpeg_exe
    from .errors import InputError
    from .media.probe import probe_streams

    path = Path(path)
    name = what or path.name
    try:
        info = probe_streams(path)
    except InputError as exc:
        raise OutputError(f"{name} is not a playable file: {exc}") from None
    errors = subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(path), "-map", "0",
                             "-c", "copy", "-f", "null", "-"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    bad = [re.sub(r"^\[[^\]]*\]\s*", "", ln.strip())  # without ffmpeg's "[in#0/mov @ 0x…]" prefix
           for ln in errors.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    if errors.returncode != 0 or bad:
        raise OutputError(f"{name} is damaged: {bad[-1] if bad else f'ffmpeg exit {errors.returncode}'}")
    for kind, wanted in (("video", video), ("audio", audio)):
        if not wanted:
            continue
        s = info[kind]
        if s is None or not s.get("packets"):
            raise OutputError(f"{name} has no {kind} stream")
        if duration is not None and (s["duration"] or 0.0) < duration - tolerance:
            raise OutputError(f"{name}: its {kind} lasts {s['duration'] or 0.0:.2f} s, expected "
                              f"{duration:.2f} s")
    return info
