"""`dancepose evaluate` end to end, and the drum-loop generator it relies on."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.io import wavfile

from dancepose.models.clock import MODEL_FPS, SAMPLE_RATE
from dancepose.models.posefile import PoseSequence
from dancepose.offline import drumloops
from dancepose.offline.cli import main
from dancepose.offline.evaluate import load_dwm_2d, track_beats


@pytest.mark.parametrize("bpm", drumloops.TEST_TEMPI)
def test_drum_loop_tempo_is_what_librosa_hears(bpm):
    y = drumloops.drum_loop(bpm=bpm, seconds=10, seed=3)
    assert y.dtype == np.float32 and len(y) == 10 * SAMPLE_RATE
    tempo, beats = track_beats(y=y)
    assert tempo == pytest.approx(bpm, rel=0.05)
    # the tracked beats sit on the loop's beat grid (within 40 ms)
    grid = np.arange(0, 10, 60 / bpm)
    assert np.median(np.min(np.abs(beats[:, None] - grid[None]), axis=1)) < 0.04


def test_drum_loop_is_deterministic_and_sections_gate_it():
    a = drumloops.drum_loop(bpm=120, seconds=2, seed=1)
    assert np.array_equal(a, drumloops.drum_loop(bpm=120, seconds=2, seed=1))
    assert not np.array_equal(a, drumloops.drum_loop(bpm=120, seconds=2, seed=2))
    sections = drumloops.gap_sections(music_s=2, silence_s=1, repeats=1)
    y = drumloops.sectioned_loop(bpm=120, sections=sections)
    assert len(y) == 5 * SAMPLE_RATE
    assert not np.any(y[2 * SAMPLE_RATE:3 * SAMPLE_RATE]) and np.any(y[3 * SAMPLE_RATE:])
    mask = drumloops.section_mask(sections=sections, n_frames=150, fps=30)
    assert mask[:60].all() and not mask[60:90].any() and mask[90:].all()


def _write_real_pose_file(shared_data, tmp_path, *, seconds=20.0):
    """Real dance (DwM cha-cha) as a pixel .pose.npz at MODEL_FPS, its own music as WAV beside it."""
    from dancepose.models.media.draw import pose_to_pixels

    folder = shared_data / "dance_with_melody" / "DANCE_C_8"
    poses, offset, _ = load_dwm_2d(folder)
    n = int(seconds * MODEL_FPS)
    px = pose_to_pixels(poses[:n].astype(np.float32), width=640, height=360)
    seq = PoseSequence(keypoints=px, confidence=np.ones(px.shape[:2]), fps=MODEL_FPS, image_size=(640, 360),
                       source="test")
    path = seq.save(tmp_path / "cha.pose.npz")
    from dancepose.models.audio import load_audio

    y = load_audio(folder / "audio.mp3", offset=offset, duration=seconds + 0.5)
    wavfile.write(tmp_path / "cha.wav", SAMPLE_RATE, y)
    return path


def test_cli_evaluates_a_pose_file(shared_data, tmp_path, capsys):
    pose = _write_real_pose_file(shared_data, tmp_path)
    out = tmp_path / "report"
    rc = main(["evaluate", str(pose), "--no-model", "-o", str(out)])
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    (row,) = report["rows"]
    assert row["kind"] == "file" and row["song"] == "cha"
    assert 110 < row["music_bpm"] < 140          # cha-cha ≈ 125 BPM
    assert 0 < row["bas"] < 1
    assert row["freeze"] < 0.05 and row["in_frame"] == 1.0
    png = out / "eval_cha.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "BAS" in capsys.readouterr().out


def test_cli_errors_are_one_line(tmp_path, capsys):
    rc = main(["evaluate", str(tmp_path / "missing.pose.npz"), "--no-model", "-o", str(tmp_path / "r")])
    assert rc == 3
    err = capsys.readouterr().err.strip()
    assert err.startswith("dancepose: error: file not found") and "\n" not in err
    rc = main(["evaluate", "--data", str(tmp_path), "--no-model", "-o", str(tmp_path / "r")])
    assert rc == 3


def test_ground_truth_rows_and_discrimination_note(shared_data, tmp_path):
    from dancepose.offline.evaluate import evaluate

    report = evaluate(data=shared_data, songs=["DANCE_W_4", "DANCE_C_8"], generate=False,
                      minutes_in_frame=0, out_dir=tmp_path, quiet=True)
    kinds = sorted(r["kind"] for r in report["rows"])
    assert kinds == ["gt", "gt", "gt_mismatched", "gt_mismatched"]
    waltz = next(r for r in report["rows"] if r["song"] == "DANCE_W_4" and r["kind"] == "gt")
    assert waltz["tempo_followed"] and waltz["tempo_multiple"] == 3.0  # rise & fall once per bar
    disc = report["summary"]["discrimination"]
    assert set(disc) == {"bas", "on_beat", "tempo_error"}
    assert report["notes"] and "discriminat" in report["notes"][0]
    assert report["summary"]["references"]["dwm_train"]["diversity"] > 0
    assert (tmp_path / "eval_DANCE_W_4.png").is_file()


def _dancer_or_skip():
    from dancepose.models.dancer import Dancer
    from dancepose.models.errors import ModelError

    try:
        return Dancer.load()
    except ModelError as exc:
        pytest.skip(f"no default dancer: {exc}")


@pytest.mark.slow
def test_cli_model_reactivity_report(tmp_path):
    _dancer_or_skip()
    out = tmp_path / "r"
    rc = main(["evaluate", "--reactivity", "--minutes-in-frame", "1", "-q", "-o", str(out)])
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert {t["bpm"] for t in report["reactivity"]["tempo"]} == set(drumloops.TEST_TEMPI)
    assert {"tempo", "settle", "resume", "in_frame", "limbs", "freeze"} <= set(report["targets"])
    assert (out / "eval_loop_silence_gaps.png").is_file()
