"""`perform` and the streaming `Performer`: one audio → pose path, chunk-size independent, on real music."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.io import wavfile

from dancepose.models.audio import load_audio
from dancepose.models.clock import HOP_LENGTH, MODEL_FPS, SAMPLE_RATE
from dancepose.models.dancer import Dancer
from dancepose.models.errors import ParameterError
from dancepose.models.features import N_FEATURES, music_features
from dancepose.models.perform import Performer, one_blas_thread, perform
from dancepose.models.skeleton import N_JOINTS


@pytest.fixture(scope="module")
def dancer():
    return Dancer.load()


@pytest.fixture(scope="module")
def song(shared_data):
    """12 s of a real cha-cha."""
    return load_audio(shared_data / "dance_with_melody" / "DANCE_C_8" / "audio.mp3", offset=30.0, duration=12.0)


def test_perform_is_the_dancer_on_the_features(dancer, song):
    perf = perform(song, dancer=dancer, seed=5)
    with one_blas_thread():  # as perform() runs it (the BLAS thread count changes float32 round-off only)
        feats = music_features(y=song)
    np.testing.assert_allclose(music_features(y=song), feats, atol=1e-5)
    assert perf.poses.shape == (len(song) // HOP_LENGTH + 1, N_JOINTS, 2)
    assert perf.features.shape == (len(perf.poses), N_FEATURES) and perf.fps == MODEL_FPS
    np.testing.assert_array_equal(perf.features, feats)
    np.testing.assert_allclose(perf.poses, dancer.generate(feats, seed=5), atol=1e-6)
    assert perf.seconds == pytest.approx(len(song) / SAMPLE_RATE, abs=1 / MODEL_FPS)
    other = perform(song, dancer=dancer, seed=6).poses
    assert not np.allclose(other, perf.poses)  # the seed matters


def test_streaming_in_any_chunks_gives_the_same_dance(dancer, song):
    whole = perform(song, dancer=dancer, seed=1).poses
    rng = np.random.default_rng(0)
    performer = Performer(dancer=dancer, seed=1)
    parts, rows, i = [], 0, 0
    while i < len(song):
        n = int(rng.integers(0, 3000))
        new = performer.process(song[i:i + n])
        assert len(new) == len(performer.last_features)
        rows += len(new)
        parts.append(new)
        i += n
    assert performer.frames_done == rows == len(whole)
    # the same dance to float32 round-off (1e-4 torso lengths ≈ 0.02 px at 720p; chunked features differ
    # from whole-song ones in their last bits)
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-4)
    performer.reset(1)  # a new performance starts from scratch
    np.testing.assert_allclose(performer.process(song), whole, atol=1e-4)


def test_perform_reads_an_audio_file(dancer, song, tmp_path):
    wav = tmp_path / "clip.wav"
    wavfile.write(wav, SAMPLE_RATE, song[:4 * SAMPLE_RATE])
    from_file = perform(wav, dancer=dancer, seed=0).poses
    np.testing.assert_allclose(from_file, perform(song[:4 * SAMPLE_RATE], dancer=dancer, seed=0).poses,
                               atol=1e-3)


def test_perform_rejects_stereo(dancer):
    with pytest.raises(ParameterError, match="mono"):
        perform(np.zeros((2, 1000), np.float32), dancer=dancer)
