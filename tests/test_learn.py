"""``dancepose learn`` for real: a shared dance video through MediaPipe plus AIST++ keypoints → a personal
model directory that loads, renders, dances live headless and gets a style section in ``evaluate``;
``--mirror``; a broken personal model exits 4 naming the file; a video with a camera cut, a close-up and
another person keeps only the dancer's clean stretches."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import imageio_ffmpeg
import numpy as np
import pytest

from dancepose.models.dancer import Dancer
from dancepose.models.media.probe import probe_streams
from dancepose.models.moves import MoveLibrary
from dancepose.offline.cli import main


@pytest.fixture(scope="module")
def learned(shared_data, tmp_path_factory):
    """The studio video (real MediaPipe, its music) + two AIST++ files, mirrored."""
    root = tmp_path_factory.mktemp("learn")
    aist = sorted((shared_data / "aistpp_keypoints2d").glob("*.npz"))[:2]
    video = shared_data / "dance_videos" / "dancer_studio_portrait_13s.mp4"
    code = main(["learn", str(video), *map(str, aist), "-o", str(root / "me"), "--mirror", "-q"])
    assert code == 0
    return root


def _song(shared_data, path, seconds=6):
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-ss", "40", "-t", str(seconds),
                    "-i", str(shared_data / "dance_with_melody" / "DANCE_C_8" / "audio.mp3"), str(path)], check=True)
    return path


def test_the_personal_model_directory(learned):
    me = learned / "me"
    assert sorted(p.name for p in me.iterdir()) == ["config.json", "dancer.npz", "moves.npz"]
    assert (learned / "me_work" / "dancer_studio_portrait_13s.pose.npz").is_file()  # extraction kept aside
    config = json.loads((me / "config.json").read_text())
    personal = config["personal"]
    assert personal["base"] == "default" and personal["mirror"] is True
    kinds = [s["kind"] for s in personal["sources"]]
    assert kinds == ["video", "aistpp", "aistpp"]
    assert personal["sources"][0]["music"] and personal["sources"][0]["cut_by"] == ["music"]
    assert personal["sources"][1]["cut_by"] == ["motion"]
    lib = MoveLibrary.load(me / "moves.npz")
    assert lib.unit_mirrored.sum() == (~lib.unit_mirrored).sum() > 20  # --mirror: every unit twice
    a = lib.runs(mirrored=False)[0]
    b = lib.runs(mirrored=True)[0]
    assert np.allclose(b[:, 2, 0], -a[:, 5, 0], atol=1e-5)  # right shoulder ← mirrored left shoulder
    dancer = Dancer.load(me)
    assert dancer.chain.names[0] == "moves" and "network" not in dancer.chain.names
    assert sum(f.stat().st_size for f in me.iterdir()) < 4 * 2 ** 20


def test_renders_and_dances_live_headless(learned, shared_data, tmp_path):
    song = _song(shared_data, tmp_path / "song.wav")
    out = tmp_path / "dance.mp4"
    assert main(["render", str(song), "-m", str(learned / "me"), "-o", str(out), "--size", "320x240", "-q",
                 "--save-pose", str(tmp_path / "dance.pose.npz")]) == 0
    info = probe_streams(out)
    assert info["video"]["codec"] == "h264" and info["audio"]["duration"] == pytest.approx(6.0, abs=0.1)
    r = subprocess.run([sys.executable, "-m", "dancepose.realtime.cli", "-m", str(learned / "me"), "--input", str(song),
                        "--headless", "--sim-clock", "--duration", "4", "--log-poses", str(tmp_path / "live.npz"),
                        "-q"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    with np.load(tmp_path / "live.npz") as z:
        poses = z["poses"]
    assert len(poses) >= 200 and np.isfinite(poses).all() and np.ptp(poses[60:, :, 0], axis=0).max() > 0.2


def test_evaluate_has_a_style_section(learned, shared_data, tmp_path):
    song = _song(shared_data, tmp_path / "song.wav", seconds=20)
    assert main(["render", str(song), "-m", str(learned / "me"), "-o", str(tmp_path / "d.mp4"), "--size", "320x240",
                 "-q", "--save-pose", str(tmp_path / "d.pose.npz")]) == 0
    assert main(["evaluate", str(tmp_path / "d.pose.npz"), "--audio", str(song), "-m", str(learned / "me"),
                 "--minutes-in-frame", "0.2", "-o", str(tmp_path / "report"), "-q"]) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    style = report["style"]
    assert style["music"] == ["d"]
    for who in ("source", "personal", "default"):
        assert style[who]["speed"] > 0 and style[who]["jitter"] > 0 and len(style[who]["ranges"]) == 14
    assert style["personal"]["pose_distance"] < 0.5 * style["default"]["pose_distance"]
    assert set(style["targets"]) == {"style_pose_distance", "style_jitter", "style_not_replayed"}
    assert style["targets"]["style_pose_distance"]["ok"]
    assert (tmp_path / "report" / "style.png").stat().st_size > 10_000


def test_broken_personal_model_exits_4_naming_the_file(learned, shared_data, tmp_path):
    import shutil

    song = _song(shared_data, tmp_path / "song.wav", seconds=2)
    broken = tmp_path / "broken"
    shutil.copytree(learned / "me", broken)
    (broken / "moves.npz").write_bytes(b"PK\x03\x04 not really")
    for cmd in (["render", str(song), "-m", str(broken), "-o", str(tmp_path / "x.mp4"), "-q"],
                ["evaluate", "-m", str(broken), "-o", str(tmp_path / "r"), "-q"]):
        r = subprocess.run([sys.executable, "-m", "dancepose.offline.cli", *cmd], capture_output=True, text=True)
        assert r.returncode == 4 and "moves.npz" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    (broken / "moves.npz").unlink()
    r = subprocess.run([sys.executable, "-m", "dancepose.realtime.cli", "-m", str(broken), "--input", "demo",
                        "--headless", "--duration", "1"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 4 and "moves.npz" in r.stderr


def test_too_little_clean_dance_is_one_line(shared_data, tmp_path, capsys):
    code = main(["learn", str(shared_data / "images" / "p3_dance.png"), "-o", str(tmp_path / "me"), "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3 and len(err) == 1 and "too little clean dance" in err[0]
    assert not (tmp_path / "me").exists()
    assert main(["learn", str(tmp_path / "nothing.mp4"), "-o", str(tmp_path / "me"), "-q"]) == 3


@pytest.mark.slow
def test_video_with_cut_close_up_and_another_person(shared_data, tmp_path):
    """A real video made of the 70-s clip: 10 s as filmed, 4 s close-up on the upper body, 10 s closer (a
    camera cut), 4 s of another dancer (the studio clip), 10 s closer again.  Real MediaPipe."""
    v = shared_data / "dance_videos" / "dancer_fullbody_70s.mp4"
    other = shared_data / "dance_videos" / "dancer_studio_portrait_13s.mp4"
    video = tmp_path / "edited.mp4"
    seg = "setpts=PTS-STARTPTS,fps=30"
    graph = (f"[0:v]trim=0:10,{seg},scale=320:240,setsar=1[a];"
             f"[0:v]trim=10:14,{seg},crop=96:72:112:40,scale=320:240,setsar=1[b];"
             f"[0:v]trim=14:24,{seg},crop=240:180:40:50,scale=320:240,setsar=1[c];"
             f"[1:v]trim=2:6,{seg},scale=134:240,pad=320:240:10:0,setsar=1[d];"
             f"[0:v]trim=24:34,{seg},crop=240:180:40:50,scale=320:240,setsar=1[e];"
             "[a][b][c][d][e]concat=n=5:v=1:a=0[v];[0:a]atrim=0:38,asetpts=PTS-STARTPTS[au]")
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(v), "-i", str(other),
                    "-filter_complex", graph, "-map", "[v]", "-map", "[au]", "-c:v", "libx264", "-preset", "veryfast",
                    "-c:a", "aac", str(video)], check=True)
    assert main(["learn", str(video), "-o", str(tmp_path / "me"), "-q"]) == 0
    src = json.loads((tmp_path / "me" / "config.json").read_text())["personal"]["sources"][0]
    kept = np.zeros(38 * 30, bool)
    for a, b in src["stretches"]:
        kept[a:b] = True
    s = lambda a, b: kept[int(a * 30):int(b * 30)].mean()  # noqa: E731 - share kept of a span (s)
    assert s(10.3, 13.7) == 0.0 and s(24.3, 27.7) == 0.0  # the close-up and the other dancer: dropped
    assert s(0, 10) > 0.4 and s(14, 24) > 0.1 and s(28, 38) > 0.4  # the dancer: kept
    assert src["cuts"] >= 2 and src["dropped_s"]["not_in_view"] > 3.0


def test_shallow_beats_marked_on_a_song(learned, shared_data):
    """Sources whose own speed minima are shallow — the studio video's dancer (real MediaPipe, cut on its
    music's beats) and two AIST++ files, mirrored — on a song it never heard (DANCE_R_8, 30 s, its
    reference beats), seeds 0 and 1: played with its library accent (MovesConfig.beat_depth), the dance
    slows into the beats heard more than with the previous player's accent 0.2 (speed at the reference
    beats ÷ mean speed 0.60 / 0.54 against 0.71 / 0.61) and its speed minima land on them (BAS ÷
    chance 3.54 / 3.50 against 2.87 / 2.91)."""
    from dancepose.models.audio import load_audio
    from dancepose.models.clock import MODEL_FPS
    from dancepose.models.features import music_features
    from dancepose.offline import metrics
    from dancepose.offline.evaluation.load import reference_beats

    dancer = Dancer.load(learned / "me")
    assert dancer.chain["moves"].accent > 0.3  # its units' ends are near their mean speed
    lib, cfg = dancer.moves
    previous = Dancer(weights=dancer._weights, stats=dancer._stats, config=dancer.config, stages=dancer.stages,
                      moves=(lib, dataclasses.replace(cfg, max_accent=cfg.accent)))
    folder = shared_data / "dance_with_melody" / "DANCE_R_8"
    offset = float(np.load(folder / "motion.npz")["audio_offset_s"])
    feats = music_features(y=load_audio(folder / "audio.mp3", offset=offset, duration=30.0))
    beats = reference_beats(path=shared_data / "beats" / "DANCE_R_8.beats", offset_s=offset, duration_s=30.0).times
    beats = beats[beats > 4.0]  # after the beat tracker's lock-in
    ratio, depth = {}, {}
    for name, d in (("library", dancer), ("previous", previous)):
        for seed in (0, 1):
            poses = d.generate(feats, seed=seed)
            speed = metrics.joint_speed(poses=poses, fps=MODEL_FPS)
            kb = metrics.kinematic_beats(poses=poses, fps=MODEL_FPS)
            ratio[name, seed] = metrics.beat_align_chance(music_beats=beats, kinematic_beats=kb,
                                                          duration_s=len(poses) / MODEL_FPS)["ratio"]
            depth[name, seed] = np.interp(beats * MODEL_FPS - 0.5, np.arange(len(speed)), speed).mean() \
                / speed[4 * MODEL_FPS:].mean()
    assert all(depth["library", s] <= 0.7 and depth["library", s] < depth["previous", s] for s in (0, 1)), depth
    assert min(ratio["library", s] for s in (0, 1)) >= 1.5, ratio
    assert ratio["library", 0] + ratio["library", 1] > ratio["previous", 0] + ratio["previous", 1], ratio
