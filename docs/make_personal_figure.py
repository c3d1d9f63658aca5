"""The README picture of "Your own dancer": source, personal and default poses side by side.

Learns a personal dancer from the AIST++ break dancer (ch01–04 of ../shared/data/aistpp_keypoints2d,
CC BY 4.0) into a temporary folder, lets it and the shipped default dance to two songs neither was trained
on (DANCE_C_8, DANCE_W_4: 40 s from the dance's start) and writes the evaluation's style picture to
docs/personal.png, printing the style figures.

Usage: python docs/make_personal_figure.py [--shared ../shared/data]
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np

DOCS = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=DOCS.parents[1] / "shared" / "data")
    args = ap.parse_args()

    from dancepose.models.audio import load_audio
    from dancepose.models.dancer import Dancer
    from dancepose.offline.evaluation.load import reference_beats
    from dancepose.offline.evaluation.style import StyleMusic, format_style, style_report
    from dancepose.offline.learn import learn_dancer

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        aist = sorted((args.shared / "aistpp_keypoints2d").glob("*.npz"))[:4]
        learn_dancer(sources=aist, out_dir=tmp / "breaker", quiet=True)
        music = []
        for name in ("DANCE_C_8", "DANCE_W_4"):
            offset = float(np.load(args.shared / "dance_with_melody" / name / "motion.npz")["audio_offset_s"])
            y = load_audio(args.shared / "dance_with_melody" / name / "audio.mp3", offset=offset, duration=40.0)
            ref = reference_beats(path=args.shared / "beats" / f"{name}.beats", offset_s=offset, duration_s=40.0)
            music.append(StyleMusic(name=name, y=y, bpm=ref.tempo_bpm, beats_per_bar=ref.beats_per_bar))
        style = style_report(dancer=Dancer.load(tmp / "breaker"), music=music, out_dir=tmp)
        shutil.copy(style["picture"], DOCS / "personal.png")
        style["picture"] = str(DOCS / "personal.png")
        print("\n".join(format_style(style)))


if __name__ == "__main__":
    main()
