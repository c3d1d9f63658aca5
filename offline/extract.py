"""``dancepose extract``: 2D pose of the main dancer in videos and images → ``<stem>.pose.npz``.

Per source the pipeline is: detector backend (:mod:`dancepose.offline.backends`) → choice of the main
dancer (:class:`MainPersonTracker`) → canonical skeleton (:func:`dancepose.models.skeleton.adapt`) →
cleaning (:mod:`dancepose.offline.clean`) → :class:`~dancepose.models.posefile.PoseSequence` file.

Videos are resumable: the raw per-frame results are checkpointed every ``checkpoint_every`` frames (and
on Ctrl-C or any error) to ``<out>/<stem>.pose.partial.npz``; a rerun continues after the last frame
saved.  Every output is written under a temporary name and renamed when complete.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Sequence, TextIO

import numpy as np

from dancepose.models.clock import MODEL_FPS
from dancepose.models.errors import InputError, ParameterError
from dancepose.models.posefile import MISSING, PoseSequence
from dancepose.models.skeleton import LIMBS, LEFT_RIGHT, adapt

from .backends import BACKENDS, SOURCE_SKELETON, Person, make_detector, native_stderr_redirected
from .clean import CleanConfig, clean_sequence
from .video import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, iter_frames, media_kind, probe_video, read_image

CHECKPOINT_FORMAT = "dancepose-extract-checkpoint-1"

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


# ------------------------------------------------------------------------------------- checkpoint
def _fingerprint(path: Path, backend: str, model: Path | None) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{backend}|{model.resolve() if model else ''}"


def _load_checkpoint(path: Path, *, fingerprint: str, n_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw points (n, K, 2) and confidence (n, K) saved for the same input, or empty arrays."""
    empty = np.zeros((0, n_points, 2), np.float32), np.zeros((0, n_points), np.float32)
    if not path.is_file():
        return empty
    try:
        with np.load(path) as d:
            if str(d["format"]) != CHECKPOINT_FORMAT or str(d["fingerprint"]) != fingerprint:
                return empty
            pts, conf = d["points"].astype(np.float32), d["confidence"].astype(np.float32)
    except (OSError, ValueError, KeyError):
        return empty
    if pts.ndim != 3 or pts.shape[1:] != (n_points, 2) or conf.shape != pts.shape[:2]:
        return empty
    return pts, conf


def _save_checkpoint(path: Path, *, fingerprint: str, points: list[np.ndarray], confidence: list[np.ndarray]
                     ) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, format=np.str_(CHECKPOINT_FORMAT), fingerprint=np.str_(fingerprint),
             points=np.asarray(points, np.float32), confidence=np.asarray(confidence, np.float32))
    os.replace(tmp, path)


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
    from tqdm import tqdm

    w, h = seq.image_size
    ew, eh = w + (w % 2), h + (h % 2)
    tmp = out.with_name(out.name + ".part.mp4")
    writer = imageio_ffmpeg.write_frames(str(tmp), (ew, eh), fps=seq.fps, codec="libx264",
                                         pix_fmt_in="rgb24", pix_fmt_out="yuv420p", quality=7,
                                         macro_block_size=1, ffmpeg_log_level="error",
                                         output_params=["-preset", "veryfast"])
    writer.send(None)
    try:
        for t, frame in tqdm(iter_frames(video, stop=len(seq)), total=len(seq), unit="frame",
                             desc=f"overlay {video.name}", disable=quiet, leave=False, file=log):
            img = draw_pose(frame, seq.keypoints[t], seq.flags[t])
            if (ew, eh) != (w, h):
                img = cv2.copyMakeBorder(img, 0, eh - h, 0, ew - w, cv2.BORDER_CONSTANT)
            writer.send(np.ascontiguousarray(img[:, :, ::-1]))
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    writer.close()
    os.replace(tmp, out)
    return out


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
                  overlay: bool = False, openpose_json: bool = False) -> Path:
    """Pose of the main person in one image → ``<out_dir>/<stem>.pose.npz`` (one frame, fps = MODEL_FPS).

    Raises ``InputError`` when the image cannot be read or shows nobody.
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
                       source=_source_string(path, backend, openpose_model))
    seq = clean_sequence(seq, config=replace(DEFAULT_CLEAN[backend], smoothing=None))
    if not (seq.flags != MISSING).any():
        raise InputError(f"{path}: nobody found in the image (no confident joint)")
    out = _write_outputs(seq=seq, stem=path.stem, out_dir=out_dir, openpose_json=openpose_json)
    if overlay:
        ov = out_dir / f"{path.stem}.overlay.png"
        tmp = ov.with_name(ov.name + ".part.png")
        if not cv2.imwrite(str(tmp), draw_pose(img, seq.keypoints[0], seq.flags[0])):
            raise InputError(f"{ov}: cannot write the overlay")
        os.replace(tmp, ov)
    return out


def _write_outputs(*, seq: PoseSequence, stem: str, out_dir: Path, openpose_json: bool) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    if openpose_json:
        import shutil

        final = out_dir / f"{stem}.openpose"
        tmp = out_dir / f"{stem}.openpose.part"
        shutil.rmtree(tmp, ignore_errors=True)
        seq.to_openpose_json(tmp, stem=stem)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    return seq.save(out_dir / f"{stem}.pose.npz")


def extract_video(*, path: Path, out_dir: Path, backend: str = "mediapipe", openpose_model: Path | None = None,
                  overlay: bool = False, openpose_json: bool = False, quiet: bool = False,
                  max_frames: int | None = None, checkpoint_every: int = 300,
                  clean: CleanConfig | None = None,
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
        Frames between two checkpoints (``<stem>.pose.partial.npz``).
    clean : CleanConfig or None
        Gap filling and smoothing (None: ``DEFAULT_CLEAN[backend]``).
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
    from tqdm import tqdm

    log = log or sys.stderr
    info = probe_video(path)
    src, n_points = SOURCE_SKELETON[backend]
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt = out_dir / f"{path.stem}.pose.partial.npz"
    fp = _fingerprint(path, backend, openpose_model)
    done_pts, done_conf = _load_checkpoint(ckpt, fingerprint=fp, n_points=n_points)
    stop = max_frames if max_frames is not None else None
    points, confidence = list(done_pts[:stop]), list(done_conf[:stop])
    start = len(points)
    total = min(info.n_frames, stop) if (stop is not None and info.n_frames) else (stop or info.n_frames or None)
    tracker = MainPersonTracker(image_size=(info.width, info.height))
    for p, c in zip(reversed(points), reversed(confidence)):   # resume tracking from the last dancer seen
        if np.isfinite(p).all(-1).sum() >= 2:
            tracker.select([Person(points=p, confidence=c)])
            break
    if start and not quiet:
        print(f"{path.name}: resuming after frame {start} from {ckpt.name}", file=log)
    bar = tqdm(total=total, initial=start, unit="frame", desc=path.name, disable=quiet, dynamic_ncols=True,
               file=log)
    try:
        with make_detector(backend, static_image=False, openpose_model=openpose_model) as det:
            for index, frame in iter_frames(path, start=start, stop=stop):
                person = tracker.select(det.process(frame))
                p, c = _person_arrays(person, n_points)
                points.append(p)
                confidence.append(c)
                bar.update(1)
                if len(points) % checkpoint_every == 0:
                    _save_checkpoint(ckpt, fingerprint=fp, points=points, confidence=confidence)
                if on_frame is not None:
                    on_frame(index)
    except BaseException:
        if len(points) > start:
            _save_checkpoint(ckpt, fingerprint=fp, points=points, confidence=confidence)
        raise
    finally:
        bar.close()
    n = len(points)
    expected = min(info.n_frames, stop) if stop is not None else info.n_frames
    try:
        if n == 0:
            raise InputError(f"{path}: cannot decode any frame (corrupt or truncated video)")
        if expected and n < 0.95 * expected - 2:
            raise InputError(f"{path}: truncated or corrupt video: decoded {n} of {expected} frames")
        pts, conf = np.asarray(points, np.float32), np.asarray(confidence, np.float32)
        kp, c = adapt(pts, conf, source=src)
        raw = PoseSequence(keypoints=kp, confidence=c, fps=info.fps, image_size=(info.width, info.height),
                           source=_source_string(path, backend, openpose_model))
        seq = clean_sequence(raw, config=clean or DEFAULT_CLEAN[backend])
        if not (seq.flags != MISSING).any():
            raise InputError(f"{path}: nobody found in any of its {n} frames")
        out = _write_outputs(seq=seq, stem=path.stem, out_dir=out_dir, openpose_json=openpose_json)
        if overlay:
            _write_video_overlay(video=path, seq=seq, out=out_dir / f"{path.stem}.overlay.mp4", quiet=quiet,
                                 log=log)
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
                 clean: CleanConfig | None = None,
                 on_frame: Callable[[int], None] | None = None) -> list[Path]:
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
        See :func:`extract_video`.
    force : bool
        Redo sources whose outputs already exist (they are skipped otherwise).

    Returns
    -------
    list of Path
        The ``.pose.npz`` files, one per source, in order.

    Raises
    ------
    InputError
        A path is missing or unsupported (checked before any work), or a source could not be processed
        (the others are still done; the error names the first failure and counts the rest).
    ParameterError
        Unknown backend, or openpose without a model.
    """
    if backend not in BACKENDS:
        raise ParameterError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if max_frames is not None and max_frames < 1:
        raise ParameterError(f"max_frames must be >= 1, got {max_frames}")
    if checkpoint_every < 1:
        raise ParameterError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
    model = Path(openpose_model) if openpose_model is not None else None
    if backend == "openpose":
        make_detector(backend, openpose_model=model)   # validates the model path before any work
    paths = collect_sources(sources)
    out = Path(out_dir)
    results: list[Path] = []
    errors: list[str] = []
    with native_stderr_redirected() as log:
        for path in paths:
            if not force and _outputs_exist(path, out, overlay=overlay, openpose_json=openpose_json):
                if not quiet:
                    print(f"{path.name}: already extracted, skipping (force=True to redo)", file=log)
                results.append(out / f"{path.stem}.pose.npz")
                continue
            try:
                if media_kind(path) == "image":
                    results.append(extract_image(path=path, out_dir=out, backend=backend,
                                                 openpose_model=model, overlay=overlay,
                                                 openpose_json=openpose_json))
                else:
                    results.append(extract_video(path=path, out_dir=out, backend=backend,
                                                 openpose_model=model, overlay=overlay,
                                                 openpose_json=openpose_json, quiet=quiet,
                                                 max_frames=max_frames, checkpoint_every=checkpoint_every,
                                                 clean=clean, on_frame=on_frame, log=log))
            except InputError as exc:
                if len(paths) == 1:
                    raise
                errors.append(str(exc))
                if not quiet:
                    print(f"{path.name}: skipped: {exc}", file=log)
    if errors:
        more = f" (and {len(errors) - 1} more failed)" if len(errors) > 1 else ""
        raise InputError(f"{errors[0]}{more}; {len(results)} of {len(paths)} sources extracted")
    return results


__all__ = ["CleanConfig", "MainPersonTracker", "TrackerConfig", "collect_sources",
           "draw_pose", "extract_image", "extract_pose", "extract_video"]
