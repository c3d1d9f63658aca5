"""The one pose file format of dancepose (``*.pose.npz``), plus OpenPose-style JSON export/import.

Format ``dancepose-pose`` version 1: a NumPy ``.npz`` archive (no pickle; ``np.load`` with the default
``allow_pickle=False`` reads it) holding

============== ======================= ===========================================================
key            dtype / shape           meaning
============== ======================= ===========================================================
format         str                     ``"dancepose-pose"``
version        int                     ``1``
skeleton       str                     ``"dancepose-15"`` (see :mod:`dancepose.models.skeleton`)
joint_names    str (J,)                canonical joint names, in array order
keypoints      float32 (T, J, 2)       x, y in pixels of the source image (y down); NaN = unknown
confidence     float32 (T, J)          0…1 per joint; 0 where unknown
flags          uint8 (T, J)            0 observed, 1 interpolated (gap ≤ limit), 2 missing (gap > limit)
fps            float64 ()              frames per second
image_size     int32 (2,)              width, height of the source frames in pixels
source         str                     where it came from (file path, backend, or "generated:<model>")
============== ======================= ===========================================================
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError, ParameterError
from .skeleton import JOINT_NAMES, N_JOINTS, SKELETON_NAME, TO_COCO_18

POSE_FORMAT = "dancepose-pose"
POSE_VERSION = 1

OBSERVED, INTERPOLATED, MISSING = 0, 1, 2


@dataclass
class PoseSequence:
    """A 2D pose track of one dancer on the canonical skeleton."""

    keypoints: np.ndarray  # (T, J, 2) float32
    confidence: np.ndarray  # (T, J) float32
    fps: float
    image_size: tuple[int, int]
    source: str = ""
    flags: np.ndarray | None = None  # (T, J) uint8
    skeleton: str = SKELETON_NAME
    joint_names: tuple[str, ...] = field(default=JOINT_NAMES)

    def __post_init__(self) -> None:
        self.keypoints = np.asarray(self.keypoints, dtype=np.float32)
        self.confidence = np.asarray(self.confidence, dtype=np.float32)
        if self.keypoints.ndim != 3 or self.keypoints.shape[1:] != (N_JOINTS, 2):
            raise ParameterError(f"keypoints must have shape (T, {N_JOINTS}, 2), got {self.keypoints.shape}")
        if self.confidence.shape != self.keypoints.shape[:2]:
            raise ParameterError(f"confidence must have shape {self.keypoints.shape[:2]}, "
                                 f"got {self.confidence.shape}")
        if self.flags is None:
            self.flags = np.where(np.isfinite(self.keypoints).all(-1), OBSERVED, MISSING).astype(np.uint8)
        self.flags = np.asarray(self.flags, dtype=np.uint8)
        if not (self.fps > 0):
            raise ParameterError(f"fps must be positive, got {self.fps}")
        self.image_size = (int(self.image_size[0]), int(self.image_size[1]))

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def duration(self) -> float:
        return len(self) / self.fps

    # ------------------------------------------------------------------ npz
    @staticmethod
    def file_bytes(n_frames: int) -> int:
        """An upper bound of the size of a saved pose file of ``n_frames`` frames (the free-space check)."""
        return 4096 + int(n_frames) * N_JOINTS * (2 * 4 + 4 + 1)

    def save(self, path: str | os.PathLike) -> Path:
        """Write through :func:`~dancepose.models.outputs.atomic_output` (temporary, then rename).

        Raises
        ------
        OutputError
            The file cannot be written (under a file, a device, no permission, a full disk).
        """
        from .outputs import check_output_file, save_npz

        path = check_output_file(path, suffixes=(".npz",), what="pose file")
        return save_npz(
            path, compressed=True, format=np.str_(POSE_FORMAT), version=np.int32(POSE_VERSION),
            skeleton=np.str_(self.skeleton), joint_names=np.array(self.joint_names),
            keypoints=self.keypoints, confidence=self.confidence, flags=self.flags,
            fps=np.float64(self.fps), image_size=np.array(self.image_size, dtype=np.int32),
            source=np.str_(self.source),
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> "PoseSequence":
        path = Path(path)
        if not path.is_file():
            raise InputError(f"pose file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except Exception as exc:  # zipfile/ValueError/OSError: all mean "not a pose file"
            raise InputError(f"cannot read pose file {path}: {exc}") from None
        if str(data.get("format", "")) != POSE_FORMAT:
            raise InputError(f"{path} is not a dancepose pose file (format key missing)")
        version = int(data["version"])
        if version > POSE_VERSION:
            raise InputError(f"{path} has pose format version {version}; this dancepose reads ≤ {POSE_VERSION}")
        if str(data["skeleton"]) != SKELETON_NAME:
            raise InputError(f"{path} uses skeleton {data['skeleton']}, expected {SKELETON_NAME}")
        return cls(keypoints=data["keypoints"], confidence=data["confidence"], flags=data["flags"],
                   fps=float(data["fps"]), image_size=tuple(data["image_size"].tolist()),
                   source=str(data["source"]), skeleton=str(data["skeleton"]),
                   joint_names=tuple(str(n) for n in data["joint_names"]))

    # ------------------------------------------------------------------ OpenPose JSON
    def to_openpose_json(self, directory: str | os.PathLike, *, stem: str = "frame") -> list[Path]:
        """Write one OpenPose-style JSON per frame (``pose_keypoints_2d``, COCO-18 order).

        Unknown joints are written as ``0, 0, 0`` like OpenPose does.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for t in range(len(self)):
            flat: list[float] = []
            for coco in range(18):
                joint = TO_COCO_18.get(coco)
                if joint is None or not np.isfinite(self.keypoints[t, joint]).all():
                    flat += [0.0, 0.0, 0.0]
                else:
                    x, y = self.keypoints[t, joint]
                    flat += [float(x), float(y), float(self.confidence[t, joint])]
            doc = {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": flat}]}
            p = directory / f"{stem}_{t:012d}_keypoints.json"
            p.write_text(json.dumps(doc))
            paths.append(p)
        return paths

    @classmethod
    def from_openpose_json(cls, directory: str | os.PathLike, *, fps: float,
                           image_size: tuple[int, int], person: int = 0) -> "PoseSequence":
        """Read a folder of OpenPose ``*_keypoints.json`` (COCO-18 / BODY_25 first 18) into a sequence."""
        from .skeleton import adapt

        directory = Path(directory)
        files = sorted(directory.glob("*_keypoints.json"))
        if not files:
            raise InputError(f"no *_keypoints.json files in {directory}")
        pts = np.full((len(files), 18, 2), np.nan, dtype=np.float32)
        conf = np.zeros((len(files), 18), dtype=np.float32)
        for t, f in enumerate(files):
            people, _ = read_openpose_people(f)
            if len(people) > person:
                pts[t], conf[t] = people[person]
        kp, c = adapt(pts, conf, source="coco18")
        return cls(keypoints=kp, confidence=c, fps=fps, image_size=image_size, source=str(directory))


def read_openpose_people(path: str | os.PathLike) -> tuple[list[tuple[np.ndarray, np.ndarray]], tuple[int, int] | None]:
    """One OpenPose ``*_keypoints.json``: every person's first 18 keypoints (COCO-18, or BODY_25's first 18)
    as ``(points [shape=(18, 2)] px, NaN where missing; confidence [shape=(18,)], 0 where missing)``, and
    the canvas size ``(width, height)`` when the file gives one (OpenPose writes none; ControlNet's editors do).

    Raises
    ------
    InputError
        An unreadable file or a person with fewer than 18 keypoints.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
        people = []
        for person in doc.get("people", []):
            arr = np.asarray(person["pose_keypoints_2d"], dtype=np.float32).reshape(-1, 3)[:18]
            if arr.shape[0] < 18:
                raise ValueError("fewer than 18 keypoints")
            ok = arr[:, 2] > 0
            people.append((np.where(ok[:, None], arr[:, :2], np.nan).astype(np.float32),
                           np.where(ok, arr[:, 2], 0).astype(np.float32)))
        w, h = doc.get("canvas_width"), doc.get("canvas_height")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    return people, ((int(w), int(h)) if w and h else None)
