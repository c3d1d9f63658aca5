"""The shared figure drawing (models/media/draw.py) on real poses from Dance with Melody, headless."""
from __future__ import annotations

import numpy as np
import pytest

from dancepose.models import skeleton as sk
from dancepose.models.errors import InputError
from dancepose.models.media import draw

W, H = 640, 360


def _real_poses(shared, n=5, start=300, seq="DANCE_C_4"):
    """Real mocap frames projected to 2D, pelvis at the origin, torso length 1 (the dancer's units)."""
    with np.load(shared / "dance_with_melody" / seq / "motion.npz") as z:
        joints = z["joints"][start:start + n]
    p3, _ = sk.adapt(joints, source="dwm23")
    p2 = sk.rotate_yaw_project(p3)
    p2 = p2 - p2[:, [sk.Joint.PELVIS]]
    return p2 / np.median(sk.torso_length(p2))


def _stage_rgb(stage):
    return draw.surface_to_rgb(stage)


def _mask(img, bg):
    return np.abs(img.astype(int) - bg.astype(int)).sum(-1) > 30


def test_pose_to_pixels_mapping():
    pose = np.zeros((sk.N_JOINTS, 2), np.float32)
    pose[sk.Joint.HEAD] = (0.0, -draw.FIGURE_HEIGHT_UNITS / 2)
    pose[sk.Joint.L_ANKLE] = (0.0, draw.FIGURE_HEIGHT_UNITS / 2)
    px = draw.pose_to_pixels(pose, width=W, height=H)
    assert px.shape == (sk.N_JOINTS, 2) and px.dtype == np.float32
    np.testing.assert_allclose(px[sk.Joint.PELVIS], (W / 2, 0.55 * H), atol=1e-3)
    assert px[sk.Joint.L_ANKLE, 1] - px[sk.Joint.HEAD, 1] == pytest.approx(0.70 * H, rel=1e-4)
    # explicit scale/center, batch shapes and NaN pass through
    batch = np.stack([pose, np.full_like(pose, np.nan)])
    out = draw.pose_to_pixels(batch, width=W, height=H, scale=10.0, center=(5.0, 7.0))
    np.testing.assert_allclose(out[0, sk.Joint.HEAD], (5.0, 7.0 - 10.0 * draw.FIGURE_HEIGHT_UNITS / 2))
    assert np.isnan(out[1]).all()


def test_limbs_drawn_where_they_are(shared_data):
    pose = _real_poses(shared_data, n=1)[0]
    stage = draw.make_stage(W, H)
    bg = _stage_rgb(stage)
    img = draw.render_frame(pose, stage=stage, style=draw.FigureStyle())
    assert img.shape == (H, W, 3) and img.dtype == np.uint8
    px = draw.pose_to_pixels(pose, width=W, height=H)
    changed = _mask(img, bg)
    for a, b in sk.LIMBS:
        x, y = np.round((px[a] + px[b]) / 2).astype(int)
        assert changed[y, x], f"limb {a.name}-{b.name} not drawn at ({x}, {y})"
    # the figure is drawn around its joints only: corners and most of the frame stay stage
    assert not changed[:10, :10].any() and not changed[:10, -10:].any()
    assert 0.01 < changed.mean() < 0.2
    # left and right limbs have different colours
    style = draw.FigureStyle()
    lx, ly = np.round((px[sk.Joint.L_KNEE] + px[sk.Joint.L_ANKLE]) / 2).astype(int)
    rx, ry = np.round((px[sk.Joint.R_KNEE] + px[sk.Joint.R_ANKLE]) / 2).astype(int)
    assert np.abs(img[ly, lx].astype(int) - style.left_colour).sum() < 30
    assert np.abs(img[ry, rx].astype(int) - style.right_colour).sum() < 30


def test_mirrored_pose_draws_mirrored_image(shared_data):
    stage = draw.make_stage(W, H)
    bg = _stage_rgb(stage)
    style = draw.FigureStyle(shadow=False)
    for pose in _real_poses(shared_data, n=3, start=800):
        m1 = _mask(draw.render_frame(pose, stage=stage, style=style), bg)
        m2 = _mask(draw.render_frame(sk.mirror(pose), stage=stage, style=style), bg)
        flipped = m1[:, ::-1]
        iou = (flipped & m2).sum() / (flipped | m2).sum()
        assert iou > 0.9, iou
        assert (m1 & m2).sum() / (m1 | m2).sum() < iou  # the pose itself is not symmetric


def test_nan_joints_are_skipped(shared_data):
    pose = _real_poses(shared_data, n=1)[0].copy()
    stage = draw.make_stage(W, H)
    bg = _stage_rgb(stage)
    px_full = draw.pose_to_pixels(pose, width=W, height=H)
    pose[sk.Joint.L_WRIST] = np.nan
    pose[sk.Joint.R_KNEE, 0] = np.nan
    img = draw.render_frame(pose, stage=stage, style=draw.FigureStyle())
    changed = _mask(img, bg)
    x, y = np.round((px_full[sk.Joint.L_ELBOW] + px_full[sk.Joint.L_WRIST]) / 2).astype(int)
    assert not changed[y, x]
    x, y = np.round((px_full[sk.Joint.NECK] + px_full[sk.Joint.PELVIS]) / 2).astype(int)
    assert changed[y, x]
    all_nan = draw.render_frame(np.full_like(pose, np.nan), stage=stage, style=draw.FigureStyle())
    np.testing.assert_array_equal(all_nan, bg)
    # absurd coordinates do not crash SDL_gfx either
    draw.render_frame(pose * 1e7, stage=stage, style=draw.FigureStyle())


def test_stage_background_image(shared_data, tmp_path):
    stage = draw.make_stage(W, H, background=shared_data / "images" / "p3_dance.png")
    assert stage.get_size() == (W, H)
    rgb = _stage_rgb(stage)
    assert rgb.std() > 10  # a real picture, not a flat fill
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    with pytest.raises(InputError, match="bad.png"):
        draw.make_stage(W, H, background=bad)
    with pytest.raises(InputError, match="not found"):
        draw.make_stage(W, H, background=tmp_path / "missing.jpg")


def test_reused_target_gives_same_frame(shared_data):
    poses = _real_poses(shared_data, n=2)
    stage = draw.make_stage(W, H)
    target = stage.copy()
    a = draw.render_frame(poses[0], stage=stage)
    draw.render_frame(poses[1], stage=stage, target=target)
    b = draw.render_frame(poses[0], stage=stage, target=target)
    np.testing.assert_array_equal(a, b)
