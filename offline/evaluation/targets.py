"""The report card's targets as data: one row per target — name, figure, comparison, threshold.

Figures are the flat ``summary["figures"]`` of :func:`dancepose.offline.evaluation.score.summarise`;
ratios are the dancer's figure over real dance's on the same songs and skeleton.  A target whose figure
was not measured (no ``--data``, no ``--reactivity`` …) is left out of the report.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

COMPARISONS = (">=", "<=", "between")


@dataclass(frozen=True)
class Target:
    """``figure`` compared with ``threshold`` (a number, or (low, high) for ``between``)."""

    name: str
    figure: str
    comparison: str
    threshold: float | tuple[float, float]
    rule: str

    def __post_init__(self) -> None:
        if self.comparison not in COMPARISONS:
            raise ValueError(f"comparison must be one of {COMPARISONS}, got {self.comparison!r}")
        if (self.comparison == "between") != isinstance(self.threshold, tuple):
            raise ValueError(f"target {self.name}: 'between' takes (low, high), the others one number")

    def check(self, value: float | None) -> bool:
        """True when ``value`` meets the target (never for a missing or NaN value)."""
        if value is None or not math.isfinite(float(value)):
            return False
        v = float(value)
        if self.comparison == ">=":
            return v >= self.threshold
        if self.comparison == "<=":
            return v <= self.threshold
        lo, hi = self.threshold
        return lo <= v <= hi


#: The targets of issues 8 and 14 on songs not trained on, plus the sanity and reactivity targets.
TARGETS: tuple[Target, ...] = (
    Target("speed", "speed_ratio", "between", (0.8, 1.25),
           "mean joint speed ÷ real dance (same songs, same 15-joint skeleton)"),
    Target("kinematic_beats", "kinematic_beat_rate_ratio", "between", (0.8, 1.25),
           "kinematic beats (speed minima) per second ÷ real dance"),
    Target("diversity", "diversity_ratio", "between", (0.8, 1.25),
           "diversity of body-kinetic features (4-s windows) ÷ real dance"),
    Target("fid", "fid_over_real", "<=", 3.0,
           "FID of body-kinetic features (forward differences) against real dance ÷ the real-vs-real FID"),
    Target("jitter", "jitter_over_real", "<=", 2.0,
           "pose power above 4 Hz ÷ real dance's on the same song, median over songs"),
    Target("jitter_every_song", "jitter_over_real_max", "<=", 5.0,
           "pose power above 4 Hz ÷ real dance's on the same song, worst song"),
    Target("step_ratio", "step_ratio_max", "<=", 1.05,
           "mean forward-difference step ÷ mean central-difference step, worst song (real dance ≈ 1.01)"),
    Target("bas_chance", "bas_over_chance", ">=", 1.5,
           "BAS against the reference beats ÷ BAS of the same kinematic beats shifted at random"),
    Target("bar", "bar_marked", ">=", 0.8,
           "share of songs whose motion autocorrelation marks the bar (3 beats waltz, 2 or 4 others)"),
    Target("bar_speed", "bar_marked_speed", ">=", 0.8,
           "share of songs whose joint-speed autocorrelation (forward differences) marks the bar"),
    Target("freeze", "freeze", "<=", 0.02, "frozen frames (worst song / long run)"),
    Target("limbs", "stretched_frames", "<=", 0.01,
           "frames with a limb > 1.5 × its usual length (95th percentile in real dance)"),
    Target("in_frame", "in_frame", ">=", 0.999, "all joints inside the 1280×720 render over the long run"),
    Target("tempo", "loops_followed", ">=", 1.0,
           "share of 80–160 BPM drum loops whose motion period is ½, 1, 2, 3 or 4 beats"),
    Target("settle", "settle_s", "<=", 1.0, "motion energy < 20 % of its music level within 1 s of silence"),
    Target("resume", "resume_beats", "<=", 2.0, "energy back > 50 % of music level within 2 beats"),
)


def check_targets(figures: dict, *, targets: tuple[Target, ...] = TARGETS) -> dict[str, dict]:
    """Every target whose figure is in ``figures``: {name: {figure, value, comparison, threshold, rule, ok}}."""
    out = {}
    for t in targets:
        if t.figure not in figures:
            continue
        value = figures[t.figure]
        out[t.name] = {"figure": t.figure, "value": value, "comparison": t.comparison,
                       "threshold": list(t.threshold) if isinstance(t.threshold, tuple) else t.threshold,
                       "rule": t.rule, "ok": t.check(value)}
    return out
