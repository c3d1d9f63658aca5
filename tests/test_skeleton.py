"""The canonical skeleton: adapters, mirroring, projection, body units, limb clamping."""
from __future__ import annotations

import numpy as np
import pytest

from dancepose.models import skeleton as sk
from dancepose.models.errors import ParameterError
from dancepose.models.skeleton import Joint


def test_limbs_form_a_tree_over_all_joints():
    assert len(sk.LIMBS) == sk.N_JOINTS - 1
    assert {c for _, c in sk.KINEMATIC_TREE} | {int(Joint.PELVIS)} == set(range(sk.N_JOINTS))


def test_mirror_is_an_involution_and_swaps_sides():
    rng = np.random.default_rng(0)
    p = rng.standard_normal((5, sk.N_JOINTS, 2)).astype(np.float32)
    np.testing.assert_allclose(sk.mirror(sk.mirror(p)), p)
    m = sk.mirror(p)
    np.testing.assert_allclose(m[:, Joint.L_WRIST, 0], -p[:, Joint.R_WRIST, 0])
    np.testing.assert_allclose(m[:, Joint.HEAD], p[:, Joint.HEAD] * [-1, 1])


@pytest.mark.parametrize("source,n", [("mediapipe33", 33), ("coco18", 18), ("coco17", 17), ("dwm23", 23)])
def test_adapters_map_every_joint(source, n):
    rng = np.random.default_rng(1)
    pts = rng.uniform(0, 100, (4, n, 2)).astype(np.float32)
    out, conf = sk.adapt(pts, source=source)
    assert out.shape == (4, sk.N_JOINTS, 2) and np.isfinite(out).all() and (conf == 1).all()
    pts[:, 0] = np.nan  # the head source point missing → head unknown, confidence 0
    out, conf = sk.adapt(pts, source=source)
    assert np.isnan(out[:, Joint.HEAD]).all() and (conf[:, Joint.HEAD] == 0).all()


def test_adapter_errors():
    with pytest.raises(ParameterError):
        sk.adapt(np.zeros((3, 17, 2)), source="nope")
    with pytest.raises(ParameterError):
        sk.adapt(np.zeros((3, 10, 2)), source="coco17")


def test_dwm_projection_stands_upright(shared_data):
    with np.load(shared_data / "dance_with_melody" / "DANCE_W_4" / "motion.npz") as z:
        joints = z["joints"][:200]
    canon, _ = sk.adapt(joints, source="dwm23")
    for yaw in (0, 90, 200):
        p2 = sk.rotate_yaw_project(canon, yaw_deg=yaw)
        assert (p2[:, Joint.HEAD, 1] < p2[:, Joint.PELVIS, 1]).all()  # head above pelvis (y down)
        assert (p2[:, Joint.L_ANKLE, 1] > p2[:, Joint.PELVIS, 1]).all()
    bu = sk.to_body_units(sk.rotate_yaw_project(canon, yaw_deg=30), fps=25)
    np.testing.assert_allclose(np.median(sk.torso_length(bu)), 1.0, atol=0.05)
    np.testing.assert_allclose(bu[:, Joint.PELVIS, 0], 0.0, atol=1e-5)


def test_clamp_limb_lengths_only_shortens():
    rng = np.random.default_rng(2)
    p = rng.standard_normal((sk.N_JOINTS, 2)).astype(np.float32)
    lengths = sk.limb_lengths_by_child(p)
    limit = np.full(sk.N_JOINTS, np.median(lengths[lengths > 0]), np.float32)
    q = sk.clamp_limb_lengths(p, limit)
    new = sk.limb_lengths_by_child(q)
    assert (new <= limit + 1e-5).all()
    keep = lengths <= limit
    np.testing.assert_allclose(new[keep], lengths[keep], rtol=1e-5)
