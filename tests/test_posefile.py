"""The pose file format and OpenPose JSON round trips."""
from __future__ import annotations

import numpy as np
import pytest

from dancepose.models.errors import InputError
from dancepose.models.posefile import MISSING, OBSERVED, PoseSequence
from dancepose.models.skeleton import N_JOINTS, TO_COCO_18


def _seq(t: int = 12) -> PoseSequence:
    rng = np.random.default_rng(0)
    kp = rng.uniform(0, 300, (t, N_JOINTS, 2)).astype(np.float32)
    kp[3, 4] = np.nan
    conf = rng.uniform(0.2, 1, (t, N_JOINTS)).astype(np.float32)
    return PoseSequence(keypoints=kp, confidence=conf, fps=29.97, image_size=(320, 240), source="x.mp4")


def test_npz_round_trip_without_pickle(tmp_path):
    s = _seq()
    assert s.flags[3, 4] == MISSING and s.flags[0, 0] == OBSERVED
    p = s.save(tmp_path / "a.pose.npz")
    with np.load(p, allow_pickle=False) as z:
        assert str(z["format"]) == "dancepose-pose" and int(z["version"]) == 1
    r = PoseSequence.load(p)
    np.testing.assert_array_equal(r.keypoints, s.keypoints)
    np.testing.assert_array_equal(r.flags, s.flags)
    assert r.fps == s.fps and r.image_size == (320, 240) and r.source == "x.mp4"


def test_openpose_json_round_trip(tmp_path):
    s = _seq(5)
    files = s.to_openpose_json(tmp_path / "json")
    assert len(files) == 5
    r = PoseSequence.from_openpose_json(tmp_path / "json", fps=s.fps, image_size=s.image_size)
    mapped = sorted(int(j) for j in TO_COCO_18.values())
    np.testing.assert_allclose(r.keypoints[:, mapped], s.keypoints[:, mapped], atol=1e-3)


def test_bad_files(tmp_path):
    with pytest.raises(InputError):
        PoseSequence.load(tmp_path / "missing.pose.npz")
    bad = tmp_path / "bad.pose.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="cannot read"):
        PoseSequence.load(bad)
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(InputError, match="not a dancepose pose file"):
        PoseSequence.load(tmp_path / "other.npz")
