"""``dancepose fetch``: download dance videos with yt-dlp and extract each soundtrack to WAV.

Videos are saved as ``<title>-<id>.mp4`` (sanitised) in the output folder; what was downloaded is
recorded in yt-dlp's download archive (``download-archive.txt`` there), so a second run skips it.  The
soundtrack is extracted beside the video as ``<same name>.wav`` (original rate and channels, 16-bit) with
the ffmpeg bundled with imageio-ffmpeg.  A failing link is reported on one line and the others carry on.

Nothing broken is kept as if it were good: every video (new or already there) is probed
(:func:`~dancepose.models.outputs.verify_media`: it opens, has a video stream, reads to its end, and its
streams run as long as the container and yt-dlp say the video lasts — a fragmented MP4 cut at a fragment
boundary reads cleanly but ends early); a truncated or unreadable one is deleted, taken out of the archive
and reported as failed, so the next run fetches it again.  yt-dlp's ``.part`` leftovers of a failed link
are removed.  The WAV is written through :func:`~dancepose.models.outputs.atomic_output`.

Exit codes (:attr:`FetchReport.exit_code`): 3 when a link failed (not found, unsupported, truncated), 6
when a file could not be written (a full disk), as everywhere in dancepose.
"""
from __future__ import annotations

import errno
import glob
import os
import subprocess
import sys
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from dancepose.models.audio import ffmpeg_exe
from dancepose.models.errors import InputError, OutputError, ParameterError
from dancepose.models.outputs import as_output_error, atomic_output, check_output_dir, verify_media

ARCHIVE_NAME = "download-archive.txt"
OUTPUT_TEMPLATE = "%(title).60B-%(id)s.%(ext)s"
#: mp4 preferred: mp4 video + m4a audio, else the best mp4, else anything merged into mp4.
FORMAT = "bv*[ext=mp4]+ba[ext=m4a]/b[ext=mp4]/bv*+ba/b"
NO_AUDIO = "no audio track"
VIDEO_EXTS = (".mp4", ".mkv", ".webm", ".mov", ".m4v")
#: A video whose streams end this much (s) before the length its container or the site announces is cut.
CUT_SHORT_S = 1.0


@dataclass(frozen=True)
class FetchItem:
    """One link's outcome.

    ``video``/``wav`` are the files (``wav`` is None when the video has no audio track, ``note`` says
    why); for a failed link ``note`` holds the reason and ``exit_code`` what kind of failure it was
    (3 the link's input, 6 an output).
    """

    link: str
    video: Path | None = None
    wav: Path | None = None
    note: str = ""
    exit_code: int = 0


@dataclass(frozen=True)
class FetchReport:
    """What :func:`fetch_videos` did: downloaded (``ok``), already there (``skipped``), ``failed``."""

    ok: tuple[FetchItem, ...] = ()
    skipped: tuple[FetchItem, ...] = ()
    failed: tuple[FetchItem, ...] = ()

    @property
    def success(self) -> bool:
        """True when no link failed."""
        return not self.failed

    @property
    def exit_code(self) -> int:
        """0 when every link worked; else 6 if a file could not be written, else 3 (a link's input)."""
        return max((f.exit_code for f in self.failed), default=0)


class _QuietLogger:
    """Collects yt-dlp's messages instead of printing them; the last error becomes the report line."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def debug(self, msg: str) -> None:  # noqa: D102
        pass

    info = debug

    def warning(self, msg: str) -> None:  # noqa: D102
        pass

    def error(self, msg: str) -> None:  # noqa: D102
        self.errors.append(msg)


def read_links(links: Iterable[str | os.PathLike]) -> list[str]:
    """Expand the command-line links: URLs stay, text files give one URL per line (``#`` comments).

    Raises
    ------
    InputError
        A link that is neither a URL nor an existing file, or an unreadable file.
    """
    out: list[str] = []
    for link in links:
        text = str(link).strip()
        if "://" in text:
            out.append(text)
            continue
        path = Path(text)
        if not path.is_file():
            raise InputError(f"{text}: not a URL and no such file")
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read link list {path}: {exc}") from None
        for line in lines:
            line = line.strip()
            if line and not line.startswith("#"):
                out.append(line.split(" #", 1)[0].strip())
    return out


def extract_wav(video: Path, wav: Path) -> Path:
    """Write the first audio stream of ``video`` to ``wav`` (16-bit PCM, original rate/channels).

    Written through :func:`~dancepose.models.outputs.atomic_output` (a temporary, checked to hold
    audio, then renamed).

    Raises
    ------
    InputError
        ``"no audio track"`` when the video has none; any other decoding failure.
    OutputError
        The WAV cannot be written (full disk, permissions).
    """
    with atomic_output(wav, verify=_check_wav) as tmp:
        cmd = [ffmpeg_exe(), "-nostdin", "-y", "-v", "error", "-i", str(video), "-map", "0:a:0", "-vn",
               "-c:a", "pcm_s16le", str(tmp)]
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, check=False)
        err = proc.stderr.decode("utf-8", "replace").strip()
        if proc.returncode != 0:
            if "matches no streams" in err or "does not contain any stream" in err:
                raise InputError(NO_AUDIO)
            if "No space left" in err:
                raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
            raise InputError(f"cannot extract audio: {err.splitlines()[-1] if err else proc.returncode}")
    return wav


def _check_wav(path: Path) -> None:
    """A readable WAV with at least one sample frame (else ``InputError``)."""
    try:
        with wave.open(str(path)) as w:
            if w.getnframes() <= 0:
                raise InputError(f"{path.name}: no audio samples")
    except (wave.Error, EOFError, OSError) as exc:
        raise InputError(f"{path.name}: unreadable WAV ({exc})") from None


def _video_problem(video: Path, *, announced_s: float | None = None) -> str | None:
    """Why ``video`` is not a complete, playable video (None when it is).

    Besides reading cleanly to its end, its streams must run as long as its container says (a fragmented
    MP4 cut at a fragment boundary reads cleanly but ends early) and as the site announced
    (``announced_s``, yt-dlp's ``duration``), within :data:`CUT_SHORT_S`.
    """
    try:
        info = verify_media(video, video=True, audio=False)
    except OutputError as exc:
        return str(exc)
    runs = max((s["duration"] or 0.0 for s in info["streams"] if s["type"] in ("video", "audio")), default=0.0)
    for said, by in ((info["duration"], "its container"), (announced_s, "the site")):
        if said and runs < float(said) - CUT_SHORT_S:
            return f"{video.name} is cut short: it plays {runs:.1f} s of the {float(said):.1f} s {by} announces"
    return None


def _forget_partial(video: Path | None) -> None:
    """Remove yt-dlp's ``.part`` / ``.ytdl`` leftovers of ``video``'s download."""
    if video is None:
        return
    for pattern in ("*.part", "*.ytdl"):
        for p in video.parent.glob(glob.escape(video.stem) + pattern):
            p.unlink(missing_ok=True)


def _forget(ydl: object, info: dict, video: Path) -> None:
    """Delete a bad/partial download and take it out of the download archive (re-fetched next run)."""
    video.unlink(missing_ok=True)
    _forget_partial(video)
    archive_id = ydl._make_archive_id(info)  # yt-dlp's own id for the archive line
    ydl.archive.discard(archive_id)
    archive = Path(ydl.params["download_archive"])
    if archive.is_file():
        lines = archive.read_text(encoding="utf-8").splitlines()
        kept = [ln for ln in lines if ln.strip() != archive_id]
        if len(kept) != len(lines):
            with atomic_output(archive) as tmp:
                tmp.write_text("".join(ln + "\n" for ln in kept), encoding="utf-8")


def _clean_error(msg: str) -> str:
    """yt-dlp's message on one line, without its ``ERROR:`` / ``[download]`` prefixes and carriage returns."""
    lines = [ln.strip() for ln in msg.replace("\r", "\n").splitlines() if ln.strip()]
    lines = [ln for ln in lines if ln != "ERROR:"]
    msg = lines[0] if lines else "unknown error"
    for prefix in ("ERROR: ", "[download] ", "Got error: "):
        msg = msg[len(prefix):] if msg.startswith(prefix) else msg
    return msg or "unknown error"


class _NotKept(Exception):
    """A download that finished but is incomplete or unplayable (deleted, out of the archive)."""


def _ydl_options(out: Path, logger: _QuietLogger, *, hooks: list) -> dict:
    opts = {
        "outtmpl": str(out / OUTPUT_TEMPLATE),
        "restrictfilenames": True,
        "format": FORMAT,
        "merge_output_format": "mp4",
        "download_archive": str(out / ARCHIVE_NAME),
        "ffmpeg_location": ffmpeg_exe(),
        "noplaylist": True,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,  # our bars (hooks) instead of yt-dlp's, or none
        "logger": logger,
        "retries": 3,
        "socket_timeout": 30,
    }
    if hooks:
        opts["progress_hooks"] = hooks
    return opts


class _ByteBars:
    """yt-dlp progress hook → one progress bar per file being downloaded."""

    def __init__(self) -> None:
        self.bars: dict = {}

    def __call__(self, d: dict) -> None:
        from dancepose.models.cli import progress

        name = Path(d.get("filename") or "video").name
        bar = self.bars.get(name)
        if bar is None:
            total = d.get("total_bytes") or d.get("total_bytes_estimate")
            bar = self.bars[name] = progress(total=total, desc=name[:40], unit="B", unit_scale=True, leave=False)
        done = d.get("downloaded_bytes") or 0
        bar.update(max(0, done - bar.n))
        if d.get("status") in ("finished", "error"):
            bar.close()
            self.bars.pop(name, None)


def _fetch_video(ydl, url: str, *, logger: _QuietLogger, say) -> tuple[Path, bool]:
    """The link's video on disk: ``(path, was_there)`` — already there and whole, or downloaded now.

    Raises
    ------
    yt_dlp.utils.YoutubeDLError, OSError
        The link failed (the caller reports it).
    _NotKept
        Downloaded, but cut short or unplayable: deleted and taken out of the archive.
    """
    import yt_dlp

    info = ydl.extract_info(url, download=False)
    if info is None:
        raise yt_dlp.utils.DownloadError(logger.errors[-1] if logger.errors else "no video found")
    if info.get("_type") in ("playlist", "multi_video"):
        raise yt_dlp.utils.DownloadError("is a playlist; give the video links one by one")
    video = Path(ydl.prepare_filename(info))
    archived = ydl.in_download_archive(info)
    if archived:  # yt-dlp stops processing archived entries: the extension is unknown
        found = [video.with_suffix(e) for e in VIDEO_EXTS if video.with_suffix(e).is_file()]
        video = found[0] if found else video
    announced = info.get("duration")
    if video.is_file():
        if (problem := _video_problem(video, announced_s=announced)) is None:
            if not archived:
                ydl.record_download_archive(info)
            return video, True
        say(f"{video.name} is damaged ({problem}); fetching it again")
    if archived or video.is_file():
        _forget(ydl, info, video)
        info = ydl.extract_info(url, download=False) or info
    say(f"downloading {url}")
    try:
        result = ydl.process_ie_result(info, download=True)
    except BaseException:
        _forget_partial(video)
        raise
    done = [d.get("filepath") for d in (result or {}).get("requested_downloads", [])]
    if done and done[0]:
        video = Path(done[0])
    if not video.is_file():
        _forget_partial(video)
        raise yt_dlp.utils.DownloadError(logger.errors[-1] if logger.errors else "download produced no file")
    if (problem := _video_problem(video, announced_s=announced)) is not None:
        _forget(ydl, info, video)
        raise _NotKept(f"download incomplete or unplayable, not kept: {problem}")
    return video, False


def _soundtrack(video: Path, *, was_there: bool) -> tuple[Path | None, str, bool]:
    """The video's WAV: ``(wav or None, note, was_there)``; extracted unless a good one is there.

    Raises
    ------
    InputError
        The audio could not be extracted (other than "no audio track", which is a note).
    """
    wav = video.with_suffix(".wav")
    if was_there and wav.is_file():
        try:
            _check_wav(wav)
            return wav, "", True
        except InputError:
            pass
    try:
        extract_wav(video, wav)
    except InputError as exc:
        if str(exc) != NO_AUDIO:
            raise
        return None, NO_AUDIO, False
    return wav, "", False


def fetch_videos(*, links: Iterable[str | os.PathLike], out_dir: str | os.PathLike,
                 quiet: bool = False) -> FetchReport:
    """Download videos and extract their soundtracks, skipping what is already there.

    Parameters
    ----------
    links : iterable of str or PathLike
        URLs, or text files with one URL per line (``#`` starts a comment line).
    out_dir : str or PathLike
        Folder for ``<title>-<id>.mp4``, ``<title>-<id>.wav`` and the download archive.
    quiet : bool
        No progress output (failures are still printed, one line each, on stderr).

    Returns
    -------
    FetchReport
    """
    import yt_dlp
    from tqdm import tqdm

    from dancepose.models.cli import progress

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"output is not a directory: {out}")
    urls = read_links(links)
    if not urls:
        raise InputError("no links given (the link files are empty)")
    check_output_dir(out, create=True)
    logger = _QuietLogger()
    ok: list[FetchItem] = []
    skipped: list[FetchItem] = []
    failed: list[FetchItem] = []

    def say(msg: str) -> None:
        if not quiet:
            tqdm.write(msg, file=sys.stderr)

    def fail(url: str, reason: str, *, exit_code: int = 3) -> None:
        failed.append(FetchItem(link=url, note=reason, exit_code=exit_code))
        tqdm.write(f"dancepose fetch: FAILED {url}: {reason}", file=sys.stderr)

    with yt_dlp.YoutubeDL(_ydl_options(out, logger, hooks=[] if quiet else [_ByteBars()])) as ydl:
        for url in progress(urls, desc="fetch", unit="link", quiet=quiet or len(urls) < 2):
            logger.errors.clear()
            try:
                video, was_there = _fetch_video(ydl, url, logger=logger, say=say)
            except _NotKept as exc:
                fail(url, str(exc))
                continue
            except (yt_dlp.utils.YoutubeDLError, OSError) as exc:
                reason = _clean_error(logger.errors[-1] if logger.errors else str(exc))
                written = isinstance(exc, OSError) and as_output_error(exc, out) is not None
                fail(url, reason, exit_code=6 if written or "No space left" in reason else 3)
                continue
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # noqa: BLE001 — extractor bugs must not stop the other links
                fail(url, f"{type(exc).__name__}: {exc}")
                continue
            try:
                wav, note, wav_was_there = _soundtrack(video, was_there=was_there)
            except InputError as exc:
                fail(url, f"{video.name}: {exc}")
                continue
            if note == NO_AUDIO:
                tqdm.write(f"dancepose fetch: {video.name}: {NO_AUDIO} (video kept, no WAV)", file=sys.stderr)
            item = FetchItem(link=url, video=video, wav=wav, note=note)
            if was_there and (wav_was_there or note == NO_AUDIO):
                skipped.append(item)
                say(f"skipped (already there) {video.name}")
            else:
                ok.append(item)
                say(f"ok {video.name}" + (f" ({note})" if note else ""))
    return FetchReport(ok=tuple(ok), skipped=tuple(skipped), failed=tuple(failed))
