"""Regenerate the README pictures from a model and a song (needs ../shared/data for the song).

Usage: python docs/make_figures.py [--model DIR] [--song PATH] [--start 40]
Writes docs/render_frame.png (one rendered frame) and docs/render_strip.png (six frames, 1/3 s apart).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

DOCS = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--song", type=Path,
                    default=DOCS.parents[1] / "shared" / "data" / "dance_with_melody" / "DANCE_C_8" / "audio.mp3")
    ap.add_argument("--start", type=float, default=40.0)
    args = ap.parse_args()

    import os

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import pygame

    from dancepose.models.audio import load_audio
    from dancepose.models.clock import MODEL_FPS
    from dancepose.models.dancer import Dancer
    from dancepose.models.perform import perform
    from dancepose.realtime.draw import floor_units_for, make_stage, render_frame

    dancer = Dancer.load(args.model)
    y = load_audio(args.song, duration=args.start + 4.0)
    poses = perform(y, dancer=dancer, seed=0).poses
    first = int(args.start * MODEL_FPS)
    w, h = 640, 360
    stage = make_stage(w, h, floor_units=floor_units_for(dancer.rest_pose))
    frames = [render_frame(poses[first + k * MODEL_FPS // 3], stage=stage) for k in range(6)]
    big_stage = make_stage(1280, 720, floor_units=floor_units_for(dancer.rest_pose))
    one = render_frame(poses[first], stage=big_stage)
    pygame.image.save(pygame.surfarray.make_surface(one.swapaxes(0, 1)), str(DOCS / "render_frame.png"))
    strip = np.concatenate([np.concatenate(frames[:3], axis=1), np.concatenate(frames[3:], axis=1)], axis=0)
    small = pygame.transform.smoothscale(pygame.surfarray.make_surface(strip.swapaxes(0, 1)),
                                         (strip.shape[1] // 2, strip.shape[0] // 2))
    pygame.image.save(small, str(DOCS / "render_strip.png"))
    print("wrote", DOCS / "render_frame.png", DOCS / "render_strip.png")


if __name__ == "__main__":
    main()
