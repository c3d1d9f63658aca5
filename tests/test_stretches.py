"""Clean-stretch selection on real pose tracks (AIST++ keypoints) with a camera cut, a close-up and another
person spliced in: the bad part is dropped for the right reason, the rest is kept."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dancepose.models.posefile import MISSING, PoseSequence
from dancepose.models.skeleton import Joint
from dancepose.offline.sources import read_aistpp
from dancepose.offline.stretches import StretchConfig, clean_stretches


@pytest.fixture(scope="module")
def tracks(shared_data):
    files = sorted((shared_data / "aistpp_keypoints2d").glob("*.npz"))
    return read_aistpp(files[0]).seq, read_aistpp(files[2]).seq  # 12 s at 60 fps each, one dancer


def _edit(seq: PoseSequence, **arrays) -> PoseSequence:
    return dataclasses.replace(seq, **arrays)


def test_a_real_track_is_kept_whole(tracks):
    rep = clean_stretches(tracks[0], name="ch01")
    assert rep.stretches == [(0, len(tracks[0]))] and rep.cuts == 0 and rep.switches == 0
    assert rep.kept_s == pytest.approx(12.0, abs=0.05)


def test_camera_cut_splits_and_keeps_both_sides(tracks):
    seq = tracks[0]
    kp = seq.keypoints.copy()
    cut = 360  # 6 s: from here the camera is closer (×1.5) and elsewhere
    kp[cut:] = (kp[cut:] - kp[cut:, Joint.PELVIS].mean(0)) * 1.5 + kp[:cut, Joint.PELVIS].mean(0) + [-300, 60]
    rep = clean_stretches(_edit(seq, keypoints=kp), name="cut")
    assert rep.cuts == 1 and len(rep.stretches) == 2
    (a0, a1), (b0, b1) = rep.stretches
    assert a0 == 0 and a1 <= cut <= b0 and b1 == len(seq)
    assert rep.kept_s > 11.0 and rep.dropped_s["cut"] > 0


def test_close_up_is_dropped(tracks):
    seq = tracks[0]
    kp, flags, conf = seq.keypoints.copy(), seq.flags.copy(), seq.confidence.copy()
    close = slice(240, 480)  # 4 s of the upper body filling the frame: the legs are not seen
    centre = kp[close, Joint.NECK].mean(0)
    kp[close] = (kp[close] - centre) * 2.5 + [960, 300]
    legs = [Joint.R_KNEE, Joint.R_ANKLE, Joint.L_KNEE, Joint.L_ANKLE]
    flags[close, legs] = MISSING
    kp[close, legs] = np.nan
    conf[close, legs] = 0.0
    rep = clean_stretches(_edit(seq, keypoints=kp, flags=flags, confidence=conf), name="close-up")
    assert rep.dropped_s["not_in_view"] == pytest.approx(4.0, abs=0.05)
    kept = np.zeros(len(seq), bool)
    for a, b in rep.stretches:
        kept[a:b] = True
    assert not kept[close].any() and kept.sum() / seq.fps > 7.0


def test_another_person_taking_over_is_dropped(tracks):
    seq, other = tracks
    kp = seq.keypoints.copy()
    span = slice(300, 480)  # 3 s of another dancer, smaller and to the side, then the dancer again
    o = other.keypoints[span]
    kp[span] = (o - o[:, Joint.PELVIS].mean(0)) * 0.6 + kp[span, Joint.PELVIS].mean(0) + [500, 100]
    rep = clean_stretches(_edit(seq, keypoints=kp), name="switch")
    assert rep.switches == 1
    kept = np.zeros(len(seq), bool)
    for a, b in rep.stretches:
        kept[a:b] = True
    assert not kept[span].any()
    assert kept[:290].mean() > 0.9 and kept[490:].mean() > 0.9


def test_stills_and_gaps_are_dropped(tracks):
    seq = tracks[0]
    kp, flags = seq.keypoints.copy(), seq.flags.copy()
    kp[:180] = kp[180]  # 3 s standing still at the start
    kp[600:] = np.nan  # the dancer gone for the last 2 s
    flags[600:] = MISSING
    rep = clean_stretches(_edit(seq, keypoints=kp, flags=flags), name="still")
    assert rep.dropped_s["still"] > 2.0 and rep.dropped_s["gap"] == pytest.approx(2.0, abs=0.05)
    assert rep.stretches and rep.stretches[0][0] >= 150 and rep.stretches[-1][1] <= 600


def test_short_leftovers_are_dropped(tracks):
    rep = clean_stretches(tracks[0], config=StretchConfig(min_stretch_s=20.0))
    assert rep.stretches == [] and rep.dropped_s["short"] == pytest.approx(12.0, abs=0.05)
    assert "kept 0.0 of 12.0 s" in rep.line()
