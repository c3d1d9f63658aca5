"""What ``dancepose learn`` learns from: every kind of source → one person's pose track (+ its music).

Sources (files, or folders of them; folders are not searched recursively except for OpenPose folders):

* **videos** (``.mp4`` …) — through the project's extractor (:func:`dancepose.offline.extract.extract_pose`,
  its speed, checkpoints and ``--ray`` path); the soundtrack is the music when it is not silent;
* **images** — one pose each (a key pose: it tells the person's proportions and rest pose, not a move);
* **pose files** (``*.pose.npz``) — as written by ``dancepose extract``; music beside them (same stem) or
  their source video, when present;
* **OpenPose JSON folders** — one ``*_keypoints.json`` per frame as OpenPose and many tools write them;
  the main person is followed over time (largest, most central, then by box overlap) as in extraction;
  OpenPose stores no frame rate: ``openpose_fps``;
* **AIST++ keypoints2d** (``*.npz`` with ``keypoints2d`` (views, frames, 17, 3) and ``timestamps``): nine
  cameras film one performance.  One view is used — the most frontal one (widest shoulders for the torso
  length, the person's right on image left, confident): the other views are the same moves seen from
  the side or behind, foreshortened into different-looking poses; adding them would add no move of the
  person, only camera angles (and nine copies of every phrase).

Every track is cleaned like extracted video (gap filling + zero-phase One-Euro, :mod:`.clean`), so all
sources reach the clean-stretch selection (:mod:`.stretches`) in the same form: a
:class:`~dancepose.models.posefile.PoseSequence` in pixels at the source's frame rate.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, TextIO

import numpy as np

from dancepose.models.errors import DanceposeError, InputError, ParameterError
from dancepose.models.posefile import MISSING, PoseSequence, read_openpose_people
from dancepose.models.skeleton import Joint, adapt, torso_length

from .clean import CleanConfig, clean_sequence
from .video import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

KINDS = ("video", "image", "pose", "openpose", "aistpp")
#: Soundtracks quieter than this (RMS dBFS) count as no music (the shared 2-s clip: −56.6 dBFS).
MUSIC_DBFS = -35.0
#: Cleaning of keypoint files whose confidences are detector scores (OpenPose, AIST++).
KEYPOINT_CLEAN = CleanConfig(min_confidence=0.1)


@dataclass(frozen=True)
class SourceItem:
    """One source to learn from: its path and kind (one of :data:`KINDS`)."""

    path: Path
    kind: str


@dataclass
class SourceMotion:
    """One person's pose track from one source, cleaned, with its music.

    ``seq`` holds pixels at the source's frame rate (canonical skeleton); ``audio`` is the music (a file
    any ffmpeg decodes, time 0 = pose frame 0) or None; ``note`` says how the source was read.
    """

    name: str
    kind: str
    seq: PoseSequence
    audio: Path | None = None
    note: str = ""


# ------------------------------------------------------------------------------------------ finding
def _file_kind(p: Path) -> str:
    name = p.name.lower()
    if name.endswith(".pose.npz"):
        return "pose"
    if p.suffix.lower() in VIDEO_EXTENSIONS:
        return "video"
    if p.suffix.lower() in IMAGE_EXTENSIONS:
        return "image"
    if p.suffix.lower() == ".npz":
        try:
            with np.load(p, allow_pickle=False) as z:
                if "keypoints2d" in z.files:
                    return "aistpp"
        except Exception:  # noqa: BLE001 - unreadable: reported below as unsupported
            pass
        raise InputError(f"{p}: neither a dancepose pose file (*.pose.npz) nor AIST++ keypoints2d")
    raise InputError(f"{p}: unsupported source {p.suffix or '(no extension)'!r} (videos, images, "
                     f"*.pose.npz, OpenPose JSON folders, AIST++ keypoints2d .npz)")


def find_sources(paths: Sequence[str | os.PathLike]) -> list[SourceItem]:
    """Expand folders and tell every source's kind (checked before any work).

    A folder holding ``*_keypoints.json`` is one OpenPose source; any other folder contributes its
    usable files and its OpenPose sub-folders.

    Raises
    ------
    InputError
        A path does not exist, a file is of no known kind, a folder holds nothing usable, or nothing given.
    """
    out: list[SourceItem] = []
    for s in paths:
        p = Path(s)
        if not p.exists():
            raise InputError(f"{p}: no such file or directory")
        if p.is_dir() and any(p.glob("*_keypoints.json")):
            out.append(SourceItem(p, "openpose"))
        elif p.is_dir():
            found = []
            for q in sorted(p.iterdir()):
                if q.is_dir() and any(q.glob("*_keypoints.json")):
                    found.append(SourceItem(q, "openpose"))
                elif q.is_file() and not q.name.startswith("."):
                    try:
                        found.append(SourceItem(q, _file_kind(q)))
                    except InputError:
                        continue  # other files in a folder (audio beside pose files, notes) are not sources
            if not found:
                raise InputError(f"{p}: folder holds no videos, images, pose files, OpenPose JSON or AIST++ files")
            out += found
        else:
            out.append(SourceItem(p, _file_kind(p)))
    if not out:
        raise InputError("no source given")
    return out


# ------------------------------------------------------------------------------------------ music
def music_of(path: Path) -> Path | None:
    """``path`` itself when it has a soundtrack that is not silent, else None."""
    from dancepose.models.audio import is_silent, load_audio

    try:
        y = load_audio(path)
    except InputError:
        return None
    return None if is_silent(y, threshold_dbfs=MUSIC_DBFS) else path


def _music_beside(path: Path, stem: str) -> Path | None:
    from dancepose.offline.dataset import AUDIO_SUFFIXES

    for suffix in AUDIO_SUFFIXES:
        cand = path.with_name(stem + suffix)
        if cand.is_file() and cand != path:
            return music_of(cand)
    return None


# ------------------------------------------------------------------------------------------ readers
def read_pose_file(path: Path) -> SourceMotion:
    """A ``*.pose.npz`` (already cleaned by extraction) with its music if found."""
    seq = PoseSequence.load(path)
    stem = path.name.removesuffix(".pose.npz")
    audio = _music_beside(path, stem)
    if audio is None and seq.source:
        src = Path(seq.source.split("|")[0].strip())
        if src.is_file() and src.suffix.lower() in VIDEO_EXTENSIONS:
            audio = music_of(src)
    return SourceMotion(name=stem, kind="pose", seq=seq, audio=audio)


def read_openpose_folder(path: Path, *, fps: float) -> SourceMotion:
    """A folder of OpenPose ``*_keypoints.json`` (COCO-18 or BODY_25), the main person followed.

    Raises
    ------
    InputError
        An unreadable file or nobody in any frame.
    """
    from .backends import Person
    from .extract import MainPersonTracker

    files = sorted(path.glob("*_keypoints.json"))
    frames, size = [], None
    for f in files:
        people, canvas = read_openpose_people(f)
        size = size or canvas
        frames.append([Person(points=pts, confidence=conf) for pts, conf in people])
    pts_all = [p.points for f in frames for p in f]
    if not pts_all:
        raise InputError(f"{path}: nobody in any of its {len(files)} OpenPose frames")
    if size is None:  # OpenPose writes no canvas size: the extent of the keypoints
        allp = np.concatenate(pts_all)
        size = (int(np.nanmax(allp[:, 0])) + 1, int(np.nanmax(allp[:, 1])) + 1)
    tracker = MainPersonTracker(image_size=size)
    pts = np.full((len(frames), 18, 2), np.nan, np.float32)
    conf = np.zeros((len(frames), 18), np.float32)
    for t, people in enumerate(frames):
        chosen = tracker.select(people)
        if chosen is not None:
            pts[t], conf[t] = chosen.points, chosen.confidence
    kp, c = adapt(pts, conf, source="coco18")
    seq = clean_sequence(PoseSequence(keypoints=kp, confidence=c, fps=fps, image_size=size, source=str(path)),
                         config=KEYPOINT_CLEAN)
    audio = _music_beside(path, path.name)
    return SourceMotion(name=path.name, kind="openpose", seq=seq, audio=audio,
                        note=f"{len(files)} OpenPose frames at {fps:g} fps (given)")


def frontal_view(keypoints2d: np.ndarray) -> tuple[int, list[float]]:
    """The most frontal camera of an AIST++ ``keypoints2d`` array [shape=(V, T, 17, 3)].

    Score per view: median shoulder width ÷ torso length (wide = facing the camera or away) × share of
    frames with the person's right shoulder on image left (facing it) × mean confidence.
    Returns (view index, scores).
    """
    scores = []
    for v in range(keypoints2d.shape[0]):
        c, conf = adapt(keypoints2d[v, :, :, :2], keypoints2d[v, :, :, 2], source="coco17")
        torso = torso_length(c)
        with np.errstate(invalid="ignore", divide="ignore"):
            width = (c[:, Joint.L_SHOULDER, 0] - c[:, Joint.R_SHOULDER, 0]) / torso
        facing = float(np.mean(width > 0))
        scores.append(float(np.nanmedian(np.abs(width)) * facing * np.mean(conf)))
    return int(np.argmax(scores)), scores


def read_aistpp(path: Path) -> SourceMotion:
    """AIST++ ``keypoints2d`` (COCO-17, several views): the most frontal view, cleaned (no music)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            kp2d = z["keypoints2d"].astype(np.float32)
            ts = z["timestamps"].astype(np.float64) / 1e6 if "timestamps" in z.files else None
    except Exception as exc:  # noqa: BLE001 - any failure means "not readable AIST++ keypoints"
        raise InputError(f"cannot read AIST++ keypoints {path}: {exc}") from None
    if kp2d.ndim == 3:
        kp2d = kp2d[None]
    if kp2d.ndim != 4 or kp2d.shape[2] != 17 or kp2d.shape[3] < 2 or kp2d.shape[1] < 2:
        raise InputError(f"{path}: keypoints2d has shape {kp2d.shape}, expected (views, frames, 17, 3)")
    if kp2d.shape[3] == 2:
        kp2d = np.concatenate([kp2d, np.isfinite(kp2d[..., :1]).astype(np.float32)], axis=-1)
    fps = 60.0 if ts is None or len(ts) < 2 else (len(ts) - 1) / (ts[-1] - ts[0])
    view, _ = frontal_view(kp2d)
    kp, c = adapt(kp2d[view, :, :, :2], kp2d[view, :, :, 2], source="coco17")
    size = (max(1920, int(np.nanmax(kp[..., 0])) + 1), max(1080, int(np.nanmax(kp[..., 1])) + 1))
    seq = clean_sequence(PoseSequence(keypoints=kp, confidence=c, fps=fps, image_size=size,
                                      source=f"{path} | AIST++ view {view}"), config=KEYPOINT_CLEAN)
    return SourceMotion(name=path.name.removesuffix(".npz"), kind="aistpp", seq=seq,
                        note=f"AIST++ camera {view + 1} of {kp2d.shape[0]} (the most frontal), {fps:g} fps")


def extract_media(items: Sequence[SourceItem], *, work_dir: Path, ray: str | None, quiet: bool,
                  log: TextIO) -> tuple[list[SourceMotion], dict[Path, str]]:
    """Videos and images through ``dancepose extract`` into ``work_dir`` (resumable, ``--ray`` aware).

    Returns (the motions extracted, {path: reason} for those that failed).
    """
    from .extract import extract_pose

    media = [it for it in items if it.kind in ("video", "image")]
    if not media:
        return [], {}
    failed: dict[Path, str] = {}
    try:
        extract_pose(sources=[it.path for it in media], out_dir=work_dir, ray=ray, quiet=quiet)
    except InputError as exc:  # the batch policy: the others are extracted; find out which failed
        for it in media:
            if not (work_dir / f"{it.path.stem}.pose.npz").is_file():
                failed[it.path] = str(exc)
    out = []
    for it in media:
        if it.path in failed:
            continue
        seq = PoseSequence.load(work_dir / f"{it.path.stem}.pose.npz")
        audio = music_of(it.path) if it.kind == "video" else None
        out.append(SourceMotion(name=it.path.stem, kind=it.kind, seq=seq, audio=audio,
                                note="soundtrack: music" if audio else ("no music in the soundtrack"
                                                                        if it.kind == "video" else "one key pose")))
    return out, failed


def load_sources(items: Sequence[SourceItem], *, work_dir: Path, openpose_fps: float = 30.0,
                 ray: str | None = None, quiet: bool = False, log: TextIO | None = None
                 ) -> tuple[list[SourceMotion], dict[Path, str]]:
    """Read every source (videos and images extracted first, in one batch).

    Returns (motions in the order given, {path: reason} for sources that could not be read — the
    batch policy: the rest carries on and the caller exits non-zero at the end).
    """
    log = log or sys.stderr
    if not openpose_fps > 0:
        raise ParameterError(f"openpose_fps must be > 0, got {openpose_fps}")
    extracted, failed = extract_media(items, work_dir=work_dir, ray=ray, quiet=quiet, log=log)
    by_path = {Path(m.seq.source.split("|")[0].strip()).name: m for m in extracted}
    readers = {"pose": read_pose_file, "aistpp": read_aistpp,
               "openpose": lambda p: read_openpose_folder(p, fps=openpose_fps)}
    out: list[SourceMotion] = []
    for it in items:
        if it.path in failed:
            print(f"{it.path.name}: failed: {failed[it.path]}", file=log)
            continue
        if it.kind in ("video", "image"):
            m = by_path.get(it.path.name)
            if m is not None:
                out.append(m)
            continue
        try:
            m = readers[it.kind](it.path)
        except (DanceposeError, ValueError, KeyError) as exc:
            msg = str(exc) if isinstance(exc, DanceposeError) else f"cannot use {it.path}: {exc!r}"
            failed[it.path] = msg
            print(f"{it.path.name}: failed: {msg}", file=log)
            continue
        if not (m.seq.flags != MISSING).any():
            failed[it.path] = f"{it.path}: nobody in it"
            continue
        out.append(m)
    return out, failed


def person_frames(motions: Sequence[SourceMotion]) -> int:
    """Frames with a pose over all motions (for messages)."""
    return int(sum((m.seq.flags != MISSING).all(axis=1).sum() for m in motions))


__all__ = ["KINDS", "SourceItem", "SourceMotion", "find_sources", "frontal_view", "load_sources",
           "music_of", "read_aistpp", "read_openpose_folder", "read_pose_file"]
