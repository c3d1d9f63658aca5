"""Helpers shared by the live tests (not a test module)."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from dancepose.models.clock import SAMPLE_RATE


def model_args() -> list[str]:
    """``--model DIR`` if DANCEPOSE_TEST_MODEL is set, else [] (the shipped default dancer)."""
    d = os.environ.get("DANCEPOSE_TEST_MODEL")
    if d:
        return ["--model", d]
    from dancepose.models.dancer import DEFAULT_MODEL_DIR

    if not (DEFAULT_MODEL_DIR / "dancer.npz").is_file():
        pytest.skip("the default dancer (models/default) is not there yet")
    return []


def rt_permitted() -> bool:
    """True if this user may set realtime priority (root, or an RLIMIT_RTPRIO of at least 1): the show's
    ``--priority realtime`` is granted here."""
    import resource

    return os.geteuid() == 0 or resource.getrlimit(resource.RLIMIT_RTPRIO)[0] >= 1


def live_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "dancepose.realtime.cli", *args]


def live_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy", "PYGAME_HIDE_SUPPORT_PROMPT": "1"})
    env.update(extra)
    return env


def pulse_ready() -> bool:
    """True if a PulseAudio server answers (CI starts one with .ci/pulse.sh)."""
    try:
        return subprocess.run(["pactl", "info"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def click_track(*, seconds: float, bpm: float = 120.0, sr: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """Short 1 kHz clicks on every beat.  Returns (signal (n,), click times (k,) in s)."""
    n = int(round(seconds * sr))
    y = np.zeros(n, dtype=np.float32)
    t = np.arange(int(0.03 * sr)) / sr
    click = (0.8 * np.sin(2 * np.pi * 1000.0 * t) * np.exp(-t / 0.008)).astype(np.float32)
    times = np.arange(0.0, seconds - 0.05, 60.0 / bpm)
    for c in times:
        i = int(round(c * sr))
        y[i:i + len(click)] += click[: max(0, min(len(click), n - i))]
    return y, times


def motion_speed(wall_time: np.ndarray, poses: np.ndarray, *, fps: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
    """Mean joint speed (body units / s) on a uniform grid from logged shown poses.

    Returns (grid times (m,), speed (m,)).
    """
    g = np.arange(wall_time[0], wall_time[-1], 1.0 / fps)
    flat = poses.reshape(len(poses), -1)
    res = np.stack([np.interp(g, wall_time, flat[:, k]) for k in range(flat.shape[1])], axis=1)
    v = np.diff(res.reshape(len(g), -1, 2), axis=0) * fps
    return g[1:], np.linalg.norm(v, axis=2).mean(axis=1)


def click_envelope(t: np.ndarray, clicks: np.ndarray, *, width: float = 0.04) -> np.ndarray:
    e = np.zeros_like(t)
    for c in clicks:
        e += np.exp(-0.5 * ((t - c) / width) ** 2)
    return e
