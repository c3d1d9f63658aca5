"""The one figure-drawing module of dancepose: the live window and ``dancepose render`` both use it.

A pose in *normalised body units* (pelvis near the origin, y down, torso length ≈ 1 — what the dancer
outputs) is mapped to pixels with :func:`pose_to_pixels` and drawn onto a pygame ``Surface`` with
:func:`draw_figure`: anti-aliased thick limbs (filled quads with anti-aliased edges and round caps),
round joints and a head circle; the dancer's left and right limbs get slightly different colours.
:func:`make_stage` builds the background once (gradient + floor, or a picture scaled to cover); per frame
it is only blitted.  :func:`render_frame` does all of it offscreen and returns an RGB array.

Works headless (``SDL_VIDEODRIVER=dummy``): only Surfaces are used, never a display.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dancepose.models.errors import InputError, ParameterError
from dancepose.models.skeleton import LIMBS, N_JOINTS, Joint

if TYPE_CHECKING:  # pragma: no cover
    import pygame

Colour = tuple[int, int, int]

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


def _pygame():
    """Import pygame quietly (no support prompt); Surfaces need no display."""
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


def make_stage(width: int, height: int, *, background: str | os.PathLike | None = None,
               floor_units: float = FLOOR_UNITS) -> "pygame.Surface":
    """Build the stage drawn behind the figure (once; blit it every frame).

    Parameters
    ----------
    width, height : int
        Frame size in pixels.
    background : path or None
        An image scaled to cover the frame (centre-cropped) and dimmed slightly for contrast;
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
                   colour: Colour) -> None:
    dx, dy = x1 - x0, y1 - y0
    n = (dx * dx + dy * dy) ** 0.5
    r = int(round(half))
    if n > 1e-6:
        px, py = -dy / n * half, dx / n * half
        quad = ((x0 + px, y0 + py), (x1 + px, y1 + py), (x1 - px, y1 - py), (x0 - px, y0 - py))
        gfx.aapolygon(surface, quad, colour)
        gfx.filled_polygon(surface, quad, colour)
    for x, y in ((x0, y0), (x1, y1)):
        ix, iy = int(round(x)), int(round(y))
        gfx.aacircle(surface, ix, iy, r, colour)
        gfx.filled_circle(surface, ix, iy, r, colour)


def draw_figure(surface: "pygame.Surface", pose_px: np.ndarray, *, style: FigureStyle = FigureStyle(),
                figure_height: float | None = None) -> None:
    """Draw the stick figure onto ``surface`` (in place).

    Parameters
    ----------
    surface : pygame.Surface
        Target (the stage already blitted on it).
    pose_px : np.ndarray [shape=(J, 2)]
        Joint positions in pixels (:func:`pose_to_pixels`).  Joints with NaN are skipped, and every limb
        touching one.
    style : FigureStyle
    figure_height : float or None
        Figure height in pixels the style's relative sizes refer to; default 70 % of the surface height.
    """
    pg = _pygame()
    gfx = pg.gfxdraw
    p = np.asarray(pose_px, dtype=np.float64)
    if p.shape != (N_JOINTS, 2):
        raise ParameterError(f"pose_px must have shape ({N_JOINTS}, 2), got {p.shape}")
    ok = np.isfinite(p).all(axis=1)
    p = np.clip(np.nan_to_num(p), -_COORD_LIMIT, _COORD_LIMIT)
    fh = FIGURE_FILL * surface.get_height() if figure_height is None else float(figure_height)
    half = max(style.limb_width * fh * 0.5, 0.75)
    colours = {"body": style.body_colour, "left": style.left_colour, "right": style.right_colour}
    pts = p.tolist()
    if style.shadow:
        ankles = [int(Joint.L_ANKLE), int(Joint.R_ANKLE)]
        good = [pts[j] for j in ankles if ok[j]]
        if good:
            xs = [g[0] for g in good]
            sx = 0.5 * (min(xs) + max(xs))
            sy = max(g[1] for g in good) + half
            rx = int(max(0.5 * (max(xs) - min(xs)) + 3 * half, 2 * half))
            gfx.filled_ellipse(surface, int(sx), int(sy), rx, max(int(0.8 * half), 1), style.shadow_colour)
    for a, b, side in _LIMB_TABLE:
        if ok[a] and ok[b]:
            (x0, y0), (x1, y1) = pts[a], pts[b]
            _thick_segment(gfx, surface, x0, y0, x1, y1, half, colours[side])
    jr = int(round(style.joint_radius * fh))
    if jr > half:
        for j in range(N_JOINTS):
            if ok[j] and j != Joint.HEAD:
                x, y = int(round(pts[j][0])), int(round(pts[j][1]))
                gfx.aacircle(surface, x, y, jr, style.joint_colour)
                gfx.filled_circle(surface, x, y, jr, style.joint_colour)
    if ok[Joint.HEAD]:
        hr = max(int(round(style.head_radius * fh)), 1)
        x, y = pts[Joint.HEAD]
        if ok[Joint.NECK]:  # the head circle sits on the neck's line, beyond the head joint a little
            nx, ny = pts[Joint.NECK]
            d = ((x - nx) ** 2 + (y - ny) ** 2) ** 0.5
            if d > 1e-6:
                x, y = x + (x - nx) / d * 0.35 * hr, y + (y - ny) / d * 0.35 * hr
        ix, iy = int(round(x)), int(round(y))
        gfx.aacircle(surface, ix, iy, hr, style.body_colour)
        gfx.filled_circle(surface, ix, iy, hr, style.body_colour)


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
