"""Every kind of source ``dancepose learn`` takes loads into one person's track (+ its music): pose files with
music beside them, OpenPose JSON folders (main person followed), AIST++ keypoints (frontal view), images
(real MediaPipe), folders of them; and the beats units are cut at (the music's, or the motion's own)."""
from __future__ import annotations

import json
import shutil
import subprocess

import imageio_ffmpeg
import numpy as np
import pytest

from dancepose.models.clock import MODEL_FPS
from dancepose.models.errors import InputError
from dancepose.models.posefile import PoseSequence
from dancepose.offline.learn import stretch_poses
from dancepose.offline.phrases import kinematic_beat_frames, motion_speed, segment_stretch, track_beats
from dancepose.offline.sources import find_sources, frontal_view, load_sources, read_aistpp


@pytest.fixture(scope="module")
def aist(shared_data):
    return sorted((shared_data / "aistpp_keypoints2d").glob("*.npz"))


def _wav(shared_data, path, seconds):
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-ss", "30", "-t", str(seconds),
                    "-i", str(shared_data / "dance_with_melody" / "DANCE_C_7" / "audio.mp3"), str(path)], check=True)


def test_aistpp_uses_the_most_frontal_view(aist):
    with np.load(aist[0]) as z:
        view, scores = frontal_view(z["keypoints2d"])
    m = read_aistpp(aist[0])
    assert len(scores) == 9 and view == int(np.argmax(scores))
    assert m.kind == "aistpp" and m.audio is None and m.seq.fps == pytest.approx(60.0)
    assert len(m.seq) == 720 and f"camera {view + 1} of 9" in m.note
    # facing the camera: the person's right shoulder on image left most of the time
    assert np.mean(m.seq.keypoints[:, 5, 0] > m.seq.keypoints[:, 2, 0]) > 0.7


def test_pose_file_with_music_beside_it(shared_data, aist, tmp_path):
    seq = read_aistpp(aist[1]).seq
    seq.save(tmp_path / "me.pose.npz")
    _wav(shared_data, tmp_path / "me.wav", 12)
    items = find_sources([tmp_path])
    assert [(i.path.name, i.kind) for i in items] == [("me.pose.npz", "pose")]  # the .wav is not a source
    motions, failed = load_sources(items, work_dir=tmp_path / "work")
    assert not failed and motions[0].audio == tmp_path / "me.wav" and len(motions[0].seq) == 720


def test_openpose_folder_follows_the_main_person(aist, tmp_path):
    seq = read_aistpp(aist[0]).seq
    folder = tmp_path / "op"
    seq.to_openpose_json(folder)
    # a second, smaller person at the image edge in every frame, listed first
    for f in sorted(folder.glob("*_keypoints.json")):
        doc = json.loads(f.read_text())
        main = np.asarray(doc["people"][0]["pose_keypoints_2d"]).reshape(18, 3)
        other = main.copy()
        other[:, :2] = other[:, :2] * 0.3 + [1500.0, 50.0]
        doc["people"].insert(0, {"person_id": [-1], "pose_keypoints_2d": other.ravel().tolist()})
        f.write_text(json.dumps(doc))
    items = find_sources([folder])
    assert [i.kind for i in items] == ["openpose"]
    motions, failed = load_sources(items, work_dir=tmp_path / "w", openpose_fps=60.0)
    m = motions[0]
    assert not failed and m.kind == "openpose" and m.seq.fps == 60.0 and len(m.seq) == 720
    ok = np.isfinite(m.seq.keypoints).all(axis=(1, 2))
    err = np.abs(m.seq.keypoints[ok, 14] - seq.keypoints[ok, 14]).max()
    assert ok.mean() > 0.95 and err < 20.0  # the dancer, not the small person at the edge (pixels)


def test_image_is_a_key_pose(shared_data, tmp_path):
    items = find_sources([shared_data / "images" / "p3_dance.png"])
    motions, failed = load_sources(items, work_dir=tmp_path, quiet=True)
    assert not failed and motions[0].kind == "image" and len(motions[0].seq) == 1
    assert (tmp_path / "p3_dance.pose.npz").is_file()


def test_bad_sources_are_one_line_errors(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "data.npz").write_bytes(b"not a zip")
    for path, words in ((tmp_path / "missing.mp4", "no such file"), (tmp_path / "notes.txt", "unsupported"),
                        (tmp_path / "data.npz", "neither")):
        with pytest.raises(InputError, match=words) as e:
            find_sources([path])
        assert e.value.exit_code == 3 and "\n" not in str(e.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="holds no"):
        find_sources([empty])


def test_motion_beats_are_regular_speed_minima(aist):
    """AIST++ basic break dance to an 80 BPM track: the motion's own beats come out at a multiple of the
    music's period (0.75 s), each on a local minimum of the speed."""
    poses = stretch_poses(read_aistpp(aist[0]), 0, 720)
    beats = kinematic_beat_frames(poses)
    period = np.median(np.diff(beats)) / MODEL_FPS
    assert min(abs(period / (0.75 * k) - 1) for k in (0.5, 1, 2)) < 0.08
    speed = motion_speed(poses)
    inner = beats[(beats > 2) & (beats < len(speed) - 3)].round().astype(int)
    assert np.mean([speed[b] <= speed[b - 2:b + 3].min() + 1e-3 for b in inner]) > 0.8


def test_dp_beat_tracker_on_a_pulse():
    env = np.zeros(300)
    env[5::20] = 1.0
    env += 0.05 * np.random.default_rng(0).random(300)
    beats = track_beats(env, period=20.0)
    assert np.all(np.diff(beats) == 20) and beats[0] == 5


def test_units_by_the_music_when_there_is_music(shared_data, aist, tmp_path):
    """A stretch with a confident soundtrack is cut at the music's beats (moved onto speed minima)."""
    wav = tmp_path / "song.wav"
    _wav(shared_data, wav, 14)
    from dancepose.offline.phrases import music_beat_times

    music = music_beat_times(wav, seconds=12.0, min_confidence=0.3)
    poses = stretch_poses(read_aistpp(aist[0]), 0, 720)
    units, how = segment_stretch(poses, offset_s=0.0, music=music)
    assert how == "music" and len(units) > 10
    spans = np.array([e - s for s, e in units]) / MODEL_FPS
    assert 0.3 < np.median(spans) < 0.8  # cha-cha at ≈ 120 BPM: half-second beats
    units2, how2 = segment_stretch(poses, offset_s=0.0, music=None)
    assert how2 == "motion" and units2


def test_folder_of_mixed_sources(aist, tmp_path):
    shutil.copy(aist[0], tmp_path / aist[0].name)
    read_aistpp(aist[1]).seq.save(tmp_path / "b.pose.npz")
    PoseSequence.load(tmp_path / "b.pose.npz").to_openpose_json(tmp_path / "c_json")
    kinds = sorted(i.kind for i in find_sources([tmp_path]))
    assert kinds == ["aistpp", "openpose", "pose"]
