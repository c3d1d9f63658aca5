"""The one canonical skeleton of dancepose, as data.

Extractor, trainer, model decoder, renderer and live window all import this module: the joint order,
the limbs drawn between joints and the left/right pairs used for mirroring live here and only here.

Image convention: x to the right, y *down* (pixels or normalised units).  "Left" is the dancer's left.
"""
from __future__ import annotations

from enum import IntEnum
from typing import Mapping, Sequence

import math

import numpy as np

SKELETON_NAME = "dancepose-15"
SKELETON_VERSION = 1


class Joint(IntEnum):
    """The 15 canonical joints (order = array index)."""

    HEAD = 0
    NECK = 1
    R_SHOULDER = 2
    R_ELBOW = 3
    R_WRIST = 4
    L_SHOULDER = 5
    L_ELBOW = 6
    L_WRIST = 7
    R_HIP = 8
    R_KNEE = 9
    R_ANKLE = 10
    L_HIP = 11
    L_KNEE = 12
    L_ANKLE = 13
    PELVIS = 14


N_JOINTS: int = len(Joint)
JOINT_NAMES: tuple[str, ...] = tuple(j.name.lower() for j in Joint)

#: Limbs drawn as sticks (parent, child), trunk first.
LIMBS: tuple[tuple[Joint, Joint], ...] = (
    (Joint.HEAD, Joint.NECK),
    (Joint.NECK, Joint.PELVIS),
    (Joint.NECK, Joint.R_SHOULDER),
    (Joint.R_SHOULDER, Joint.R_ELBOW),
    (Joint.R_ELBOW, Joint.R_WRIST),
    (Joint.NECK, Joint.L_SHOULDER),
    (Joint.L_SHOULDER, Joint.L_ELBOW),
    (Joint.L_ELBOW, Joint.L_WRIST),
    (Joint.PELVIS, Joint.R_HIP),
    (Joint.R_HIP, Joint.R_KNEE),
    (Joint.R_KNEE, Joint.R_ANKLE),
    (Joint.PELVIS, Joint.L_HIP),
    (Joint.L_HIP, Joint.L_KNEE),
    (Joint.L_KNEE, Joint.L_ANKLE),
)
#: The same limbs as an unordered set, like MediaPipe's ``POSE_CONNECTIONS``.
CONNECTIONS: frozenset[tuple[int, int]] = frozenset((int(a), int(b)) for a, b in LIMBS)

#: Left/right pairs: mirroring swaps them and negates x.
LEFT_RIGHT: tuple[tuple[Joint, Joint], ...] = (
    (Joint.L_SHOULDER, Joint.R_SHOULDER),
    (Joint.L_ELBOW, Joint.R_ELBOW),
    (Joint.L_WRIST, Joint.R_WRIST),
    (Joint.L_HIP, Joint.R_HIP),
    (Joint.L_KNEE, Joint.R_KNEE),
    (Joint.L_ANKLE, Joint.R_ANKLE),
)


def _mirror_permutation() -> np.ndarray:
    perm = np.arange(N_JOINTS)
    for left, right in LEFT_RIGHT:
        perm[left], perm[right] = right, left
    return perm


#: ``mirrored = pose[..., MIRROR_PERMUTATION, :]`` with x negated.
MIRROR_PERMUTATION: np.ndarray = _mirror_permutation()
MIRROR_PERMUTATION.setflags(write=False)

#: Limb pairs used for scale: the torso (neck → pelvis).
TORSO: tuple[Joint, Joint] = (Joint.NECK, Joint.PELVIS)


# --------------------------------------------------------------------------------------- adapters
#: A source skeleton is mapped by naming, for every canonical joint, the source indices whose mean it is.
AdapterMap = Mapping[Joint, Sequence[int]]

MEDIAPIPE_33_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
    "left_foot_index", "right_foot_index",
)
COCO_18_NAMES: tuple[str, ...] = (
    "nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist", "r_hip",
    "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "r_eye", "l_eye", "r_ear", "l_ear",
)
COCO_17_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle",
)
DWM_23_NAMES: tuple[str, ...] = (
    "head_l", "head_r", "spine", "l_shoulder", "l_elbow", "l_forearm", "l_wrist", "l_hip", "l_knee",
    "l_ankle", "l_heel", "l_toe", "r_shoulder", "r_elbow", "r_forearm", "r_wrist", "r_hip", "r_knee",
    "r_ankle", "r_heel", "r_toe", "r_extra", "l_extra",
)

MEDIAPIPE_33: AdapterMap = {
    Joint.HEAD: (0,), Joint.NECK: (11, 12),
    Joint.R_SHOULDER: (12,), Joint.R_ELBOW: (14,), Joint.R_WRIST: (16,),
    Joint.L_SHOULDER: (11,), Joint.L_ELBOW: (13,), Joint.L_WRIST: (15,),
    Joint.R_HIP: (24,), Joint.R_KNEE: (26,), Joint.R_ANKLE: (28,),
    Joint.L_HIP: (23,), Joint.L_KNEE: (25,), Joint.L_ANKLE: (27,),
    Joint.PELVIS: (23, 24),
}
COCO_18: AdapterMap = {
    Joint.HEAD: (0,), Joint.NECK: (1,),
    Joint.R_SHOULDER: (2,), Joint.R_ELBOW: (3,), Joint.R_WRIST: (4,),
    Joint.L_SHOULDER: (5,), Joint.L_ELBOW: (6,), Joint.L_WRIST: (7,),
    Joint.R_HIP: (8,), Joint.R_KNEE: (9,), Joint.R_ANKLE: (10,),
    Joint.L_HIP: (11,), Joint.L_KNEE: (12,), Joint.L_ANKLE: (13,),
    Joint.PELVIS: (8, 11),
}
COCO_17: AdapterMap = {
    Joint.HEAD: (0,), Joint.NECK: (5, 6),
    Joint.R_SHOULDER: (6,), Joint.R_ELBOW: (8,), Joint.R_WRIST: (10,),
    Joint.L_SHOULDER: (5,), Joint.L_ELBOW: (7,), Joint.L_WRIST: (9,),
    Joint.R_HIP: (12,), Joint.R_KNEE: (14,), Joint.R_ANKLE: (16,),
    Joint.L_HIP: (11,), Joint.L_KNEE: (13,), Joint.L_ANKLE: (15,),
    Joint.PELVIS: (11, 12),
}
DWM_23: AdapterMap = {
    Joint.HEAD: (0, 1), Joint.NECK: (3, 12),
    Joint.R_SHOULDER: (12,), Joint.R_ELBOW: (13,), Joint.R_WRIST: (15,),
    Joint.L_SHOULDER: (3,), Joint.L_ELBOW: (4,), Joint.L_WRIST: (6,),
    Joint.R_HIP: (16,), Joint.R_KNEE: (17,), Joint.R_ANKLE: (18,),
    Joint.L_HIP: (7,), Joint.L_KNEE: (8,), Joint.L_ANKLE: (9,),
    Joint.PELVIS: (7, 16),
}
ADAPTERS: Mapping[str, AdapterMap] = {
    "mediapipe33": MEDIAPIPE_33, "coco18": COCO_18, "coco17": COCO_17, "dwm23": DWM_23,
}
#: OpenPose COCO-18 pairs of (canonical joint → COCO-18 index) for exporting OpenPose JSON.
TO_COCO_18: Mapping[int, Joint] = {
    0: Joint.HEAD, 1: Joint.NECK, 2: Joint.R_SHOULDER, 3: Joint.R_ELBOW, 4: Joint.R_WRIST,
    5: Joint.L_SHOULDER, 6: Joint.L_ELBOW, 7: Joint.L_WRIST, 8: Joint.R_HIP, 9: Joint.R_KNEE,
    10: Joint.R_ANKLE, 11: Joint.L_HIP, 12: Joint.L_KNEE, 13: Joint.L_ANKLE,
}


def adapt(points: np.ndarray, confidence: np.ndarray | None = None, *, source: str
          ) -> tuple[np.ndarray, np.ndarray]:
    """Map keypoints of a source skeleton onto the canonical skeleton.

    Parameters
    ----------
    points : np.ndarray [shape=(..., n_source, d)]
        Source keypoints (any leading shape, ``d`` = 2 or 3 coordinates).  NaN marks a missing point.
    confidence : np.ndarray [shape=(..., n_source)] or None
        Per-point confidence in [0, 1]; ``None`` means 1 where the point is finite.
    source : str
        One of ``ADAPTERS`` (``"mediapipe33"``, ``"coco18"``, ``"coco17"``, ``"dwm23"``).

    Returns
    -------
    points : np.ndarray [shape=(..., N_JOINTS, d)]
        Canonical joints: the mean of their source points (NaN if any source point is NaN).
    confidence : np.ndarray [shape=(..., N_JOINTS)]
        The minimum confidence of the source points.
    """
    from .errors import ParameterError

    if source not in ADAPTERS:
        raise ParameterError(f"unknown source skeleton {source!r}; known: {', '.join(ADAPTERS)}")
    table = ADAPTERS[source]
    points = np.asarray(points, dtype=np.float32)
    n_src = max(max(v) for v in table.values()) + 1
    if points.ndim < 2 or points.shape[-2] < n_src:
        raise ParameterError(f"{source} needs at least {n_src} points per frame, got shape {points.shape}")
    if confidence is None:
        confidence = np.isfinite(points).all(axis=-1).astype(np.float32)
    confidence = np.asarray(confidence, dtype=np.float32)
    out = np.empty(points.shape[:-2] + (N_JOINTS, points.shape[-1]), dtype=np.float32)
    conf = np.empty(points.shape[:-2] + (N_JOINTS,), dtype=np.float32)
    for joint in Joint:
        idx = list(table[joint])
        out[..., joint, :] = points[..., idx, :].mean(axis=-2)
        conf[..., joint] = confidence[..., idx].min(axis=-1)
    conf[~np.isfinite(out).all(axis=-1)] = 0.0
    return out, conf


def mirror(points: np.ndarray, *, center_x: float = 0.0) -> np.ndarray:
    """Mirror canonical poses left↔right about the vertical line ``x = center_x``.

    points : np.ndarray [shape=(..., N_JOINTS, 2+)]
    """
    out = np.array(points[..., MIRROR_PERMUTATION, :], copy=True)
    out[..., 0] = 2.0 * center_x - out[..., 0]
    return out


def rotate_yaw_project(joints3d: np.ndarray, *, yaw_deg: float = 0.0,
                       right_handed: bool = False) -> np.ndarray:
    """Orthographic 2D projection of y-up 3D canonical joints after a rotation about the up axis.

    Parameters
    ----------
    joints3d : np.ndarray [shape=(..., J, 3)]
        x, y (up), z coordinates.
    yaw_deg : float
        Rotation about the vertical axis before projecting (augmentation: a camera walking around).
    right_handed : bool
        False for left-handed (Unity-like) data such as Dance with Melody: z is negated first.

    Returns
    -------
    np.ndarray [shape=(..., J, 2)] in image convention (x right, y down), same units as the input.
    """
    p = np.asarray(joints3d, dtype=np.float32)
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    if not right_handed:
        z = -z
    a = np.deg2rad(yaw_deg)
    xr = np.cos(a) * x + np.sin(a) * z
    return np.stack([xr, -y], axis=-1).astype(np.float32)


def limb_lengths(points: np.ndarray) -> np.ndarray:
    """Length of every limb.  points [shape=(..., N_JOINTS, 2)] → [shape=(..., len(LIMBS))]."""
    a = np.array([int(p) for p, _ in LIMBS])
    b = np.array([int(c) for _, c in LIMBS])
    return np.linalg.norm(points[..., b, :2] - points[..., a, :2], axis=-1)


def torso_length(points: np.ndarray) -> np.ndarray:
    """Neck–pelvis distance.  points [shape=(..., N_JOINTS, 2)] → [shape=(...)]."""
    return np.linalg.norm(points[..., TORSO[0], :2] - points[..., TORSO[1], :2], axis=-1)


def to_body_units(points: np.ndarray, *, fps: float, window_s: float = 2.0) -> np.ndarray:
    """Express a pose track in *body units*: the representation the dancer learns and outputs.

    x is measured from the pelvis (travel across the floor is removed), y from the pelvis height
    averaged over ``window_s`` seconds (so the rise and fall of the body stays), and both are divided by
    the torso length (neck–pelvis), taken as a rolling median over the same window.

    Parameters
    ----------
    points : np.ndarray [shape=(T, N_JOINTS, 2)]
        Image-convention coordinates (y down), any unit; NaN allowed (stays NaN).
    fps : float > 0
    window_s : float > 0

    Returns
    -------
    np.ndarray [shape=(T, N_JOINTS, 2)] float32
    """
    from scipy.ndimage import median_filter, uniform_filter1d

    p = np.asarray(points, dtype=np.float64)
    t = p.shape[0]
    w = max(1, int(round(window_s * fps)) | 1)
    pelvis = p[:, Joint.PELVIS, :]
    torso = torso_length(p)
    ok = np.isfinite(torso) & np.isfinite(pelvis).all(-1)
    if not ok.any():
        return np.full(p.shape, np.nan, dtype=np.float32)
    idx = np.arange(t)
    torso_f = np.interp(idx, idx[ok], torso[ok])
    py_f = np.interp(idx, idx[ok], pelvis[ok, 1])
    scale = median_filter(torso_f, size=w, mode="nearest")
    scale = np.maximum(scale, 1e-6)
    base_y = uniform_filter1d(py_f, size=w, mode="nearest")
    out = np.empty(p.shape, dtype=np.float32)
    for a in range(0, t, 8192):  # a chunk of frames at a time: an hour's float64 temporaries are 13 MB each
        b = min(t, a + 8192)
        out[a:b, :, 0] = (p[a:b, :, 0] - pelvis[a:b, None, 0]) / scale[a:b, None]
        out[a:b, :, 1] = (p[a:b, :, 1] - base_y[a:b, None]) / scale[a:b, None]
    return out


def _kinematic_order() -> tuple[tuple[int, int], ...]:
    """(parent, child) pairs of LIMBS re-rooted at the pelvis, parents before children."""
    adj: dict[int, list[int]] = {int(j): [] for j in Joint}
    for a, b in LIMBS:
        adj[int(a)].append(int(b))
        adj[int(b)].append(int(a))
    order, seen, queue = [], {int(Joint.PELVIS)}, [int(Joint.PELVIS)]
    while queue:
        parent = queue.pop(0)
        for child in adj[parent]:
            if child not in seen:
                seen.add(child)
                order.append((parent, child))
                queue.append(child)
    return tuple(order)


#: Limbs as (parent, child) walked outward from the pelvis.
KINEMATIC_TREE: tuple[tuple[int, int], ...] = _kinematic_order()


def clamp_limb_lengths(pose: np.ndarray, max_lengths: np.ndarray) -> np.ndarray:
    """Shorten any limb longer than its maximum, keeping its direction (children move along).

    pose : np.ndarray [shape=(N_JOINTS, 2)]; max_lengths : np.ndarray [shape=(N_JOINTS,)] — the maximum
    length of the limb ending at each joint (ignored for the pelvis).  Returns a new array.
    """
    # plain floats: 14 limbs of numpy-scalar arithmetic cost more than the arithmetic (live, every frame)
    src = np.asarray(pose, dtype=np.float32).tolist()
    lim = np.asarray(max_lengths, dtype=np.float64).tolist()
    out = [list(p) for p in src]
    for parent, child in KINEMATIC_TREE:
        vx = src[child][0] - src[parent][0]
        vy = src[child][1] - src[parent][1]
        n = math.hypot(vx, vy)
        m = lim[child]
        if n > m > 0:
            vx, vy = vx * (m / n), vy * (m / n)
        out[child][0] = out[parent][0] + vx
        out[child][1] = out[parent][1] + vy
    return np.array(out, dtype=np.float32)


def limb_lengths_by_child(points: np.ndarray) -> np.ndarray:
    """Length of the limb ending at each joint (0 for the pelvis).  [..., J, 2] → [..., J]"""
    out = np.zeros(points.shape[:-1], dtype=np.float32)
    for parent, child in KINEMATIC_TREE:
        out[..., child] = np.linalg.norm(points[..., child, :2] - points[..., parent, :2], axis=-1)
    return out
