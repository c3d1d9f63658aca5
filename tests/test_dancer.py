"""The shipped default dancer on controlled music: it moves with the beat, settles in silence, comes back,
and stays in its body (limbs)."""
from __future__ import annotations

import numpy as np
import pytest

from dancepose.models.clock import MODEL_FPS, SAMPLE_RATE
from dancepose.models.dancer import Dancer, GrooveConfig
from dancepose.models.features import music_features
from dancepose.models.skeleton import limb_lengths_by_child
from dancepose.offline import metrics
from test_features import pulse_train


@pytest.fixture(scope="module")
def dancer():
    return Dancer.load()


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
def test_motion_follows_the_tempo(dancer, bpm):
    poses = dancer.generate(music_features(y=pulse_train(bpm, 20.0)), seed=0)[6 * MODEL_FPS:]
    period = metrics.motion_period(poses=poses, fps=MODEL_FPS)
    match = metrics.tempo_match(motion_period_s=period, beat_period_s=60.0 / bpm)
    assert match["followed"], match


def test_groove_off_loses_the_beat_lock(dancer):
    """The control: the same dancer without its groove layer no longer marks a 150 BPM beat."""
    plain = Dancer(weights=dancer._w, stats={"feature_mean": dancer._fmean, "feature_std": dancer._fstd,
                                             "pose_mean": dancer._pmean, "pose_std": dancer._pstd,
                                             "rest_pose": dancer.rest_pose, "limb_max": dancer.limb_max},
                   config=dancer.config, groove=GrooveConfig(bounce=0.0, sway=0.0))
    feats = music_features(y=pulse_train(150, 20.0))
    with_groove = dancer.generate(feats, seed=0)[6 * MODEL_FPS:]
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


def test_lead_moves_the_beat_marking_earlier(dancer):
    """The live engine sets ``lead_s`` to its display delay: the bounce then bottoms out that much earlier."""
    feats = music_features(y=pulse_train(100, 20.0))
    beats = np.arange(0.5, 20.0, 0.6)

    def median_offset(lead):
        dancer.lead_s = lead
        try:
            poses = dancer.generate(feats, seed=0)[8 * MODEL_FPS:]
        finally:
            dancer.lead_s = 0.0
        y = poses[..., 1].mean(axis=1)  # the bounce: lowest (largest y) on the beat
        t = np.arange(len(y)) / MODEL_FPS + 8.0
        peaks = [t[i] for i in range(1, len(y) - 1) if y[i] >= y[i - 1] and y[i] > y[i + 1]]
        d = [p - beats[np.argmin(np.abs(beats - p))] for p in peaks]
        return float(np.median(d))

    shift = median_offset(0.0) - median_offset(0.1)
    assert 0.05 < shift < 0.15, shift
