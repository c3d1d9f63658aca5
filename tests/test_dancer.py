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

from dancepose.models.dancer import (DEFAULT_MODEL_DIR, LEGACY_STAGES, Dancer, GrooveConfig, SamplingConfig,
                                     StageConfig)
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
    return dancer.with_stages(groove=GrooveConfig(enabled=True))


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


@pytest.mark.parametrize("bpm", [90, 150])
def test_shipped_dancer_follows_the_tempo_with_the_groove_off(dancer, bpm):
    """The shipped dancer has no bounce: its learned spread, sampled beat-locked, carries the tempo."""
    assert not dancer.stages.groove.enabled and dancer.stages.sampling.spread == "beat"
    poses = dancer.generate(music_features(y=pulse_train(bpm, 20.0)), seed=0)[6 * MODEL_FPS:]
    period = metrics.motion_period(poses=poses, fps=MODEL_FPS)
    match = metrics.tempo_match(motion_period_s=period, beat_period_s=60.0 / bpm, tolerance=0.05,
                                octaves=(0.5, 1.0, 2.0, 3.0, 4.0))
    assert match["followed"], match


def test_smooth_spread_loses_the_beat_lock(dancer):
    """The control: the same network with the original smooth spread (AR(1) in time, fed back) no longer
    lands its kinematic beats on a 150 BPM beat, nor moves with its period."""
    smooth = dancer.with_stages(sampling=LEGACY_STAGES.sampling)
    feats = music_features(y=pulse_train(150, 20.0))
    locked, free = (d.generate(feats, seed=0)[6 * MODEL_FPS:] for d in (dancer, smooth))
    beats = np.arange(0.5, 20.0, 0.4) - 6.0
    beats = beats[beats > 0]
    bas = [metrics.beat_align_score(music_beats=beats,
                                    kinematic_beats=metrics.kinematic_beats(poses=p, fps=MODEL_FPS))
           for p in (locked, free)]
    assert bas[0] > bas[1] + 0.1, bas
    follows = [metrics.tempo_match(motion_period_s=metrics.motion_period(poses=p, fps=MODEL_FPS),
                                   beat_period_s=0.4, tolerance=0.05, octaves=(0.5, 1.0, 2.0, 3.0, 4.0))["followed"]
               for p in (locked, free)]
    assert follows == [True, False]


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


def test_lead_moves_the_beat_marking_earlier(grooved, dancer):
    """The live engine sets ``lead_s`` to its display delay: the bounce bottoms out, and the beat-locked
    spread comes to rest (kinematic beats), that much earlier."""
    feats = music_features(y=pulse_train(100, 20.0))
    beat_s = 0.6
    beats = np.arange(0.5, 20.0, beat_s)

    def run(d, lead):
        d.lead_s = lead
        try:
            return d.generate(feats, seed=0)[8 * MODEL_FPS:]
        finally:
            d.lead_s = 0.0

    def bounce_time(poses):  # when the bounce bottoms out: the phase of the beat-rate component of mean y
        y = poses[..., 1].mean(axis=1)
        t = np.arange(len(y)) / MODEL_FPS + 8.0
        z = np.sum((y - y.mean()) * np.exp(-2j * np.pi * (t - 0.5) / beat_s))
        return float(-np.angle(z) / (2 * np.pi) * beat_s)

    def rest_time(poses):  # when the spread comes to rest: kinematic beats relative to the nearest beat
        kb = metrics.kinematic_beats(poses=poses, fps=MODEL_FPS) + 8.0
        return float(np.median([k - beats[np.argmin(np.abs(beats - k))] for k in kb]))

    # the bounce on the mean motion
    bounce_only = grooved.with_stages(sampling=SamplingConfig(spread="smooth", sigma_scale=0.0))
    assert not dancer.stages.groove.enabled  # the shipped dancer: the beat-locked spread only
    for d, when in ((bounce_only, bounce_time), (dancer, rest_time)):
        shift = when(run(d, 0.0)) - when(run(d, 0.1))
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
    stages = dancer.stages.replace(groove=GrooveConfig(enabled=True, bounce=0.3))
    cfg["stages"] = stages.to_dict()
    (d / "config.json").write_text(json.dumps(cfg))
    loaded = Dancer.load(d)
    assert loaded.stages == stages
    assert loaded.stages.groove.depth_range == (0.6, 1.5)  # tuples survive JSON


def test_old_model_without_stages_loads_as_it_danced(tmp_path):
    """A model written before the stage configs existed: its legacy sampling entry over the stages it
    danced with then (smooth spread, groove on)."""
    d = _copy_model(tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    cfg.pop("stages", None)
    cfg["generation"] = {"temperature": 0.5, "sigma_scale": 1.2}
    (d / "config.json").write_text(json.dumps(cfg))
    loaded = Dancer.load(d)
    assert loaded.stages.sampling.temperature == 0.5 and loaded.stages.sampling.sigma_scale == 1.2
    assert loaded.stages.sampling.spread == "smooth" and loaded.stages.sampling.feedback_spread
    assert loaded.stages.groove == GrooveConfig(enabled=True) and loaded.stages.limbs.enabled
    assert loaded.chain.names == ("network", "sampling", "dynamics", "groove", "limbs", "silence")


def test_unversioned_stages_fill_missing_fields_with_legacy_values(tmp_path):
    """A "stages" entry from before the defaults were what ships: a missing field means what it meant
    then; with ``"version"`` a missing field is today's default."""
    d = _copy_model(tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    cfg["stages"] = {"sampling": {"temperature": 0.7}}
    (d / "config.json").write_text(json.dumps(cfg))
    old = Dancer.load(d).stages
    assert old.sampling.spread == "smooth" and old.groove.enabled and old.silence.release_s == 0.15
    cfg["stages"]["version"] = StageConfig().to_dict()["version"]
    (d / "config.json").write_text(json.dumps(cfg))
    new = Dancer.load(d).stages
    assert new == StageConfig().replace(sampling=SamplingConfig(temperature=0.7))


def test_class_defaults_are_what_ships(dancer):
    assert dancer.stages == StageConfig()
    saved = json.loads((DEFAULT_MODEL_DIR / "config.json").read_text())["stages"]
    assert saved == json.loads(json.dumps(StageConfig().to_dict()))  # every field written out


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
                                      ("pose_std", "nan"), ("limb_max", "shape"), ("feature_std", "zero"),
                                      ("pose_modes", "shape"), ("pose_modes", "nan")])
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
    # a spread twice the shipped size, so that some limbs would stretch past their longest trained length
    big = dancer.with_stages(sampling=dataclasses.replace(dancer.stages.sampling, pattern_scale=2.0))
    base = big.generate(feats, seed=0)
    no_limbs = big.with_stages(limbs=dataclasses.replace(dancer.stages.limbs, enabled=False))
    free = no_limbs.generate(feats, seed=0)
    assert not np.allclose(free, base)  # the clamp acts …
    assert np.max(limb_lengths_by_child(free)) > np.max(dancer.limb_max)  # … on the overlong limbs only
    assert (limb_lengths_by_child(base) <= dancer.limb_max + 1e-4).all()
    again = big.with_stages()
    assert np.allclose(again.generate(feats, seed=0), base)  # same stages → same dance
    assert StageConfig.from_dict(dancer.stages.to_dict()) == dancer.stages


def test_a_stage_inserted_at_run_time_sees_every_frame_and_its_beat(dancer):
    """One call shape: a stage added with ``with_stage`` gets (pose, frame) on every model frame, the
    frame's beat decoded once for all stages; an identity stage changes nothing, a shift shifts the dance."""
    from dancepose.models.features import beat_phase

    feats = music_features(y=pulse_train(120, 6.0))
    base = dancer.generate(feats, seed=4)
    seen = []

    class Recorder:
        def reset(self, rng):
            seen.clear()

        def __call__(self, pose, frame):
            seen.append((frame.index, frame.beat.phase, frame.mixture is not None))
            return pose

    rec = dancer.with_stage("recorder", lambda d: Recorder(), after="sampling")
    assert rec.chain.names == ("network", "sampling", "recorder", "dynamics", "limbs", "silence")
    np.testing.assert_array_equal(rec.generate(feats, seed=4), base)
    assert [s[0] for s in seen] == list(range(len(feats))) and all(s[2] for s in seen)
    np.testing.assert_allclose([s[1] for s in seen], beat_phase(features=feats), atol=1e-6)

    class Shift:
        def reset(self, rng):
            pass

        def __call__(self, pose, frame):
            return pose + np.float32(0.5)

    shifted = dancer.with_stage("shift", lambda d: Shift(), after="silence").generate(feats, seed=4)
    np.testing.assert_allclose(shifted, base + 0.5, atol=1e-6)
    with pytest.raises(KeyError, match="no stage"):
        dancer.with_stage("x", lambda d: Shift(), after="nothing")


# ------------------------------------------------------------------ smooth as real dance
def _previous(dancer):
    """The stages of the release before issue 14 (the control that twitched)."""
    from dancepose.models.dancer import PREVIOUS_STAGES

    return dancer.with_stages(**{name: getattr(PREVIOUS_STAGES, name) for name in ("sampling", "dynamics", "silence")})


def _irregular_clicks(seconds: float, seed: int = 0) -> np.ndarray:
    """Clicks 0.15–0.9 s apart at random: no tempo, the beat confidence near 0, gaps that open and close
    the silence gate."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(seconds * SAMPLE_RATE), np.float32)
    env = np.exp(-np.arange(800) / 150.0)
    for t in np.cumsum(rng.uniform(0.15, 0.9, 200)):
        i = int(t * SAMPLE_RATE)
        if i + 800 > len(y):
            break
        y[i:i + 800] += 0.5 * (rng.standard_normal(800) * env).astype(np.float32)
    return y


@pytest.mark.parametrize("music", ["clicks_120", "irregular"])
def test_shipped_dancer_does_not_twitch(dancer, music):
    """On a steady click track and on clicks without a tempo (the drift, the silence gate opening and
    closing), the shipped dancer's power above 4 Hz stays in real dance's range (real Dance-with-Melody:
    1e-4 … 2e-3, a tango 6e-3) and its forward steps are its central steps; the previous release's stages
    twitch (the control)."""
    y = pulse_train(120, 20.0) if music == "clicks_120" else _irregular_clicks(20.0)
    feats = music_features(y=y)
    now, before = (d.generate(feats, seed=0)[3 * MODEL_FPS:] for d in (dancer, _previous(dancer)))
    jitter = [metrics.high_frequency_share(poses=p, fps=MODEL_FPS) for p in (now, before)]
    steps = [metrics.step_ratio(poses=p) for p in (now, before)]
    assert jitter[0] < 4e-3 and steps[0] < 1.03, (jitter, steps)
    if music == "irregular":
        assert jitter[1] > 5 * jitter[0] and steps[1] > 1.2, (jitter, steps)


def test_held_out_song_is_as_smooth_as_real_dance(dancer, shared_data):
    """DANCE_W_18 (not trained on; the beat tracker's least confident validation song, where the previous
    release twitched most): power above 4 Hz within the report card's target (≤ 2 × the real dance's on the
    same song), step ratio ≤ 1.05; the previous stages fail both."""
    from dancepose.models.audio import load_audio
    from dancepose.offline.evaluation.load import load_dwm_2d
    from dancepose.offline.evaluation.targets import TARGETS

    target = {t.name: t for t in TARGETS}
    folder = shared_data / "dance_with_melody" / "DANCE_W_18"
    real, offset, dur = load_dwm_2d(folder)
    feats = music_features(y=load_audio(folder / "audio.mp3", duration=offset + dur))
    start = int(round(offset * MODEL_FPS))
    base = metrics.high_frequency_share(poses=real, fps=MODEL_FPS)
    for d, ok in ((dancer, True), (_previous(dancer), False)):
        gen = d.generate(feats, seed=0)[start:start + len(real)]
        ratio = metrics.high_frequency_share(poses=gen, fps=MODEL_FPS) / base
        assert target["jitter"].check(ratio) is ok, ratio
        assert target["step_ratio"].check(metrics.step_ratio(poses=gen)) is ok
