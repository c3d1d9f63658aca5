"""The one figure-drawing module of dancepose: the live window and ``dancepose render`` both use it.

A pose in *normalised body units* (pelvis near the origin, y down, torso length ≈ 1 — what the dancer
outputs) is mapped to pixels with :func:`pose_to_pixels` and drawn onto a pygame ``Surface`` with
:func:`draw_figure`: anti-aliased thick limbs (filled quads with anti-aliased edges and round caps),
round joints and a head circle; the dancer's left and right limbs get slightly different colours.
:func:`make_stage` builds the background once (gradient + floor, a picture scaled to cover, or a flat
colour for chroma keying); per frame it is only blitted.  :func:`render_frame` does all of it offscreen
and returns an RGB array.

``--background transparent`` (:data:`TRANSPARENT`) gives a see-through stage: :class:`AlphaFigure` draws
the figure with exact straight alpha (anti-aliased edges keep the limb's colour; their coverage is the
alpha), for WebM/ProRes with alpha and RGBA PNGs.

Two looks (``--style``): ``stick`` (:class:`FigureStyle`, the default) and ``openpose``
(:class:`OpenPoseStyle`): the look of the ControlNet OpenPose annotator, so the frames can condition
ControlNet / ComfyUI — black background, the 18 COCO keypoints (:func:`coco18_points`: eyes and ears
placed from the head) and the annotator's 17 limbs in its order and colours.

Works headless (``SDL_VIDEODRIVER=dummy``): only Surfaces are used, never a display.
"""
from __future__ import annotations

import argparse
import colorsys
import functools
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dancepose.models.errors import InputError, ParameterError
from dancepose.models.skeleton import LIMBS, N_JOINTS, Joint

if TYPE_CHECKING:  # pragma: no cover
    import pygame

Colour = tuple[int, int, int]
#: ``--background transparent``: a stage of (r, g, b, alpha) all zero.
TRANSPARENT: tuple[int, int, int, int] = (0, 0, 0, 0)

#: Height of a standing figure in torso lengths (head top to soles).
FIGURE_HEIGHT_UNITS: float = 4.5
#: Fraction of the frame height the standing figure fills.
FIGURE_FILL: float = 0.70
#: Vertical position of the pelvis (origin) as a fraction of the frame height.
PELVIS_HEIGHT: float = 0.55
#: Pelvis to soles in torso lengths (hip + leg ≈ 2.2): where the floor is drawn.
FLOOR_UNITS: float = 2.2
#: Largest pixel coordinate passed to SDL_gfx (16-bit coordinates).
_COORD_LIMIT: float = 16000.0
#: A limb's round cap (radius r) is left out under a joint circle of radius ≥ r + this: the two circles
#: share their centre (the same rounded pixel), so the joint's disc covers the cap and its anti-aliased
#: edge — pixel for pixel the same picture (``tests/test_draw.py``).  The head's circle is off-centre by up
#: to a pixel of rounding: 2 px there.
_CAP_UNDER_JOINT_PX: int = 1


@functools.lru_cache(maxsize=1)
def _pygame():
    """Import pygame quietly (no support prompt); Surfaces need no display.  (Cached: drawing calls it
    every frame.)"""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame
    import pygame.gfxdraw  # noqa: F401  (registers the submodule)

    return pygame


@dataclass(frozen=True)
class FigureStyle:
    """How the stick figure looks.  Sizes are fractions of the figure height in pixels.

    Attributes
    ----------
    body_colour, left_colour, right_colour : (r, g, b)
        Trunk/head, dancer's left limbs, dancer's right limbs.
    joint_colour : (r, g, b)
        Round joints.
    limb_width : float
        Limb thickness / figure height.
    joint_radius : float
        Joint radius / figure height (drawn only if larger than half the limb width).
    head_radius : float
        Head radius / figure height.
    shadow : bool
        Draw a soft ellipse shadow on the floor under the figure.
    shadow_colour : (r, g, b, a)
    """

    body_colour: Colour = (245, 245, 250)
    left_colour: Colour = (255, 196, 120)
    right_colour: Colour = (130, 205, 255)
    joint_colour: Colour = (255, 255, 255)
    limb_width: float = 0.032
    joint_radius: float = 0.018
    head_radius: float = 0.058
    shadow: bool = True
    shadow_colour: tuple[int, int, int, int] = (0, 0, 0, 90)

    def __post_init__(self) -> None:
        for name in ("limb_width", "joint_radius", "head_radius"):
            v = getattr(self, name)
            if not (0.0 <= v < 0.5):
                raise ParameterError(f"FigureStyle.{name} must be in [0, 0.5), got {v}")


@dataclass(frozen=True)
class OpenPoseStyle:
    """The ControlNet OpenPose look (``--style openpose``).  Sizes are fractions of the shorter frame side.

    The annotator draws at 512 px with limbs 4 px half-wide (ellipses) and joints of radius 4 px; the limbs
    are dimmed to 60 % of their colour, the joints are drawn on top at full colour.

    Attributes
    ----------
    limb_half_width, joint_radius : float
        Relative to ``min(width, height)``.
    limb_dim : float
        Limb colour factor.
    """

    limb_half_width: float = 4.0 / 512.0
    joint_radius: float = 4.0 / 512.0
    limb_dim: float = 0.6

    def __post_init__(self) -> None:
        if not (0 < self.limb_half_width < 0.5 and 0 < self.joint_radius < 0.5 and 0 < self.limb_dim <= 1):
            raise ParameterError(f"invalid OpenPoseStyle {self}")


#: ``--style`` names.
STYLES: tuple[str, ...] = ("stick", "openpose")


def style_named(name: str) -> "FigureStyle | OpenPoseStyle":
    """The style for a ``--style`` name (``stick`` or ``openpose``)."""
    if name == "stick":
        return FigureStyle()
    if name == "openpose":
        return OpenPoseStyle()
    raise ParameterError(f"unknown style {name!r} (choose from {', '.join(STYLES)})")


def look(*, style: str, background: "str | os.PathLike | Colour | None" = None
         ) -> "tuple[FigureStyle | OpenPoseStyle, str | os.PathLike | Colour | None]":
    """The figure style and stage background for ``--style`` / ``--background``.

    ``openpose`` draws on black unless a background is given; on a flat colour (chroma keying) the stick
    figure casts no shadow, so the key stays clean.

    Returns
    -------
    (style, background) for :func:`draw_figure` and :func:`make_stage`.
    """
    st = style_named(style)
    if background is None and isinstance(st, OpenPoseStyle):
        background = (0, 0, 0)
    if isinstance(background, tuple) and isinstance(st, FigureStyle):
        st = replace(st, shadow=False)
    return st, background


#: COCO-18 keypoint names in OpenPose order (0 nose … 17 left ear).
COCO18_NAMES: tuple[str, ...] = ("nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow",
                                 "l_wrist", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle",
                                 "r_eye", "l_eye", "r_ear", "l_ear")
#: COCO-18 index of each canonical joint drawn by the annotator (the pelvis is not a COCO joint).
_COCO18_FROM_JOINT: tuple[tuple[int, Joint], ...] = (
    (0, Joint.HEAD), (1, Joint.NECK), (2, Joint.R_SHOULDER), (3, Joint.R_ELBOW), (4, Joint.R_WRIST),
    (5, Joint.L_SHOULDER), (6, Joint.L_ELBOW), (7, Joint.L_WRIST), (8, Joint.R_HIP), (9, Joint.R_KNEE),
    (10, Joint.R_ANKLE), (11, Joint.L_HIP), (12, Joint.L_KNEE), (13, Joint.L_ANKLE),
)
#: The annotator's limbs (COCO-18 index pairs) in its drawing order: arms, legs from the neck, then the face.
OPENPOSE_LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
    (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)
#: The annotator's 18 colours: the hue wheel in 20° steps from red, full saturation (limb i and keypoint i
#: share colour i).
OPENPOSE_COLOURS: tuple[Colour, ...] = tuple(
    tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(i / 18.0, 1.0, 1.0)) for i in range(18))
#: Eyes and ears from the head, in units of the neck → nose distance: (up, to the side).
_EYE_OFFSET: tuple[float, float] = (0.22, 0.16)
_EAR_OFFSET: tuple[float, float] = (0.08, 0.38)


def coco18_points(pose: np.ndarray) -> np.ndarray:
    """The 18 OpenPose COCO keypoints of a canonical pose; eyes and ears are placed from the head.

    The nose is the head joint; the eyes sit a little above it and the ears further out to the sides,
    measured along the neck → nose line (so they turn with the head) and across it toward each shoulder
    (the dancer's right eye is on the right shoulder's side).

    Parameters
    ----------
    pose : np.ndarray [shape=(..., N_JOINTS, 2)]
        Canonical joints (pixels or normalised units, y down).  NaN joints stay NaN.

    Returns
    -------
    np.ndarray [shape=(..., 18, 2)] float32; NaN where unknown (face points need head and neck).
    """
    p = np.asarray(pose, dtype=np.float64)
    if p.shape[-2:] != (N_JOINTS, 2):
        raise ParameterError(f"pose must have shape (..., {N_JOINTS}, 2), got {p.shape}")
    out = np.full(p.shape[:-2] + (18, 2), np.nan)
    for k, j in _COCO18_FROM_JOINT:
        out[..., k, :] = p[..., int(j), :]
    nose, neck = p[..., int(Joint.HEAD), :], p[..., int(Joint.NECK), :]
    up = nose - neck
    d = np.linalg.norm(up, axis=-1, keepdims=True)
    up = up / np.where(d > 1e-9, d, np.nan)
    side = np.stack([-up[..., 1], up[..., 0]], axis=-1)  # perpendicular to the head line
    shoulders = p[..., int(Joint.R_SHOULDER), :] - p[..., int(Joint.L_SHOULDER), :]
    toward_r = np.sum(side * shoulders, axis=-1, keepdims=True)
    # no shoulders: a dancer facing the camera has the right side on the image's left
    toward_r = np.where(np.isfinite(toward_r), toward_r, -side[..., :1])
    side = np.where(toward_r < 0, -side, side)
    for (k_r, k_l), (a_up, a_side) in (((14, 15), _EYE_OFFSET), ((16, 17), _EAR_OFFSET)):
        base = nose + a_up * d * up
        out[..., k_r, :] = base + a_side * d * side
        out[..., k_l, :] = base - a_side * d * side
    return out.astype(np.float32)


def _side(joint: Joint) -> str:
    name = joint.name
    return "left" if name.startswith("L_") else "right" if name.startswith("R_") else "body"


#: (parent, child, side) per limb, side from the child joint's name.
_LIMB_TABLE: tuple[tuple[int, int, str], ...] = tuple((int(a), int(b), _side(b)) for a, b in LIMBS)
_JOINT_SIDES: tuple[str, ...] = tuple(_side(j) for j in Joint)


def figure_scale(height: int) -> float:
    """Pixels per torso length for a frame ``height`` pixels high (figure fills ~70 % of it)."""
    return FIGURE_FILL * float(height) / FIGURE_HEIGHT_UNITS


def default_center(width: int, height: int) -> tuple[float, float]:
    """Pixel position of the body origin (pelvis): horizontally centred, at 55 % of the height."""
    return 0.5 * float(width), PELVIS_HEIGHT * float(height)


def floor_y(height: int, *, floor_units: float = FLOOR_UNITS) -> float:
    """Pixel row of the floor line ``floor_units`` torso lengths below the pelvis (default mapping)."""
    return default_center(1, height)[1] + floor_units * figure_scale(height)


def floor_units_for(rest_pose: np.ndarray) -> float:
    """Floor height (torso lengths below the origin) that puts a figure's soles on the floor.

    rest_pose : np.ndarray [shape=(J, 2)] normalised units, e.g. ``Dancer.rest_pose``.
    """
    ankles = np.asarray(rest_pose, dtype=np.float64)[[int(Joint.L_ANKLE), int(Joint.R_ANKLE)], 1]
    ankles = ankles[np.isfinite(ankles)]
    if ankles.size == 0:
        return FLOOR_UNITS
    # soles sit a little below the ankle joints (about half a limb width of the default style)
    return float(np.clip(ankles.max() + 0.5 * FigureStyle().limb_width * FIGURE_HEIGHT_UNITS, 0.5, 3.5))


def pose_to_pixels(pose_norm: np.ndarray, *, width: int, height: int, scale: float | None = None,
                   center: tuple[float, float] | None = None) -> np.ndarray:
    """Map a pose in normalised body units to pixel coordinates.

    Parameters
    ----------
    pose_norm : np.ndarray [shape=(..., J, 2)]
        x right, y down, pelvis near the origin, torso length ≈ 1.  NaN stays NaN.
    width, height : int
        Frame size in pixels.
    scale : float or None
        Pixels per body unit; default :func:`figure_scale` (a standing figure fills ~70 % of the height).
    center : (float, float) or None
        Pixel position of the origin; default :func:`default_center`.

    Returns
    -------
    np.ndarray [shape=(..., J, 2)] float32 pixel coordinates (x right, y down).
    """
    pose = np.asarray(pose_norm, dtype=np.float32)
    if pose.ndim < 2 or pose.shape[-1] != 2:
        raise ParameterError(f"pose must have shape (..., J, 2), got {pose.shape}")
    if width <= 0 or height <= 0:
        raise ParameterError(f"frame size must be positive, got {width}x{height}")
    s = figure_scale(height) if scale is None else float(scale)
    cx, cy = default_center(width, height) if center is None else center
    return (pose * np.float32(s) + np.array([cx, cy], dtype=np.float32)).astype(np.float32)


def is_transparent(background: object) -> bool:
    """Whether a ``--background`` value is :data:`TRANSPARENT` (a colour with alpha 0)."""
    return isinstance(background, tuple) and len(background) == 4 and background[3] == 0


def parse_background(text: str) -> "Path | Colour":
    """A ``--background`` value: an image path, a colour (a name such as ``green`` or ``#RRGGBB``), or
    ``transparent`` (:data:`TRANSPARENT`).

    ``#…`` is always a colour; an existing file is always an image; otherwise a colour name pygame knows
    (``green`` = ``#00FF00``, ``blue``, ``magenta`` …) is a colour, and anything else is taken as an image
    path (reported as missing when the stage is built).

    Raises
    ------
    ParameterError
        A malformed ``#RRGGBB``.
    """
    text = str(text).strip()
    if text.lower() in ("transparent", "alpha"):
        return TRANSPARENT
    if text.startswith("#"):
        h = text[1:]
        if len(h) != 6 or any(c not in "0123456789abcdefABCDEF" for c in h):
            raise ParameterError(f"background colour must look like #00FF00, got {text!r}")
        return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16))
    if os.path.isfile(text):
        return Path(text)
    _pygame()
    from pygame.colordict import THECOLORS

    c = THECOLORS.get(text.lower().replace(" ", ""))
    return tuple(c[:3]) if c is not None else Path(text)


def background_arg(text: str) -> "Path | Colour":
    """argparse type for ``--background IMG|COLOUR`` (:func:`parse_background`; exit 2 when malformed)."""
    try:
        return parse_background(text)
    except ParameterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_look_arguments(parser: argparse.ArgumentParser, *, frames: str = "frame") -> None:
    """The ``--background``, ``--style`` and ``--save-openpose`` options both command lines share."""
    parser.add_argument("--background", type=background_arg, default=None, metavar="IMG|COLOUR|transparent",
                        help="background image, or a flat colour for chroma keying: a name (green, blue, "
                             "magenta …) or #RRGGBB, or transparent (video with an alpha channel: .webm "
                             "or .mov; RGBA PNGs with --save-frames)")
    parser.add_argument("--style", choices=STYLES, default="stick",
                        help="stick (default) or openpose: the ControlNet OpenPose look (COCO-18 colours "
                             "on black)")
    parser.add_argument("--save-openpose", type=Path, default=None, metavar="DIR",
                        help=f"also write every {frames}'s pose as OpenPose JSON (COCO-18 pose_keypoints_2d) "
                             "into DIR")


def make_stage(width: int, height: int, *, background: "str | os.PathLike | Colour | None" = None,
               floor_units: float = FLOOR_UNITS) -> "pygame.Surface":
    """Build the stage drawn behind the figure (once; blit it every frame).

    Parameters
    ----------
    width, height : int
        Frame size in pixels.
    background : path, (r, g, b) or None
        An image scaled to cover the frame (centre-cropped) and dimmed slightly for contrast; a colour
        gives a flat stage of exactly that colour (chroma keying, the OpenPose look's black);
        ``None`` gives the default stage: a dark blue vertical gradient, a floor with a soft light pool.
    floor_units : float
        Where the floor line is, in torso lengths below the pelvis (see :func:`floor_units_for`).

    Returns
    -------
    pygame.Surface of size (width, height)

    Raises
    ------
    InputError
        The background image is missing or cannot be decoded.
    """
    pg = _pygame()
    if width <= 0 or height <= 0:
        raise ParameterError(f"stage size must be positive, got {width}x{height}")
    if is_transparent(background):
        stage = pg.Surface((width, height), pg.SRCALPHA)
        stage.fill(TRANSPARENT)
        return stage
    if isinstance(background, tuple):
        stage = pg.Surface((width, height))
        stage.fill(tuple(int(c) for c in background[:3]))
        return stage
    if background is not None:
        return _image_stage(pg, Path(background), width, height)

    fy = int(round(floor_y(height, floor_units=floor_units)))
    fy = min(max(fy, 1), height - 1)
    rows = np.arange(height, dtype=np.float32)[:, None]
    top = np.array([14, 16, 34], dtype=np.float32)
    mid = np.array([42, 38, 78], dtype=np.float32)
    floor_a = np.array([34, 30, 52], dtype=np.float32)
    floor_b = np.array([18, 16, 28], dtype=np.float32)
    t_sky = np.clip(rows / max(fy, 1), 0, 1)
    t_floor = np.clip((rows - fy) / max(height - fy, 1), 0, 1)
    col = np.where(rows < fy, top + (mid - top) * t_sky, floor_a + (floor_b - floor_a) * t_floor)
    img = np.broadcast_to(col[:, None, :], (height, width, 3)).astype(np.uint8)
    stage = pg.Surface((width, height))
    pg.surfarray.blit_array(stage, np.ascontiguousarray(img.transpose(1, 0, 2)))
    # Soft light pool on the floor (a few concentric translucent ellipses) and the floor line.
    pool = pg.Surface((width, height), pg.SRCALPHA)
    cx = width // 2
    rx0, ry0 = 0.30 * width, 0.05 * height
    for k in range(8, 0, -1):
        f = k / 8.0
        pg.gfxdraw.filled_ellipse(pool, cx, fy, max(int(rx0 * f), 1), max(int(ry0 * f), 1),
                                  (110, 100, 170, 14))
    stage.blit(pool, (0, 0))
    pg.draw.line(stage, (70, 64, 110), (0, fy), (width, fy), max(1, height // 360))
    return stage


def _image_stage(pg, path: Path, width: int, height: int) -> "pygame.Surface":
    if not path.is_file():
        raise InputError(f"background image not found: {path}")
    try:
        img = pg.image.load(str(path))
    except (pg.error, OSError, ValueError) as exc:
        raise InputError(f"cannot read background image {path.name}: {exc}") from None
    w, h = img.get_size()
    if w == 0 or h == 0:
        raise InputError(f"background image {path.name} is empty")
    k = max(width / w, height / h)
    sw, sh = max(width, int(np.ceil(w * k))), max(height, int(np.ceil(h * k)))
    img = pg.transform.smoothscale(img.convert(32, 0) if img.get_bitsize() < 24 else img, (sw, sh))
    stage = pg.Surface((width, height))
    stage.blit(img, (-(sw - width) // 2, -(sh - height) // 2))
    dim = pg.Surface((width, height), pg.SRCALPHA)
    dim.fill((0, 0, 0, 70))
    stage.blit(dim, (0, 0))
    return stage


def _thick_segment(gfx, surface, x0: float, y0: float, x1: float, y1: float, half: float,
                   colour: Colour, caps: tuple[bool, bool] = (True, True)) -> None:
    """A limb: a filled anti-aliased quad ``2 half`` wide with round caps (a cap is left out where the
    caller draws a larger circle over that end anyway)."""
    dx, dy = x1 - x0, y1 - y0
    n = (dx * dx + dy * dy) ** 0.5
    r = int(round(half))
    if n > 1e-6:
        px, py = -dy / n * half, dx / n * half
        quad = ((x0 + px, y0 + py), (x1 + px, y1 + py), (x1 - px, y1 - py), (x0 - px, y0 - py))
        gfx.aapolygon(surface, quad, colour)
        gfx.filled_polygon(surface, quad, colour)
    for x, y, cap in ((x0, y0, caps[0]), (x1, y1, caps[1])):
        if cap:
            ix, iy = int(round(x)), int(round(y))
            gfx.aacircle(surface, ix, iy, r, colour)
            gfx.filled_circle(surface, ix, iy, r, colour)


def _unit_ellipse(n: int = 24) -> np.ndarray:
    a = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    e = np.stack([np.cos(a), np.sin(a)], axis=1)
    e.setflags(write=False)
    return e


#: (cos, sin) around the limb ellipses of the OpenPose look, [shape=(24, 2)].
_ELLIPSE: np.ndarray = _unit_ellipse()
_OP_A = np.array([a for a, _ in OPENPOSE_LIMBS])
_OP_B = np.array([b for _, b in OPENPOSE_LIMBS])


def _draw_openpose(gfx, surface, pose_px: np.ndarray, style: OpenPoseStyle, dirty: list | None) -> None:
    pts = coco18_points(pose_px).astype(np.float64)
    ok = np.isfinite(pts).all(axis=1)
    pts = np.clip(np.nan_to_num(pts), -_COORD_LIMIT, _COORD_LIMIT)
    side = float(min(surface.get_size()))
    half = max(style.limb_half_width * side, 1.0)
    # every limb an ellipse spanning its two joints, `half` wide (the annotator's limb shape)
    a, b = pts[_OP_A], pts[_OP_B]
    mid, axis = 0.5 * (a + b), 0.5 * (b - a)
    n = np.linalg.norm(axis, axis=1, keepdims=True)
    normal = np.stack([-axis[:, 1], axis[:, 0]], axis=1) / np.maximum(n, 1e-9) * half
    polys = (mid[:, None, :] + _ELLIPSE[None, :, :1] * axis[:, None, :]
             + _ELLIPSE[None, :, 1:] * normal[:, None, :]).tolist()
    draw_limb = (ok[_OP_A] & ok[_OP_B] & (n[:, 0] > 1e-6)).tolist()
    for i, poly in enumerate(polys):
        if draw_limb[i]:
            c = tuple(int(v * style.limb_dim) for v in OPENPOSE_COLOURS[i])
            gfx.aapolygon(surface, poly, c)
            gfx.filled_polygon(surface, poly, c)
            if dirty is not None:
                xs, ys = [q[0] for q in poly], [q[1] for q in poly]
                dirty.append(_bounds(min(xs), min(ys), max(xs), max(ys), 0.0))
    r = max(int(round(style.joint_radius * side)), 1)
    ipts = np.round(pts).astype(int).tolist()
    for k in range(18):
        if ok[k]:
            x, y = ipts[k]
            gfx.aacircle(surface, x, y, r, OPENPOSE_COLOURS[k])
            gfx.filled_circle(surface, x, y, r, OPENPOSE_COLOURS[k])
            if dirty is not None:
                dirty.append(_bounds(x, y, x, y, r))


#: Pixels added around each drawn shape's bounds in the dirty rectangles (anti-aliased edges, rounding).
DIRTY_PAD: int = 3


def _bounds(x0: float, y0: float, x1: float, y1: float, r: float) -> tuple[int, int, int, int]:
    """``(x, y, w, h)`` covering the box ``(x0, y0)–(x1, y1)`` grown by ``r`` + :data:`DIRTY_PAD`."""
    g = r + DIRTY_PAD
    left, top = int(x0 - g), int(y0 - g)
    return left, top, int(x1 + g) + 2 - left, int(y1 + g) + 2 - top


def draw_figure(surface: "pygame.Surface", pose_px: np.ndarray, *,
                style: "FigureStyle | OpenPoseStyle" = FigureStyle(),
                figure_height: float | None = None, dirty: list | None = None) -> None:
    """Draw the stick figure onto ``surface`` (in place).

    Parameters
    ----------
    surface : pygame.Surface
        Target (the stage already blitted on it).
    pose_px : np.ndarray [shape=(J, 2)]
        Joint positions in pixels (:func:`pose_to_pixels`).  Joints with NaN are skipped, and every limb
        touching one.
    style : FigureStyle or OpenPoseStyle
    figure_height : float or None
        Figure height in pixels the style's relative sizes refer to; default 70 % of the surface height.
    dirty : list or None
        If given, an ``(x, y, w, h)`` box is appended for every shape drawn (covering its anti-aliased
        edge): what a display or recorder must update, and restore from the stage next frame.
    """
    pg = _pygame()
    gfx = pg.gfxdraw
    p = np.asarray(pose_px, dtype=np.float64)
    if p.shape != (N_JOINTS, 2):
        raise ParameterError(f"pose_px must have shape ({N_JOINTS}, 2), got {p.shape}")
    if isinstance(style, OpenPoseStyle):
        _draw_openpose(gfx, surface, p, style, dirty)
        return
    lim = _COORD_LIMIT
    pts, ok = [], []
    for x, y in p.tolist():  # plain floats: 15 joints of numpy-scalar work cost more than the drawing
        good = math.isfinite(x) and math.isfinite(y)
        ok.append(good)
        pts.append((min(max(x, -lim), lim), min(max(y, -lim), lim)) if good else (0.0, 0.0))
    fh = FIGURE_FILL * surface.get_height() if figure_height is None else float(figure_height)
    half = max(style.limb_width * fh * 0.5, 0.75)
    colours = {"body": style.body_colour, "left": style.left_colour, "right": style.right_colour}
    if style.shadow:
        _draw_shadow(gfx, surface, [pts[j] for j in _ANKLES if ok[j]], half, style.shadow_colour, dirty)
    r = int(round(half))
    jr = int(round(style.joint_radius * fh))
    hr = max(int(round(style.head_radius * fh)), 1)
    head = _head_centre(pts, ok, hr)
    # A limb's round cap hidden under a larger joint circle (the same centre) or the head is not drawn.
    covered = [ok[j] and ((j != Joint.HEAD and jr > half and jr >= r + _CAP_UNDER_JOINT_PX)
                          or (j == Joint.HEAD and head is not None and math.dist(head, pts[j]) + r + 2 <= hr))
               for j in range(N_JOINTS)]
    in_limb = [False] * N_JOINTS
    for a, b, side in _LIMB_TABLE:
        if ok[a] and ok[b]:
            (x0, y0), (x1, y1) = pts[a], pts[b]
            _thick_segment(gfx, surface, x0, y0, x1, y1, half, colours[side], caps=(not covered[a], not covered[b]))
            in_limb[a] = in_limb[b] = True
            if dirty is not None:
                dirty.append(_bounds(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1), max(half + 1.0, jr)))
    if jr > half:  # the joints (inside the boxes of the limbs drawn to them)
        for j in range(N_JOINTS):
            if ok[j] and j != Joint.HEAD:
                x, y = int(round(pts[j][0])), int(round(pts[j][1]))
                gfx.aacircle(surface, x, y, jr, style.joint_colour)
                gfx.filled_circle(surface, x, y, jr, style.joint_colour)
                if dirty is not None and not in_limb[j]:
                    dirty.append(_bounds(x, y, x, y, jr))
    if head is not None:
        ix, iy = int(round(head[0])), int(round(head[1]))
        gfx.aacircle(surface, ix, iy, hr, style.body_colour)
        gfx.filled_circle(surface, ix, iy, hr, style.body_colour)
        if dirty is not None:
            dirty.append(_bounds(ix, iy, ix, iy, hr))


_ANKLES: tuple[int, int] = (int(Joint.L_ANKLE), int(Joint.R_ANKLE))


def _draw_shadow(gfx, surface, feet: list, half: float, colour, dirty: list | None) -> None:
    """The soft ellipse on the floor under the feet (pixel positions of the known ankles)."""
    if not feet:
        return
    xs = [g[0] for g in feet]
    sx = 0.5 * (min(xs) + max(xs))
    sy = max(g[1] for g in feet) + half
    rx = int(max(0.5 * (max(xs) - min(xs)) + 3 * half, 2 * half))
    ry = max(int(0.8 * half), 1)
    gfx.filled_ellipse(surface, int(sx), int(sy), rx, ry, colour)
    if dirty is not None:
        dirty.append(_bounds(int(sx) - rx, int(sy) - ry, int(sx) + rx, int(sy) + ry, 0.0))


def _head_centre(pts: list, ok: list, hr: int) -> tuple[float, float] | None:
    """Where the head circle goes: on the neck's line, a little beyond the head joint (None: no head)."""
    h = int(Joint.HEAD)
    if not ok[h]:
        return None
    x, y = pts[h]
    if ok[Joint.NECK]:
        nx, ny = pts[Joint.NECK]
        d = ((x - nx) ** 2 + (y - ny) ** 2) ** 0.5
        if d > 1e-6:
            x, y = x + (x - nx) / d * 0.35 * hr, y + (y - ny) / d * 0.35 * hr
    return x, y


def _figure_box(pose_px: np.ndarray, size: tuple[int, int], margin: float) -> "tuple[int, int, int, int] | None":
    """(x0, y0, x1, y1) of the finite joints grown by ``margin`` px, clipped to ``size``; None if empty."""
    p = np.asarray(pose_px, dtype=np.float64)
    p = p[np.isfinite(p).all(axis=1)]
    if len(p) == 0:
        return None
    lo = np.floor(p.min(axis=0) - margin).astype(int)
    hi = np.ceil(p.max(axis=0) + margin).astype(int) + 1
    x0, y0 = max(int(lo[0]), 0), max(int(lo[1]), 0)
    x1, y1 = min(int(hi[0]), size[0]), min(int(hi[1]), size[1])
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


class AlphaFigure:
    """Draws the figure onto a transparent (``SRCALPHA``) surface with exact straight alpha.

    SDL_gfx's anti-aliasing blends edge pixels into what is below them, which on a see-through stage would
    darken every edge.  Instead the figure is drawn twice, over black and over white, and each pixel solved
    for its coverage and colour (difference matting: over black ``c0 = a·F``, over white
    ``c1 = a·F + (1 − a)·255``), inside the figure's bounding box only.

    Parameters
    ----------
    size : (int, int)
        Frame size in pixels (the target surfaces' size).
    """

    def __init__(self, size: tuple[int, int]) -> None:
        pg = _pygame()
        self.size = (int(size[0]), int(size[1]))
        self._black = pg.Surface(self.size)
        self._white = pg.Surface(self.size)

    def draw(self, surface: "pygame.Surface", pose_px: np.ndarray, *,
             style: "FigureStyle | OpenPoseStyle" = FigureStyle(), figure_height: float | None = None) -> None:
        """Clear ``surface`` (an ``SRCALPHA`` surface of :attr:`size`) to transparent and draw the figure."""
        pg = _pygame()
        if surface.get_size() != self.size:
            raise ParameterError(f"surface is {surface.get_size()}, AlphaFigure is {self.size}")
        surface.fill(TRANSPARENT)
        fh = FIGURE_FILL * self.size[1] if figure_height is None else float(figure_height)
        # the head circle reaches 1.35 head radii (0.08 of the figure) beyond the head joint
        box = _figure_box(pose_px, self.size, margin=0.1 * fh + 4)
        if box is None:
            return
        x0, y0, x1, y1 = box
        rect = pg.Rect(x0, y0, x1 - x0, y1 - y0)
        self._black.fill((0, 0, 0), rect)
        self._white.fill((255, 255, 255), rect)
        draw_figure(self._black, pose_px, style=style, figure_height=fh)
        draw_figure(self._white, pose_px, style=style, figure_height=fh)
        w, h = rect.size
        c0 = np.frombuffer(pg.image.tobytes(self._black.subsurface(rect), "RGB"), np.uint8).reshape(h, w, 3)
        c1 = np.frombuffer(pg.image.tobytes(self._white.subsurface(rect), "RGB"), np.uint8).reshape(h, w, 3)
        d = c1.astype(np.int16) - c0  # (1 - a)·255 in every channel, up to rounding
        rgba = np.empty((h, w, 4), np.uint8)
        rgba[..., :3] = c0
        rgba[..., 3] = 255 - np.maximum(np.maximum(d[..., 0], d[..., 1]), d[..., 2]).clip(0, 255)
        edge = np.nonzero((rgba[..., 3] > 0) & (rgba[..., 3] < 255))  # straight colour = c0 / a there
        a = rgba[..., 3][edge].astype(np.uint16)[:, None]
        rgba[..., :3][edge] = np.minimum(c0[edge].astype(np.uint16) * 255 // a, 255).astype(np.uint8)
        # onto the cleared surface: max(src, 0) copies colour and alpha exactly (no blending)
        surface.blit(pg.image.frombuffer(rgba, (w, h), "RGBA"), (x0, y0), special_flags=pg.BLEND_RGBA_MAX)


def surface_to_rgba(surface: "pygame.Surface") -> np.ndarray:
    """Copy a Surface into an ``(H, W, 4)`` uint8 RGBA array (alpha 255 for surfaces without alpha)."""
    pg = _pygame()
    w, h = surface.get_size()
    return np.frombuffer(pg.image.tobytes(surface, "RGBA"), dtype=np.uint8).reshape(h, w, 4)


def surface_to_rgb(surface: "pygame.Surface") -> np.ndarray:
    """Copy a Surface into an ``(H, W, 3)`` uint8 RGB array."""
    pg = _pygame()
    w, h = surface.get_size()
    return np.frombuffer(pg.image.tobytes(surface, "RGB"), dtype=np.uint8).reshape(h, w, 3)


def render_frame(pose_norm: np.ndarray, *, stage: "pygame.Surface", style: FigureStyle = FigureStyle(),
                 scale: float | None = None, center: tuple[float, float] | None = None,
                 target: "pygame.Surface | None" = None) -> np.ndarray:
    """Draw one frame offscreen.

    Parameters
    ----------
    pose_norm : np.ndarray [shape=(J, 2)]
        Pose in normalised body units (see :func:`pose_to_pixels`).
    stage : pygame.Surface
        Background from :func:`make_stage`; its size is the frame size.
    style : FigureStyle
    scale, center : see :func:`pose_to_pixels`.
    target : pygame.Surface or None
        A reusable work surface of the stage's size (saves an allocation per frame).

    Returns
    -------
    np.ndarray [shape=(H, W, 3)] uint8 RGB
    """
    w, h = stage.get_size()
    if target is None:
        target = stage.copy()
    else:
        target.blit(stage, (0, 0))
    draw_figure(target, pose_to_pixels(pose_norm, width=w, height=h, scale=scale, center=center), style=style)
    return surface_to_rgb(target)
