"""``dancepose run`` — the seed's one command (extract → learn → render) on a real video, for real."""
from __future__ import annotations

import subprocess

import imageio_ffmpeg
import pytest

from dancepose.models.posefile import PoseSequence
from dancepose.offline.cli import main
from dancepose.models.media.probe import probe_streams


@pytest.mark.slow
def test_run_video_to_dancing_mp4(shared_data, tmp_path):
    song = tmp_path / "song with spaces.wav"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-ss", "40", "-t", "5",
                    "-i", str(shared_data / "dance_with_melody" / "DANCE_R_5" / "audio.mp3"), str(song)],
                   check=True)
    out = tmp_path / "work dir"
    code = main(["run", "--video", str(shared_data / "dance_videos" / "dancer_studio_portrait_13s.mp4"),
                 "--audio", str(song), "--background", str(shared_data / "images" / "p3_dance.png"),
                 "-o", str(out), "--size", "320x240", "-q"])
    assert code == 0
    pose = PoseSequence.load(out / "pose" / "dancer_studio_portrait_13s.pose.npz")
    assert len(pose) > 350 and (pose.flags == 0).mean() > 0.8
    assert (out / "model" / "dancer.npz").is_file() and (out / "model" / "moves.npz").is_file()  # learned
    info = probe_streams(out / "song with spaces.mp4")
    assert info["video"]["codec"] == "h264" and info["audio"]["codec"] == "aac"
    assert info["video"]["duration"] == pytest.approx(5.0, abs=0.1)
    assert info["audio"]["duration"] == pytest.approx(5.0, abs=0.1)


def test_run_bad_input(tmp_path, capsys):
    code = main(["run", "--video", str(tmp_path / "missing.mp4"), "--audio", str(tmp_path / "x.wav"),
                 "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code != 0 and "not found" in err and len(err.strip().splitlines()) == 1


def test_run_checks_every_input_before_extraction(shared_data, tmp_path, capsys):
    """Bad song, video without a picture, bad background, unwritable output, bad base dancer: one line
    each, before any extraction (the work folder gets no pose and no model)."""
    video = shared_data / "dance_videos" / "dancer_studio_portrait_13s.mp4"
    song = tmp_path / "song.wav"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-ss", "40", "-t", "3",
                    "-i", str(shared_data / "dance_with_melody" / "DANCE_R_5" / "audio.mp3"), str(song)],
                   check=True)
    corrupt = tmp_path / "corrupt.mp3"
    corrupt.write_bytes(b"ID3 this is not an mp3 at all" * 100)
    sound_only = tmp_path / "no_picture.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(video), "-map", "0:a:0",
                    "-c", "copy", str(sound_only)], check=True)
    bad_bg = tmp_path / "bg.png"
    bad_bg.write_text("not an image")
    (tmp_path / "afile").write_text("x")
    cases = [
        (["--video", str(video), "--audio", str(corrupt)], 3),
        (["--video", str(sound_only), "--audio", str(song)], 3),
        (["--video", str(video), "--audio", str(song), "--base", str(tmp_path)], 4),
        (["--video", str(video), "--audio", str(song), "--background", str(bad_bg)], 3),
        (["--video", str(video), "--audio", str(song), "-o", str(tmp_path / "afile" / "work")], 6),
    ]
    for args, code in cases:
        work = tmp_path / "work"
        argv = ["run", *args, "--size", "320x240", "-q"]
        if "-o" not in args:
            argv += ["-o", str(work)]
        assert main(argv) == code, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("dancepose: error:"), err
        assert not (work / "pose").exists() and not (work / "model").exists()
