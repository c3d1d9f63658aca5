"""The style figures on real dance (AIST++ break dance, Dance-with-Melody ballroom): pose distance, copy
detection (also of a copy played at another speed), jitter, joint ranges."""
from __future__ import annotations

import numpy as np
import pytest

from dancepose.models.clock import MODEL_FPS, resample
from dancepose.offline.evaluation.load import load_dwm_2d
from dancepose.offline.evaluation.style import jitter, joint_ranges, longest_copy, mean_speed, pose_distance
from dancepose.offline.learn import stretch_poses
from dancepose.offline.sources import read_aistpp


@pytest.fixture(scope="module")
def breaks(shared_data):
    files = sorted((shared_data / "aistpp_keypoints2d").glob("*.npz"))
    return [stretch_poses(read_aistpp(f), 0, 720) for f in files[:2]]


@pytest.fixture(scope="module")
def waltz(shared_data):
    return load_dwm_2d(shared_data / "dance_with_melody" / "DANCE_W_4")[0][:360]


def test_pose_distance_tells_styles_apart(breaks, waltz):
    same_dancer = pose_distance(a=breaks[0], b=breaks[1])
    other_style = pose_distance(a=waltz, b=breaks[1])
    assert pose_distance(a=breaks[0], b=breaks[0]) < 1e-6
    assert 0 < same_dancer < 0.5 * other_style


def test_copies_are_found_at_any_speed(breaks, waltz):
    src = np.concatenate([breaks[0], np.full((1, 15, 2), np.nan, np.float32), breaks[1]])
    piece = breaks[1][100:250]
    assert longest_copy(generated=piece, source=src) == 150
    slower = resample(piece, fps=MODEL_FPS, times=np.arange(0, 149 / 0.8) / MODEL_FPS * 0.8)  # played at 0.8 ×
    assert longest_copy(generated=slower, source=src) >= 0.95 * len(slower)
    backwards = piece[::-1]
    assert longest_copy(generated=backwards, source=src) < 30
    assert longest_copy(generated=waltz, source=src) < 10


def test_jitter_sees_a_frame_to_frame_alternation(breaks):
    smooth = breaks[0]
    shaky = smooth.copy()
    shaky[::2, :14] += 0.02  # every other frame, all joints but the pelvis, 1 % of the body's height (≈ 2 torso lengths) off
    assert jitter(shaky) > 3 * jitter(smooth)
    assert jitter([smooth, breaks[1]]) == pytest.approx(np.mean([jitter(smooth), jitter(breaks[1])]), rel=1e-6)


def test_ranges_and_speed(breaks):
    r = joint_ranges(breaks[0])
    assert len(r) == 14 and r["r_wrist"][0] > r["r_hip"][0]
    assert 0.5 < mean_speed(breaks[0]) < 3.0
