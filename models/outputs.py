"""Every file dancepose writes goes through here: checked before the work starts, finalised only when complete.

The one output policy (used by extract, render, live recording, training, evaluate, fetch):

1. :func:`check_output_file` / :func:`check_output_dir` before any work: the path is not under a file,
   not a device or other non-regular file, has the right extension, its folder is (or can be created)
   writable on a writable disk with room for the expected size.  The checks create nothing, so a run
   that fails later leaves no empty folder.  Each failure is an
   :class:`~dancepose.models.errors.OutputError` (one line, exit code 6) or a
   :class:`~dancepose.models.errors.ParameterError` for a wrong extension.
2. :func:`atomic_output`: the work writes to a hidden temporary beside the target, unique to the writer
   (two processes writing one path never share one); only when the body finished (and ``verify``
   accepted the result, e.g. an MP4 probed for its streams) is it renamed onto the final name.  On any
   exception — a full disk, a signal (:class:`~dancepose.models.cli.Interrupted` is a
   ``KeyboardInterrupt``), a bug — the temporary (and any folder made for it) is removed and the final
   name is untouched.  ``OSError`` from a full disk, a read-only file system or missing permissions
   becomes an ``OutputError`` naming the file.
3. :func:`atomic_output_dir`: a folder output writes its own files into the folder (or a new folder)
   and never removes anything else that is there.
"""
from __future__ import annotations

import errno
import glob
import os
import re
import secrets
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
    p = Path(os.path.abspath(path))
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _check_writable_folder(folder: Path, *, target: Path, expected_bytes: int, into: bool) -> None:
    """``folder`` (existing) is a directory we may create files in, on a writable disk with room."""
    where = f"write into {target}" if into else f"write {target}"
    if not folder.is_dir():
        raise OutputError(f"cannot {where}: {folder} is not a directory")
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    if read_only:
        raise OutputError(f"cannot {where}: {folder} is on a read-only file system")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot {where}: {folder} is not writable")
    if expected_bytes > 0:
        free = shutil.disk_usage(folder).free
        if free < expected_bytes:
            raise OutputError(f"not enough free space for {target}: needs about {_human(expected_bytes)}, "
                              f"{_human(free)} free on its disk")


def check_output_file(path: str | os.PathLike, *, suffixes: Sequence[str] | None = None,
                      expected_bytes: int = 0, what: str = "output") -> Path:
    """Check that ``path`` can become a regular file.  Nothing is created (a failed run leaves no folder).

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
        Under a file, a directory or device at that name, folder not writable or read-only, disk too full.
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
    _check_writable_folder(_first_existing_ancestor(path.parent), target=path, expected_bytes=expected_bytes,
                           into=False)
    _sweep_stale(path)  # a killed earlier writer's temporary (here, once: not on every small write)
    return path


def check_output_dir(path: str | os.PathLike, *, expected_bytes: int = 0, create: bool = False) -> Path:
    """Check that ``path`` is or can become a writable directory with room.

    Nothing is created unless ``create`` (a failed run leaves no empty folder behind); the writers
    (:func:`atomic_output`, :func:`atomic_output_dir`) create the folders they write into.

    Raises
    ------
    OutputError
        A file (or anything but a folder) at ``path`` or above it, read-only, not writable, disk too full.
    """
    path = Path(path)
    anc = _first_existing_ancestor(path)
    if anc == Path(os.path.abspath(path)) and not anc.is_dir():
        raise OutputError(f"cannot write into {path}: it is not a directory")
    _check_writable_folder(anc, target=path, expected_bytes=expected_bytes, into=True)
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the folder {path}: {exc.strerror or exc}") from None
    return path


# ------------------------------------------------------------------------------------- temporaries
#: Temporaries are ``.<name>.part-<host>-<pid>-<random>[suffix]``: unique per writer (two processes writing
#: one path never share one), and a dead writer's leftovers on this host are recognised and swept.
_PART = ".part-"


def _host_tag() -> str:
    import hashlib
    import socket

    return hashlib.blake2s(socket.gethostname().encode(), digest_size=2).hexdigest()


def temp_name(path: str | os.PathLike) -> Path:
    """A new, unique hidden temporary beside ``path`` (extension kept last, so format-by-extension
    writers work): ``.<name>.part-<host>-<pid>-<random><suffix>``."""
    path = Path(path)
    return path.with_name(f".{path.name}{_PART}{_host_tag()}-{os.getpid()}-{secrets.token_hex(3)}{path.suffix}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: someone else's live process
        return True
    return True


def _sweep_stale(path: Path) -> None:
    """Remove temporaries of ``path`` left by writers on this host that no longer run (SIGKILL, power loss).

    Lists the folder: done by :func:`check_output_file` (once per output, before the work), not by every
    :func:`atomic_output` (a live ``--save-openpose`` writes 60 files a second into one folder).
    """
    if not path.parent.is_dir():
        return
    host = _host_tag()
    try:
        candidates = list(path.parent.glob(f".{glob.escape(path.name)}{_PART}{host}-*"))
    except OSError:
        return
    for p in candidates:
        pid = p.name[len(path.name) + 1 + len(_PART) + len(host) + 1:].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            _remove(p)


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


def make_folders(folder: str | os.PathLike) -> list[Path]:
    """Create ``folder`` and its missing parents; return the ones created, outermost first (for
    :func:`remove_folders` on failure).

    Raises
    ------
    OutputError
    """
    folder = Path(os.path.abspath(folder))
    missing = []
    p = folder
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise (as_output_error(exc, folder) or OutputError(f"cannot create the folder {folder}: {exc}")) from None
    return missing[::-1]


def remove_folders(created: Sequence[Path]) -> None:
    """Remove the folders :func:`make_folders` created, innermost first, where they are still empty."""
    for p in reversed(created):
        try:
            p.rmdir()
        except OSError:
            break


@contextmanager
def _discarded_on_failure(tmp: Path, path: Path, created: Sequence[Path] = ()) -> Iterator[None]:
    """Remove ``tmp`` (and the folders made for it) on any exception; an ``OSError`` meaning "cannot
    write" becomes an ``OutputError``."""
    try:
        yield
    except OSError as exc:
        _remove(tmp)
        remove_folders(created)
        err = as_output_error(exc, path)
        if err is None:
            raise
        raise err from None
    except BaseException:
        _remove(tmp)
        remove_folders(created)
        raise


@contextmanager
def atomic_output(path: str | os.PathLike, *,
                  verify: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """Write to a unique temporary beside ``path``; rename onto ``path`` only when complete.

    Parameters
    ----------
    path : path-like
        The final file (checked with :func:`check_output_file` first by the caller, ideally before the
        work starts).  Missing folders above it are created (and removed again on failure).
    verify : callable(Path) or None
        Called on the finished temporary before the rename; raising there discards it (e.g. probe an MP4
        for its streams).

    Yields
    ------
    Path
        The temporary to write to.  It has the same extension, so format-by-extension writers work.
        Unique to this writer: concurrent writers of one path never share a temporary (the last to
        finish wins, each with a complete file).

    Raises
    ------
    OutputError
        When writing fails for lack of space or permission (the temporary is removed).
    """
    path = Path(path)
    created = make_folders(path.parent)
    tmp = temp_name(path)
    with _discarded_on_failure(tmp, path, created):
        yield tmp
        if not tmp.exists():
            raise OutputError(f"cannot write {path}: nothing was written")
        if verify is not None:
            verify(tmp)
        os.replace(tmp, path)


def save_npz(path: str | os.PathLike, *, compressed: bool = False, **arrays) -> Path:
    """``np.savez(_compressed)`` through :func:`atomic_output`, quietly failing: the archive is built in
    memory and written in one go, so a full disk is one :class:`OutputError` (numpy's own zip file, left
    half-written, printed eight lines of ``Exception ignored in ZipFile.__del__`` as it was collected).

    Returns
    -------
    Path
    """
    import io

    import numpy as np

    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    with atomic_output(path) as tmp:
        tmp.write_bytes(buf.getbuffer())
    return Path(path)


def _merge_into(src: Path, dst: Path) -> None:
    """Move every file of folder ``src`` into folder ``dst`` (same file system), replacing files of the
    same name only; anything else in ``dst`` stays."""
    for entry in sorted(src.iterdir()):
        target = dst / entry.name
        if entry.is_dir() and not entry.is_symlink():
            if target.is_dir():
                _merge_into(entry, target)
                continue
            if os.path.lexists(target):
                raise OutputError(f"cannot write the folder {target}: a file of that name is in the way")
            os.rename(entry, target)
        else:
            if target.is_dir() and not target.is_symlink():
                raise OutputError(f"cannot write {target}: a folder of that name is in the way")
            os.replace(entry, target)


@contextmanager
def atomic_output_dir(path: str | os.PathLike) -> Iterator[Path]:
    """A folder output: the work writes into a temporary folder; on success its files move into ``path``.

    Nothing that is already in ``path`` is removed: files of the same name are replaced (each by a
    complete file), everything else stays (``--save-openpose .`` or a folder holding the song are safe).
    A folder that did not exist appears complete (renamed in one step) or not at all.  On failure the
    temporary folder (and any folder made for it) is removed.

    Yields
    ------
    Path
        The temporary folder to write into (hidden, on the same file system as ``path``).
    """
    path = Path(os.path.abspath(path))
    if os.path.lexists(path) and not path.is_dir():
        raise OutputError(f"cannot write into {path}: it is not a directory")
    existed = path.is_dir()
    # An existing folder holds its own temporary (always writable by the check, same file system);
    # a new one is built beside it and renamed into place.
    created = [] if existed else make_folders(path.parent)
    tmp = (path / path.name if existed else path)
    _sweep_stale(tmp)
    tmp = temp_name(tmp)
    with _discarded_on_failure(tmp, path, created):
        tmp.mkdir()
        yield tmp
        if not path.is_dir():
            try:
                os.rename(tmp, path)
                return
            except OSError:
                if not path.is_dir():
                    raise
        _merge_into(tmp, path)
        _remove(tmp)


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
