"""The shipped default dancer on controlled music: it moves with the beat, settles in silence, comes back,
and stays in its body (limbs)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dancepose.models.clock import MODEL_FPS, SAMPLE_RATE
import json
import subprocess
import sys

from dancepose.models.dancer import DEFAULT_MODEL_DIR, Dancer, GrooveConfig, StageConfig
from dancepose.models.errors import ModelError
from dancepose.models.features import music_features
from dancepose.models.skeleton import limb_lengths_by_child
from dancepose.offline import metrics
from test_features import pulse_train


@pytest.fixture(scope="module")
def dancer():
    return Dancer.load()


@pytest.fixture(scope="module")
def grooved(dancer):
    """The default dancer with its groove stage (the optional hand-made bounce) switched on."""
    return dancer.with_stages(groove=GrooveConfig())


def _energy(poses):
    return metrics.motion_energy(poses=poses, fps=MODEL_FPS, window_s=0.25)


def test_settles_in_silence_and_comes_back(dancer):
    y = pulse_train(120, 24.0)
    y[8 * SAMPLE_RATE:14 * SAMPLE_RATE] = 0.0  # 6 s of silence
    poses = dancer.generate(music_features(y=y), seed=1)
    e = _energy(poses)
    music = np.median(e[4 * MODEL_FPS:8 * MODEL_FPS])
    assert music > 0.3  # it dances to the clicks
    assert e[9 * MODEL_FPS:int(13.7 * MODEL_FPS)].max() < 0.25 * music  # settled within 1 s of silence
    assert np.median(e[15 * MODEL_FPS:20 * MODEL_FPS]) > 0.6 * music  # and back once the clicks resume


@pytest.mark.parametrize("bpm", [90, 150])
def test_groove_follows_the_tempo(grooved, bpm):
    poses = grooved.generate(music_features(y=pulse_train(bpm, 20.0)), seed=0)[6 * MODEL_FPS:]
    period = metrics.motion_period(poses=poses, fps=MODEL_FPS)
    match = metrics.tempo_match(motion_period_s=period, beat_period_s=60.0 / bpm)
    assert match["followed"], match


def test_groove_off_loses_the_beat_lock(grooved):
    """The control: the same dancer without its groove layer no longer marks a 150 BPM beat."""
    plain = grooved.without_groove()
    assert not plain.stages.groove.enabled and grooved.stages.groove.enabled
    feats = music_features(y=pulse_train(150, 20.0))
    with_groove = grooved.generate(feats, seed=0)[6 * MODEL_FPS:]
    without = plain.generate(feats, seed=0)[6 * MODEL_FPS:]
    beats = np.arange(0.5, 20.0, 0.4) - 6.0
    beats = beats[beats > 0]
    bas = [metrics.beat_align_score(music_beats=beats,
                                    kinematic_beats=metrics.kinematic_beats(poses=p, fps=MODEL_FPS))
           for p in (with_groove, without)]
    assert bas[0] > bas[1]


def test_limbs_stay_within_their_trained_lengths_for_minutes(dancer):
    rng = np.random.default_rng(0)
    y = np.concatenate([pulse_train(bpm, 30.0, seed=int(rng.integers(100))) for bpm in (84, 128, 171)])
    poses = dancer.generate(music_features(y=y), seed=2)
    assert np.isfinite(poses).all()
    assert (limb_lengths_by_child(poses) <= dancer.limb_max + 1e-4).all()
    assert np.abs(poses).max() < 6.0  # stays near the body (torso lengths), no drift


def test_dances_bigger_to_louder_music(dancer):
    y = pulse_train(120, 24.0)
    y[12 * SAMPLE_RATE:] *= 0.1  # the second half 20 dB quieter
    poses = dancer.generate(music_features(y=y), seed=3)
    e = _energy(poses)
    loud = np.median(e[4 * MODEL_FPS:12 * MODEL_FPS])
    quiet = np.median(e[14 * MODEL_FPS:22 * MODEL_FPS])
    assert quiet < 0.8 * loud, (loud, quiet)
    assert quiet > 0.2 * loud  # quieter, not stopped: the music still plays


def test_lead_moves_the_beat_marking_earlier(grooved):
    """The live engine sets ``lead_s`` to its display delay: the bounce then bottoms out that much earlier."""
    feats = music_features(y=pulse_train(100, 20.0))
    beats = np.arange(0.5, 20.0, 0.6)

    def median_offset(lead):
        grooved.lead_s = lead
        try:
            poses = grooved.generate(feats, seed=0)[8 * MODEL_FPS:]
        finally:
            grooved.lead_s = 0.0
        y = poses[..., 1].mean(axis=1)  # the bounce: lowest (largest y) on the beat
        t = np.arange(len(y)) / MODEL_FPS + 8.0
        peaks = [t[i] for i in range(1, len(y) - 1) if y[i] >= y[i - 1] and y[i] > y[i + 1]]
        d = [p - beats[np.argmin(np.abs(beats - p))] for p in peaks]
        return float(np.median(d))

    shift = median_offset(0.0) - median_offset(0.1)
    assert abs(shift - 0.1) <= 1.5 / MODEL_FPS + 1e-9, shift  # 0.1 s lead, within the frame quantisation


# ------------------------------------------------------------------ stages and their configs
def _copy_model(tmp_path, name="m"):
    d = tmp_path / name
    d.mkdir()
    for f in ("config.json", "dancer.npz"):
        (d / f).write_bytes((DEFAULT_MODEL_DIR / f).read_bytes())
    return d


def test_stage_configs_round_trip_through_config_json(tmp_path, dancer):
    d = _copy_model(tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    stages = dancer.stages.replace(groove=GrooveConfig(enabled=False, bounce=0.3))
    cfg["stages"] = stages.to_dict()
    (d / "config.json").write_text(json.dumps(cfg))
    loaded = Dancer.load(d)
    assert loaded.stages == stages
    assert loaded.stages.groove.depth_range == (0.6, 1.5)  # tuples survive JSON


def test_old_model_without_stages_loads_with_defaults_and_legacy_sampling(tmp_path):
    d = _copy_model(tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    cfg.pop("stages", None)
    cfg["generation"] = {"temperature": 0.5, "sigma_scale": 1.2}
    (d / "config.json").write_text(json.dumps(cfg))
    loaded = Dancer.load(d)
    assert loaded.stages.sampling.temperature == 0.5 and loaded.stages.sampling.sigma_scale == 1.2
    assert loaded.stages.groove == GrooveConfig() and loaded.stages.limbs.enabled


@pytest.mark.parametrize("stages, match", [({"wobble": {}}, "unknown dancer stage"),
                                           ({"groove": {"bounds": 1}}, "unknown field"),
                                           ({"groove": {"enabled": "yes"}}, "invalid value"),
                                           ({"sampling": {"temperature": "hot"}}, "invalid value")])
def test_bad_stage_config_is_a_model_error(tmp_path, stages, match):
    d = _copy_model(tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    cfg["stages"] = stages
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match=match) as e:
        Dancer.load(d)
    assert "config.json" in str(e.value) and e.value.exit_code == 4


@pytest.mark.parametrize("key, how", [("lstm0_kernel", "shape"), ("head_bias", "nan"),
                                      ("pose_std", "nan"), ("limb_max", "shape"), ("feature_std", "zero")])
def test_bad_weight_or_statistic_is_a_model_error_naming_the_file(tmp_path, key, how):
    d = _copy_model(tmp_path)
    with np.load(d / "dancer.npz") as z:
        arrays = {k: z[k] for k in z.files}
    a = arrays[key].astype(np.float32)
    if how == "shape":
        a = a[..., :-1]
    elif how == "nan":
        a = a.copy()
        a.flat[3] = np.nan
    else:
        a = np.zeros_like(a)
    arrays[key] = a
    np.savez(d / "dancer.npz", **arrays)
    with pytest.raises(ModelError) as e:
        Dancer.load(d)
    msg = str(e.value)
    assert "dancer.npz" in msg and key in msg, msg


def test_bad_weights_exit_4_with_one_line(tmp_path):
    d = _copy_model(tmp_path)
    with np.load(d / "dancer.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["lstm1_recurrent"] = arrays["lstm1_recurrent"] * np.float32(np.inf)
    np.savez(d / "dancer.npz", **arrays)
    wav = tmp_path / "a.wav"
    from scipy.io import wavfile

    wavfile.write(wav, SAMPLE_RATE, pulse_train(120, 2.0))
    r = subprocess.run([sys.executable, "-m", "dancepose.offline.cli", "render", str(wav), "--model", str(d),
                        "-o", str(tmp_path / "o.mp4")], capture_output=True, text=True)
    assert r.returncode == 4, r.stderr
    err = r.stderr.strip()
    assert err.startswith("dancepose: error:") and "\n" not in err and "lstm1_recurrent" in err


def test_stage_switches_change_only_their_stage(dancer):
    feats = music_features(y=pulse_train(120, 8.0))
    base = dancer.generate(feats, seed=0)
    no_limbs = dancer.with_stages(limbs=dataclasses.replace(dancer.stages.limbs, enabled=False))
    free = no_limbs.generate(feats, seed=0)
    assert not np.allclose(free, base)  # the clamp acts …
    assert np.max(limb_lengths_by_child(free)) > np.max(dancer.limb_max)  # … on the overlong limbs only
    again = dancer.with_stages()
    assert np.allclose(again.generate(feats, seed=0), base)  # same stages → same dance
    assert StageConfig.from_dict(dancer.stages.to_dict()) == dancer.stages
