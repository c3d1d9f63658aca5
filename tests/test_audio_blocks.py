"""``audio_blocks``: a song decoded block by block equals it decoded whole, in one block of memory."""
from __future__ import annotations


import numpy as np
import psutil
import pytest

from dancepose.models.audio import audio_blocks, load_audio
from dancepose.models.clock import OUTPUT_SAMPLE_RATE, SAMPLE_RATE
from dancepose.models.errors import InputError


@pytest.fixture
def song(shared_data):
    return shared_data / "dance_with_melody" / "DANCE_W_4" / "audio.mp3"


@pytest.mark.parametrize("sr, channels, seconds", [(SAMPLE_RATE, 1, 10.0), (OUTPUT_SAMPLE_RATE, 2, 7.3)])
def test_blocks_put_end_to_end_equal_the_whole_song(song, sr, channels, seconds):
    whole = load_audio(song, sr=sr, channels=channels, offset=3.0, duration=40.0)
    blocks = list(audio_blocks(song, sr=sr, channels=channels, offset=3.0, duration=40.0, block_seconds=seconds))
    n = int(round(seconds * sr))
    assert all(len(b) == n for b in blocks[:-1]) and 0 < len(blocks[-1]) <= n
    assert all(b.shape[1:] == whole.shape[1:] and b.dtype == np.float32 for b in blocks)
    np.testing.assert_array_equal(np.concatenate(blocks), whole)


def test_closing_early_stops_the_decoder(song):
    me = psutil.Process()
    blocks = audio_blocks(song, block_seconds=1.0)
    next(blocks)
    decoders = [p for p in me.children() if "ffmpeg" in p.name()]
    assert decoders, "no decoder running"
    blocks.close()
    gone, alive = psutil.wait_procs(decoders, timeout=5)
    assert not alive


@pytest.mark.parametrize("case, message", [("missing", "not found"), ("garbage", "cannot decode"),
                                           ("empty", "zero length"), ("video", "no audio stream")])
def test_bad_files_fail_with_one_line(shared_data, tmp_path, case, message):
    path = tmp_path / "x.mp3"
    if case == "garbage":
        path.write_bytes(b"not audio at all" * 64)
    elif case == "empty":
        import wave

        with wave.open(str(path.with_suffix(".wav")), "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(SAMPLE_RATE)
        path = path.with_suffix(".wav")
    elif case == "video":
        import imageio_ffmpeg
        import subprocess

        path = tmp_path / "silent.mp4"
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                        "color=black:s=32x32:d=0.5", "-an", str(path)], check=True)
    with pytest.raises(InputError, match=message):
        list(audio_blocks(path))
