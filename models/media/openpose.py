"""OpenPose JSON export (``--save-openpose DIR``) for ControlNet / ComfyUI and other OpenPose readers.

One file per frame, ``<stem>_<frame:012d>_keypoints.json``, as OpenPose writes them:
``{"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": [x0, y0, c0, … x17, y17, c17]}],
"canvas_width": W, "canvas_height": H}`` — the 18 COCO keypoints in pixels of the frame
(:func:`dancepose.models.media.draw.coco18_points`: eyes and ears placed from the head), confidence 1 for
every drawn point and ``0, 0, 0`` for an unknown one.  ``canvas_width``/``canvas_height`` are what
ControlNet's pose editors read; OpenPose readers ignore them.  ``PoseSequence.from_openpose_json`` reads
the folder back.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from dancepose.models.outputs import atomic_output, atomic_output_dir, check_output_dir

#: Disk use of one frame's file (a few hundred bytes of JSON take one 4-KiB block): the free-space estimate.
FILE_BYTES: int = 4096


class OpenPoseJsonWriter:
    """Write frames of COCO-18 keypoints as OpenPose JSON files into a folder.

    Parameters
    ----------
    directory : path
        Created if missing (checked first: a file in the way or no permission is an ``OutputError``).
    image_size : (int, int)
        Frame width, height in pixels.
    stem : str
        File name prefix.

    Notes
    -----
    Streaming (live): each file is written under a temporary name and renamed, so a reader never sees half
    a file, and a performance stopped early leaves every frame written so far.  A whole track (render):
    :func:`write_openpose_json`, all or nothing.
    """

    def __init__(self, directory: str | os.PathLike, *, image_size: tuple[int, int], stem: str = "frame") -> None:
        self.directory = check_output_dir(directory)
        self.width, self.height = int(image_size[0]), int(image_size[1])
        self.stem = stem
        self.frames = 0

    def write(self, points_px: np.ndarray) -> Path:
        """Write the next frame.

        Parameters
        ----------
        points_px : np.ndarray [shape=(18, 2)]
            COCO-18 keypoints in pixels; NaN = unknown.

        Returns
        -------
        Path of the file.
        """
        pts = np.asarray(points_px, dtype=np.float64).reshape(18, 2)
        flat: list[float] = []
        for x, y in pts:
            flat += [round(float(x), 3), round(float(y), 3), 1.0] if np.isfinite(x) and np.isfinite(y) \
                else [0.0, 0.0, 0.0]
        doc = {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": flat}],
               "canvas_width": self.width, "canvas_height": self.height}
        path = self.directory / f"{self.stem}_{self.frames:012d}_keypoints.json"
        with atomic_output(path) as tmp:
            tmp.write_text(json.dumps(doc))
        self.frames += 1
        return path


def write_openpose_json(directory: str | os.PathLike, points_px: np.ndarray, *, image_size: tuple[int, int],
                        stem: str = "frame") -> Path:
    """Write a whole track as OpenPose JSON, all or nothing (its files appear together or not at all).

    Parameters
    ----------
    directory : path
        The frames' files appear in it only once every file is written; nothing else in it is touched
        (:func:`~dancepose.models.outputs.atomic_output_dir`).
    points_px : np.ndarray [shape=(T, 18, 2)]
        COCO-18 keypoints in pixels per frame (NaN = unknown).
    image_size : (int, int)

    Returns
    -------
    Path of the folder.
    """
    with atomic_output_dir(directory) as tmp:
        writer = OpenPoseJsonWriter(tmp, image_size=image_size, stem=stem)
        for pts in np.asarray(points_px):
            writer.write(pts)
    return Path(directory)
