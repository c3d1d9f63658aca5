"""The move library and its player: the file checks, and a personal dancer on drum loops — on the beat,
smooth, recombined rather than replayed."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dancepose.models.clock import MODEL_FPS
from dancepose.models.dancer import Dancer
from dancepose.models.errors import ModelError
from dancepose.models.features import music_features
from dancepose.models.moves import MoveLibrary, MovesConfig
from dancepose.offline import drumloops, metrics
from dancepose.offline.evaluation.style import jitter, longest_copy, unscaled
from dancepose.offline.learn import learn_dancer


@pytest.fixture(scope="module")
def personal(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("moves") / "breaker"
    files = sorted((shared_data / "aistpp_keypoints2d").glob("*.npz"))[:4]
    learn_dancer(sources=files, out_dir=out, quiet=True)
    return out


def _source(lib: MoveLibrary) -> np.ndarray:
    return np.concatenate([np.concatenate([r, np.full((1, 15, 2), np.nan, np.float32)]) for r in lib.runs(mirrored=False)])


def test_library_round_trip_and_checks(personal, tmp_path):
    lib = MoveLibrary.load(personal / "moves.npz")
    assert lib.n_units > 30 and lib.seconds > 30 and len(lib.source_names) == 4
    nxt = lib.successors()
    assert (nxt[nxt >= 0] == np.flatnonzero(nxt >= 0) + 1).all()
    lib.save(tmp_path / "copy.npz")
    again = MoveLibrary.load(tmp_path / "copy.npz")
    assert np.array_equal(again.frames, lib.frames) and again.source_names == lib.source_names
    with pytest.raises(ModelError, match="unit boundaries"):
        dataclasses.replace(lib, unit_end=lib.unit_end + 1e6)
    frames = lib.frames.copy()
    frames[3, 2, 0] = np.nan
    with pytest.raises(ModelError, match="non-finite"):
        dataclasses.replace(lib, frames=frames)
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ModelError, match="bad.npz") as e:
        MoveLibrary.load(tmp_path / "bad.npz")
    assert e.value.exit_code == 4


def test_config_is_checked():
    with pytest.raises(Exception, match="invalid MovesConfig"):
        MovesConfig(blend_s=0.0)


@pytest.mark.parametrize("bpm", [90, 150])
def test_on_the_beat_smooth_and_new_on_a_loop(personal, bpm):
    """Drum loop at a tempo the source never had: the speed minima land on the beats (BAS ÷ chance), no
    frame jumps more than the person ever moves in a frame, no stretch copies the source for more than
    2 bars, and it is about as smooth as the source."""
    dancer = Dancer.load(personal)
    lib = dancer.moves[0]
    y = drumloops.drum_loop(bpm=bpm, seconds=24.0, seed=0)
    poses = dancer.generate(music_features(y=y), seed=3)[6 * MODEL_FPS:]
    beats = np.arange(0.0, 18.0, 60.0 / bpm)
    kb = metrics.kinematic_beats(poses=poses, fps=MODEL_FPS)
    assert metrics.beat_align_chance(music_beats=beats, kinematic_beats=kb, duration_s=18.0)["ratio"] >= 1.5
    step = np.abs(np.diff(poses - poses[:, 14:15], axis=0)).max()
    src_step = max(np.abs(np.diff(r - r[:, 14:15], axis=0)).max() for r in lib.runs())
    assert step <= 1.2 * src_step
    moves = unscaled(dancer).generate(music_features(y=y), seed=3)[6 * MODEL_FPS:]
    bars = longest_copy(generated=moves, source=_source(lib)) / MODEL_FPS / (4 * 60.0 / bpm)
    assert 0 < bars <= 2.0
    # power above 4 Hz: 1.2-1.5 x the source's at 90 BPM, 1.9-2.3 x at 150 (seeds 0-4; songs: about 1 x)
    assert jitter(poses) <= 2.5 * jitter(lib.runs(mirrored=False))


def test_replaying_the_source_is_detected(personal):
    """The same player allowed to follow the source for ever copies it for many bars: the limit is what
    keeps the dance new."""
    base = Dancer.load(personal)
    lib, cfg = base.moves
    replay = unscaled(Dancer(weights=base._weights, stats=base._stats, config=base.config, stages=base.stages,
                             moves=(lib, dataclasses.replace(cfg, max_run_bars=1000.0, recent_beats=0.0))))
    y = drumloops.drum_loop(bpm=120, seconds=24.0, seed=0)
    poses = replay.generate(music_features(y=y), seed=3)[6 * MODEL_FPS:]
    assert longest_copy(generated=poses, source=_source(lib)) / MODEL_FPS / 2.0 > 3.0


def test_personal_step_is_cheap_and_numpy_only(personal):
    import subprocess
    import sys

    code = ("import sys; from dancepose.models.dancer import Dancer; d = Dancer.load(sys.argv[1]); "
            "import numpy as np; d.generate(np.zeros((30, 35), np.float32)); "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, str(personal)], capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["False", "False"]
