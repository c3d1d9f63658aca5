"""Regenerate the README pictures from a model and songs (needs ../shared/data for the songs).

Usage: python docs/make_figures.py [--model DIR] [--song PATH] [--start 40] [--no-groove] [--only frames]
Writes
* docs/render_frame.png (one rendered frame) and docs/render_strip.png (six frames, 1/3 s apart);
* docs/waltz_vs_chacha.png: the dancer to a waltz (top) and to a cha-cha (bottom), both songs it was not
  trained on, eight frames per row spanning two bars of each song (reference beats from ../shared/data/beats),
  each frame labelled with its beat in the bar;
* docs/consecutive_frames.png: 15 consecutive frames of real dance, the previous release and this dancer on
  DANCE_W_18 (not trained on), each over a ghost of the frame before, and the step per frame
  (``--only frames``: just this one).
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


def _onion_tile(pose: np.ndarray, before: np.ndarray, *, stage, ghost, style) -> np.ndarray:
    """One frame with the frame before it as a grey ghost under it: a jump shows as two figures."""
    from dancepose.models.media.draw import draw_figure, pose_to_pixels, surface_to_rgb

    w, h = stage.get_size()
    surf = stage.copy()
    draw_figure(surf, pose_to_pixels(before, width=w, height=h), style=ghost)
    draw_figure(surf, pose_to_pixels(pose, width=w, height=h), style=style)
    return surface_to_rgb(surf)


def consecutive_frames(*, dancer, out: Path, shared: Path = SHARED, song: str = "DANCE_W_18", seed: int = 0,
                       frames: int = 15) -> Path:
    """15 consecutive model frames (0.5 s) of real dance, of the previous release and of this dancer on a
    song not trained on, each frame over a grey ghost of the frame before; under them the mean joint step
    per frame.  The window is where the previous release's forward steps exceed its central steps most
    (its worst twitch)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dancepose.models.audio import load_audio
    from dancepose.models.clock import MODEL_FPS
    from dancepose.models.dancer import PREVIOUS_STAGES
    from dancepose.models.media.draw import FigureStyle, floor_units_for, make_stage
    from dancepose.models.perform import perform
    from dancepose.offline.evaluation.load import load_dwm_2d

    folder = shared / "dance_with_melody" / song
    real, offset, dur = load_dwm_2d(folder)
    y = load_audio(folder / "audio.mp3", duration=offset + dur + 0.2)
    start = int(round(offset * MODEL_FPS))
    previous = dancer.with_stages(**{k: getattr(PREVIOUS_STAGES, k) for k in ("sampling", "dynamics", "silence")})
    rows = {"real dance (mocap, same song)": real,
            "previous release": perform(y, dancer=previous, seed=seed).poses[start:start + len(real)],
            "this release": perform(y, dancer=dancer, seed=seed).poses[start:start + len(real)]}
    def window_sum(x):  # x[t] summed over the window of frames t + 1 … t + frames
        return np.convolve(x, np.ones(frames), mode="valid")

    def steps_of(p):  # mean pelvis-relative joint step, frame t → t + 1
        r = p - p[:, -1:, :]
        return np.linalg.norm(np.diff(r, axis=0), axis=-1).mean(axis=1), r

    fwd, rel = steps_of(rows["previous release"])
    excess = fwd[1:] - 0.5 * np.linalg.norm(rel[2:] - rel[:-2], axis=-1).mean(axis=1)
    real_moves = window_sum(steps_of(real)[0][1:])
    moving = ((window_sum(steps_of(rows["this release"])[0][1:]) >= 0.8 * real_moves)
              & (real_moves >= np.median(real_moves)))
    score = np.where(moving, window_sum(excess), -np.inf)  # both real and new moving as usual there
    score[:3 * MODEL_FPS] = -np.inf
    first = int(np.argmax(score)) + 1
    w, h = 150, 210
    stage = make_stage(w, h, background=(24, 26, 32), floor_units=floor_units_for(dancer.rest_pose))
    style = FigureStyle(shadow=False)
    ghost = FigureStyle(body_colour=(95, 95, 105), left_colour=(95, 95, 105), right_colour=(95, 95, 105),
                        joint_colour=(95, 95, 105), shadow=False)
    strips, steps = [], {}
    for label, poses in rows.items():
        tiles = [_onion_tile(poses[first + k], poses[first + k - 1], stage=stage, ghost=ghost, style=style)
                 for k in range(frames)]
        strip = np.concatenate(tiles, axis=1)
        head = np.full((30, strip.shape[1], 3), 255, np.uint8)
        strips.append(np.concatenate([_label(head, label, size=26, color=(20, 20, 20)), strip], axis=0))
        r = poses[first - 1:first + frames] - poses[first - 1:first + frames, -1:, :]
        steps[label] = np.linalg.norm(np.diff(r, axis=0), axis=-1).mean(axis=1)
    fig, ax = plt.subplots(figsize=(strips[0].shape[1] / 100, 2.2), dpi=100)
    for (label, st), colour in zip(steps.items(), ("0.35", "tab:red", "tab:blue")):
        ax.plot(np.arange(frames), st, "o-", color=colour, label=label)
    ax.set_xlim(-0.5, frames - 0.5)
    ax.set_xticks(range(frames))
    ax.set_ylabel("mean joint step\n(torso / frame)")
    ax.set_title(f"{song} (not trained on), frames {first}–{first + frames - 1} of the dance at 30 fps, where "
                 "the previous release twitched most while the real dancer and this one move; each frame "
                 "over a grey ghost of the one before", fontsize=9)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    buf.seek(0)
    plot = plt.imread(buf)[..., :3]
    plot = (plot * 255).astype(np.uint8)
    width = strips[0].shape[1]
    pad = np.full((plot.shape[0], width, 3), 255, np.uint8)
    pad[:, :min(width, plot.shape[1])] = plot[:, :width]
    _save(np.concatenate(strips + [pad], axis=0), out, half=False)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--song", type=Path, default=SHARED / "dance_with_melody" / "DANCE_C_8" / "audio.mp3")
    ap.add_argument("--start", type=float, default=40.0)
    ap.add_argument("--no-groove", action="store_true", help="the learned motion alone")
    ap.add_argument("--only", choices=["frames"], help="only docs/consecutive_frames.png")
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
    frames_png = consecutive_frames(dancer=dancer, out=DOCS / "consecutive_frames.png")
    if args.only == "frames":
        print("wrote", frames_png)
        return
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
