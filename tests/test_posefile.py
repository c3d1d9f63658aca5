"""The pose file format and OpenPose JSON round trips."""
from __future__ import annotations

import os

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


_SAVE_ON_FULL_DISK = r"""
import gc, sys
import numpy as np
from dancepose.models.errors import OutputError
from dancepose.models.posefile import PoseSequence
seq = PoseSequence(keypoints=np.random.default_rng(0).normal(size=(3000, 15, 2)).astype(np.float32),
                   confidence=np.ones((3000, 15), np.float32), fps=30.0, image_size=(640, 480), source="test")
try:
    seq.save(sys.argv[1])
except OutputError as exc:
    print(exc)
gc.collect()
"""


def test_save_onto_a_full_disk_is_one_error_and_nothing_more(tmp_path, small_disk):
    """``--save-pose`` onto a full disk: exit 6, but numpy's half-written zip file then printed eight lines
    of ``Exception ignored in: <function ZipFile.__del__>`` when it was collected.  Now only the error."""
    import subprocess
    import sys

    disk = small_disk("64k")
    with open(disk / "filler", "wb", buffering=0) as fh:  # full to the last byte, as another writer left it
        for chunk in (b"\0" * 4096, b"\0"):
            try:
                while True:
                    fh.write(chunk)
            except OSError:
                pass
    r = subprocess.run([sys.executable, "-c", _SAVE_ON_FULL_DISK, str(disk / "x.pose.npz")], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "no space left" in r.stdout and r.stdout.count("\n") == 1
    assert os.listdir(disk) == ["filler"]


def test_render_save_pose_without_room_fails_before_rendering(shared_data, tmp_path, small_disk):
    import subprocess
    import sys

    from dancepose.models.audio import ffmpeg_exe

    song = tmp_path / "song.wav"
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-ss", "30", "-t", "200", "-i",
                    str(shared_data / "dance_with_melody" / "DANCE_C_6" / "audio.mp3"), str(song)], check=True)
    disk = small_disk("1M")  # 200 s at 30 fps: about 1.2 MB of pose file
    r = subprocess.run([sys.executable, "-m", "dancepose.offline.cli", "render", str(song), "-o",
                        str(tmp_path / "out.mp4"), "--save-pose", str(disk / "x.pose.npz"), "--size", "160x120",
                        "-q"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 6 and r.stderr.count("\n") == 1 and "not enough free space" in r.stderr, r.stderr
    assert not (tmp_path / "out.mp4").exists() and os.listdir(disk) == []
