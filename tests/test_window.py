"""The live window's drawing (realtime/window.py): the dirty-rectangle Scene equals a full redraw pixel for
pixel, and the frame pacer keeps absolute deadlines."""
from __future__ import annotations

import numpy as np
import pytest

from dancepose.models.media import draw

pytestmark = pytest.mark.display


def _poses(n: int) -> np.ndarray:
    from dancepose.models.dancer import Dancer
    from dancepose.models.perform import perform
    from dancepose.realtime.demo_loop import demo_loop

    return perform(demo_loop()[: n * 800 + 800], dancer=Dancer.load(None)).poses[:n]


@pytest.mark.parametrize("style", [draw.FigureStyle(), draw.OpenPoseStyle()], ids=["stick", "openpose"])
@pytest.mark.parametrize("size", [(640, 360), (1920, 1080)])
def test_scene_redraws_only_what_changed_and_equals_a_full_redraw(style, size):
    """Real poses, the HUD shown and hidden, REC and PAUSED on and off, 3/4 and 4/4, NaN joints: every frame
    of the scene equals stage + figure + HUD drawn from scratch, and it reports what changed."""
    import pygame

    from dancepose.realtime.window import Hud, HudInfo, Scene

    w, h = size
    poses = _poses(40)
    poses[7, 3] = np.nan  # lost joints: their limbs are not drawn (and the others must still be restored)
    poses[20, [5, 12]] = np.nan
    surface, ref = pygame.Surface(size), pygame.Surface(size)
    scene, stage, hud = Scene(style=style), draw.make_stage(w, h), Hud()
    for i, pose in enumerate(poses):
        info = HudInfo(fps=60 - i % 7, tempo_bpm=100 + i, beat_phase=(i % 10) / 10, beat_confidence=0.5,
                       level_db=-60 + 3 * i, xruns=i // 10, recording=i % 20 < 10, paused=i % 13 < 4,
                       source="demo", beats_per_bar=3 + i % 2, beat_in_bar=i % 3)
        shown = info if (i // 6) % 2 == 0 else None
        changed = scene.draw(surface, pose, shown)
        ref.blit(stage, (0, 0))
        draw.draw_figure(ref, draw.pose_to_pixels(pose, width=w, height=h), style=style)
        if shown is not None:
            hud.draw(ref, shown, [])
        np.testing.assert_array_equal(pygame.surfarray.pixels3d(surface), pygame.surfarray.pixels3d(ref))
        if i == 0:
            assert changed is None  # the first frame is drawn whole
        else:
            area = sum(r.w * r.h for r in changed)
            assert 0 < area < 0.5 * w * h
            # never SDL's slow copy path (rows starting 16-byte aligned: window._unaligned)
            assert not [r for r in changed if r.x % 4 == 0 and r.x > 0]
    scene.invalidate()
    assert scene.draw(surface, poses[0], None) is None


def test_frame_pacer_keeps_absolute_deadlines(monkeypatch):
    """On a fake clock: a frame that runs 5 ms long is made up by a shorter wait (the rate stays exact);
    after a stall of several frames the pacer starts again from now instead of rushing to catch up."""
    from dancepose.realtime import window as win

    clock = {"t": 100.0}
    monkeypatch.setattr(win.time, "perf_counter", lambda: clock["t"])
    monkeypatch.setattr(win.time, "sleep", lambda s: clock.__setitem__("t", clock["t"] + s))
    pacer = win.FramePacer(60.0)
    period = 1 / 60
    starts = []
    for k in range(10):
        starts.append(clock["t"])
        clock["t"] += 0.005 if k == 3 else 0.002  # the frame's work; frame 3 runs long
        pacer.wait()
    np.testing.assert_allclose(np.diff(starts[1:]), period, atol=1e-9)  # (the first wait sets the grid)
    clock["t"] += 0.2  # a 200-ms stall
    pacer.wait()
    t0 = clock["t"]
    pacer.wait()
    assert clock["t"] - t0 == pytest.approx(period)


def test_frame_pacer_starts_work_ahead_and_presents_on_the_deadline(monkeypatch):
    """With a lead: each frame's work starts `lead_s` before its deadline and the frame is presented on the
    deadline, so frames whose work takes up to the lead (a preempted frame) are all shown exactly one period
    apart; only work longer than the lead makes a frame late, and the grid stays put."""
    from dancepose.realtime import window as win

    clock = {"t": 50.0}
    monkeypatch.setattr(win.time, "perf_counter", lambda: clock["t"])
    monkeypatch.setattr(win.time, "sleep", lambda s: clock.__setitem__("t", clock["t"] + s))
    period, lead = 1 / 60, 0.008
    pacer = win.FramePacer(60.0, lead_s=lead)
    assert pacer.until_present() == 0.0  # before the first wait: shown at once
    pacer.wait()
    deadlines, shown = [], []
    work = [0.001, 0.007, 0.0079, 0.002, 0.012, 0.001, 0.001]  # frame 4 takes longer than the lead
    for w in work:
        deadlines.append(clock["t"] + pacer.until_present())
        assert pacer.until_present() == pytest.approx(lead)  # the work starts lead_s before the deadline
        clock["t"] += w
        pacer.wait_present()
        shown.append(clock["t"])
        pacer.wait()
    np.testing.assert_allclose(np.diff(deadlines), period, atol=1e-9)  # the grid stays put
    late = np.array(shown) - np.array(deadlines)
    np.testing.assert_allclose(np.delete(late, 4), 0.0, atol=1e-9)  # on time, however long the work up to the lead
    assert late[4] == pytest.approx(0.012 - lead)
