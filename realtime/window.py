"""The live window: pygame at ``DISPLAY_FPS``, resizable, fullscreen, stage + figure + HUD, keys.

Keys: space pause, t tap the tempo, f fullscreen, r start/stop recording, h HUD, q / Esc quit.  Headless
mode uses SDL's dummy video driver and draws into a real ``pygame.Surface`` of the requested size (what
would have been shown — and what is recorded).  Drawing comes from :mod:`dancepose.models.media.draw`.

:class:`WindowSink` is the window as a sink (and input) of a :class:`~dancepose.realtime.performance.Performance`:
it polls the keys, draws stage + figure + HUD and presents every frame.
"""
from __future__ import annotations

import os
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


def _pygame():
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    return pygame


def display_available() -> bool:
    """True if SDL can open a window here (an X/Wayland display or an explicit SDL video driver)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or os.environ.get("SDL_VIDEODRIVER"))


class Window:
    """The pygame view.

    Parameters
    ----------
    size : (int, int)
        Window / frame size in pixels.
    headless : bool
        Use the dummy video driver; nothing is shown, frames are still drawn.
    fullscreen : bool
    background : path or None
        Stage picture (``draw.make_stage``).
    floor_units : float or None
        Floor line in torso lengths below the pelvis (``draw.floor_units_for(dancer.rest_pose)``).
    title : str

    Raises
    ------
    DeviceError
        No display without ``headless``.
    """

    def __init__(self, *, size: tuple[int, int], headless: bool = False, fullscreen: bool = False,
                 background: str | os.PathLike | None = None, floor_units: float | None = None,
                 title: str = "dancepose-live") -> None:
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
        self.headless = headless
        self.background = background
        self.floor_units = floor_units
        self.fullscreen = False
        self._windowed_size = (int(size[0]), int(size[1]))
        pg.display.set_caption(title)
        self._screen = None
        self._open(self._windowed_size, fullscreen=fullscreen and not headless)
        if headless:
            self.surface = pg.Surface(self._windowed_size)
        self._stage_key = None
        self.stage = None
        self._font = pg.font.Font(None, 22)
        self._font_big = pg.font.Font(None, 30)
        self.show_hud = True
        self._clock = pg.time.Clock()

    def _open(self, size: tuple[int, int], *, fullscreen: bool) -> None:
        pg = self.pg
        flags = pg.FULLSCREEN if fullscreen else pg.RESIZABLE
        try:
            self._screen = pg.display.set_mode((0, 0) if fullscreen else size, flags)
        except pg.error as exc:
            raise DeviceError(f"cannot open a window ({exc}); set DISPLAY or use --headless") from None
        self.fullscreen = fullscreen
        if not self.headless:
            self.surface = self._screen

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

    def ensure_stage(self) -> "object":
        """The stage for the current size (rebuilt after a resize)."""
        from dancepose.models.media.draw import make_stage

        key = self.size
        if key != self._stage_key:
            extra = {} if self.floor_units is None else {"floor_units": self.floor_units}
            self.stage = make_stage(key[0], key[1], background=self.background, **extra)
            self._stage_key = key
        return self.stage

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
        return actions

    def tick(self) -> None:
        """Wait for the next display frame (``DISPLAY_FPS``)."""
        self._clock.tick(DISPLAY_FPS)

    def draw(self, pose_norm: np.ndarray, *, style) -> None:
        """Stage + figure onto :attr:`surface`."""
        from dancepose.models.media.draw import draw_figure, pose_to_pixels

        stage = self.ensure_stage()
        self.surface.blit(stage, (0, 0))
        w, h = self.size
        draw_figure(self.surface, pose_to_pixels(pose_norm, width=w, height=h), style=style)

    def draw_hud(self, info: HudInfo) -> None:
        """Overlay fps, BPM, beat flash, input level, xruns and the REC indicator (if enabled)."""
        if not self.show_hud:
            return
        pg = self.pg
        s = self.surface
        w, h = s.get_size()
        pad = 10
        fixed = (" fixed" if info.tempo_fixed else "") + (f" ({info.tempo_note})" if info.tempo_note else "")
        txt = (f"{info.fps:4.0f} fps   {info.tempo_bpm:5.1f} BPM{fixed} ({info.beat_confidence:.2f})   "
               f"{info.beats_per_bar}/4   xruns {info.xruns}   {info.source}")
        s.blit(self._font.render(txt, True, (220, 220, 235)), (pad, pad))
        for kind, on, x in self.flash_state(info):
            # beat flash (left): bright on every beat; bar flash (right): on the downbeat only
            c = int(60 + 195 * on)
            colour = (c, c // 2 + 40, 60) if kind == "beat" else (60, c // 2 + 40, c)
            pg.draw.circle(s, colour, (pad + x, pad + 42), 10)
        # Beats of the bar: one small box per beat, the current one lit.
        for k in range(info.beats_per_bar):
            lit = info.beat_confidence > BEAT_FLASH_MIN_CONFIDENCE and k == info.beat_in_bar
            pg.draw.rect(s, (235, 200, 90) if lit else (70, 70, 90), (pad + 4 + 14 * k, pad + 58, 10, 10))
        # Input level bar: -60 … 0 dBFS.
        frac = min(max((info.level_db + 60.0) / 60.0, 0.0), 1.0)
        bx, by, bw, bh = pad + 56, pad + 35, 160, 14
        pg.draw.rect(s, (50, 50, 70), (bx, by, bw, bh))
        col = (90, 210, 120) if info.level_db < -6 else (235, 90, 80)
        pg.draw.rect(s, col, (bx, by, int(bw * frac), bh))
        if info.recording:
            pg.draw.circle(s, (230, 40, 40), (w - pad - 60, pad + 12), 8)
            s.blit(self._font_big.render("REC", True, (230, 40, 40)), (w - pad - 46, pad + 2))
        if info.paused:
            s.blit(self._font_big.render("PAUSED", True, (240, 240, 240)), (w // 2 - 40, pad + 2))

    @staticmethod
    def flash_state(info: HudInfo) -> list[tuple[str, float, int]]:
        """The HUD's flashes: ``(kind, brightness 0…1, x offset)`` for the beat and the bar (downbeat).

        Bright right after the beat, fading over the first 20 % of it; nothing below the confidence floor.
        """
        if info.beat_confidence <= BEAT_FLASH_MIN_CONFIDENCE:
            return [("beat", 0.0, 12), ("bar", 0.0, 36)]
        beat = max(0.0, 1.0 - info.beat_phase / 0.2)
        return [("beat", beat, 12), ("bar", beat if info.beat_in_bar == 0 else 0.0, 36)]

    def present(self) -> None:
        """Show the frame (a no-op headless: the surface is the result)."""
        if not self.headless:
            self.pg.display.flip()

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
    """

    def __init__(self, *, window: Window, style, recording=lambda: False) -> None:
        self.window = window
        self.style = style
        self._recording = recording

    def poll(self) -> list[str]:
        return self.window.poll()

    def handle(self, action: str) -> None:
        if action == "hud":
            self.window.show_hud = not self.window.show_hud
        elif action == "fullscreen":
            self.window.toggle_fullscreen()

    def hud_info(self, frame) -> HudInfo:
        st = frame.state
        return HudInfo(fps=frame.fps, tempo_bpm=st.tempo_bpm, beat_phase=st.beat_phase,
                       beat_confidence=st.beat_confidence, level_db=st.level_db, xruns=frame.xruns,
                       recording=bool(self._recording()), paused=frame.paused, source=frame.source,
                       beats_per_bar=st.beats_per_bar, beat_in_bar=st.beat_in_bar,
                       tempo_fixed=frame.tempo_held, tempo_note=frame.tempo_note)

    def send(self, frame) -> None:
        w = self.window
        w.draw(frame.pose, style=self.style)
        w.draw_hud(self.hud_info(frame))
        w.present()
