"""The one tempo authority: the range every tempo lives in, and the held tempo of a live show.

Every tempo dancepose holds comes through here — ``--bpm``, taps (key ``t``), Ableton Link or any other
outside clock — and lives in one place, :class:`TempoAuthority`, with one range, :data:`MIN_BPM` …
:data:`MAX_BPM` (the beat tracker's tempo states, :class:`dancepose.models.beat.BeatConfig`):

* ``--bpm`` is checked against the range when the command line is parsed (:func:`bpm_arg`, exit 2,
  the range in ``--help``), before any window, device or sink opens;
* an outside tempo (a Link session at 230 BPM, a DJ at 40) is never fatal: it is folded by octaves to
  the musical multiple inside the range (:func:`fold_bpm`: 230 → 115, 40 → 80) and the HUD says so
  (:attr:`TempoHold.note`: "Link 230 BPM, half time"); a tempo that cannot be a tempo (NaN, 0, negative)
  is ignored with a note;
* taps set the beat (and, when nothing is held, the tempo of their spacing, folded the same way).

The beat tracker applies the held tempo (:meth:`~dancepose.models.features.FeatureStream.fix_tempo`);
only the authority tells it to, so what the HUD, the beat events and Link see is the authority's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import ParameterError

#: The tempo range (BPM) of the beat tracker's states, of ``--bpm`` and of every held tempo.
MIN_BPM: float = 55.0
MAX_BPM: float = 215.0


def range_text() -> str:
    """``"55–215"``: how messages and ``--help`` state the range."""
    return f"{MIN_BPM:g}–{MAX_BPM:g}"


def check_bpm(bpm: float, *, what: str = "--bpm") -> float:
    """``bpm`` as a float when it lies in the range.

    Raises
    ------
    ParameterError
        Not a number, or outside :data:`MIN_BPM` … :data:`MAX_BPM` (NaN included).
    """
    try:
        value = float(bpm)
    except (TypeError, ValueError):
        raise ParameterError(f"{what} must be a number of beats per minute, got {bpm!r}".strip()) from None
    if not (MIN_BPM <= value <= MAX_BPM):  # also False for NaN
        raise ParameterError(f"{what} must be between {MIN_BPM:g} and {MAX_BPM:g} BPM, got {value:g}".strip())
    return value


def bpm_arg(text: str) -> float:
    """argparse type for ``--bpm``: the range is checked while parsing (exit 2, before anything opens)."""
    import argparse

    try:
        return check_bpm(text, what="")  # argparse names the option itself ("argument --bpm: …")
    except ParameterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def fold_bpm(bpm: float) -> float | None:
    """An outside tempo folded by octaves into the range (230 → 115, 40 → 80); None if it is no tempo.

    The range spans more than an octave, so every positive finite tempo has a multiple inside it; the
    one nearest the original is returned (halving or doubling as few times as possible).
    """
    try:
        value = float(bpm)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(value) or value <= 0.0:
        return None
    while value > MAX_BPM:
        value /= 2.0
    while value < MIN_BPM:
        value *= 2.0
    return value


@dataclass(frozen=True)
class TempoHold:
    """A held tempo and where it comes from.

    Attributes
    ----------
    bpm : float
        The tempo held (within the range).
    source : str
        ``"--bpm"``, ``"Link"`` … (for the HUD).
    outside_bpm : float
        The source's own tempo; differs from ``bpm`` when folded.
    """

    bpm: float
    source: str
    outside_bpm: float

    @property
    def ratio(self) -> float:
        """Dancer beats per source beat (0.5 for 230 → 115, 2 for 40 → 80, 1 when not folded)."""
        return self.bpm / self.outside_bpm

    @property
    def note(self) -> str:
        """What the HUD says about it when folded — ``"Link 230 BPM, half time"`` (danced at 115), ``"Link
        40 BPM, double time"`` — else ``""``.  Plain ASCII: the HUD's font has no arrows."""
        if abs(self.ratio - 1.0) < 1e-9:
            return ""
        word = {0.5: "half time", 2.0: "double time"}.get(self.ratio, f"x{self.ratio:g} time")
        return f"{self.source} {self.outside_bpm:.0f} BPM, {word}"


class TempoAuthority:
    """The held tempo of a performance: ``--bpm``, taps and outside clocks, one place, one range.

    Parameters
    ----------
    features : dancepose.models.features.FeatureStream
        The stream whose beat tracker applies the held tempo (and receives the taps).
    bpm : float or None
        The user's held tempo (``--bpm``), checked against the range.

    Attributes
    ----------
    note : str
        What the HUD shows about the tempo source (a folded or ignored outside tempo), or ``""``.
    """

    def __init__(self, *, features, bpm: float | None = None) -> None:
        self._features = features
        self._user: TempoHold | None = None
        self._outside: TempoHold | None = None
        self._applied: float | None = None
        self.note = ""
        self.hold(bpm)

    @property
    def held(self) -> TempoHold | None:
        """The tempo the dancer holds now: the outside clock's while it leads, else the user's, else None
        (the tracker follows the music)."""
        return self._outside or self._user

    def hold(self, bpm: float | None) -> None:
        """Hold the user's tempo (``--bpm``; None follows the music again).  An outside clock that leads
        keeps leading; the user's tempo returns when it leaves.

        Raises
        ------
        ParameterError
            Outside the range.
        """
        self._user = None if bpm is None else TempoHold(check_bpm(bpm), "--bpm", float(bpm))
        self._apply()

    def follow(self, bpm: float, *, source: str) -> TempoHold | None:
        """An outside clock (``source``) leads at ``bpm``: hold it, folded into the range.

        Returns the hold, or None when ``bpm`` is no tempo (NaN, ≤ 0): then it is ignored — the previous
        hold stays — and :attr:`note` says so.  Never raises for any value.
        """
        folded = fold_bpm(bpm)
        if folded is None:
            self.note = f"{source} tempo {bpm!r} ignored"
            return None
        if self._outside is None or self._outside.outside_bpm != float(bpm) or self._outside.source != source:
            self._outside = TempoHold(folded, source, float(bpm))
            self.note = self._outside.note
            self._apply()
        return self._outside

    def release(self, source: str) -> None:
        """The outside clock ``source`` stopped leading (its last peer left): back to the user's tempo."""
        if self._outside is not None and self._outside.source == source:
            self._outside = None
            self.note = ""
            self._apply()

    def tap(self, time_s: float | None = None) -> None:
        """A beat at feature-stream time ``time_s`` (default: the stream's now): moves the beat; with
        nothing held two or more taps also set the tempo of their spacing (folded into the range)."""
        self._features.tap(time_s)

    def _apply(self) -> None:
        bpm = None if self.held is None else self.held.bpm
        if bpm != self._applied:
            self._features.fix_tempo(bpm)
            self._applied = bpm
