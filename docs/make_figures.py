"""Regenerate the README pictures from a model and songs (needs ../shared/data for the songs).

Usage: python docs/make_figures.py [--model DIR] [--song PATH] [--start 40] [--no-groove]
Writes
* docs/render_frame.png (one rendered frame) and docs/render_strip.png (six frames, 1/3 s apart);
* docs/waltz_vs_chacha.png: the dancer to a waltz (top) and to a cha-cha (bottom), both songs it was not
  trained on, eight frames per row spanning two bars of each song (reference beats from ../shared/data/beats),
  each frame labelled with its beat in the bar.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

DOCS = Path(__file__).resolve().parent
SHARED = DOCS.parents[1] / "shared" / "data"
#: (label, sequence) of the side-by-side figure: validation songs (not trained on).
COMPARE = (("waltz (DANCE_W_4, 3/4)", "DANCE_W_4"), ("cha-cha (DANCE_C_8, 4/4)", "DANCE_C_8"))


def _save(surface_rgb: np.ndarray, path: Path, *, half: bool = False) -> None:
    import pygame

    surf = pygame.surfarray.make_surface(surface_rgb.swapaxes(0, 1))
    if half:
        surf = pygame.transform.smoothscale(surf, (surface_rgb.shape[1] // 2, surface_rgb.shape[0] // 2))
    pygame.image.save(surf, str(path))


def _label(rgb: np.ndarray, text: str, *, size: int = 22, color=(235, 235, 235)) -> np.ndarray:
    import pygame

    pygame.font.init()
    surf = pygame.surfarray.make_surface(rgb.swapaxes(0, 1).copy())
    font = pygame.font.Font(None, size)
    surf.blit(font.render(text, True, color), (8, 6))
    return pygame.surfarray.array3d(surf).swapaxes(0, 1)


def waltz_vs_chacha(*, dancer, out: Path, shared: Path = SHARED, seed: int = 0, start_s: float = 40.0,
                    frames: int = 8) -> Path:
    """Eight frames over two bars of a waltz and of a cha-cha, one row each, as a PNG."""
    from dancepose.models.audio import load_audio
    from dancepose.models.clock import MODEL_FPS
    from dancepose.models.perform import perform
    from dancepose.models.media.draw import floor_units_for, make_stage, render_frame

    w, h = 320, 300
    stage = make_stage(w, h, floor_units=floor_units_for(dancer.rest_pose))
    rows = []
    for label, name in COMPARE:
        y = load_audio(shared / "dance_with_melody" / name / "audio.mp3", duration=start_s + 12.0)
        poses = perform(y, dancer=dancer, seed=seed).poses
        b = np.loadtxt(shared / "beats" / f"{name}.beats")
        down = b[(b[:, 1] == 1) & (b[:, 0] >= start_s), 0]
        t0, t1 = float(down[0]), float(down[2])  # two whole bars from a downbeat
        times = t0 + (t1 - t0) * np.arange(frames) / frames
        tiles = []
        for t in times:
            k = int(np.searchsorted(b[:, 0], t + 1e-3, side="right") - 1)
            beat = int(b[k, 1])
            frac = (t - b[k, 0]) / max(b[min(k + 1, len(b) - 1), 0] - b[k, 0], 1e-3)
            img = render_frame(poses[min(int(round(t * MODEL_FPS)), len(poses) - 1)], stage=stage)
            tiles.append(_label(img, f"beat {beat}{'' if frac < 0.25 else ' +' + format(frac, '.1f')}"))
        row = np.concatenate(tiles, axis=1)
        head = np.full((34, row.shape[1], 3), 255, np.uint8)
        rows.append(np.concatenate([_label(head, label, size=28, color=(20, 20, 20)), row], axis=0))
    _save(np.concatenate(rows, axis=0), out, half=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--song", type=Path, default=SHARED / "dance_with_melody" / "DANCE_C_8" / "audio.mp3")
    ap.add_argument("--start", type=float, default=40.0)
    ap.add_argument("--no-groove", action="store_true", help="the learned motion alone")
    args = ap.parse_args()

    import os

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    from dancepose.models.audio import load_audio
    from dancepose.models.clock import MODEL_FPS
    from dancepose.models.dancer import Dancer
    from dancepose.models.perform import perform
    from dancepose.models.media.draw import floor_units_for, make_stage, render_frame

    dancer = Dancer.load(args.model)
    if args.no_groove:
        dancer = dancer.without_groove()
    y = load_audio(args.song, duration=args.start + 4.0)
    poses = perform(y, dancer=dancer, seed=0).poses
    first = int(args.start * MODEL_FPS)
    w, h = 640, 360
    stage = make_stage(w, h, floor_units=floor_units_for(dancer.rest_pose))
    frames = [render_frame(poses[first + k * MODEL_FPS // 3], stage=stage) for k in range(6)]
    big_stage = make_stage(1280, 720, floor_units=floor_units_for(dancer.rest_pose))
    _save(render_frame(poses[first], stage=big_stage), DOCS / "render_frame.png")
    strip = np.concatenate([np.concatenate(frames[:3], axis=1), np.concatenate(frames[3:], axis=1)], axis=0)
    _save(strip, DOCS / "render_strip.png", half=True)
    cmp_png = waltz_vs_chacha(dancer=dancer, out=DOCS / "waltz_vs_chacha.png", start_s=args.start)
    print("wrote", DOCS / "render_frame.png", DOCS / "render_strip.png", cmp_png)


if __name__ == "__main__":
    main()
