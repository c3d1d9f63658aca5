"""Real training on a small real subset, the numpy dancer against Keras, and model-directory errors."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from dancepose.models.dancer import Dancer
from dancepose.models.errors import ModelError
from dancepose.models.features import COL_ACTIVITY
from dancepose.models.skeleton import N_JOINTS, limb_lengths_by_child
from dancepose.offline.dataset import load_songs, split_songs
from dancepose.offline.train import TrainConfig, train_dancer

SONGS = ("DANCE_C_6", "DANCE_R_2", "DANCE_W_4")


@pytest.fixture(scope="module")
def small_songs(shared_data):
    return load_songs([shared_data / "dance_with_melody" / s for s in SONGS], quiet=True)


@pytest.fixture(scope="module")
def trained(small_songs, tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    train_dancer(data=[], songs=small_songs, out_dir=out, epochs=3, seed=0,
                 cfg=TrainConfig(windows_per_epoch=320), quiet=True)
    return out


def test_split_is_by_song(small_songs):
    train, val = split_songs(small_songs, val_songs=None, seed=0)
    assert [s.name for s in val] == ["DANCE_W_4"]  # the listed validation song, never frames of a song
    assert {s.name for s in train}.isdisjoint({s.name for s in val})


def test_training_writes_a_loadable_model_that_learns(trained):
    cfg = json.loads((trained / "config.json").read_text())
    hist = cfg["summary"]["history"]
    assert len(hist) == 3 and hist[-1]["loss"] < hist[0]["loss"]
    assert cfg["summary"]["val_songs"] == ["DANCE_W_4"]
    assert (trained / "loss.png").stat().st_size > 1000
    assert (trained / "model.keras").is_file()
    d = Dancer.load(trained)
    # the principal pose modes of the training poses, strongest first, drive the beat-locked spread
    modes = d.chain["sampling"].modes
    assert modes.shape == (8, 30) and np.all(np.diff(np.linalg.norm(modes, axis=1)) <= 1e-6)
    assert cfg["stages"]["sampling"]["spread"] == "beat" and not cfg["stages"]["groove"]["enabled"]


def test_numpy_step_equals_keras(trained, small_songs):
    """The numpy dancer computes exactly the Keras network: same mixture parameters, step by step."""
    import keras

    d = Dancer.load(trained)
    model = keras.models.load_model(trained / "model.keras", compile=False)
    feats = small_songs[2].features[100:160]
    d.reset(seed=3)
    prevs, params = [], []
    for row in feats:
        prevs.append(d.network.prev.copy())  # the (sampled) previous pose the step is about to read
        d.step(row)
        params.append(d.last_params.copy())
    with np.load(trained / "dancer.npz") as z:
        f = (feats - z["feature_mean"]) / z["feature_std"]
    x = np.concatenate([f, np.array(prevs), np.ones((len(feats), 1))], axis=1)[None].astype(np.float32)
    keras_out = np.asarray(model(x, training=False))[0]
    np.testing.assert_allclose(np.array(params), keras_out, atol=5e-4)


def test_phase_aware_network_numpy_equals_keras(small_songs, tmp_path):
    """Phase harmonics as inputs and into the head: the numpy dancer still computes the Keras network."""
    import keras

    from dancepose.models.network import phase_inputs

    out = tmp_path / "phase"
    train_dancer(data=[], songs=small_songs, out_dir=out, epochs=1, seed=0, quiet=True,
                 net={"hidden": 32, "phase_harmonics": 2, "phase_to_head": True},
                 cfg=TrainConfig(windows_per_epoch=64))
    d = Dancer.load(out)
    assert d.config["network"]["phase_harmonics"] == 2
    model = keras.models.load_model(out / "model.keras", compile=False)
    feats = small_songs[2].features[100:140]
    d.reset(seed=1)
    prevs, params = [], []
    for row in feats:
        prevs.append(d.network.prev.copy())
        d.step(row)
        params.append(d.last_params.copy())
    with np.load(out / "dancer.npz") as z:
        f = (feats - z["feature_mean"]) / z["feature_std"]
        assert z["head_kernel"].shape[0] == 32 + phase_inputs(feats[0], harmonics=2).size
    x = np.concatenate([f, np.array(prevs), np.ones((len(feats), 1)), phase_inputs(feats, harmonics=2)],
                       axis=1)[None].astype(np.float32)
    np.testing.assert_allclose(np.array(params), np.asarray(model(x, training=False))[0], atol=5e-4)


def test_generation_on_an_unseen_song_moves_and_keeps_limbs(trained, small_songs):
    d = Dancer.load(trained)
    feats = small_songs[2].features  # DANCE_W_4, held out
    poses = d.generate(feats, seed=0)
    assert poses.shape == (len(feats), N_JOINTS, 2) and np.isfinite(poses).all()
    speed = np.linalg.norm(np.diff(poses, axis=0), axis=-1).mean(-1) * 30
    active = feats[1:, COL_ACTIVITY] > 0.5
    assert np.mean(speed[active] < 0.05) < 0.2  # not frozen
    lengths = limb_lengths_by_child(poses)
    with np.load(trained / "dancer.npz") as z:
        assert (lengths <= z["limb_max"] + 1e-4).all()


def test_model_dir_errors(tmp_path, trained):
    with pytest.raises(ModelError, match="not found"):
        Dancer.load(tmp_path / "nope")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((trained / "config.json").read_text())
    (broken / "dancer.npz").write_bytes((trained / "dancer.npz").read_bytes()[:500])
    with pytest.raises(ModelError, match="corrupt"):
        Dancer.load(broken)
    old = tmp_path / "old"
    old.mkdir()
    cfg = json.loads((trained / "config.json").read_text())
    cfg["feature_version"] = 0
    (old / "config.json").write_text(json.dumps(cfg))
    (old / "dancer.npz").write_bytes((trained / "dancer.npz").read_bytes())
    with pytest.raises(ModelError, match="feature_version"):
        Dancer.load(old)


def test_default_dancer_ships_and_loads():
    d = Dancer.load()
    assert d.generate(np.zeros((5, len(d.config["feature_names"])), np.float32)).shape == (5, N_JOINTS, 2)


def test_train_cli_bad_input(tmp_path):
    r = subprocess.run([sys.executable, "-m", "dancepose.offline.cli", "train", str(tmp_path / "none"),
                        "-o", str(tmp_path / "m")], capture_output=True, text=True)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "not found" in r.stderr


def test_stretch_window_runs_the_phases_with_the_motion():
    """Tempo-stretch augmentation: a window played 1.25× faster has its phase columns advance 1.25× faster
    (still unit vectors), its tempo column raised by log2(1.25), and the poses resampled alike."""
    from dancepose.models.features import N_FEATURES
    from dancepose.offline.train import phase_pairs, stretch_window, tempo_columns

    cs, cc = phase_pairs()[0]
    n = 200
    t = np.arange(n)
    feats = np.zeros((n, N_FEATURES), np.float32)
    phase = 2 * np.pi * t / 20.0  # one beat every 20 frames
    feats[:, cs], feats[:, cc] = np.sin(phase), np.cos(phase)
    feats[:, tempo_columns()] = 0.0
    poses = np.sin(phase)[:, None] * np.ones((1, 4), np.float32)
    f, p = stretch_window(feats, poses, speed=1.25, length=120)
    assert f.shape == (121, N_FEATURES) and p.shape == (121, 4)
    np.testing.assert_allclose(np.hypot(f[:, cs], f[:, cc]), 1.0, atol=1e-5)
    got = np.unwrap(np.arctan2(f[:, cs], f[:, cc]))
    assert np.polyfit(np.arange(121), got, 1)[0] == pytest.approx(2 * np.pi / 16.0, rel=0.01)  # 20 / 1.25
    np.testing.assert_allclose(f[:, tempo_columns()], np.log2(1.25), atol=1e-6)
    np.testing.assert_allclose(p[:, 0], np.sin(2 * np.pi * np.arange(121) * 1.25 / 20.0), atol=0.03)


def _phase_features(n: int, beats_per_frame: float, base: np.ndarray) -> np.ndarray:
    from dancepose.models.features import COL_BEAT_COS, COL_BEAT_SIN

    f = np.repeat(base[None], n, axis=0).astype(np.float32)
    phi = 2 * np.pi * beats_per_frame * np.arange(n)
    f[:, COL_BEAT_SIN], f[:, COL_BEAT_COS] = np.sin(phi), np.cos(phi)
    return f


def test_beat_clock_song_has_n_steps_per_beat(small_songs):
    """A song on the beat clock: N steps per tracked beat, poses interpolated at the step instants, and
    the features of the frame where the previous step was noticed."""
    from dancepose.offline.dataset import Song, to_beat_clock

    n = 300
    feats = _phase_features(n, 1 / 15.0, small_songs[0].features[0])  # 2 beats per second at 30 fps
    poses = np.zeros((n, N_JOINTS, 3), np.float32)
    poses[:, :, 0] = np.arange(n)[:, None]  # x = frame index: the interpolation is visible
    song = Song(name="s", features=feats, valid=np.ones(n, bool), poses3d=poses)
    clock = to_beat_clock(song, steps_per_beat=8)
    beats = (n - 1) / 15.0
    assert abs(len(clock.features) - (int(beats * 8) + 1)) <= 1
    step_frames = clock.meta["step_frames"]
    np.testing.assert_allclose(np.diff(step_frames), 15.0 / 8, atol=1e-3)  # 1/8 beat = 1.875 frames
    np.testing.assert_allclose(clock.poses3d[:, 0, 0], step_frames, atol=1e-3)
    heard = np.minimum(np.ceil(step_frames - 1e-9), n - 1).astype(int)
    np.testing.assert_array_equal(clock.features[1:], feats[heard[:-1]])


def test_beat_clock_dancer_steps_with_the_beat(small_songs, tmp_path):
    """A dancer trained on the beat clock takes N network steps per beat it hears — twice as many per second
    at twice the tempo."""
    out = tmp_path / "clock"
    train_dancer(data=[], songs=small_songs, out_dir=out, epochs=1, seed=0, quiet=True,
                 net={"hidden": 32, "steps_per_beat": 8}, cfg=TrainConfig(windows_per_epoch=64, window=48))
    d = Dancer.load(out).without_groove()
    assert d.steps_per_beat == 8
    base = small_songs[0].features[500]
    counts = {}
    for bpm in (90, 180):
        calls = []
        inner = d.network.step
        d.network.step = lambda row, inner=inner: calls.append(1) or inner(row)
        poses = d.generate(_phase_features(300, bpm / 60 / 30, base), seed=0)
        del d.network.step
        counts[bpm] = len(calls)
        assert np.isfinite(poses).all()
    beats_90 = 299 * 90 / 60 / 30
    assert abs(counts[90] - (8 * beats_90 + 1)) <= 2
    assert abs(counts[180] - 2 * counts[90]) <= 3


def test_phase_mean_pose_is_fitted_and_danced(small_songs, tmp_path):
    """The phase-functioned mean pose: a least-squares Fourier fit that recovers a known phase-locked
    motion, saved with the model, loaded with its shape checked, and added to the network's output."""
    from dancepose.models.network import bar_phase_of, fit_phase_mean, phase_mean_pose

    feats = _phase_features(600, 1 / 20.0, small_songs[0].features[0])
    phi, _ = bar_phase_of(feats)
    poses = np.zeros((600, 2 * N_JOINTS))
    poses[:, 1::2] = 0.3 + 0.2 * np.cos(2 * np.pi * phi)[:, None]  # every joint rises and falls with the phase
    coef = fit_phase_mean(feats, poses, harmonics=2)
    np.testing.assert_allclose(phase_mean_pose(feats, coef), poses, atol=1e-3)

    out = tmp_path / "pm"
    train_dancer(data=[], songs=small_songs, out_dir=out, epochs=1, seed=0, quiet=True,
                 net={"hidden": 32, "phase_mean_harmonics": 2}, cfg=TrainConfig(windows_per_epoch=64))
    d = Dancer.load(out)
    assert d.network.phase_mean is not None and d.network.phase_mean.shape[1:] == (5, 2 * N_JOINTS)
    assert np.isfinite(d.generate(small_songs[2].features[:200], seed=0)).all()
    with np.load(out / "dancer.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["phase_mean"] = arrays["phase_mean"][:, :3]
    np.savez(out / "dancer.npz", **arrays)
    with pytest.raises(ModelError, match="phase_mean"):
        Dancer.load(out)
