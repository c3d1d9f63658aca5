"""Render and evaluate stream: their peak memory does not grow with the song.

Real songs (Dance-with-Melody songs put end to end with ffmpeg), real ``dancepose render`` and
``dancepose evaluate`` commands, each in a fresh process whose own peak RSS (``ru_maxrss``) is compared:
a 5-minute song against a 30-second one.  Holding the song whole cost about 400 MB more for the 5-minute
render (its 44.1 kHz stereo track, the features of the whole signal at once) and 700 MB more for its
evaluation (librosa's tempogram of the whole song); streaming keeps both within a few MB.  The pose side
of evaluate (an hour of poses is only 12 MB, but the metrics' float64 copies of it were 26 MB each) is
checked by its traced allocations.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

pytestmark = pytest.mark.slow

#: Extra peak RSS the 5-minute song may cost over the 30-second one (measured: a few MB).
MARGIN_MB = 80.0

RUNNER = """
import resource, sys
from dancepose.offline.cli import main
code = main(sys.argv[1:])
print(f"PEAK-RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", file=sys.stderr)
sys.exit(code)
"""


def _song(shared: Path, out: Path, seconds: float) -> Path:
    songs = [shared / "dance_with_melody" / n / "audio.mp3" for n in ("DANCE_C_6", "DANCE_R_2", "DANCE_W_4")]
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error"]
    for s in songs:
        cmd += ["-i", str(s)]
    parts = "".join(f"[{i}:a]aformat=sample_rates=44100:channel_layouts=stereo[a{i}];" for i in range(len(songs)))
    cmd += ["-filter_complex", f"{parts}[a0][a1][a2]concat=n=3:v=0:a=1[out]", "-map", "[out]",
            "-t", str(seconds), "-c:a", "libmp3lame", "-b:a", "128k", str(out)]
    subprocess.run(cmd, check=True)
    return out


def _peak_mb(args: list[str]) -> float:
    r = subprocess.run([sys.executable, "-c", RUNNER, *args], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    return int(re.search(r"PEAK-RSS (\d+)", r.stderr).group(1)) / 1024


@pytest.fixture(scope="module")
def rendered(shared_data, tmp_path_factory) -> dict[float, tuple[Path, Path, float]]:
    """30-s and 5-min songs rendered small (the frame size does not change with the song): song, pose file,
    peak RSS of the render."""
    d = tmp_path_factory.mktemp("memory")
    out = {}
    for seconds in (30.0, 300.0):
        song = _song(shared_data, d / f"song{int(seconds)}.mp3", seconds)
        pose = d / f"dance{int(seconds)}.pose.npz"
        rss = _peak_mb(["render", str(song), "-o", str(d / f"dance{int(seconds)}.mp4"), "--size", "160x120",
                        "--save-pose", str(pose), "-q"])
        out[seconds] = (song, pose, rss)
    return out


def test_render_memory_does_not_grow_with_the_song(rendered):
    short, long = rendered[30.0][2], rendered[300.0][2]
    assert long < short + MARGIN_MB, f"render peak RSS {short:.0f} MB for 30 s, {long:.0f} MB for 5 min"


def test_evaluate_memory_does_not_grow_with_the_song(rendered, tmp_path):
    peaks = {s: _peak_mb(["evaluate", str(pose), "--audio", str(song), "--no-model", "-o", str(tmp_path / f"r{s}"),
                          "-q"]) for s, (song, pose, _) in rendered.items()}
    assert peaks[300.0] < peaks[30.0] + MARGIN_MB, f"evaluate peak RSS {peaks}"


def _hour_of_real_dance(shared: Path) -> np.ndarray:
    """An hour (108,000 frames at 30 fps) of real dance: a Dance-with-Melody sequence looped, in pixels."""
    from dancepose.offline.evaluation.load import load_dwm_2d

    p, _, _ = load_dwm_2d(shared / "dance_with_melody" / "DANCE_C_4")
    n = 3600 * 30
    p = np.concatenate([p, p[::-1]])  # back and forth: no jump at the seams
    p = np.tile(p, (n // len(p) + 1, 1, 1))[:n]
    return (p * 100.0 + np.array([640.0, 360.0], np.float32)).astype(np.float32)


def test_scoring_an_hour_of_dance_holds_no_whole_song_copies(shared_data, tmp_path):
    """Loading and scoring a 1-hour pose file (12 MB of float32 poses) does not hold float64 copies,
    differences and spectra of the whole track at once: numpy's allocations, traced, peak below 80 MB over
    what the track keeps (59 MB; 177 MB before: Welch's segments of every coordinate at once, resampling's
    and the metrics' float64 copies of the whole track).  Deterministic, unlike RSS: the same arrays
    whatever the load.  The song is short here (the music side is measured by the commands above)."""
    import tracemalloc

    from dancepose.models.posefile import PoseSequence
    from dancepose.models.clock import SAMPLE_RATE
    from dancepose.offline.evaluation.load import load_pose_track, track_beats
    from dancepose.offline.evaluation.score import score_track

    px = _hour_of_real_dance(shared_data)
    path = tmp_path / "hour.pose.npz"
    PoseSequence(keypoints=px, confidence=np.ones(px.shape[:2], np.float32), fps=30.0, image_size=(1280, 720),
                 source="generated:test").save(path)
    song = _song(shared_data, tmp_path / "song.mp3", 5.0)
    del px
    track_beats(y=np.zeros(SAMPLE_RATE * 2, np.float32) + 0.1 * np.sin(np.arange(SAMPLE_RATE * 2)))  # imports, JIT
    tracemalloc.start()
    try:
        track = load_pose_track(path, audio=song)
        kept = tracemalloc.get_traced_memory()[0]
        row = score_track(track, beats=(120.0, np.arange(0.0, 3600.0, 0.5)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert row["seconds"] == pytest.approx(3600.0, abs=0.1) and np.isfinite(row["jitter"])
    assert (peak - kept) / 2**20 < 80.0, f"peak {peak / 2**20:.0f} MB traced, {kept / 2**20:.0f} MB kept"
