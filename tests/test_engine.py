"""The live engine's step budget (realtime/engine.py): model steps spread over display frames, stalls made
up over the next frames, the same poses as without a budget."""
from __future__ import annotations

import numpy as np
import pytest

from dancepose.models.clock import HOP_LENGTH, SAMPLE_RATE
from dancepose.models.dancer import DEFAULT_MODEL_DIR, Dancer
from dancepose.realtime.engine import Engine, EngineConfig

from live_helpers import click_track

pytestmark = pytest.mark.skipif(not (DEFAULT_MODEL_DIR / "dancer.npz").is_file(),
                                reason="the default dancer (models/default) is not there yet")


class _Clock:
    """A source clock for the engine: sample i is at i / SAMPLE_RATE, now follows what was read."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sample_time(self, index: float) -> float:
        return index / SAMPLE_RATE


def _run(engine: Engine, blocks: list[np.ndarray]) -> tuple[list[int], np.ndarray]:
    """Feed the blocks one display frame each; (model steps per frame, every feature row the dancer got)."""
    clock, steps, rows = _Clock(), [], []
    dance = engine.performer.dance

    def recorded(r: np.ndarray) -> np.ndarray:
        rows.append(np.array(r))
        return dance(r)

    engine.performer.dance = recorded
    for b in blocks:
        clock.t += len(b) / SAMPLE_RATE
        steps.append(engine.update(b, source=clock).model_steps)
    return steps, np.concatenate(rows)


def test_two_hops_in_one_frame_take_two_frames_and_the_same_poses():
    """Audio arriving in 1600-sample bursts (two hops) every other frame: with the budget no frame steps
    twice, and the dancer steps on exactly the features of the engine that took both at once (its poses
    differ only by the display delay the engine tells the dancer)."""
    y, _ = click_track(seconds=6.0)
    blocks = []
    for k in range(0, len(y), 2 * HOP_LENGTH):
        blocks += [y[k:k + 2 * HOP_LENGTH], y[:0]]
    free = Engine(dancer=Dancer.load(None), config=EngineConfig(steps_per_frame=4, catch_up_s=10.0))
    s_free, p_free = _run(free, blocks)
    budget = Engine(dancer=Dancer.load(None))
    s_budget, p_budget = _run(budget, blocks)
    assert max(s_free[1:]) == 2 and max(s_budget) == 1  # (the very first frame also has frame 0)
    n = min(len(p_free), len(p_budget))
    assert n >= len(y) // HOP_LENGTH - 1
    np.testing.assert_array_equal(p_budget[:n], p_free[:n])


def test_a_stall_is_made_up_over_the_next_frames():
    """0.5 s of audio arrives at once (a stalled machine): the next frames take 1 + one per 0.25 s behind
    steps (at most 4) until caught up; more than max_lag_s behind, everything is analysed at once."""
    y, _ = click_track(seconds=8.0)
    per_frame = SAMPLE_RATE // 60
    blocks = [y[i:i + per_frame] for i in range(0, 2 * SAMPLE_RATE, per_frame)]
    blocks.append(y[2 * SAMPLE_RATE:int(2.5 * SAMPLE_RATE)])  # the stall: 0.5 s in one frame
    blocks += [y[i:i + per_frame] for i in range(int(2.5 * SAMPLE_RATE), 4 * SAMPLE_RATE, per_frame)]
    engine = Engine(dancer=Dancer.load(None))
    steps, _ = _run(engine, blocks)
    after = steps[len(blocks) - len(range(int(2.5 * SAMPLE_RATE), 4 * SAMPLE_RATE, per_frame)) - 1:]
    assert max(steps) == 3  # 0.5 s behind: 1 + 2
    assert 2 <= sum(1 for s in after[:12] if s >= 2)  # made up over several frames, not in one
    assert engine._n_pending < 2 * HOP_LENGTH  # caught up
    big = Engine(dancer=Dancer.load(None), config=EngineConfig(max_lag_s=1.0))
    steps, _ = _run(big, [y[:SAMPLE_RATE // 60], y[SAMPLE_RATE // 60:int(2.5 * SAMPLE_RATE)]])
    assert steps[1] >= int(2.5 * SAMPLE_RATE) // HOP_LENGTH  # 2.5 s behind: all of it now
    assert sum(steps) == int(2.5 * SAMPLE_RATE) // HOP_LENGTH + 1  # (frame 0 included: nothing left)


def test_warm_up_leaves_the_dance_unchanged():
    """warm_up() runs the model over a second of clicks and resets: the show's poses are the same bit for
    bit as without it (the seed's random stream, the feature state and the dancer state all restored)."""
    y, _ = click_track(seconds=4.0, bpm=100.0)
    per_frame = SAMPLE_RATE // 60
    blocks = [y[i:i + per_frame] for i in range(0, len(y), per_frame)]
    cold = Engine(dancer=Dancer.load(None), config=EngineConfig(seed=3))
    warm = Engine(dancer=Dancer.load(None), config=EngineConfig(seed=3))
    warm.warm_up()
    assert warm.performer.frames_done == 0 and warm._n_rows == 0 and warm._n_pending == 0
    for e in (cold, warm):
        e.keep_model_poses = True
    _, rows_cold = _run(cold, blocks)
    _, rows_warm = _run(warm, blocks)
    np.testing.assert_array_equal(rows_warm, rows_cold)
    assert len(cold.model_poses) >= len(y) // HOP_LENGTH - 1
    np.testing.assert_array_equal(np.stack(warm.model_poses), np.stack(cold.model_poses))


def test_a_frame_is_made_for_the_moment_it_is_shown():
    """update(..., ahead_s=): the frame's display time, shown pose time and beat read-outs are those of
    now + ahead_s (the window presents it then), with the same model steps."""
    y, _ = click_track(seconds=5.0, bpm=120.0)
    per_frame = SAMPLE_RATE // 60
    blocks = [y[i:i + per_frame] for i in range(0, len(y), per_frame)]
    now, ahead = Engine(dancer=Dancer.load(None)), Engine(dancer=Dancer.load(None))
    _run(now, blocks[:-1])
    _run(ahead, blocks[:-1])
    clock = _Clock()
    clock.t = sum(len(b) for b in blocks) / SAMPLE_RATE
    a = now.update(blocks[-1], source=clock)
    b = ahead.update(blocks[-1], source=clock, ahead_s=0.008)
    assert b.display_time - a.display_time == pytest.approx(0.008)
    assert b.pose_time - a.pose_time == pytest.approx(0.008, abs=1e-3)
    assert a.model_steps == b.model_steps and a.tempo_bpm == b.tempo_bpm
    assert b.beat_position - a.beat_position == pytest.approx(0.008 * a.tempo_bpm / 60.0, rel=1e-6)
