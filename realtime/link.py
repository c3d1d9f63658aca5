"""Ableton Link (``dancepose-live --link``): dance to the session's clock, or lead it.

Uses ``LinkPython-extern`` (``import link``): plain synchronous calls (capture the session state, read tempo
and beat at a time, commit), nothing to await, so it fits the frame loop directly.

* **Peers in the session**: the session is the clock.  Its tempo leads through the performance's
  :class:`~dancepose.models.tempo.TempoAuthority` (the dancer's tempo column and the HUD follow it), and
  on every beat the beat is put there with a tap (time of that beat on the feature clock), so the beat
  phase the dancer grooves to is the session's.  Between beats the tracker may nudge the phase toward the
  music it hears.  A session tempo outside the dancer's range is never fatal: it is folded to the
  musical multiple inside it (a drum-and-bass session at 230 is danced at 115, one dancer beat per two
  session beats; 40 at 80) and the HUD says so.  When the last peer leaves, the tempo is released (or
  goes back to ``--bpm``).
* **No peers**: dancepose publishes its own tracked tempo to the session (when its confidence is at
  least :data:`PUBLISH_MIN_CONFIDENCE` and it moved by more than 0.5 BPM, at most once a second), so
  peers that join later start at the music's tempo.

If the Link library is missing or Link cannot start, one line is printed and the show goes on without it.
"""
from __future__ import annotations

import math
import sys
from typing import Callable

#: Beats per bar used for the session phase (Link's quantum).
QUANTUM: float = 4.0
#: Only confident tempo estimates are published.
PUBLISH_MIN_CONFIDENCE: float = 0.3
PUBLISH_MIN_CHANGE_BPM: float = 0.5
PUBLISH_INTERVAL_S: float = 1.0
#: The peer count is read every this many frames (peers come and go rarely; the call takes a lock).
PEER_POLL_FRAMES: int = 15


def _warn(msg: str) -> None:
    print(f"dancepose-live: warning: {msg}", file=sys.stderr)


class LinkSync:
    """A Link peer that is both a tempo source (:meth:`apply`) and a sink (:meth:`send`, publishing).

    Parameters
    ----------
    start_bpm : float
        Tempo the session starts at when dancepose founds it.
    warn : callable(str)

    Attributes
    ----------
    enabled : bool
        Link is running.
    following : bool
        Peers exist and the session sets tempo and beat.
    peers : int
    """

    def __init__(self, *, start_bpm: float = 120.0, warn: Callable[[str], None] = _warn) -> None:
        self._warn = warn
        self.enabled = False
        self.following = False
        self.peers = 0
        self._link = None
        self._last_beat: int | None = None
        self._ratio = 1.0
        self._poll = 0
        self._published: float | None = None
        self._published_at = -math.inf
        self.session_tempo: float | None = None
        try:
            import link as _link_lib

            self._link = _link_lib.Link(float(start_bpm))
            self._link.enabled = True
        except Exception as exc:  # noqa: BLE001 - any failure: go on without Link
            self._link = None
            warn(f"Ableton Link unavailable ({type(exc).__name__}: {exc}); going on without it")
            return
        self.enabled = True

    # ------------------------------------------------------------------ tempo source
    def apply(self, tempo, *, feature_now: float) -> None:
        """Before the frame's audio is analysed: with peers, lead the tempo and place the beat.

        Parameters
        ----------
        tempo : dancepose.models.tempo.TempoAuthority
        feature_now : float
            What the audience hears now on the feature clock (s).
        """
        if not self.enabled:
            return
        lk = self._link
        if self._poll == 0:
            self.peers = int(lk.numPeers())
        self._poll = (self._poll + 1) % PEER_POLL_FRAMES
        if self.peers == 0:
            if self.following:
                self.following = False
                self._last_beat = None
                tempo.release("Link")
            return
        state = lk.captureAppSessionState()
        self.session_tempo = float(state.tempo())
        hold = tempo.follow(self.session_tempo, source="Link")  # folded into the range, never fatal
        if hold is None:  # no tempo at all (cannot happen with a real session): keep what is held
            return
        # The dancer's beats: the session's scaled by the fold (115 for a session at 230: one per two).
        beat = float(state.beatAtTime(lk.clock().micros(), QUANTUM)) * hold.ratio
        index = math.floor(beat)
        if self._last_beat is not None and self._ratio == hold.ratio and index > self._last_beat:
            # the dancer's beat `index` fell (beat - index) beats ago: put the beat there
            tempo.tap(feature_now - (beat - index) * 60.0 / hold.bpm)
        self._last_beat, self._ratio = index, hold.ratio
        self.following = True

    # ------------------------------------------------------------------ sink
    def send(self, frame) -> None:
        """After the frame: with no peers, publish the tracked tempo (rate-limited)."""
        if not self.enabled or self.following:
            return
        bpm, conf = float(frame.state.tempo_bpm), float(frame.state.beat_confidence)
        t = float(frame.state.display_time)
        if conf < PUBLISH_MIN_CONFIDENCE or t - self._published_at < PUBLISH_INTERVAL_S:
            return
        if self._published is not None and abs(bpm - self._published) <= PUBLISH_MIN_CHANGE_BPM:
            return
        lk = self._link
        self.peers = int(lk.numPeers())  # asked now, not PEER_POLL_FRAMES ago: never override a DJ who joined
        if self.peers:
            return
        state = lk.captureAppSessionState()
        state.setTempo(bpm, lk.clock().micros())
        lk.commitAppSessionState(state)
        self._published, self._published_at = bpm, t

    def close(self) -> None:
        if self._link is not None:
            self._link.enabled = False
            self._link = None
            self.enabled = False
