"""The live window: pygame at ``DISPLAY_FPS``, resizable, fullscreen, stage + figure + HUD, keys.

Keys: space pause, t tap the tempo, f fullscreen, r start/stop recording, h HUD, q / Esc quit.  Headless
mode uses SDL's dummy video driver and draws into a real ``pygame.Surface`` of the requested size (what
would have been shown).  Drawing comes from :mod:`dancepose.models.media.draw`.

:class:`Scene` draws a frame — stage, figure, HUD — redrawing only what changed since the last frame:
the rectangles the last figure and HUD covered are restored from the stage, the new ones drawn, and
only those are presented (``pygame.display.update``), so a frame costs the same at 1920×1080 as at
1280×720 instead of a full-stage copy and a full-window upload.  The recorder process draws the same
scene from the same poses and HUD state (:mod:`dancepose.realtime.recorder_process`): what is recorded
is what was shown.  :class:`FramePacer` sleeps to absolute frame deadlines.

:class:`WindowSink` is the window as a sink (and input) of a :class:`~dancepose.realtime.performance.Performance`:
it polls the keys, draws stage + figure + HUD and presents every frame.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dancepose.models.clock import DISPLAY_FPS
from dancepose.models.errors import DeviceError
from dancepose.realtime.performance import BEAT_MIN_CONFIDENCE as BEAT_FLASH_MIN_CONFIDENCE


@dataclass(frozen=True)
class HudInfo:
    """What the heads-up display shows (one frame)."""

    fps: float
    tempo_bpm: float
    beat_phase: float
    beat_confidence: float
    level_db: float
    xruns: int
    recording: bool
    paused: bool
    source: str
    beats_per_bar: int = 4
    beat_in_bar: int = 0
    tempo_fixed: bool = False
    tempo_note: str = ""

    #: The numeric fields in order (what the recorder process receives per frame; ``source`` is sent
    #: once, ``tempo_note`` when it changes).
    NUMERIC = ("fps", "tempo_bpm", "beat_phase", "beat_confidence", "level_db", "xruns", "recording",
               "paused", "beats_per_bar", "beat_in_bar", "tempo_fixed")

    def numbers(self) -> tuple:
        """The :attr:`NUMERIC` fields, in order (numbers and bools)."""
        return (self.fps, self.tempo_bpm, self.beat_phase, self.beat_confidence, self.level_db, self.xruns,
                self.recording, self.paused, self.beats_per_bar, self.beat_in_bar, self.tempo_fixed)

    @classmethod
    def from_numbers(cls, values, *, source: str, tempo_note: str = "") -> "HudInfo":
        """The inverse of :meth:`numbers` (``values`` [shape=(len(NUMERIC),)])."""
        v = [float(x) for x in values]
        return cls(fps=v[0], tempo_bpm=v[1], beat_phase=v[2], beat_confidence=v[3], level_db=v[4],
                   xruns=int(v[5]), recording=bool(v[6]), paused=bool(v[7]), source=source,
                   beats_per_bar=int(v[8]), beat_in_bar=int(v[9]), tempo_fixed=bool(v[10]),
                   tempo_note=tempo_note)

    @classmethod
    def of(cls, frame, *, recording: bool) -> "HudInfo":
        """What the HUD shows for a performance :class:`~dancepose.realtime.performance.Frame`."""
        st = frame.state
        return cls(fps=frame.fps, tempo_bpm=st.tempo_bpm, beat_phase=st.beat_phase,
                   beat_confidence=st.beat_confidence, level_db=st.level_db, xruns=frame.xruns,
                   recording=recording, paused=frame.paused, source=frame.source,
                   beats_per_bar=st.beats_per_bar, beat_in_bar=st.beat_in_bar,
                   tempo_fixed=frame.tempo_held, tempo_note=frame.tempo_note)


def _pygame():
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    return pygame


def display_available() -> bool:
    """True if SDL can open a window here (an X/Wayland display or an explicit SDL video driver)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or os.environ.get("SDL_VIDEODRIVER"))


def flash_state(info: HudInfo) -> list[tuple[str, float, int]]:
    """The HUD's flashes: ``(kind, brightness 0…1, x offset)`` for the beat and the bar (downbeat).

    Bright right after the beat, fading over the first 20 % of it; nothing below the confidence floor.
    """
    if info.beat_confidence <= BEAT_FLASH_MIN_CONFIDENCE:
        return [("beat", 0.0, 12), ("bar", 0.0, 36)]
    beat = max(0.0, 1.0 - info.beat_phase / 0.2)
    return [("beat", beat, 12), ("bar", beat if info.beat_in_bar == 0 else 0.0, 36)]


class Hud:
    """The heads-up display: fps, BPM and meter, beat and downbeat flashes, beat of the bar, input level,
    xruns, REC, PAUSED.  Text is rendered only when it changes."""

    PAD = 10

    def __init__(self) -> None:
        pg = _pygame()
        pg.font.init()
        self.pg = pg
        self._font = pg.font.Font(None, 22)
        self._font_big = pg.font.Font(None, 30)
        self._texts: dict[str, tuple[str, object]] = {}

    def _text(self, slot: str, text: str, colour, *, big: bool = False):
        hit = self._texts.get(slot)
        if hit is None or hit[0] != text:
            font = self._font_big if big else self._font
            hit = (text, font.render(text, True, colour))
            self._texts[slot] = hit
        return hit[1]

    def draw(self, s, info: HudInfo, dirty: list) -> None:
        """Draw onto surface ``s``; append the rectangles drawn to ``dirty``."""
        pg, pad = self.pg, self.PAD
        w, _ = s.get_size()
        fixed = (" fixed" if info.tempo_fixed else "") + (f" ({info.tempo_note})" if info.tempo_note else "")
        txt = (f"{info.fps:4.0f} fps   {info.tempo_bpm:5.1f} BPM{fixed} ({info.beat_confidence:.2f})   "
               f"{info.beats_per_bar}/4   xruns {info.xruns}   {info.source}")
        dirty.append(s.blit(self._text("line", txt, (220, 220, 235)), (pad, pad)))
        for kind, on, x in flash_state(info):
            # beat flash (left): bright on every beat; bar flash (right): on the downbeat only
            c = int(60 + 195 * on)
            colour = (c, c // 2 + 40, 60) if kind == "beat" else (60, c // 2 + 40, c)
            dirty.append(pg.draw.circle(s, colour, (pad + x, pad + 42), 10))
        # Beats of the bar: one small box per beat, the current one lit.
        for k in range(info.beats_per_bar):
            lit = info.beat_confidence > BEAT_FLASH_MIN_CONFIDENCE and k == info.beat_in_bar
            dirty.append(pg.draw.rect(s, (235, 200, 90) if lit else (70, 70, 90),
                                      (pad + 4 + 14 * k, pad + 58, 10, 10)))
        # Input level bar: -60 … 0 dBFS.
        frac = min(max((info.level_db + 60.0) / 60.0, 0.0), 1.0)
        bx, by, bw, bh = pad + 56, pad + 35, 160, 14
        dirty.append(pg.draw.rect(s, (50, 50, 70), (bx, by, bw, bh)))
        col = (90, 210, 120) if info.level_db < -6 else (235, 90, 80)
        pg.draw.rect(s, col, (bx, by, int(bw * frac), bh))
        if info.recording:
            dirty.append(pg.draw.circle(s, (230, 40, 40), (w - pad - 60, pad + 12), 8))
            dirty.append(s.blit(self._text("rec", "REC", (230, 40, 40), big=True), (w - pad - 46, pad + 2)))
        if info.paused:
            dirty.append(s.blit(self._text("paused", "PAUSED", (240, 240, 240), big=True), (w // 2 - 40, pad + 2)))


def _unaligned(rect):
    """``rect`` grown one pixel to the left if its left edge is at a multiple of 4 pixels.

    Restoring a rectangle from the stage is a copy blit.  SDL 2 copies rows whose start is 16-byte
    aligned (x a multiple of 4 at 32 bits per pixel, with an aligned pitch) with SSE non-temporal
    stores, and the rest of a row that is not a multiple of 64 bytes with a plain ``memcpy`` into the
    same cache lines, which stalls: a 40 × 160 rectangle took 56 µs at x = 100 and 1.4 µs at x = 101
    (2.6.1 / SDL 2.28 on this machine; ``benchmarks/live.py`` has the drawing rows).  One more pixel
    takes the copy off that path: the restore went from 0.10 to 0.022 ms p50 per frame at 1280×720 and
    from 0.16 to 0.035 ms at 1920×1080.  Growing a restored rectangle is always safe (the stage is
    under it), and it still covers what was drawn.
    """
    if rect.x % 4 == 0 and rect.x > 0:
        return type(rect)(rect.x - 1, rect.y, rect.w + 1, rect.h)
    return rect


class Scene:
    """Stage + figure + HUD on a surface, redrawing only the rectangles that change.

    Parameters
    ----------
    style : FigureStyle or OpenPoseStyle
    background : path, (r, g, b) or None
        Stage picture or colour (``draw.make_stage``).
    floor_units : float or None
        Floor line in torso lengths below the pelvis.

    Notes
    -----
    :meth:`draw` gives the same pixels as blitting the whole stage and drawing figure and HUD on it
    (tested), as long as nothing else draws on the surface; call :meth:`invalidate` when something
    did (or the window's contents were lost) to redraw everything next frame.
    """

    def __init__(self, *, style, background=None, floor_units: float | None = None) -> None:
        from dancepose.models.media.draw import is_transparent

        self.pg = _pygame()
        self.style = style
        self.background = background
        #: A see-through stage: the surface must have per-pixel alpha (``SRCALPHA``); the figure is drawn
        #: with exact alpha (:class:`~dancepose.models.media.draw.AlphaFigure`), the whole frame each time.
        self.transparent = is_transparent(background)
        self._alpha = None
        self.floor_units = floor_units
        self.stage = None
        self._stage_size: tuple[int, int] | None = None
        self._hud: Hud | None = None
        self._last: list = []
        self._full = True

    def invalidate(self) -> None:
        """Redraw the whole surface next time."""
        self._full = True

    def ensure_stage(self, size: tuple[int, int]):
        """The stage for ``size`` (rebuilt after a resize)."""
        from dancepose.models.media.draw import make_stage

        size = (int(size[0]), int(size[1]))
        if size != self._stage_size:
            extra = {} if self.floor_units is None else {"floor_units": self.floor_units}
            self.stage = make_stage(size[0], size[1], background=self.background, **extra)
            self._stage_size = size
            self._full = True
        return self.stage

    def draw(self, surface, pose_norm: np.ndarray, hud: HudInfo | None = None) -> list | None:
        """Draw one frame onto ``surface``.

        Returns
        -------
        list of pygame.Rect or None
            What changed (the last frame's rectangles and this one's), or None if everything did.
        """
        from dancepose.models.media.draw import draw_figure, pose_to_pixels

        pg = self.pg
        w, h = surface.get_size()
        if self.transparent:
            return self._draw_transparent(surface, pose_norm, hud)
        stage = self.ensure_stage((w, h))
        full = self._full
        if full:
            surface.blit(stage, (0, 0))
        else:
            surface.blits([(stage, r, r) for r in self._last], doreturn=False)
        boxes: list = []
        draw_figure(surface, pose_to_pixels(pose_norm, width=w, height=h), style=self.style, dirty=boxes)
        rects = [pg.Rect(b) for b in boxes]
        if hud is not None:
            if self._hud is None:
                self._hud = Hud()
            self._hud.draw(surface, hud, rects)
        bounds = surface.get_rect()
        rects = [r.clip(bounds) for r in rects]
        rects = [_unaligned(r) for r in rects if r.w > 0 and r.h > 0]
        changed = None if full else self._last + rects
        self._last = rects
        self._full = False
        return changed


    def _draw_transparent(self, surface, pose_norm: np.ndarray, hud: HudInfo | None) -> None:
        from dancepose.models.media.draw import AlphaFigure, pose_to_pixels

        w, h = surface.get_size()
        if self._alpha is None or self._alpha.size != (w, h):
            self._alpha = AlphaFigure((w, h))
        self._alpha.draw(surface, pose_to_pixels(pose_norm, width=w, height=h), style=self.style)
        if hud is not None:
            if self._hud is None:
                self._hud = Hud()
            self._hud.draw(surface, hud, [])
        self._full = False
        return None


#: How long before its presentation deadline a display frame's work starts (s).  The frame is computed
#: for the moment it will be shown and presented on time, so a frame whose work is held up by up to this
#: much (another process taking the core for a scheduler slice: 5–13 ms measured beside a busy loop)
#: still comes on time.  Costs nothing in what is shown (the pose is that of the presentation time); the
#: newest audio is this much older when the pose is chosen.
PRESENT_LEAD_S = 0.008


class FramePacer:
    """Paces display frames on absolute presentation deadlines ``1 / fps`` apart: :meth:`wait` sleeps until
    the next frame's work starts (``lead_s`` before its deadline), :meth:`wait_present` until the deadline
    itself.  A frame that ran long is made up by the next (the rate stays exact); after falling more than
    a frame behind it restarts from now instead of rushing."""

    def __init__(self, fps: float = DISPLAY_FPS, *, lead_s: float = 0.0) -> None:
        self.period = 1.0 / float(fps)
        self.lead_s = float(lead_s)
        self._next: float | None = None

    def wait(self) -> None:
        now = time.perf_counter()
        nxt = now + self.period if self._next is None else self._next + self.period
        if nxt - self.lead_s < now - self.period:
            nxt = now + self.period
        self._next = nxt
        start = nxt - self.lead_s
        if start > now:
            time.sleep(start - now)

    def until_present(self) -> float:
        """Seconds from now to the current frame's deadline (0 before the first :meth:`wait`)."""
        return 0.0 if self._next is None else max(0.0, self._next - time.perf_counter())

    def wait_present(self) -> float:
        """Sleep until the current frame's deadline; the seconds slept."""
        left = self.until_present()
        if left > 0:
            time.sleep(left)
        return left


class Window:
    """The pygame view.

    Parameters
    ----------
    size : (int, int)
        Window / frame size in pixels.
    headless : bool
        Use the dummy video driver; nothing is shown, frames are still drawn.
    fullscreen : bool
    background : path, colour, ``draw.TRANSPARENT`` or None
        Stage picture or colour (``draw.make_stage``).  Transparent: :attr:`surface` keeps an alpha channel
        (what ``--screenshot`` saves) and the window shows it over a checkerboard.
    floor_units : float or None
        Floor line in torso lengths below the pelvis (``draw.floor_units_for(dancer.rest_pose)``).
    title : str
    present_lead_s : float
        How long before its deadline a frame's work starts (:data:`PRESENT_LEAD_S`; 0: at the deadline,
        shown when done — the newest audio, for a microphone).

    Raises
    ------
    DeviceError
        No display without ``headless``.
    """

    def __init__(self, *, size: tuple[int, int], headless: bool = False, fullscreen: bool = False,
                 background: str | os.PathLike | None = None, floor_units: float | None = None,
                 title: str = "dancepose-live", present_lead_s: float = PRESENT_LEAD_S) -> None:
        if headless:
            os.environ["SDL_VIDEODRIVER"] = "dummy"
            os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
        elif not display_available():
            raise DeviceError("no display available (set DISPLAY or use --headless)")
        pg = _pygame()
        self.pg = pg
        try:
            pg.display.init()
            pg.font.init()
        except pg.error as exc:
            raise DeviceError(f"no display available ({exc}); set DISPLAY or use --headless") from None
        from dancepose.models.media.draw import is_transparent

        self.headless = headless
        self.background = background
        self.transparent = is_transparent(background)
        self.floor_units = floor_units
        self.fullscreen = False
        self._windowed_size = (int(size[0]), int(size[1]))
        pg.display.set_caption(title)
        self._screen = None
        self.scene: Scene | None = None
        self._open(self._windowed_size, fullscreen=fullscreen and not headless)
        if headless:
            self.surface = pg.Surface(self._windowed_size, pg.SRCALPHA if self.transparent else 0)
        self.show_hud = True
        self._pacer = FramePacer(DISPLAY_FPS, lead_s=present_lead_s)
        self._changed: list | None = None
        #: Seconds the last :meth:`present` waited for its deadline (not work: the frame was ready).
        self.waited_s = 0.0

    def _open(self, size: tuple[int, int], *, fullscreen: bool) -> None:
        pg = self.pg
        flags = pg.FULLSCREEN if fullscreen else pg.RESIZABLE
        try:
            self._screen = pg.display.set_mode((0, 0) if fullscreen else size, flags)
        except pg.error as exc:
            raise DeviceError(f"cannot open a window ({exc}); set DISPLAY or use --headless") from None
        self.fullscreen = fullscreen
        if not self.headless:
            # transparent: drawn offscreen with alpha, shown over a checkerboard by present()
            self.surface = (pg.Surface(self._screen.get_size(), pg.SRCALPHA) if self.transparent
                            else self._screen)
        if self.scene is not None:
            self.scene.invalidate()

    @property
    def size(self) -> tuple[int, int]:
        return self.surface.get_size()

    def toggle_fullscreen(self) -> None:
        if self.headless:
            return
        if self.fullscreen:
            self._open(self._windowed_size, fullscreen=False)
        else:
            self._windowed_size = self.size
            self._open(self._windowed_size, fullscreen=True)

    def scene_for(self, style) -> Scene:
        """The window's :class:`Scene` (made on first use with this style)."""
        if self.scene is None or self.scene.style != style:
            self.scene = Scene(style=style, background=self.background, floor_units=self.floor_units)
        return self.scene

    def ensure_stage(self, style=None) -> "object":
        """The stage for the current size (a bad background fails here, before the show)."""
        from dancepose.models.media.draw import FigureStyle

        scene = self.scene if self.scene is not None else self.scene_for(style or FigureStyle())
        return scene.ensure_stage(self.size)

    @property
    def stage(self):
        return None if self.scene is None else self.scene.stage

    def poll(self) -> list[str]:
        """Handle window events; returns actions: quit, pause, tap, fullscreen, record, hud."""
        pg = self.pg
        actions: list[str] = []
        for ev in pg.event.get():
            if ev.type == pg.QUIT:
                actions.append("quit")
            elif ev.type == pg.KEYDOWN:
                key = {pg.K_q: "quit", pg.K_ESCAPE: "quit", pg.K_SPACE: "pause", pg.K_f: "fullscreen",
                       pg.K_r: "record", pg.K_h: "hud", pg.K_t: "tap"}.get(ev.key)
                if key:
                    actions.append(key)
            elif ev.type == pg.VIDEORESIZE and not self.fullscreen and not self.headless:
                self._windowed_size = (max(ev.w, 64), max(ev.h, 64))
            elif ev.type in (pg.VIDEOEXPOSE, pg.WINDOWEXPOSED, pg.WINDOWSIZECHANGED) and self.scene is not None:
                self.scene.invalidate()  # the window's contents were lost or resized: draw it all
        return actions

    def tick(self) -> None:
        """Wait until the next display frame's work starts (``PRESENT_LEAD_S`` before its deadline;
        ``DISPLAY_FPS``, absolute deadlines)."""
        self.waited_s = 0.0
        self._pacer.wait()

    def until_present(self) -> float:
        """Seconds until the frame being made is shown (what the engine adds to "now")."""
        return self._pacer.until_present()

    def draw(self, pose_norm: np.ndarray, *, style, hud: HudInfo | None = None) -> None:
        """Stage + figure (+ HUD) onto :attr:`surface`; only what changed is redrawn (:class:`Scene`)."""
        self._changed = self.scene_for(style).draw(self.surface, pose_norm, hud)

    def present(self) -> None:
        """Show the frame at its deadline: only the changed rectangles (headless: only the wait — the
        surface is the result)."""
        self.waited_s = self._pacer.wait_present()
        if self.headless:
            return
        if self.transparent:
            self._screen.blit(self._checkerboard(), (0, 0))
            self._screen.blit(self.surface, (0, 0))
            self.pg.display.flip()
        elif self._changed is None:
            self.pg.display.flip()
        elif self._changed:
            self.pg.display.update(self._changed)

    def _checkerboard(self):
        """The grey checkerboard a transparent stage is shown over (built once per size)."""
        size = self._screen.get_size()
        if getattr(self, "_checker", None) is None or self._checker.get_size() != size:
            yy, xx = np.mgrid[0:size[1], 0:size[0]]
            tone = np.where(((xx // 16) + (yy // 16)) % 2 == 0, 96, 64).astype(np.uint8)
            self._checker = self.pg.surfarray.make_surface(np.repeat(tone.T[:, :, None], 3, axis=2))
        return self._checker

    def save_png(self, path: str | os.PathLike) -> Path:
        """Save the current frame (a screenshot)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.pg.image.save(self.surface, str(path))
        return path

    def close(self) -> None:
        self.pg.display.quit()


class WindowSink:
    """The window in a performance: input (keys) and sink (draw, HUD, present).

    Parameters
    ----------
    window : Window
    style : FigureStyle or OpenPoseStyle
    recording : callable returning bool
        Whether a recording runs (the REC mark).

    Attributes
    ----------
    last_hud : HudInfo or None
        The HUD of the last frame sent (None while it is hidden): what a recording of it shows.
    """

    def __init__(self, *, window: Window, style, recording=lambda: False) -> None:
        self.window = window
        self.style = style
        self._recording = recording
        self.last_hud: HudInfo | None = None
        window.scene_for(style)

    def poll(self) -> list[str]:
        return self.window.poll()

    def handle(self, action: str) -> None:
        if action == "hud":
            self.window.show_hud = not self.window.show_hud
        elif action == "fullscreen":
            self.window.toggle_fullscreen()

    def send(self, frame) -> None:
        w = self.window
        self.last_hud = HudInfo.of(frame, recording=bool(self._recording())) if w.show_hud else None
        w.draw(frame.pose, style=self.style, hud=self.last_hud)
        w.present()
