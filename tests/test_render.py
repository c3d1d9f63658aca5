"""``dancepose render`` end to end on a real song excerpt (default dancer), and its bad-input paths."""
from __future__ import annotations

import math
import subprocess
import wave

import imageio_ffmpeg
import numpy as np
import pytest

from dancepose.models.clock import SAMPLE_RATE
from dancepose.models.dancer import DEFAULT_MODEL_DIR
from dancepose.models.posefile import PoseSequence
from dancepose.offline.cli import main
from dancepose.offline.render import FrameClock, n_video_frames, resample_poses
from dancepose.models.media.probe import probe_streams

needs_default = pytest.mark.skipif(not (DEFAULT_MODEL_DIR / "dancer.npz").is_file(),
                                   reason="the default dancer (models/default) is not there yet")


def _excerpt(shared, tmp_path, seconds, name="song.wav", offset=30.0):
    out = tmp_path / name
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-ss", str(offset),
                    "-t", str(seconds), "-i", str(shared / "dance_with_melody" / "DANCE_C_6" / "audio.mp3"),
                    str(out)], check=True)
    return out


def _write_wav(path, samples):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes((np.asarray(samples) * 32767).astype("<i2").tobytes())
    return path


def test_resample_poses_linear():
    rng = np.random.default_rng(0)
    poses = rng.normal(size=(10, 15, 2)).astype(np.float32)
    out = resample_poses(poses, n_frames=20, fps=60)
    np.testing.assert_allclose(out[::2], poses, atol=1e-6)
    np.testing.assert_allclose(out[1::2][:-1], 0.5 * (poses[:-1] + poses[1:]), atol=1e-6)
    np.testing.assert_allclose(out[-1], poses[-1])  # past the end: hold the last pose
    assert n_video_frames(SAMPLE_RATE * 3, fps=30) == 90
    assert n_video_frames(SAMPLE_RATE * 3 + 1, fps=30) == 91  # the last partial frame counts


def test_frame_clock_in_any_blocks_equals_resampling_the_whole_track():
    """Poses arriving in blocks give every video frame as soon as its two poses are there, bit for bit
    the frame of the whole track (and the held last pose at the end)."""
    rng = np.random.default_rng(1)
    poses = rng.normal(size=(400, 15, 2)).astype(np.float32)
    for fps, seconds in ((30, 400 / 30), (60, 401 / 30), (24, 13.2), (25, 399.5 / 30)):
        n_frames = math.ceil(seconds * fps - 1e-9)
        whole = resample_poses(poses, n_frames=n_frames, fps=fps)
        for max_block in (1, 7, 300, 1000):
            clock, got, i = FrameClock(fps=fps, n_frames=n_frames), [], 0
            while i < len(poses):
                k = int(rng.integers(0, max_block + 1))
                got.append(clock.push(poses[i:i + k]))
                if i + k < len(poses):       # nothing drawn before both of its poses are known
                    assert clock.next == 0 or np.floor((clock.next - 1) / fps * 30) + 1 < i + k
                i += k
            got.append(clock.push(poses[:0], final=True))
            assert clock.next == n_frames
            np.testing.assert_array_equal(np.concatenate(got), whole)


@needs_default
def test_render_streams_the_same_dance_as_the_whole_song(shared_data, tmp_path):
    """Rendering block by block (10 s of audio at a time) draws the poses of the whole song performed at
    once, bit for bit: 25 s of a real song, three blocks."""
    from dancepose.models.audio import load_audio
    from dancepose.models.dancer import Dancer
    from dancepose.models.media.draw import pose_to_pixels
    from dancepose.models.perform import perform

    song = _excerpt(shared_data, tmp_path, 25.0)
    pose = tmp_path / "d.pose.npz"
    assert main(["render", str(song), "-o", str(tmp_path / "d.mp4"), "--size", "320x240", "--fps", "60",
                 "--save-pose", str(pose), "--seed", "3", "-q"]) == 0
    y = load_audio(song)
    whole = perform(y, dancer=Dancer.load(), seed=3).poses
    expected = pose_to_pixels(resample_poses(whole, n_frames=n_video_frames(len(y), fps=60), fps=60),
                              width=320, height=240)
    np.testing.assert_array_equal(PoseSequence.load(pose).keypoints, expected)


@needs_default
def test_render_song_excerpt(shared_data, tmp_path):
    song = _excerpt(shared_data, tmp_path, 7.5)
    out, pose = tmp_path / "dance.mp4", tmp_path / "dance.pose.npz"
    code = main(["render", str(song), "-o", str(out), "--size", "320x240", "--save-pose", str(pose), "-q"])
    assert code == 0
    info = probe_streams(out)
    assert info["video"]["codec"] == "h264" and info["audio"]["codec"] == "aac"
    assert (info["video"]["width"], info["video"]["height"]) == (320, 240)
    assert info["video"]["duration"] == pytest.approx(7.5, abs=0.1)
    assert info["audio"]["duration"] == pytest.approx(7.5, abs=0.1)
    assert info["video"]["packets"] == 225
    seq = PoseSequence.load(pose)
    assert len(seq) == 225 and seq.fps == 30 and seq.image_size == (320, 240)
    assert seq.source.startswith("generated:")
    inside = (seq.keypoints[..., 0] >= 0) & (seq.keypoints[..., 0] < 320) & \
             (seq.keypoints[..., 1] >= 0) & (seq.keypoints[..., 1] < 240)
    assert inside.mean() > 0.95
    assert np.ptp(seq.keypoints, axis=0).max() > 5  # the figure moves
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dance.mp4", "dance.pose.npz", "song.wav"]


@needs_default
def test_render_60fps_partial_last_frame(shared_data, tmp_path):
    song = _excerpt(shared_data, tmp_path, 3.01)
    out, pose = tmp_path / "d60.mp4", tmp_path / "d60.pose.npz"
    assert main(["render", str(song), "-o", str(out), "--size", "320x240", "--fps", "60",
                 "--save-pose", str(pose), "-q"]) == 0
    with wave.open(str(song)) as w:
        seconds = w.getnframes() / w.getframerate()
    n = math.ceil(seconds * 60 - 1e-9)
    info = probe_streams(out)
    assert info["video"]["packets"] == n
    assert info["audio"]["duration"] == pytest.approx(n / 60, abs=0.05)
    seq = PoseSequence.load(pose)
    assert len(seq) == n and seq.fps == 60
    # interpolated: every second frame lies between its neighbours
    k = seq.keypoints
    mid = 0.5 * (k[:-2:2] + k[2::2])
    assert np.abs(k[1:-1:2] - mid).max() < np.abs(k[2::2] - k[:-2:2]).max() + 1e-3


@pytest.mark.parametrize("case, code, message", [
    ("missing", 3, "not found"),
    ("garbage", 3, "cannot decode"),
    ("silent", 3, "audio is silent"),
    ("empty", 3, "zero length"),
    ("no_model", 4, "model directory not found"),
    ("bad_background", 3, "background"),
])
def test_render_bad_input(shared_data, tmp_path, capsys, case, code, message):
    song = tmp_path / "in.wav"
    args = []
    if case == "garbage":
        song = tmp_path / "in.mp3"
        song.write_bytes(b"this is not audio" * 100)
    elif case == "silent":
        _write_wav(song, np.zeros(2 * SAMPLE_RATE))
    elif case == "empty":
        _write_wav(song, np.zeros(0))
    elif case in ("no_model", "bad_background"):
        song = _excerpt(shared_data, tmp_path, 2.0, name="in.wav")
        if case == "no_model":
            args = ["-m", str(tmp_path / "no_such_model")]
        else:
            if not (DEFAULT_MODEL_DIR / "dancer.npz").is_file():
                pytest.skip("the default dancer is not there yet")
            (tmp_path / "bg.jpg").write_bytes(b"not a jpeg")
            args = ["--background", str(tmp_path / "bg.jpg")]
    before = set(tmp_path.iterdir())
    out = tmp_path / "out.mp4"
    assert main(["render", str(song), "-o", str(out), "--save-pose", str(tmp_path / "p.pose.npz"),
                 "-q", *args]) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dancepose: error:") and message in err[0], err
    assert set(tmp_path.iterdir()) == before  # nothing written, no temporaries left


@needs_default
def test_render_openpose_style_and_json_read_back(shared_data, tmp_path):
    """--style openpose on black + --save-openpose: one COCO-18 JSON per frame that the project's importer
    reads back to the rendered motion."""
    song = _excerpt(shared_data, tmp_path, 2.0)
    out, pose, js = tmp_path / "op.mp4", tmp_path / "op.pose.npz", tmp_path / "json"
    assert main(["render", str(song), "-o", str(out), "--size", "320x240", "--style", "openpose",
                 "--save-openpose", str(js), "--save-pose", str(pose), "-q"]) == 0
    files = sorted(js.glob("*_keypoints.json"))
    assert len(files) == 60 and files[0].name == "frame_000000000000_keypoints.json"
    import json

    doc = json.loads(files[10].read_text())
    kp = np.array(doc["people"][0]["pose_keypoints_2d"]).reshape(18, 3)
    assert (doc["canvas_width"], doc["canvas_height"]) == (320, 240)
    assert (kp[:, 2] == 1).all()  # all 18 points, eyes and ears included
    back = PoseSequence.from_openpose_json(js, fps=30, image_size=(320, 240))
    ref = PoseSequence.load(pose)
    assert len(back) == len(ref) == 60
    from dancepose.models.skeleton import Joint

    body = [j for j in range(15) if j != Joint.PELVIS]  # COCO has no pelvis: the importer puts it mid-hips
    np.testing.assert_allclose(back.keypoints[:, body], ref.keypoints[:, body], atol=0.01)
    hips = 0.5 * (ref.keypoints[:, Joint.L_HIP] + ref.keypoints[:, Joint.R_HIP])
    np.testing.assert_allclose(back.keypoints[:, Joint.PELVIS], hips, atol=0.01)
    # the video: black with the annotator's colours
    import imageio_ffmpeg as iio

    reader = iio.read_frames(str(out), pix_fmt="rgb24")
    meta = next(reader)
    frame = np.frombuffer(next(reader), np.uint8).reshape(meta["size"][1], meta["size"][0], 3)
    reader.close()
    assert np.median(frame) < 8 and frame.max() > 200


@needs_default
def test_render_green_background_and_log_friendly_progress(shared_data, tmp_path):
    """stderr to a file (not a TTY): a few plain progress lines, no carriage returns."""
    import sys

    song = _excerpt(shared_data, tmp_path, 2.0)
    out, log = tmp_path / "g.mp4", tmp_path / "stderr.log"
    with open(log, "w") as fh:
        proc = subprocess.run([sys.executable, "-m", "dancepose.offline.cli", "render", str(song), "-o", str(out),
                               "--size", "320x240", "--background", "green"], stderr=fh, stdout=subprocess.PIPE,
                              timeout=300)
    assert proc.returncode == 0
    text = log.read_text()
    assert "\r" not in text
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert 1 <= len(lines) <= 4 and any("render g.mp4" in ln and "60/60" in ln for ln in lines), text
    import imageio_ffmpeg as iio

    reader = iio.read_frames(str(out), pix_fmt="rgb24")
    meta = next(reader)
    frame = np.frombuffer(next(reader), np.uint8).reshape(meta["size"][1], meta["size"][0], 3)
    reader.close()
    corner = frame[:20, :20].reshape(-1, 3).astype(int)
    assert np.abs(corner - [0, 255, 0]).max() < 12  # the key colour (after H.264's 4:2:0)
