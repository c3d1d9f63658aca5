"""The live window: pygame at ``DISPLAY_FPS``, resizable, fullscreen, stage + figure + HUD, keys.

Keys: space pause, f fullscreen, r start/stop recording, h HUD, q / Esc quit.  Headless mode uses SDL's
dummy video driver and draws into a real ``pygame.Surface`` of the requested size (what would have been
shown — and what is recorded).  Drawing comes from :mod:`dancepose.models.media.draw`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dancepose.models.errors import DeviceError


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
        """Handle window events; returns actions: quit, pause, fullscreen, record, hud."""
        pg = self.pg
        actions: list[str] = []
        for ev in pg.event.get():
            if ev.type == pg.QUIT:
                actions.append("quit")
            elif ev.type == pg.KEYDOWN:
                key = {pg.K_q: "quit", pg.K_ESCAPE: "quit", pg.K_SPACE: "pause", pg.K_f: "fullscreen",
                       pg.K_r: "record", pg.K_h: "hud"}.get(ev.key)
                if key:
                    actions.append(key)
            elif ev.type == pg.VIDEORESIZE and not self.fullscreen and not self.headless:
                self._windowed_size = (max(ev.w, 64), max(ev.h, 64))
        return actions

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
        txt = (f"{info.fps:4.0f} fps   {info.tempo_bpm:5.1f} BPM ({info.beat_confidence:.2f})   "
               f"xruns {info.xruns}   {info.source}")
        s.blit(self._font.render(txt, True, (220, 220, 235)), (pad, pad))
        # Beat flash: bright right after the beat, fading over the first 20 % of the beat.
        flash = max(0.0, 1.0 - info.beat_phase / 0.2) if info.beat_confidence > 0.05 else 0.0
        c = int(60 + 195 * flash)
        pg.draw.circle(s, (c, c // 2 + 40, 60), (pad + 12, pad + 42), 10)
        # Input level bar: -60 … 0 dBFS.
        frac = min(max((info.level_db + 60.0) / 60.0, 0.0), 1.0)
        bx, by, bw, bh = pad + 32, pad + 35, 160, 14
        pg.draw.rect(s, (50, 50, 70), (bx, by, bw, bh))
        col = (90, 210, 120) if info.level_db < -6 else (235, 90, 80)
        pg.draw.rect(s, col, (bx, by, int(bw * frac), bh))
        if info.recording:
            pg.draw.circle(s, (230, 40, 40), (w - pad - 60, pad + 12), 8)
            s.blit(self._font_big.render("REC", True, (230, 40, 40)), (w - pad - 46, pad + 2))
        if info.paused:
            s.blit(self._font_big.render("PAUSED", True, (240, 240, 240)), (w // 2 - 40, pad + 2))

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
