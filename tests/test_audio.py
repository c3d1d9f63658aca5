"""Audio loading (models/audio.py): bad samples are cleaned at the boundary — a float WAV with NaN and
infinite samples renders and performs live with one warning line, never a traceback."""
from __future__ import annotations

import struct
import subprocess
import sys

import numpy as np
import pytest

from dancepose.models.audio import load_audio
from dancepose.models.clock import SAMPLE_RATE

from live_helpers import click_track, live_cmd, live_env, model_args


def float_wav(path, y, *, sr=SAMPLE_RATE):
    """A 32-bit float WAV (WAVE_FORMAT_IEEE_FLOAT), written byte by byte: NaN and Inf go in unchanged."""
    data = np.asarray(y, "<f4").tobytes()
    fmt = struct.pack("<IHHIIHH", 16, 3, 1, sr, sr * 4, 4, 32)
    path.write_bytes(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt " + fmt + b"data"
                     + struct.pack("<I", len(data)) + data)
    return path


@pytest.fixture
def bad_song(tmp_path):
    """6 s of clicks at 120 BPM with NaN and ±Inf samples in the middle (3 s in)."""
    y, _ = click_track(seconds=6.0, bpm=120.0)
    y = y + 0.05 * np.sin(np.arange(len(y)) / 9.0).astype(np.float32)
    y[3 * SAMPLE_RATE: 3 * SAMPLE_RATE + 100] = np.nan
    y[4 * SAMPLE_RATE: 4 * SAMPLE_RATE + 10] = np.inf
    y[4 * SAMPLE_RATE + 500] = -np.inf
    return float_wav(tmp_path / "bad.wav", y), y


def test_finite_samples_cleans_once_and_copies_only_when_needed():
    from dancepose.models.audio import finite_samples

    y = np.ones(10, np.float32)
    assert finite_samples(y, what="x") is y
    y[3], y[5] = np.nan, -np.inf
    said = []
    out = finite_samples(y, what="x", warn=said.append)
    assert np.isfinite(out).all() and out[3] == 0.0 and out[5] == 0.0 and out[0] == 1.0
    assert said == ["x: 2 NaN or infinite samples set to silence"]


def test_load_audio_cleans_nan_and_inf_with_one_warning(bad_song, capsys):
    path, y = bad_song
    out = load_audio(path)
    assert np.isfinite(out).all() and len(out) == len(y)
    good = np.isfinite(y)
    np.testing.assert_allclose(out[good], y[good], atol=1e-6)  # the rest untouched
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["dancepose: warning: bad.wav: 111 NaN or infinite samples set to silence"]
    stereo = load_audio(path, sr=48000, channels=2, warn=None)  # resampled: the bad stretch spreads
    assert np.isfinite(stereo).all() and capsys.readouterr().err == ""


def test_render_a_song_with_nan_samples(bad_song, tmp_path):
    """``probabilities contain NaN`` was a traceback after the whole decode; now one warning, a good MP4."""
    from dancepose.models.outputs import verify_media

    path, _ = bad_song
    out = tmp_path / "out.mp4"
    r = subprocess.run([sys.executable, "-m", "dancepose.offline.cli", "render", str(path), "-o", str(out),
                        "--size", "160x120", "-q"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().splitlines() == ["dancepose: warning: bad.wav: 111 NaN or infinite samples set "
                                             "to silence"]
    verify_media(out, video=True, audio=True, duration=6.0)


def test_live_through_nan_samples_mid_show(bad_song, tmp_path):
    """Live, the same file ended the show with a traceback when the NaN stretch was reached (3 s in)."""
    path, _ = bad_song
    poses = tmp_path / "p.npz"
    r = subprocess.run(live_cmd("--input", str(path), *model_args(), "--headless", "--sim-clock", "--size",
                                "320x240", "--log-poses", str(poses), "-q"),
                       env=live_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().splitlines() == ["dancepose-live: warning: bad.wav: 111 NaN or infinite samples "
                                             "set to silence"]
    with np.load(poses) as d:
        assert len(d["poses"]) >= 5 * 60 and np.isfinite(d["poses"]).all()
        assert np.isfinite(d["model_poses"]).all()
