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


@pytest.mark.parametrize("size", [(320, 240), (640, 360), (1000, 562), (1280, 720), (1920, 1080)])
def test_caps_left_out_under_the_joints_change_no_pixel(shared_data, monkeypatch, size):
    """The limb caps not drawn under larger joint circles (the cost of 27 circles a frame at 1280×720): the
    frames are the same, pixel for pixel, as with every cap drawn (40 real poses, arms and legs in every
    direction)."""
    poses = _real_poses(shared_data, n=200)[::5]
    stage = draw.make_stage(*size)

    def frames():
        return [draw.render_frame(p, stage=stage) for p in poses]

    left_out = frames()
    monkeypatch.setattr(draw, "_CAP_UNDER_JOINT_PX", 10**6)  # no joint is that large: every cap drawn
    np.testing.assert_array_equal(np.array(left_out), np.array(frames()))


# ------------------------------------------------------------------------- OpenPose look, colours
def test_coco18_points_face_from_the_head(shared_data):
    pose = _real_poses(shared_data, n=1)[0]
    px = draw.pose_to_pixels(pose, width=W, height=H)
    c = draw.coco18_points(px)
    assert c.shape == (18, 2) and np.isfinite(c).all()
    # the 14 body points are the canonical joints (nose = head); the pelvis is not a COCO point
    for k, j in ((0, sk.Joint.HEAD), (1, sk.Joint.NECK), (4, sk.Joint.R_WRIST), (13, sk.Joint.L_ANKLE)):
        np.testing.assert_allclose(c[k], px[j], atol=1e-3)
    nose, neck = c[0], c[1]
    d = np.linalg.norm(nose - neck)
    up = (nose - neck) / d
    # eyes above the nose, ears above too but further out; right eye/ear on the right shoulder's side
    for k in (14, 15, 16, 17):
        assert np.dot(c[k] - nose, up) > 0.05 * d
    side_r = np.dot(c[14] - nose, px[sk.Joint.R_SHOULDER] - px[sk.Joint.L_SHOULDER])
    assert side_r > 0
    assert np.linalg.norm(c[16] - c[17]) > 1.8 * np.linalg.norm(c[14] - c[15])
    np.testing.assert_allclose(np.linalg.norm(c[14] - nose), np.linalg.norm(c[15] - nose), rtol=1e-4)
    # a NaN head gives NaN face points, batches work
    bad = px.copy()
    bad[sk.Joint.HEAD] = np.nan
    both = draw.coco18_points(np.stack([px, bad]))
    assert both.shape == (2, 18, 2) and np.isnan(both[1, [0, 14, 15, 16, 17]]).all()
    assert np.isfinite(both[1, 1:14]).all()


def test_openpose_style_colours_on_black(shared_data):
    """The ControlNet look: black stage, each keypoint in its annotator colour, limbs at 60 % of theirs."""
    assert draw.OPENPOSE_COLOURS[:4] == ((255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0))
    assert draw.OPENPOSE_COLOURS[12] == (0, 0, 255) and draw.OPENPOSE_COLOURS[17] == (255, 0, 85)
    assert len(draw.OPENPOSE_LIMBS) == 17 and draw.OPENPOSE_LIMBS[0] == (1, 2)
    style, bg = draw.look(style="openpose")
    assert bg == (0, 0, 0) and isinstance(style, draw.OpenPoseStyle)
    pose = _real_poses(shared_data, n=1)[0]
    stage = draw.make_stage(W, H, background=bg)
    img = draw.render_frame(pose, stage=stage, style=style)
    assert (img[:5, :5] == 0).all() and (img[-5:, -5:] == 0).all()
    pts = np.round(draw.coco18_points(draw.pose_to_pixels(pose, width=W, height=H))).astype(int)
    for k in range(18):
        x, y = pts[k]
        np.testing.assert_array_equal(img[y, x], draw.OPENPOSE_COLOURS[k])
    # the middle of the right upper arm (limb 2: r_shoulder → r_elbow) is 60 % of its colour
    mx, my = np.round(0.5 * (pts[2] + pts[3])).astype(int)
    np.testing.assert_allclose(img[my, mx], 0.6 * np.array(draw.OPENPOSE_COLOURS[2]), atol=2)
    # nothing but black and the 18 colours (and their 60 % and anti-aliased edges) — no white stick
    assert not ((img > 240).all(-1)).any()


def test_colour_backgrounds_for_chroma_keying(shared_data, tmp_path):
    assert draw.parse_background("green") == (0, 255, 0)
    assert draw.parse_background("#FF00ff") == (255, 0, 255)
    with pytest.raises(ValueError, match="#00FF00"):
        draw.parse_background("#12345")
    img_path = shared_data / "images" / "p3_dance.png"
    assert draw.parse_background(str(img_path)) == img_path
    assert draw.parse_background(str(tmp_path / "nope.png")) == tmp_path / "nope.png"
    style, bg = draw.look(style="stick", background=draw.parse_background("green"))
    assert bg == (0, 255, 0) and style.shadow is False  # a shadow would smear the key
    stage = draw.make_stage(W, H, background=bg)
    img = draw.render_frame(_real_poses(shared_data, n=1)[0], stage=stage, style=style)
    figure = _mask(img, np.array([0, 255, 0]))
    assert 0.01 < figure.mean() < 0.3
    # every pixel is either exactly the key colour or belongs to the figure's drawn area
    keyed = (img == (0, 255, 0)).all(-1)
    assert keyed.mean() > 0.7 and (keyed | figure).mean() > 0.995
