"""``dancepose extract --ray``: pose extraction of many videos on a Ray cluster.

Every video becomes Ray tasks, one per segment of about ``segment_seconds`` (only long videos have more
than one).  A segment task runs the detector over its frames and writes every person of every frame to
``<out>/<stem>.pose.parts/<start>-<stop>.npz``.  Segments are whole state blocks
(:data:`~dancepose.offline.backends.STATE_BLOCK_SECONDS`): the detector starts afresh at every block in
every run, local ones too, so a segment sees exactly what the run from frame 0 sees, with no warm-up and
no overlap.  When all segments of a video are there, one more task puts them end to end — redoing, given
the frames before it, a segment whose first frame the local path would have looked at again to keep the
dancer (:func:`~dancepose.offline.extract.keep_dancer`) — and goes through
:func:`~dancepose.offline.extract.finish_video` — main-dancer tracking and smoothing over the whole
video — so the output files equal the local path's, bit for bit.

* A rerun skips videos whose outputs exist and segments already written (their files carry a
  fingerprint of the video, backend and segment).
* A worker that dies (killed, out of memory, a lost node) is replaced by Ray and its task redone
  (``max_retries``); a segment file is renamed into place only when complete.
* A video that fails (corrupt, truncated, nobody in it) is reported on its own line; the others go on.
* One progress bar counts frames across the cluster (frames/s is its rate).

Paths are resolved here and read by the workers: on a multi-node cluster, sources and the output folder
must be on storage every node mounts at the same path (NFS, a shared volume in KubeRay), and every node
needs ``pip install "dancepose[ray]"``.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from dancepose.models.cli import Interrupted, progress
from dancepose.models.errors import DanceposeError, DeviceError, InputError, ParameterError

from .backends import SOURCE_SKELETON, make_detector, state_block
from .clean import CleanConfig
from .extract import (_fingerprint, continued, detect_frames, expected_frames, extract_image, finish_video,
                      iter_detections, last_dancer, load_detections, save_detections, seeded_frame)
from .video import VideoInfo, iter_frames, media_kind, probe_video

#: Ray retries a task this often when its worker dies (a SIGKILL, the OOM killer, a lost node).
TASK_RETRIES = 3
#: A segment task reports its progress every this many frames.
REPORT_EVERY = 10
#: Seconds ``--ray ADDRESS`` may take to join a cluster that answered the probe; then exit 5.
CONNECT_TIMEOUT_S = 20.0
#: Seconds the probe of a cluster address waits for the TCP connection, and then for the gRPC answer.
PROBE_TIMEOUT_S = 3.0


def require_ray() -> None:
    """``ParameterError`` (one line: how to install it) when Ray is not installed."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ParameterError("--ray needs Ray, which is not installed: pip install \"dancepose[ray]\"") \
            from None


@dataclass(frozen=True)
class Segment:
    """Frames ``start ≤ i < stop`` of a video (``stop=None``: to its end)."""

    start: int
    stop: int | None

    @property
    def file_name(self) -> str:
        return f"{self.start:09d}-{'end' if self.stop is None else f'{self.stop:09d}'}.npz"


def plan_segments(*, n_frames: int, fps: float, segment_seconds: float, max_frames: int | None) -> list[Segment]:
    """Split frames ``0 … n`` (n = ``n_frames`` capped by ``max_frames``) into near-equal segments of
    whole state blocks (:func:`~dancepose.offline.backends.state_block`), about ``segment_seconds`` each.

    The last segment runs to ``max_frames`` or to the end of the video whatever its declared length
    (``n_frames`` is the container's count, which may be approximate or 0 when unknown).

    Returns
    -------
    list of Segment
        In order, contiguous, starting at 0; every start a multiple of the block.
    """
    total = min(n_frames, max_frames) if (n_frames and max_frames) else (n_frames or max_frames or 0)
    block = state_block(fps)
    blocks = -(-total // block)
    k = min(blocks, max(1, round(total / max(1.0, segment_seconds * fps)))) if total else 1
    bounds = [round(i * blocks / k) * block for i in range(k)] + [max_frames]
    return [Segment(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


# ----------------------------------------------------------------------------------- on workers
class FrameCounter:
    """A Ray actor adding up the frames every segment task has done (the progress bar's source).

    Each task reports its own running count; a retried task starts again from 0, so the counter keeps
    the largest count per segment and the total never counts a frame twice.
    """

    def __init__(self) -> None:
        self._done: dict[str, int] = {}

    def report(self, key: str, frames: int) -> None:
        self._done[key] = max(self._done.get(key, 0), frames)

    def total(self) -> int:
        return sum(self._done.values())


def _segment_task(*, path: Path, segment: Segment, block: int, backend: str, openpose_model: Path | None,
                  file: Path, fingerprint: str, counter: Any) -> int:
    """Detect every person in one segment and write them to ``file``; returns the number of frames."""
    frames: list = []

    def report(index: int) -> None:
        if len(frames) % REPORT_EVERY == 0:
            counter.report.remote(str(file), len(frames))

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    detect_frames(path=path, backend=backend, openpose_model=openpose_model, start=segment.start,
                  stop=segment.stop, block=block, into=frames, on_frame=report)
    save_detections(file, fingerprint=fingerprint, frames=frames, n_points=SOURCE_SKELETON[backend][1])
    counter.report.remote(str(file), len(frames))
    return len(frames)


def _finish_task(*, path: Path, source: Path, out_dir: Path, parts: Path,
                 segments: list[tuple[Segment, str]], info: VideoInfo, expected: int, backend: str,
                 openpose_model: Path | None, overlay: bool, openpose_json: bool,
                 clean: CleanConfig | None) -> tuple[Path, int]:
    """Stitch the segments of a video and write its outputs (as the local path does); remove the parts.

    Returns the output and how many segments were redone (:func:`_stitched`)."""
    import io

    log = io.StringIO()
    frames, redone = _stitched(path=path, parts=parts, segments=segments, info=info, backend=backend,
                               openpose_model=openpose_model, log=log)
    try:
        out = finish_video(path=path, source=source, out_dir=out_dir, frames=frames, info=info,
                           expected=expected, backend=backend, openpose_model=openpose_model, overlay=overlay,
                           openpose_json=openpose_json, clean=clean, quiet=True, log=log)
    except InputError:
        shutil.rmtree(parts, ignore_errors=True)   # the whole video was read; a rerun gives the same answer
        raise
    shutil.rmtree(parts, ignore_errors=True)
    return out, redone


def _stitched(*, path: Path, parts: Path, segments: list[tuple[Segment, str]], info: VideoInfo, backend: str,
              openpose_model: Path | None, log: Any) -> tuple[list, int]:
    """The people of every frame, segments end to end, as the local path sees them; segments redone.

    A segment task starts without the frames before it, so its first block looked at the whole frame
    afresh.  Where the local path would have kept the dancer of the segment before instead
    (:func:`~dancepose.offline.extract.keep_dancer`: the first look lost them, a look inside their box finds
    somebody), the segment is run again here, given those frames.
    """
    n_points = SOURCE_SKELETON[backend][1]
    tracks = make_detector(backend, openpose_model=openpose_model).tracks
    block = state_block(info.fps)
    frames: list = []
    redone = 0
    for seg, fingerprint in segments:
        got = load_detections(parts / seg.file_name, fingerprint=fingerprint, n_points=n_points, log=log)
        if got is None:
            raise InputError(f"{path}: segment {seg.file_name} disappeared during extraction; run again")
        prev = last_dancer(frames) if tracks and got else []
        if prev and not continued(prev, got[0]) and _seed_finds(path, backend, openpose_model, seg.start, prev):
            got = [people for _, people in iter_detections(path=path, backend=backend, openpose_model=openpose_model,
                                                            start=seg.start, stop=seg.stop, block=block,
                                                            before=frames)]
            redone += 1
        frames += got
        if seg.stop is not None and len(got) < seg.stop - seg.start:
            break   # the video ended before its declared length: later segments are empty
    return frames, redone


def _seed_finds(path: Path, backend: str, openpose_model: Path | None, index: int, prev: list) -> bool:
    """Whether a fresh detector finds anybody in frame ``index`` inside ``prev``'s boxes."""
    for _, frame in iter_frames(path, start=index, stop=index + 1, seek=True):
        with make_detector(backend, static_image=False, openpose_model=openpose_model) as det:
            return bool(det.process(seeded_frame(frame, prev)))
    return False


def _image_task(**kwargs: Any) -> Path:
    return extract_image(**kwargs)


# --------------------------------------------------------------------------------------- driver
def _absolute(path: Path) -> Path:
    """``path`` for the workers, whose working folder differs: absolute, symbolic links kept (names!)."""
    return Path(os.path.abspath(path))


def gcs_endpoint(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``HOST:PORT`` cluster address; None for the forms Ray resolves itself
    (``auto``, ``ray://…`` and anything else that is not a host and a port)."""
    if "://" in address:
        return None
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return None
    return host.strip("[]"), int(port)


def probe_gcs(host: str, port: int, *, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Check, in at most about ``timeout`` seconds, that a Ray head's GCS can be listening at ``host:port``.

    The GCS is a gRPC server: it answers a TCP connection that opens with the HTTP/2 preface with a
    SETTINGS frame at once.  ``ray.init`` itself retries an address that does not answer for minutes, in
    native code that no signal interrupts.

    Raises
    ------
    DeviceError
        The host cannot be resolved, nothing listens there (refused, unreachable, no answer), or what
        listens does not speak gRPC.  With ``RAY_USE_TLS`` set only the TCP connection is checked.
    """
    where = f"{host}:{port}"
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror as exc:
        raise DeviceError(f"cannot reach the Ray cluster at {where!r}: unknown host ({exc.strerror})") from None
    except TimeoutError:
        raise DeviceError(f"cannot reach the Ray cluster at {where!r}: no answer within {timeout:g} s") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DeviceError(f"cannot reach the Ray cluster at {where!r}: nothing listens there ({reason}); "
                          f"start it with `ray start --head --port {port}`") from None
    with sock:
        if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
            return   # a TLS GCS does not answer a plain-text preface
        try:
            sock.sendall(_HTTP2_PREFACE)
            head = _read_exactly(sock, 9, timeout=timeout)
        except OSError:
            head = b""
    if len(head) < 9 or head[3] != _HTTP2_SETTINGS:
        raise DeviceError(f"cannot reach the Ray cluster at {where!r}: something listens there but it is not "
                          f"a Ray head (no gRPC answer); give the head's GCS address (ray start --head "
                          f"prints it, port 6379 by default)")


#: The HTTP/2 client preface and an empty SETTINGS frame (RFC 9113 §3.4); a server answers SETTINGS.
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
_HTTP2_SETTINGS = 0x04


def _read_exactly(sock: socket.socket, n: int, *, timeout: float) -> bytes:
    """Up to ``n`` bytes from ``sock`` within ``timeout`` s (fewer when it closes or stays silent)."""
    deadline = time.monotonic() + timeout
    data = b""
    while len(data) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(n - len(data))
        except TimeoutError:
            break
        if not chunk:
            break
        data += chunk
    return data


def _bootstrap_address(address: str) -> str:
    """The address ``ray.init`` will dial for ``address``: ``auto`` read from ``RAY_ADDRESS`` or the
    cluster this machine started last, a loopback host replaced by this node's IP (as Ray does)."""
    if "://" in address:
        return address
    try:
        from ray._private.services import canonicalize_bootstrap_address

        return canonicalize_bootstrap_address(address) or address
    except Exception:  # noqa: BLE001 - a private helper: without it the address is probed as given
        return address


def _init_joining(ray: Any, address: str, *, timeout: float, **kwargs: Any) -> None:
    """``ray.init(address=…)`` in a helper thread while this one waits, at most ``timeout`` seconds.

    ``ray.init`` blocks in native code; waiting on an event keeps this thread's signal handlers running
    (a SIGINT/SIGTERM raises :class:`~dancepose.models.cli.Interrupted` here within 0.1 s).  A connection
    still pending when the command ends is abandoned with its daemon thread.
    """
    done = threading.Event()
    failure: list[BaseException] = []

    def connect() -> None:
        try:
            ray.init(address=address, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            failure.append(exc)
        finally:
            done.set()

    threading.Thread(target=connect, name="dancepose-ray-connect", daemon=True).start()
    deadline = time.monotonic() + timeout
    while not done.wait(0.1):
        if time.monotonic() > deadline:
            raise DeviceError(f"cannot join the Ray cluster at {address!r}: it did not let this driver in "
                              f"within {timeout:g} s (is it a Ray {ray.__version__} head's GCS address?)")
    if failure:
        raise failure[0]


def _connect(ray: Any, address: str) -> int:
    """Start or join the cluster (keeping this process's signal handlers); returns its CPU count.

    A cluster address is probed first (:func:`probe_gcs`) and joined within :data:`CONNECT_TIMEOUT_S`;
    every failure is one :class:`DeviceError` line (exit 5).
    """
    quiet_logs = dict(log_to_driver=False, logging_level=logging.ERROR)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    endpoint = gcs_endpoint(_bootstrap_address(address)) if address != "local" else None
    if endpoint is not None:
        probe_gcs(*endpoint)
    try:
        if address == "local":
            ray.init(address="local", num_cpus=os.cpu_count() or 1, include_dashboard=False, **quiet_logs)
        else:
            _init_joining(ray, address, timeout=CONNECT_TIMEOUT_S, **quiet_logs)
    except DeviceError:
        raise
    except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ValueError …
        reasons = [_first_line(e) for e in (exc, exc.__cause__) if e is not None]
        hint = (" (a cluster with Ray's default token authentication needs RAY_AUTH_MODE=token and its "
                "token here)" if address != "local" else "")
        raise DeviceError(f"cannot start or reach the Ray cluster at {address!r}: "
                          f"{'; '.join(reasons)}{hint}") from None
    finally:
        try:   # ray.init installs its own SIGTERM handler: keep the one signal policy of models.cli
            for s, h in handlers.items():
                signal.signal(s, h)
        except ValueError:   # not the main thread
            pass
    return int(ray.cluster_resources().get("CPU", 0))


@dataclass
class _Video:
    path: Path
    info: VideoInfo
    expected: int
    parts: Path
    segments: list[tuple[Segment, str]]
    pending: set = field(default_factory=set)
    failed: bool = False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _cause_message(ray: Any, exc: BaseException) -> BaseException | str:
    """The user-facing exception inside a Ray error (to re-raise), or a one-line message (item failure)."""
    cause = getattr(exc, "cause", None) if isinstance(exc, ray.exceptions.RayTaskError) else None
    if isinstance(cause, InputError):
        return str(cause)
    if isinstance(cause, DanceposeError):   # out of disk, broken model …: not this item's fault
        return cause
    return _first_line(cause if cause is not None else exc)


def extract_on_ray(*, paths: list[Path], out_dir: Path, backend: str, openpose_model: Path | None,
                   overlay: bool, openpose_json: bool, quiet: bool, force: bool, max_frames: int | None,
                   clean: CleanConfig | None, address: str, segment_seconds: float,
                   log: TextIO) -> dict[Path, str]:
    """Extract ``paths`` on a Ray cluster into ``out_dir`` (see the module docstring).

    Parameters
    ----------
    paths : list of Path
        Checked videos and images (see :func:`~dancepose.offline.extract.collect_sources`) to do.
    address : str
        ``"local"`` (start a cluster on this machine's cores) or a cluster address.
    out_dir, backend, openpose_model, overlay, openpose_json, quiet, force, max_frames, clean,
    segment_seconds
        See :func:`~dancepose.offline.extract.extract_pose`.
    log : text stream
        Progress and per-item messages.

    Returns
    -------
    dict
        Failed sources → one-line reason (empty when all succeeded).

    Raises
    ------
    DeviceError
        The cluster cannot be started or reached.
    DanceposeError
        A failure that is not the item's (e.g. the output disk is full) stops the batch.
    """
    import ray

    errors: dict[Path, str] = {}
    if not paths:
        return errors
    cpus = _connect(ray, address)
    try:
        with _SignalNote() as note:
            try:
                _run(ray, paths=paths, out_dir=out_dir, backend=backend, openpose_model=openpose_model,
                     overlay=overlay, openpose_json=openpose_json, quiet=quiet, force=force,
                     max_frames=max_frames, clean=clean, segment_seconds=segment_seconds, log=log, cpus=cpus,
                     errors=errors)
            except KeyboardInterrupt as exc:
                if note.signum is not None and not hasattr(exc, "exit_code"):
                    raise Interrupted(note.signum) from None   # Ray re-raised a bare KeyboardInterrupt
                raise
    finally:
        ray.shutdown()
    return errors


class _SignalNote:
    """Notes which signal arrived, around this process's own handlers.

    Ray's blocking calls turn the exception a signal handler raises into a new, bare
    ``KeyboardInterrupt``; knowing the signal keeps the exit code (143 for SIGTERM, 130 for SIGINT).
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> "_SignalNote":
        for s in (signal.SIGINT, signal.SIGTERM):
            handler = signal.getsignal(s)
            if callable(handler):
                try:
                    signal.signal(s, self._wrap(handler))
                except ValueError:   # not the main thread
                    break
                self._saved[s] = handler
        return self

    def _wrap(self, handler: Any) -> Any:
        def noted(signum: int, frame: Any) -> None:
            self.signum = signum
            handler(signum, frame)
        return noted

    def __exit__(self, *exc: object) -> None:
        for s, handler in self._saved.items():
            signal.signal(s, handler)


def _plan_video(path: Path, *, info: VideoInfo, parts: Path, force: bool, backend: str,
                openpose_model: Path | None, segment_seconds: float, max_frames: int | None) -> _Video:
    """A video's segments, each with the fingerprint its part file must carry; ``parts`` made (emptied
    first with ``force``)."""
    if force:
        shutil.rmtree(parts, ignore_errors=True)
    parts.mkdir(exist_ok=True)
    fp = _fingerprint(path, backend, openpose_model)
    segs = plan_segments(n_frames=info.n_frames, fps=info.fps, segment_seconds=segment_seconds,
                         max_frames=max_frames)
    block = state_block(info.fps)
    return _Video(path=path, info=info, expected=expected_frames(info, max_frames), parts=parts,
                  segments=[(s, f"{fp}|{s.start}|{s.stop}|{block}") for s in segs])


class _Jobs:
    """The Ray tasks of one extraction: submitted per source, collected as they finish.

    A video's segments are submitted first; its finishing task (stitch, clean, write) once the last of
    them is back.  A failed segment fails its video once; an image is one task.
    """

    def __init__(self, ray: Any, *, out_dir: Path, backend: str, openpose_model: Path | None, overlay: bool,
                 openpose_json: bool, clean: CleanConfig | None, log: TextIO, errors: dict[Path, str]) -> None:
        options = dict(num_cpus=1, max_retries=TASK_RETRIES)
        self._ray, self._log, self._errors = ray, log, errors
        self._segment_task = ray.remote(**options)(_segment_task)
        self._finish_task = ray.remote(**options)(_finish_task)
        self._image_task = ray.remote(**options)(_image_task)
        self.counter = ray.remote(num_cpus=0)(FrameCounter).remote()
        self._out, self._backend, self._model = _absolute(out_dir), backend, openpose_model
        # the model as given makes the fingerprints (the same as a local run's); the tasks get it absolute
        self._model_abs = _absolute(openpose_model) if openpose_model else None
        self._outputs = dict(overlay=overlay, openpose_json=openpose_json)
        self._clean = clean
        self.pending: dict[Any, tuple[str, Path]] = {}
        self._videos: dict[Path, _Video] = {}
        self.total = self.already = 0  # frames to do, and found done on disk

    def fail(self, path: Path, message: str) -> None:
        self._errors[path] = message
        print(f"{path.name}: failed: {message}", file=self._log)

    def submit_image(self, path: Path) -> None:
        ref = self._image_task.remote(path=_absolute(path), source=path, out_dir=self._out, backend=self._backend,
                                      openpose_model=self._model_abs, **self._outputs)
        self.pending[ref] = ("image", path)

    def submit_video(self, path: Path, *, force: bool, segment_seconds: float, max_frames: int | None,
                     quiet: bool) -> None:
        """The segments not already on disk (then the finishing task, if none is left to run)."""
        try:
            info = probe_video(path)
        except InputError as exc:
            self.fail(path, str(exc))
            return
        v = self._videos[path] = _plan_video(path, info=info, parts=self._out / f"{path.stem}.pose.parts",
                                             force=force, backend=self._backend, openpose_model=self._model,
                                             segment_seconds=segment_seconds, max_frames=max_frames)
        block, n_points = state_block(info.fps), SOURCE_SKELETON[self._backend][1]
        for seg, sfp in v.segments:
            file = v.parts / seg.file_name
            got = load_detections(file, fingerprint=sfp, n_points=n_points, log=self._log)
            if got is not None:
                self.already += len(got)
                continue
            ref = self._segment_task.remote(path=_absolute(path), segment=seg, block=block, backend=self._backend,
                                            openpose_model=self._model_abs, file=file, fingerprint=sfp,
                                            counter=self.counter)
            self.pending[ref] = ("segment", path)
            v.pending.add(ref)
        self.total += v.expected
        done = len(v.segments) - len(v.pending)
        if done and not quiet:
            print(f"{path.name}: resuming: {done} of {len(v.segments)} segments already done", file=self._log)
        if not v.pending:
            self._submit_finish(v)

    def _submit_finish(self, v: _Video) -> None:
        ref = self._finish_task.remote(path=_absolute(v.path), source=v.path, out_dir=self._out, parts=v.parts,
                                       segments=v.segments, info=v.info, expected=v.expected,
                                       backend=self._backend, openpose_model=self._model_abs, clean=self._clean,
                                       **self._outputs)
        self.pending[ref] = ("finish", v.path)

    def collect(self, ref: Any, *, quiet: bool) -> None:
        """One finished task: its video goes on (or fails once), or its failure is reported."""
        ray = self._ray
        kind, path = self.pending.pop(ref)
        try:
            result = ray.get(ref)
        except ray.exceptions.RayError as exc:
            reason = _cause_message(ray, exc)
            if isinstance(reason, BaseException):
                raise reason from None
            if kind == "segment":
                if self._videos[path].failed:
                    return
                self._videos[path].failed = True
            self.fail(path, reason)
            return
        if kind == "segment":
            v = self._videos[path]
            v.pending.discard(ref)
            if not v.pending and not v.failed:
                self._submit_finish(v)
        elif kind == "finish" and result[1] and not quiet:
            print(f"{path.name}: {result[1]} segment(s) run again to keep the dancer across their start",
                  file=self._log)

    def cancel(self) -> None:
        """Stop the cluster's work; finished segments stay on disk for a rerun."""
        for ref in self.pending:
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - already finished or gone
                pass


def _run(ray: Any, *, paths: list[Path], out_dir: Path, backend: str, openpose_model: Path | None,
         overlay: bool, openpose_json: bool, quiet: bool, force: bool, max_frames: int | None,
         clean: CleanConfig | None, segment_seconds: float, log: TextIO, cpus: int,
         errors: dict[Path, str]) -> None:
    jobs = _Jobs(ray, out_dir=out_dir, backend=backend, openpose_model=openpose_model, overlay=overlay,
                 openpose_json=openpose_json, clean=clean, log=log, errors=errors)
    for path in paths:
        if media_kind(path) == "image":
            jobs.submit_image(path)
        else:
            jobs.submit_video(path, force=force, segment_seconds=segment_seconds, max_frames=max_frames,
                              quiet=quiet)
    bar = progress(total=jobs.total or None, initial=jobs.already, unit="frame", dynamic_ncols=True, file=log,
                   desc=f"extract on Ray ({cpus} CPU{'s' * (cpus != 1)})", quiet=quiet)
    shown = 0
    try:
        while jobs.pending:
            ready, _ = ray.wait(list(jobs.pending), num_returns=len(jobs.pending), timeout=0.5)
            count = ray.get(jobs.counter.total.remote())
            bar.update(count - shown)
            shown = count
            for ref in ready:
                jobs.collect(ref, quiet=quiet)
    except BaseException:
        jobs.cancel()
        raise
    finally:
        bar.close()


__all__ = ["FrameCounter", "Segment", "extract_on_ray", "gcs_endpoint", "plan_segments", "probe_gcs", "require_ray"]
