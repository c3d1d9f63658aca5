"""OpenPose-format backend: PAF grouping on synthetic maps and the real shared network on real photos."""
from __future__ import annotations


import cv2
import numpy as np
import pytest

from dancepose.models.errors import ModelError, ParameterError
from dancepose.models.skeleton import Joint, adapt
from dancepose.offline.backends.openpose_backend import (LIMB_PAF_CHANNELS, LIMB_PARTS, OpenPoseDetector,
                                                         decode_people, network_size)

# a standing COCO-18 person (x, y) in a 100-pixel-tall box, origin at the neck
_BODY = np.array([
    [0, -12], [0, 0], [-10, 0], [-14, 18], [-16, 34], [10, 0], [14, 18], [16, 34], [-6, 38], [-7, 62],
    [-8, 86], [6, 38], [7, 62], [8, 86], [-3, -15], [3, -15], [-6, -13], [6, -13]], dtype=np.float32)


def _render(people: list[np.ndarray], shape: tuple[int, int] = (120, 160)) -> tuple[np.ndarray, np.ndarray]:
    """Ideal heatmaps (Gaussian peaks) and PAFs (unit vectors within 2 px of every limb)."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    heat = np.zeros((h, w, 19), np.float32)
    paf = np.zeros((h, w, 38), np.float32)
    for pts in people:
        for k, (x, y) in enumerate(pts):
            heat[..., k] = np.maximum(heat[..., k], np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 2.0 ** 2)))
        for (a, b), (cx, cy) in zip(LIMB_PARTS, LIMB_PAF_CHANNELS):
            v = pts[b] - pts[a]
            length = float(np.linalg.norm(v))
            u = v / length
            rel_x, rel_y = xx - pts[a, 0], yy - pts[a, 1]
            along = rel_x * u[0] + rel_y * u[1]
            across = np.abs(-rel_x * u[1] + rel_y * u[0])
            on = (along >= 0) & (along <= length) & (across <= 2.0)
            paf[..., cx - 19][on] = u[0]
            paf[..., cy - 19][on] = u[1]
    heat[..., 18] = np.clip(1 - heat[..., :18].max(-1), 0, 1)
    return heat, paf


def test_paf_grouping_separates_two_people():
    a, b = _BODY + [45, 20], _BODY + [110, 25]
    heat, paf = _render([a, b])
    people = decode_people(heat, paf)
    assert len(people) == 2
    got = sorted(people, key=lambda p: np.nanmean(p.points[:, 0]))
    for person, truth in zip(got, (a, b)):
        assert (person.confidence > 0).sum() == 18
        assert np.abs(person.points - truth).max() <= 1.0


def test_paf_grouping_needs_the_affinity_fields():
    heat, paf = _render([_BODY + [60, 20]])
    assert decode_people(heat, np.zeros_like(paf)) == []      # peaks alone never make a person
    flipped = decode_people(heat, -paf)                        # fields pointing the wrong way
    assert flipped == []


def test_paf_grouping_follows_the_fields_not_the_distance():
    # two people so close that the right wrist of the left one is nearer to the right one's elbow
    a, b = _BODY + [50, 20], _BODY + [80, 20]
    heat, paf = _render([a, b])
    people = sorted(decode_people(heat, paf), key=lambda p: p.points[1, 0])
    assert len(people) == 2
    np.testing.assert_allclose(people[0].points[4], a[4], atol=1.0)
    np.testing.assert_allclose(people[1].points[4], b[4], atol=1.0)


def test_network_size_keeps_aspect_and_area():
    w, h = network_size(720, 1280)
    assert w % 16 == 0 and h % 16 == 0
    assert abs(w / h - 720 / 1280) < 0.05
    assert abs(w * h / (432 * 368) - 1) < 0.1


def test_model_is_required_and_checked(tmp_path):
    with pytest.raises(ParameterError, match="--openpose-model"):
        OpenPoseDetector(model=None)
    with pytest.raises(ModelError):
        OpenPoseDetector(model=tmp_path / "missing.pb")
    bad = tmp_path / "bad.pb"
    bad.write_text("not a graph")
    with pytest.raises(ModelError):
        with OpenPoseDetector(model=bad):
            pass


# ------------------------------------------------------------------ the real network
@pytest.fixture(scope="module")
def detector(shared_data):
    model = shared_data / "models" / "openpose_mobilenet_v2_small" / "graph_opt.pb"
    if not model.is_file():
        pytest.skip("shared OpenPose model missing")
    with OpenPoseDetector(model=model) as det:
        yield det


def _plausible(person, image_shape) -> bool:
    kp, conf = adapt(person.points[None], person.confidence[None], source="coco18")
    kp, conf = kp[0], conf[0]
    h, w = image_shape[:2]
    ok = conf > 0
    inside = ((kp[ok, 0] >= 0) & (kp[ok, 0] < w) & (kp[ok, 1] >= 0) & (kp[ok, 1] < h)).all()
    neck, pelvis = kp[Joint.NECK], kp[Joint.PELVIS]
    if not (ok[Joint.NECK] and ok[Joint.PELVIS]):
        return False
    torso = float(np.linalg.norm(neck - pelvis))
    upright = pelvis[1] > neck[1]
    # every found limb shorter than 1.5 torsos (limbs of one person, not a link to somebody else)
    limbs_ok = True
    for a, b in ((Joint.R_SHOULDER, Joint.R_ELBOW), (Joint.L_SHOULDER, Joint.L_ELBOW),
                 (Joint.R_HIP, Joint.R_KNEE), (Joint.L_HIP, Joint.L_KNEE), (Joint.R_KNEE, Joint.R_ANKLE),
                 (Joint.L_KNEE, Joint.L_ANKLE)):
        if ok[a] and ok[b]:
            limbs_ok &= float(np.linalg.norm(kp[a] - kp[b])) < 1.5 * torso
    return bool(inside and upright and limbs_ok and torso > 0.05 * h)


def test_real_network_finds_the_dancers_in_p3_dance(detector, shared_data):
    img = cv2.imread(str(shared_data / "images" / "p3_dance.png"))
    people = detector.process(img)
    good = [p for p in people if _plausible(p, img.shape) and (p.confidence > 0).sum() >= 10]
    assert len(good) >= 2, f"{len(good)} plausible people of {len(people)}"
    # different people, not one person found twice: neck positions far apart
    necks = np.array([p.points[1] for p in good])
    d = np.linalg.norm(necks[:, None] - necks[None], axis=-1)
    assert d[np.triu_indices(len(good), 1)].min() > 0.1 * img.shape[1]
    assert detector.stage_seconds["inference"] > 0 and detector.stage_seconds["paf"] > 0


@pytest.mark.parametrize("name", ["apink1.jpg", "golf.jpg"])
def test_real_network_single_person(detector, shared_data, name):
    img = cv2.imread(str(shared_data / "images" / name))
    people = detector.process(img)
    good = [p for p in people if _plausible(p, img.shape)]
    assert len(good) == 1
    assert (good[0].confidence > 0).sum() >= 12
    box = good[0].bbox()
    assert (box[3] - box[1]) > 0.3 * img.shape[0]      # a full-body person, not a fragment


def test_extract_pipeline_with_openpose_backend(shared_data, tmp_path):
    """The openpose backend through ``extract_pose``: several people per frame, one main dancer kept."""
    from dancepose.models.posefile import MISSING, PoseSequence
    from dancepose.offline.extract import extract_pose

    model = shared_data / "models" / "openpose_mobilenet_v2_small" / "graph_opt.pb"
    video = shared_data / "dance_videos" / "dancer_studio_portrait_13s.mp4"
    image = shared_data / "images" / "p3_dance.png"
    paths = extract_pose(sources=[video, image], out_dir=tmp_path, backend="openpose", openpose_model=model,
                         quiet=True, max_frames=45, openpose_json=True)
    seq = PoseSequence.load(paths[0])
    assert len(seq) == 45 and seq.image_size == (720, 1280)
    assert "backend=openpose" in seq.source and "graph_opt.pb" in seq.source
    present = (seq.flags[:, [Joint.NECK, Joint.PELVIS]] != MISSING).all(1)
    assert present.mean() > 0.8
    assert (seq.keypoints[present, Joint.NECK, 1] < seq.keypoints[present, Joint.PELVIS, 1]).all()
    # the same dancer throughout: the neck never jumps by more than a torso length between frames
    torso = np.nanmedian(np.linalg.norm(seq.keypoints[:, Joint.NECK] - seq.keypoints[:, Joint.PELVIS], axis=-1))
    steps = np.linalg.norm(np.diff(seq.keypoints[:, Joint.NECK], axis=0), axis=-1)
    assert np.nanmax(steps) < torso
    assert len(list((tmp_path / "dancer_studio_portrait_13s.openpose").glob("*.json"))) == 45
    img_seq = PoseSequence.load(paths[1])
    assert len(img_seq) == 1 and (img_seq.flags[0] != MISSING).sum() >= 10
