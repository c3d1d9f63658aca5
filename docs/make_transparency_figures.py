"""Regenerate the README pictures of the browser source and of transparent video.

Usage: python docs/make_transparency_figures.py [--song PATH]   (Chromium at /usr/bin/chromium for the first)
Writes
* docs/obs_page.png: the ``--serve`` page of a real show (demo loop, HUD on) as Chromium draws it with a
  transparent background (a Playwright screenshot without background), laid over a checkerboard;
* docs/alpha_frame.png: one frame of ``dancepose render --background transparent -o x.webm``, decoded again
  with the bundled ffmpeg (libvpx-vp9, alpha kept): over a checkerboard (left) and its alpha channel (right).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from io import BytesIO
from pathlib import Path

import numpy as np

DOCS = Path(__file__).resolve().parent
SHARED = DOCS.parents[1] / "shared" / "data"
sys.path.insert(0, str(DOCS.parent / "tests"))


def checkerboard(h: int, w: int, *, cell: int = 16) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    tone = np.where(((xx // cell) + (yy // cell)) % 2 == 0, 200, 150).astype(np.float32)
    return np.repeat(tone[..., None], 3, axis=2)


def over_checkerboard(rgba: np.ndarray) -> np.ndarray:
    a = rgba[..., 3:].astype(np.float32) / 255.0
    out = rgba[..., :3].astype(np.float32) * a + checkerboard(*rgba.shape[:2]) * (1 - a)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def obs_page(out: Path) -> Path:
    from PIL import Image

    from browser_helpers import chromium
    from live_helpers import live_cmd, live_env

    proc = subprocess.Popen(live_cmd("--input", "demo", "--headless", "--sim-clock", "--duration", "20",
                                     "--serve", "127.0.0.1:0", "-q"),
                            env=live_env(), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        url = None
        for line in proc.stderr:
            if "browser source at" in line:
                url = line.split(" at ")[1].split()[0]
                break
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 960, "height": 540})
            page.goto(url + "?hud=1")
            page.wait_for_function("window.dancepose && dancepose.received > 30", timeout=30_000)
            time.sleep(4.2)
            shot = np.asarray(Image.open(BytesIO(page.screenshot(omit_background=True))).convert("RGBA"))
    finally:
        proc.kill()
        proc.wait()
    Image.fromarray(over_checkerboard(shot)).save(out)
    return out


def alpha_frame(out: Path, *, song: Path) -> Path:
    from PIL import Image

    from dancepose.models.media.formats import decode_frames
    from dancepose.offline.render import render_video

    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.wav"
        from dancepose.models.audio import ffmpeg_exe

        subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-ss", "40", "-t", "4", "-i", str(song), str(clip)],
                       check=True)
        video = render_video(audio=clip, out=Path(tmp) / "dance.webm", size=(640, 360), quiet=True,
                             background=(0, 0, 0, 0))
        rgba = decode_frames(video, width=640, height=360, start=75)[0]
    alpha = np.repeat(rgba[..., 3:], 3, axis=2)
    gap = np.full((360, 8, 3), 255, np.uint8)
    Image.fromarray(np.concatenate([over_checkerboard(rgba), gap, alpha], axis=1)).save(out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--song", type=Path, default=SHARED / "dance_with_melody" / "DANCE_C_8" / "audio.mp3")
    a = ap.parse_args()
    print(obs_page(DOCS / "obs_page.png"))
    print(alpha_frame(DOCS / "alpha_frame.png", song=a.song))


if __name__ == "__main__":
    main()
