"""``dancepose extract``: 2D pose of the main dancer in videos and images → ``<stem>.pose.npz``.

Per source the pipeline is: detector backend (:mod:`dancepose.offline.backends`) → choice of the main
dancer (:class:`MainPersonTracker`) → canonical skeleton (:func:`dancepose.models.skeleton.adapt`) →
cleaning (:mod:`dancepose.offline.clean`) → :class:`~dancepose.models.posefile.PoseSequence` file.

The detector starts afresh every :data:`~dancepose.offline.backends.STATE_BLOCK_SECONDS` of video, in
every run, so a run may start at any block and see what a run from frame 0 sees there.  Its raw output
(every person of every frame) is kept until the end; choosing the dancer and cleaning run once over the
whole video (:func:`finish_video`).  So a video extracted in pieces — resumed after an interruption, or
split into segments on a Ray cluster (:mod:`dancepose.offline.ray_extract`) — gives the same file as one
uninterrupted run, bit for bit.

Videos are resumable: the raw detections are checkpointed every ``checkpoint_every`` frames, and on
Ctrl-C, SIGTERM or any error, to ``<out>/<stem>.pose.partial.npz``; a rerun continues after the last frame
saved.  An unreadable checkpoint is discarded with a one-line warning (it only saves time); ``force``
deletes it.  The output folder is checked before any work, and every output is written under a
temporary name and renamed when complete (:mod:`dancepose.models.outputs`).
"""
from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence, TextIO

import numpy as np

from dancepose.models.clock import MODEL_FPS
from dancepose.models.cli import progress
from dancepose.models.errors import InputError, OutputError, ParameterError
from dancepose.models.outputs import atomic_output, atomic_output_dir, check_output_dir, save_npz
from dancepose.models.posefile import MISSING, PoseSequence
from dancepose.models.skeleton import LIMBS, LEFT_RIGHT, adapt

from .backends import (BACKENDS, SOURCE_SKELETON, STATE_BLOCK_SECONDS, Person, make_detector,
                       native_stderr_redirected, state_block)
from .clean import CleanConfig, clean_sequence
from .video import (IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, VideoInfo, iter_frames, media_kind, probe_video,
                    read_image)

#: Every person of every frame, before tracking; -3: the detector starts afresh every state block.
CHECKPOINT_FORMAT = "dancepose-extract-checkpoint-3"

#: Default cleaning per backend: MediaPipe's visibilities and OpenPose heatmap peaks live on different
#: scales (a PAF-assembled OpenPose part at 0.15 is a good detection; a MediaPipe point at 0.15 is a guess).
DEFAULT_CLEAN: dict[str, CleanConfig] = {"mediapipe": CleanConfig(min_confidence=0.3),
                                         "openpose": CleanConfig(min_confidence=0.1)}


# ------------------------------------------------------------------------------------ main dancer
@dataclass(frozen=True)
class TrackerConfig:
    """How the main dancer is chosen and followed.

    Attributes
    ----------
    min_iou : float
        A person whose bounding box overlaps the previous one by at least this IoU is the same dancer.
    max_center_jump : float
        Otherwise, the nearest person whose box centre moved less than this fraction of the previous box
        diagonal is taken.
    reacquire_frames : int
        After this many frames without the dancer, the most prominent person is chosen afresh.
    """

    min_iou: float = 0.1
    max_center_jump: float = 0.5
    reacquire_frames: int = 15


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


class MainPersonTracker:
    """Keeps one dancer over time among the people a backend returns per frame.

    At the start (and after ``reacquire_frames`` frames without the dancer) the most prominent person
    is chosen: largest box area, weighted down by the distance of its centre from the image centre.
    Afterwards the person overlapping the previous box most (IoU), or else the nearest one, is followed.
    """

    def __init__(self, *, image_size: tuple[int, int], config: TrackerConfig = TrackerConfig()) -> None:
        self.image_size = image_size
        self.config = config
        self._bbox: np.ndarray | None = None
        self._lost = 0

    def _prominence(self, box: np.ndarray) -> float:
        w, h = self.image_size
        area = (box[2] - box[0]) * (box[3] - box[1])
        cx, cy = (box[0] + box[2]) / 2 / w - 0.5, (box[1] + box[3]) / 2 / h - 0.5
        return float(area * (1.0 - min(1.0, np.hypot(cx, cy))))

    def select(self, people: Sequence[Person]) -> Person | None:
        """The main dancer among ``people`` (or None), updating the tracking state."""
        boxed = [(p, p.bbox()) for p in people]
        boxed = [(p, b) for p, b in boxed if b is not None]
        choice = None
        if boxed and self._bbox is not None and self._lost < self.config.reacquire_frames:
            ious = [_iou(self._bbox, b) for _, b in boxed]
            k = int(np.argmax(ious))
            if ious[k] >= self.config.min_iou:
                choice = boxed[k]
            else:
                prev_c = (self._bbox[:2] + self._bbox[2:]) / 2
                diag = float(np.hypot(*(self._bbox[2:] - self._bbox[:2])))
                dists = [float(np.hypot(*((b[:2] + b[2:]) / 2 - prev_c))) for _, b in boxed]
                k = int(np.argmin(dists))
                if dists[k] <= self.config.max_center_jump * max(diag, 1.0):
                    choice = boxed[k]
        elif boxed:
            choice = max(boxed, key=lambda pb: self._prominence(pb[1]))
        if choice is None:
            self._lost += 1
            return None
        self._bbox, self._lost = choice[1], 0
        return choice[0]


# ---------------------------------------------------------------------------- detections on disk
def _fingerprint(path: Path, backend: str, model: Path | None) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{backend}|{model.resolve() if model else ''}"


def pack_detections(frames: Sequence[Sequence[Person]], *, n_points: int) -> dict[str, np.ndarray]:
    """Every person of every frame as flat arrays (the inverse of :func:`unpack_detections`).

    Returns ``counts`` (n,) int32 people per frame, ``points`` (P, n_points, 2) float32,
    ``confidence`` (P, n_points) float32 and ``score`` (P,) float32, P = counts.sum().
    """
    people = [p for f in frames for p in f]
    return dict(counts=np.array([len(f) for f in frames], np.int32),
                points=np.array([p.points for p in people], np.float32).reshape(-1, n_points, 2),
                confidence=np.array([p.confidence for p in people], np.float32).reshape(-1, n_points),
                score=np.array([p.score for p in people], np.float32))


def unpack_detections(d, *, n_points: int) -> list[list[Person]]:
    """The people of each frame from :func:`pack_detections` arrays (any mapping, e.g. an open npz).

    Raises ``ValueError`` when the arrays do not fit together.
    """
    counts, pts = np.asarray(d["counts"], np.int64), np.asarray(d["points"], np.float32)
    conf, score = np.asarray(d["confidence"], np.float32), np.asarray(d["score"], np.float32)
    if (counts.ndim != 1 or (counts < 0).any() or pts.shape != (int(counts.sum()), n_points, 2)
            or conf.shape != pts.shape[:2] or score.shape != pts.shape[:1]):
        raise ValueError("detection arrays of inconsistent shapes")
    ends = np.cumsum(counts)
    return [[Person(points=pts[i], confidence=conf[i], score=float(score[i])) for i in range(e - c, e)]
            for c, e in zip(counts, ends)]


def save_detections(path: Path, *, fingerprint: str, frames: Sequence[Sequence[Person]], n_points: int) -> None:
    """Write raw detections (a checkpoint or an ``extract --ray`` segment) atomically."""
    save_npz(path, format=np.str_(CHECKPOINT_FORMAT), fingerprint=np.str_(fingerprint),
             **pack_detections(frames, n_points=n_points))


def load_detections(path: Path, *, fingerprint: str, n_points: int, log: TextIO) -> list[list[Person]] | None:
    """Raw detections saved for the same input, or None (absent).

    A checkpoint that cannot be read (corrupt, truncated, an older format) or that was made from another
    input is only a lost shortcut: it is deleted with one warning line on ``log`` and None is returned,
    so extraction starts again from the first frame.
    """
    if not path.exists():
        return None
    try:
        with np.load(path) as d:
            if str(d["format"]) != CHECKPOINT_FORMAT:
                reason = "an older format"
            elif str(d["fingerprint"]) != fingerprint:
                reason = "made from another file or backend"
            else:
                return unpack_detections(d, n_points=n_points)
    except Exception as exc:  # noqa: BLE001 - whatever is wrong with it, the checkpoint is only a cache
        reason = f"unreadable: {type(exc).__name__}"
    print(f"{path.name}: discarding the checkpoint ({reason}); starting from the first frame", file=log)
    path.unlink(missing_ok=True)
    return None


#: Frames back a block start looks for the dancer of the block before (as the tracker re-acquires).
KEEP_DANCER_FRAMES: int = TrackerConfig().reacquire_frames
#: Margin around the previous dancer's box, as a fraction of its size, when looking for them again.
SEED_MARGIN: float = 0.25


def continued(prev: Sequence[Person], now: Sequence[Person], *, config: TrackerConfig = TrackerConfig()) -> bool:
    """Whether ``now`` holds a person of ``prev``: box overlap ≥ ``min_iou`` or a centre jump under
    ``max_center_jump`` box diagonals (:class:`MainPersonTracker`'s rule)."""
    for p in prev:
        pb = p.bbox()
        for q in now:
            qb = q.bbox()
            if pb is None or qb is None:
                continue
            diag = max(1.0, float(np.hypot(*(pb[2:] - pb[:2]))))
            jump = float(np.hypot(*((qb[:2] + qb[2:]) / 2 - (pb[:2] + pb[2:]) / 2)))
            if _iou(pb, qb) >= config.min_iou or jump <= config.max_center_jump * diag:
                return True
    return False


def last_dancer(frames: Sequence[Sequence[Person]]) -> list[Person]:
    """The people of the last frame with anybody among the last :data:`KEEP_DANCER_FRAMES` (or [])."""
    for people in reversed(frames[-KEEP_DANCER_FRAMES:]):
        if people:
            return list(people)
    return []


def seeded_frame(frame: np.ndarray, people: Sequence[Person]) -> np.ndarray:
    """``frame`` black outside the boxes of ``people`` grown by :data:`SEED_MARGIN` (same size)."""
    h, w = frame.shape[:2]
    out = np.zeros_like(frame)
    for p in people:
        box = p.bbox()
        if box is None:
            continue
        mx, my = SEED_MARGIN * (box[2] - box[0]), SEED_MARGIN * (box[3] - box[1])
        x0, y0 = max(0, int(box[0] - mx)), max(0, int(box[1] - my))
        x1, y1 = min(w, int(np.ceil(box[2] + mx)) + 1), min(h, int(np.ceil(box[3] + my)) + 1)
        out[y0:y1, x0:x1] = frame[y0:y1, x0:x1]
    return out


def keep_dancer(det, frame: np.ndarray, people: list[Person], *, prev: Sequence[Person]) -> list[Person]:
    """At a block start (``det`` just reset and given ``frame``): the dancer of the frames before.

    A tracking detector starting afresh looks at the whole frame and may lock onto someone else (in a shot
    with several people) or miss the dancer.  When its first look does not continue ``prev``, it looks
    again with everything but ``prev``'s box blacked out, and keeps that if it finds somebody — its
    tracking then follows them in the frames after.  Otherwise the first look stands (run again from a
    reset, so the state is that of the first look).  Deterministic: a local run and a Ray segment redone
    with the same ``prev`` agree bit for bit.
    """
    if not det.tracks or not prev or continued(prev, people):
        return people
    det.reset()
    seeded = det.process(seeded_frame(frame, prev))
    if seeded:
        return seeded
    det.reset()
    return det.process(frame)


def iter_detections(*, path: Path, backend: str, openpose_model: Path | None, start: int, stop: int | None,
                    block: int, before: Sequence[Sequence[Person]] = ()) -> Iterator[tuple[int, list[Person]]]:
    """``(index, people)`` for frames ``start ≤ index < stop`` of a video.

    The detector starts afresh at ``start`` and at every later multiple of ``block``
    (:func:`~dancepose.offline.backends.state_block`), keeping the dancer of the frames before
    (:func:`keep_dancer`), so a run from any block start given the frames before it gives what the run
    from frame 0 gives there.  It lives as long as the generator (close it to release it early).

    Parameters
    ----------
    path : Path
    backend : {"mediapipe", "openpose"}
    openpose_model : Path or None
    start : int
        0 or a multiple of ``block``.
    stop : int or None
        None: to the end of the video.
    block : int ≥ 1
    before : sequence of list of Person
        The people of the frames just before ``start`` (at least the last :data:`KEEP_DANCER_FRAMES`);
        empty: look at frame ``start`` afresh (a Ray segment; its first block is checked when stitched).
    """
    if block < 1 or start % block:
        raise ValueError(f"a run starts at a multiple of its state block ({block} frames), not at {start}")
    recent = list(before[-KEEP_DANCER_FRAMES:])
    with make_detector(backend, static_image=False, openpose_model=openpose_model) as det:
        for index, frame in iter_frames(path, start=start, stop=stop, seek=True):
            at_block = index % block == 0
            if at_block and index != start:
                det.reset()
            people = det.process(frame)
            if at_block:
                people = keep_dancer(det, frame, people, prev=last_dancer(recent))
            recent = recent[1 - KEEP_DANCER_FRAMES:] + [people]
            yield index, people


def detect_frames(*, path: Path, backend: str, openpose_model: Path | None, start: int, stop: int | None,
                  block: int, into: list[list[Person]], on_frame: Callable[[int], None] | None = None) -> None:
    """Every person the backend finds in frames ``start ≤ index < stop`` of a video, appended to ``into``.

    As :func:`iter_detections`, with ``into`` as the frames before ``start`` (a resumed run: its
    checkpoint; a Ray segment: empty).  One list is appended per frame, in a single step, so ``into``
    stays consistent when a signal interrupts the loop.

    Parameters
    ----------
    path, backend, openpose_model, start, stop, block
        See :func:`iter_detections`.
    into : list
        Receives one ``list[Person]`` per frame.
    on_frame : callable or None
        Called with each kept frame's index after it was appended.
    """
    for index, people in iter_detections(path=path, backend=backend, openpose_model=openpose_model,
                                         start=start, stop=stop, block=block, before=into):
        into.append(people)
        if on_frame is not None:
            on_frame(index)


# ------------------------------------------------------------------------------------------ drawing
def draw_pose(frame_bgr: np.ndarray, keypoints: np.ndarray, flags: np.ndarray | None = None, *,
              thickness: int | None = None) -> np.ndarray:
    """Draw the canonical skeleton on a copy of ``frame_bgr``.

    Parameters
    ----------
    frame_bgr : np.ndarray [shape=(H, W, 3)] uint8
    keypoints : np.ndarray [shape=(N_JOINTS, 2)] pixels; NaN joints are skipped
    flags : np.ndarray [shape=(N_JOINTS,)] or None
        Interpolated joints are drawn hollow.
    thickness : int or None
        Limb width in pixels (default: about 1/150 of the image height, at least 2).

    Returns
    -------
    np.ndarray [shape=(H, W, 3)] uint8
    """
    import cv2

    img = np.ascontiguousarray(frame_bgr).copy()
    th = thickness or max(2, int(round(img.shape[0] / 150)))
    left = {int(a) for a, _ in LEFT_RIGHT}
    right = {int(b) for _, b in LEFT_RIGHT}
    ok = np.isfinite(keypoints).all(-1)
    for a, b in LIMBS:
        if ok[a] and ok[b]:
            colour = (255, 160, 0) if int(b) in left else (0, 96, 255) if int(b) in right else (0, 230, 255)
            pa = tuple(int(round(v)) for v in keypoints[a])
            pb = tuple(int(round(v)) for v in keypoints[b])
            cv2.line(img, pa, pb, colour, th, cv2.LINE_AA)
    for j in np.flatnonzero(ok):
        c = tuple(int(round(v)) for v in keypoints[j])
        filled = flags is None or flags[j] == 0
        cv2.circle(img, c, th + 1, (255, 255, 255), -1 if filled else max(1, th // 2), cv2.LINE_AA)
    return img


def _write_video_overlay(*, video: Path, seq: PoseSequence, out: Path, quiet: bool, log: TextIO) -> Path:
    """Re-read ``video`` and write it with the skeleton drawn (H.264 MP4 via imageio-ffmpeg)."""
    import cv2
    import imageio_ffmpeg

    w, h = seq.image_size
    ew, eh = w + (w % 2), h + (h % 2)
    with atomic_output(out) as tmp:
        writer = imageio_ffmpeg.write_frames(str(tmp), (ew, eh), fps=seq.fps, codec="libx264",
                                             pix_fmt_in="rgb24", pix_fmt_out="yuv420p", quality=7,
                                             macro_block_size=1, ffmpeg_log_level="error",
                                             output_params=["-preset", "veryfast"])
        writer.send(None)
        try:
            for t, frame in progress(iter_frames(video, stop=len(seq)), total=len(seq), unit="frame",
                                     desc=f"overlay {video.name}", quiet=quiet, leave=False, file=log):
                img = draw_pose(frame, seq.keypoints[t], seq.flags[t])
                if (ew, eh) != (w, h):
                    img = cv2.copyMakeBorder(img, 0, eh - h, 0, ew - w, cv2.BORDER_CONSTANT)
                writer.send(np.ascontiguousarray(img[:, :, ::-1]))
            writer.close()
        except OSError as exc:  # the encoder died (a full disk): a broken pipe here, one line for the user
            _close_quietly(writer)
            full = shutil.disk_usage(tmp.parent).free < (1 << 20)
            raise OutputError(f"cannot write {out}: " + ("no space left on its disk" if full else
                              f"the video encoder stopped ({str(exc).splitlines()[0]})")) from None
        except BaseException:
            _close_quietly(writer)
            raise
    return out


def _close_quietly(writer) -> None:
    """Close an imageio-ffmpeg writer whose encoder may already be gone."""
    try:
        writer.close()
    except Exception:  # noqa: BLE001 - the first error is the one reported
        pass


# ---------------------------------------------------------------------------------------- sources
def collect_sources(sources: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand directories (their videos and images, sorted, not recursive) and check every path.

    Raises
    ------
    InputError
        A path does not exist, a file has an unsupported extension, or a directory holds nothing usable.
    """
    out: list[Path] = []
    for s in sources:
        p = Path(s)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file()
                           and f.suffix.lower() in VIDEO_EXTENSIONS | IMAGE_EXTENSIONS)
            if not found:
                raise InputError(f"{p}: directory holds no videos or images")
            out += found
        elif p.exists():
            media_kind(p)
            out.append(p)
        else:
            raise InputError(f"{p}: no such file or directory")
    if not out:
        raise InputError("no input given")
    return out


def _source_string(path: Path, backend: str, model: Path | None) -> str:
    return f"{path} | backend={backend}" + (f" model={model.name}" if model else "")


def _person_arrays(person: Person | None, n_points: int) -> tuple[np.ndarray, np.ndarray]:
    if person is None:
        return np.full((n_points, 2), np.nan, np.float32), np.zeros(n_points, np.float32)
    return person.points.astype(np.float32), person.confidence.astype(np.float32)


# ------------------------------------------------------------------------------------ per source
def extract_image(*, path: Path, out_dir: Path, backend: str = "mediapipe", openpose_model: Path | None = None,
                  overlay: bool = False, openpose_json: bool = False, source: Path | None = None) -> Path:
    """Pose of the main person in one image → ``<out_dir>/<stem>.pose.npz`` (one frame, fps = MODEL_FPS).

    ``source`` is how the pose file names the image (default ``path``).  Raises ``InputError`` when the
    image cannot be read or shows nobody.
    """
    import cv2

    img = read_image(path)
    h, w = img.shape[:2]
    with make_detector(backend, static_image=True, openpose_model=openpose_model) as det:
        people = det.process(img)
    person = MainPersonTracker(image_size=(w, h)).select(people)
    if person is None:
        raise InputError(f"{path}: nobody found in the image")
    src, n_points = SOURCE_SKELETON[backend]
    pts, conf = _person_arrays(person, n_points)
    kp, c = adapt(pts[None], conf[None], source=src)
    seq = PoseSequence(keypoints=kp, confidence=c, fps=float(MODEL_FPS), image_size=(w, h),
                       source=_source_string(source or path, backend, openpose_model))
    seq = clean_sequence(seq, config=replace(DEFAULT_CLEAN[backend], smoothing=None))
    if not (seq.flags != MISSING).any():
        raise InputError(f"{path}: nobody found in the image (no confident joint)")
    out = _write_outputs(seq=seq, stem=path.stem, out_dir=out_dir, openpose_json=openpose_json)
    if overlay:
        ov = out_dir / f"{path.stem}.overlay.png"
        with atomic_output(ov) as tmp:
            if not cv2.imwrite(str(tmp), draw_pose(img, seq.keypoints[0], seq.flags[0])):
                raise OutputError(f"cannot write {ov}")
    return out


def _write_outputs(*, seq: PoseSequence, stem: str, out_dir: Path, openpose_json: bool) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    if openpose_json:
        with atomic_output_dir(out_dir / f"{stem}.openpose") as tmp:
            seq.to_openpose_json(tmp, stem=stem)
    return seq.save(out_dir / f"{stem}.pose.npz")


def finish_video(*, path: Path, out_dir: Path, frames: Sequence[Sequence[Person]], info: VideoInfo,
                 expected: int, backend: str = "mediapipe", openpose_model: Path | None = None,
                 source: Path | None = None, overlay: bool = False, openpose_json: bool = False,
                 clean: CleanConfig | None = None, quiet: bool = False, log: TextIO | None = None) -> Path:
    """From every person of every frame to the written outputs: main dancer, skeleton, cleaning, files.

    The local path and ``extract --ray`` (after stitching its segments) both end here, so the same raw
    detections give the same files.

    Parameters
    ----------
    path, out_dir : Path
    frames : sequence of list of Person
        The people of frames 0 … n-1.
    info : VideoInfo
    expected : int
        Frames there should be (0: unknown); fewer than 95 % is a truncated video.
    source : Path or None
        How the pose file names its video (default ``path``).
    backend, openpose_model, overlay, openpose_json, clean, quiet, log
        See :func:`extract_video`.

    Raises
    ------
    InputError
        No frame, a truncated video, or nobody in any frame.
    """
    src, n_points = SOURCE_SKELETON[backend]
    n = len(frames)
    if n == 0:
        raise InputError(f"{path}: cannot decode any frame (corrupt or truncated video)")
    if expected and n < 0.95 * expected - 2:
        raise InputError(f"{path}: truncated or corrupt video: decoded {n} of {expected} frames")
    tracker = MainPersonTracker(image_size=(info.width, info.height))
    chosen = [_person_arrays(tracker.select(people), n_points) for people in frames]
    pts = np.stack([p for p, _ in chosen])
    conf = np.stack([c for _, c in chosen])
    kp, c = adapt(pts, conf, source=src)
    raw = PoseSequence(keypoints=kp, confidence=c, fps=info.fps, image_size=(info.width, info.height),
                       source=_source_string(source or path, backend, openpose_model))
    seq = clean_sequence(raw, config=clean or DEFAULT_CLEAN[backend])
    if not (seq.flags != MISSING).any():
        raise InputError(f"{path}: nobody found in any of its {n} frames")
    out = _write_outputs(seq=seq, stem=path.stem, out_dir=out_dir, openpose_json=openpose_json)
    if overlay:
        _write_video_overlay(video=path, seq=seq, out=out_dir / f"{path.stem}.overlay.mp4", quiet=quiet,
                             log=log or sys.stderr)
    return out


def expected_frames(info: VideoInfo, max_frames: int | None) -> int:
    """Frames a run should produce: the declared count, capped by ``max_frames`` (0: unknown)."""
    if max_frames is None:
        return info.n_frames
    return min(info.n_frames, max_frames) if info.n_frames else max_frames


def extract_video(*, path: Path, out_dir: Path, backend: str = "mediapipe", openpose_model: Path | None = None,
                  overlay: bool = False, openpose_json: bool = False, quiet: bool = False,
                  max_frames: int | None = None, checkpoint_every: int = 300,
                  clean: CleanConfig | None = None, force: bool = False,
                  on_frame: Callable[[int], None] | None = None, log: TextIO | None = None) -> Path:
    """Pose of the main dancer in every frame of a video → ``<out_dir>/<stem>.pose.npz``.

    Parameters
    ----------
    path, out_dir : Path
    backend : {"mediapipe", "openpose"}
    openpose_model : Path or None
    overlay : bool
        Also write ``<stem>.overlay.mp4`` (H.264) with the cleaned skeleton drawn.
    openpose_json : bool
        Also write ``<stem>.openpose/`` with one OpenPose JSON per frame.
    quiet : bool
        No progress bar.
    max_frames : int or None
        Process only the first ``max_frames`` frames.
    checkpoint_every : int
        Frames between two checkpoints (``<stem>.pose.partial.npz``).  A checkpoint is also written when
        the run is interrupted (Ctrl-C, SIGTERM, any error), with every frame done so far; a rerun
        continues from the start of the state block it ended in (:func:`~dancepose.offline.backends.state_block`:
        at most 10 s of video done again), so the result equals an uninterrupted run bit for bit.  An
        unreadable checkpoint is discarded with a warning.
    clean : CleanConfig or None
        Gap filling and smoothing (None: ``DEFAULT_CLEAN[backend]``).
    force : bool
        Delete an existing checkpoint and start from the first frame.
    on_frame : callable or None
        Called with the frame index after each processed frame (progress hooks; raising
        ``KeyboardInterrupt`` from it behaves like Ctrl-C).
    log : text stream or None
        Where progress and messages go (default ``sys.stderr``).

    Returns
    -------
    Path of the ``.pose.npz``.

    Raises
    ------
    InputError
        Unreadable, corrupt or truncated video, or nobody in any frame.
    """
    log = log or sys.stderr
    info = probe_video(path)
    n_points = SOURCE_SKELETON[backend][1]
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt = out_dir / f"{path.stem}.pose.partial.npz"
    fp = _fingerprint(path, backend, openpose_model)
    if force:
        ckpt.unlink(missing_ok=True)
    frames = (load_detections(ckpt, fingerprint=fp, n_points=n_points, log=log) or [])[:max_frames]
    block = state_block(info.fps)
    saved, start = len(frames), len(frames) // block * block
    del frames[start:]
    expected = expected_frames(info, max_frames)
    if saved and not quiet:
        print(f"{path.name}: resuming from {ckpt.name}: {saved} frames saved, continuing at frame {start} "
              f"(the start of its {STATE_BLOCK_SECONDS:g}-s block)", file=log)
    bar = progress(total=expected or None, initial=start, unit="frame", desc=path.name, quiet=quiet,
                   dynamic_ncols=True, file=log)

    def step(index: int) -> None:
        bar.update(1)
        if len(frames) % checkpoint_every == 0:
            save_detections(ckpt, fingerprint=fp, frames=frames, n_points=n_points)
        if on_frame is not None:
            on_frame(index)

    try:
        detect_frames(path=path, backend=backend, openpose_model=openpose_model, start=start, stop=max_frames,
                      block=block, into=frames, on_frame=step)
    except BaseException:
        if len(frames) > start:
            save_detections(ckpt, fingerprint=fp, frames=frames, n_points=n_points)
        raise
    finally:
        bar.close()
    try:
        out = finish_video(path=path, out_dir=out_dir, frames=frames, info=info, expected=expected,
                           backend=backend, openpose_model=openpose_model, overlay=overlay,
                           openpose_json=openpose_json, clean=clean, quiet=quiet, log=log)
    except InputError:
        ckpt.unlink(missing_ok=True)   # the whole video was read; a rerun gives the same answer
        raise
    ckpt.unlink(missing_ok=True)
    return out


def _outputs_exist(path: Path, out_dir: Path, *, overlay: bool, openpose_json: bool) -> bool:
    if not (out_dir / f"{path.stem}.pose.npz").is_file():
        return False
    if overlay:
        ext = ".overlay.png" if media_kind(path) == "image" else ".overlay.mp4"
        if not (out_dir / f"{path.stem}{ext}").is_file():
            return False
    return not openpose_json or (out_dir / f"{path.stem}.openpose").is_dir()


def extract_pose(*, sources: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
                 backend: str = "mediapipe", openpose_model: str | os.PathLike | None = None,
                 overlay: bool = False, openpose_json: bool = False, quiet: bool = False,
                 force: bool = False, max_frames: int | None = None, checkpoint_every: int = 300,
                 clean: CleanConfig | None = None, on_frame: Callable[[int], None] | None = None,
                 ray: str | None = None, segment_seconds: float = 120.0) -> list[Path]:
    """Extract the main dancer's 2D pose from videos, images or directories of them.

    Parameters
    ----------
    sources : sequence of path
        Videos, images, or directories (their videos and images, not recursive).
    out_dir : path
        Where ``<stem>.pose.npz`` (and overlays / JSON) go.
    backend : {"mediapipe", "openpose"}
    openpose_model : path or None
        Required for ``backend="openpose"``: ``.pb`` GraphDef or Caffe ``.prototxt``.
    overlay, openpose_json, quiet, max_frames, checkpoint_every, clean, on_frame
        See :func:`extract_video` (``checkpoint_every`` and ``on_frame``: local runs only).
    force : bool
        Redo sources whose outputs already exist (they are skipped otherwise); drop their checkpoints.
    ray : str or None
        None: extract here, one source after the other.  Otherwise on a Ray cluster
        (:mod:`dancepose.offline.ray_extract`): ``"local"`` starts one on this machine's cores, anything
        else is the address of a running cluster (``"auto"``, ``"10.0.0.5:6379"``).
    segment_seconds : float > 0
        Ray only: videos longer than this are split into segments of about this length.

    Returns
    -------
    list of Path
        The ``.pose.npz`` files of the sources extracted, in order.

    Raises
    ------
    InputError
        A path is missing or unsupported (checked before any work), or a source could not be processed.
        One policy for bad items in a batch: the others are still done, each failure is reported on
        its own line, and the error raised at the end names the first failure and counts them.
    OutputError
        ``out_dir`` cannot be a writable directory (checked before any work).
    ParameterError
        Unknown backend, openpose without a model, bad numbers, or ``ray`` without Ray installed.
    """
    if backend not in BACKENDS:
        raise ParameterError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if max_frames is not None and max_frames < 1:
        raise ParameterError(f"max_frames must be >= 1, got {max_frames}")
    if checkpoint_every < 1:
        raise ParameterError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
    if not segment_seconds > 0:
        raise ParameterError(f"segment_seconds must be > 0, got {segment_seconds}")
    if ray is not None:
        from .ray_extract import require_ray

        require_ray()
    model = Path(openpose_model) if openpose_model is not None else None
    if backend == "openpose":
        make_detector(backend, openpose_model=model)   # validates the model path before any work
    paths = collect_sources(sources)
    out = check_output_dir(out_dir, create=True)
    with native_stderr_redirected() as log:
        todo = []
        for path in paths:
            if not force and _outputs_exist(path, out, overlay=overlay, openpose_json=openpose_json):
                if not quiet:
                    print(f"{path.name}: already extracted, skipping (--force to redo)", file=log)
            else:
                todo.append(path)
        if ray is not None:
            from .ray_extract import extract_on_ray

            errors = extract_on_ray(paths=todo, out_dir=out, backend=backend, openpose_model=model,
                                    overlay=overlay, openpose_json=openpose_json, quiet=quiet, force=force,
                                    max_frames=max_frames, clean=clean, address=ray,
                                    segment_seconds=segment_seconds, log=log)
        else:
            errors = {}
            for path in todo:
                try:
                    if media_kind(path) == "image":
                        extract_image(path=path, out_dir=out, backend=backend, openpose_model=model,
                                      overlay=overlay, openpose_json=openpose_json)
                    else:
                        extract_video(path=path, out_dir=out, backend=backend, openpose_model=model,
                                      overlay=overlay, openpose_json=openpose_json, quiet=quiet,
                                      max_frames=max_frames, checkpoint_every=checkpoint_every,
                                      clean=clean, force=force, on_frame=on_frame, log=log)
                except InputError as exc:
                    if len(paths) == 1:
                        raise
                    errors[path] = str(exc)
                    print(f"{path.name}: failed: {exc}", file=log)
    return _batch_result(paths, out, errors)


def _batch_result(paths: list[Path], out: Path, errors: dict[Path, str]) -> list[Path]:
    """The pose files of a batch, or the one error naming its failures (see :func:`extract_pose`)."""
    if errors:
        if len(paths) == 1:
            raise InputError(next(iter(errors.values())))
        first = next(iter(errors.values()))
        more = f" (and {len(errors) - 1} more failed)" if len(errors) > 1 else ""
        raise InputError(f"{first}{more}; {len(paths) - len(errors)} of {len(paths)} sources extracted")
    return [out / f"{p.stem}.pose.npz" for p in paths]


__all__ = ["CleanConfig", "MainPersonTracker", "TrackerConfig", "collect_sources", "detect_frames",
           "draw_pose", "expected_frames", "extract_image", "extract_pose", "extract_video", "finish_video",
           "iter_detections",
           "load_detections", "save_detections"]
