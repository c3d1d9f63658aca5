"""``dancepose evaluate``: the dancer's report card, with real dance as the reference for every figure.

The package is split by job:

* :mod:`.load` — real dance, pose files, music, reference beats and meter, all on the model clock;
* :mod:`.score` — per-track figures, the drum-loop reactivity tests and the summary (ratios to real
  dance, FID against real-vs-real, BAS against its chance level, bar/meter agreement);
* :mod:`.targets` — the targets as data: (name, figure, comparison, threshold) rows, checked in one place;
* :mod:`.plots` — one PNG per song (music beats vs kinematic beats, motion energy over loudness);
* :mod:`.report` — :func:`evaluate` (the command), the plain-text table and ``report.json``.

The metric library itself is :mod:`dancepose.offline.metrics`.
"""
from __future__ import annotations

from .report import evaluate, format_report

__all__ = ["evaluate", "format_report"]
