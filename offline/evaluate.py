"""``dancepose evaluate`` — kept as the import path of the command; the code lives in
:mod:`dancepose.offline.evaluation` (load, score, targets, plots, report)."""
from __future__ import annotations

from dancepose.offline.evaluation.load import (Track, load_aistpp_2d, load_dwm_2d, load_pose_track, loudness_db,
                                               reference_beats, track_beats)
from dancepose.offline.evaluation.report import evaluate, format_report
from dancepose.offline.evaluation.score import EvalConfig, reactivity, score_track

__all__ = ["EvalConfig", "Track", "evaluate", "format_report", "load_aistpp_2d", "load_dwm_2d", "load_pose_track",
           "loudness_db", "reactivity", "reference_beats", "score_track", "track_beats"]
