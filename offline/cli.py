"""``dancepose`` — the offline command line: fetch, extract, train, learn, render, run, evaluate.

A thin argparse layer: every subcommand parses its arguments and calls one keyword-only core function.
Errors the user can act on (``DanceposeError``) are printed on one line; the exit code is non-zero.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

from dancepose.models.cli import add_groove_argument, run_cli, size_arg
from dancepose.models.media.draw import add_look_arguments


# ------------------------------------------------------------------------------------------ fetch
def _add_fetch(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fetch", help="download dance videos with yt-dlp and extract their soundtrack",
                       description="Download dance videos (yt-dlp) into DIR and extract each soundtrack "
                                   "to WAV. Links already downloaded are skipped; failures are reported "
                                   "per link and the rest carries on (exit 3 at the end if a link failed, "
                                   "6 if a file could not be written).")
    p.add_argument("links", nargs="+", help="URLs, or text files with one URL per line")
    p.add_argument("-o", "--out", type=Path, required=True, help="output directory")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_fetch)


def _cmd_fetch(args: argparse.Namespace) -> int:
    from dancepose.offline.fetch import fetch_videos

    report = fetch_videos(links=args.links, out_dir=args.out, quiet=args.quiet)
    if not args.quiet:
        print(f"fetch: {len(report.ok)} downloaded, {len(report.skipped)} already there, "
              f"{len(report.failed)} failed", file=sys.stderr)
    return report.exit_code  # 3 a link failed, 6 a file could not be written


# ---------------------------------------------------------------------------------------- extract
def _add_extract(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("extract", help="2D pose of the main dancer in videos or images",
                       description="Extract the main dancer's 2D pose per frame into <name>.pose.npz. "
                                   "Sources that fail are reported one by one and the rest carries on "
                                   "(exit 3 at the end if any failed); a rerun skips what is done and "
                                   "resumes interrupted videos (Ctrl-C and SIGTERM checkpoint).")
    p.add_argument("sources", nargs="+", type=Path, help="videos, images or directories of them")
    p.add_argument("-o", "--out", type=Path, required=True, help="output directory")
    p.add_argument("--backend", choices=("mediapipe", "openpose"), default="mediapipe")
    p.add_argument("--openpose-model", type=Path, default=None,
                   help="OpenPose network: a TensorFlow GraphDef (.pb) or a Caffe .prototxt "
                        "(with its .caffemodel beside it)")
    p.add_argument("--overlay", action="store_true", help="also write the source with the skeleton drawn")
    p.add_argument("--openpose-json", action="store_true", help="also write OpenPose JSON per frame")
    p.add_argument("--force", action="store_true",
                   help="redo sources whose outputs already exist (and drop their checkpoints)")
    p.add_argument("--max-frames", type=int, default=None, help="process only the first N frames of videos")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="extract on a Ray cluster (needs dancepose[ray]): without ADDRESS a local one on "
                        "this machine's cores; with one (HOST:6379, or auto) join that cluster. "
                        "Sources and -o must be on storage every node sees at the same path")
    p.add_argument("--segment-seconds", type=float, default=120.0,
                   help="with --ray: split videos longer than this into segments run in parallel "
                        "(default 120)")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_extract)


def _cmd_extract(args: argparse.Namespace) -> int:
    from dancepose.offline.extract import extract_pose

    extract_pose(sources=args.sources, out_dir=args.out, backend=args.backend,
                 openpose_model=args.openpose_model, overlay=args.overlay,
                 openpose_json=args.openpose_json, quiet=args.quiet, force=args.force,
                 max_frames=args.max_frames, ray=args.ray, segment_seconds=args.segment_seconds)
    return 0


# ------------------------------------------------------------------------------------------ train
def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a dancer (Keras LSTM) on pose + music pairs",
                       description="Train an autoregressive LSTM that maps music features to poses. "
                                   "DATA: Dance-with-Melody sequence folders (motion.npz + audio.mp3), "
                                   "or .pose.npz files with the audio beside them (same stem, or the "
                                   "video they came from).")
    p.add_argument("data", nargs="+", type=Path)
    p.add_argument("-o", "--out", type=Path, required=True, help="model directory to write")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-songs", type=int, default=None,
                   help="songs held out for validation (split by song; default ≈ 15 %%)")
    p.add_argument("--max-minutes", type=float, default=None, help="stop training after this long")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_train)


def _cmd_train(args: argparse.Namespace) -> int:
    from dancepose.offline.train import train_dancer

    train_dancer(data=args.data, out_dir=args.out, epochs=args.epochs, seed=args.seed,
                 val_songs=args.val_songs, max_minutes=args.max_minutes, quiet=args.quiet)
    return 0


# ------------------------------------------------------------------------------------------ learn
def _add_learn(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("learn", help="your own dancer from your own videos (a personal model directory)",
                       description="Learn a personal dancer from a person's dance: videos, images, "
                                   "*.pose.npz, OpenPose JSON folders (*_keypoints.json per frame), AIST++ "
                                   "keypoints2d .npz, or folders of them. Only clean stretches are kept (no "
                                   "camera cuts, close-ups, other people, gaps); the moves are the person's, "
                                   "cut at the music's beats (or the motion's own) and re-timed onto the beat "
                                   "the dancer hears by the dancer it builds on (--base). The result works "
                                   "with render, evaluate and dancepose-live -m like any model directory.")
    p.add_argument("sources", nargs="+", type=Path, help="videos, images, pose files, OpenPose folders, "
                                                         "AIST++ files, or folders of them")
    p.add_argument("-o", "--out", type=Path, required=True, help="personal model directory to write")
    p.add_argument("--base", type=Path, default=None,
                   help="model directory whose musical timing and stages it builds on (default: built-in)")
    p.add_argument("--mirror", action="store_true", help="also learn every move mirrored left/right")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="extract the videos on a Ray cluster, as `dancepose extract --ray`")
    p.add_argument("--work", type=Path, default=None,
                   help="where extracted pose files are kept (default: <out>_work beside the output)")
    p.add_argument("--openpose-fps", type=float, default=30.0,
                   help="frame rate of OpenPose JSON folders (OpenPose does not store it; default 30)")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_learn)


def _cmd_learn(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from dancepose.offline.learn import LearnConfig, learn_dancer

    learn_dancer(sources=args.sources, out_dir=args.out, base=args.base, mirror_moves=args.mirror,
                 ray=args.ray, work_dir=args.work, config=replace(LearnConfig(), openpose_fps=args.openpose_fps),
                 quiet=args.quiet)
    return 0


# ----------------------------------------------------------------------------------------- render
def _add_render(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render the dancing stick figure to a video with the song",
                       description="Render the dancer performing to AUDIO as a video as long as the song: "
                                   ".mp4 (H.264 + AAC), .webm (VP9 + Opus) or .mov (ProRes 4444 + PCM); "
                                   "with --background transparent, .webm and .mov keep an alpha channel.")
    p.add_argument("audio", type=Path)
    p.add_argument("-m", "--model", type=Path, default=None, help="model directory (default: built-in)")
    p.add_argument("-o", "--out", type=Path, required=True, metavar="OUT.mp4|.webm|.mov")
    add_look_arguments(p, frames="frame")
    add_groove_argument(p)
    p.add_argument("--fps", type=int, choices=(30, 60), default=30)
    p.add_argument("--size", type=size_arg, default=(1280, 720), help="WxH, default 1280x720")
    p.add_argument("--save-pose", type=Path, default=None, help="also write the motion as .pose.npz")
    p.add_argument("--save-frames", type=Path, default=None, metavar="DIR",
                   help="also write every frame as a PNG (frame_000000.png …; RGBA with --background "
                        "transparent)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_render)


def _cmd_render(args: argparse.Namespace) -> int:
    from dancepose.offline.render import render_video

    render_video(audio=args.audio, model_dir=args.model, out=args.out, fps=args.fps, size=args.size,
                 background=args.background, save_pose=args.save_pose, seed=args.seed, quiet=args.quiet,
                 style=args.style, save_openpose=args.save_openpose, groove=args.groove,
                 save_frames=args.save_frames)
    return 0


# -------------------------------------------------------------------------------------------- run
def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="extract → learn → render in one go (the seed's one command)",
                       description="Extract the dancer of VIDEO, learn their personal dancer (`dancepose "
                                   "learn`) and render it dancing to AUDIO.")
    p.add_argument("--video", type=Path, required=True, help="dance video (its music is used when it has some)")
    p.add_argument("--audio", type=Path, required=True, help="song to dance to")
    p.add_argument("--background", type=Path, default=None)
    p.add_argument("-o", "--out", type=Path, default=Path("dancepose_out"), help="work/output directory")
    p.add_argument("--base", type=Path, default=None, help="dancer whose timing it builds on (default: built-in)")
    p.add_argument("--mirror", action="store_true", help="also learn every move mirrored")
    p.add_argument("--fps", type=int, choices=(30, 60), default=30)
    p.add_argument("--size", type=size_arg, default=(1280, 720))
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    from dancepose.offline.run import run_pipeline

    run_pipeline(video=args.video, audio=args.audio, background=args.background, out_dir=args.out,
                 base=args.base, mirror=args.mirror, fps=args.fps, size=args.size, quiet=args.quiet)
    return 0


# --------------------------------------------------------------------------------------- evaluate
def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="report card: beat alignment, diversity, FID, freeze, reactivity",
                       description="Score dancing against real dance: pose files (e.g. from render "
                                   "--save-pose), the model on Dance-with-Melody validation songs (with "
                                   "real dance to its own and to another song's music as references) and "
                                   "on drum loops. Prints a table, writes report.json and a PNG per song. "
                                   "Without pose files or --data: the model on drum loops.")
    p.add_argument("poses", nargs="*", type=Path, help=".pose.npz files to score")
    p.add_argument("--audio", nargs="+", type=Path, default=[],
                   help="music of the pose files, same order (default: found beside each file)")
    p.add_argument("-m", "--model", type=Path, default=None, help="model directory (default: built-in)")
    p.add_argument("--data", type=Path, default=None,
                   help="Dance-with-Melody folder (or the shared data root holding it)")
    p.add_argument("--songs", nargs="+", default=None, help="DwM sequences (default: the validation songs)")
    p.add_argument("--reactivity", action="store_true",
                   help="drum-loop tests: tempo 80-160 BPM, silence gaps, quiet vs loud")
    p.add_argument("--minutes-in-frame", type=float, default=10.0,
                   help="length of the continuous stay-in-frame run (0: skip)")
    p.add_argument("--no-model", action="store_true", help="do not generate; score files / real dance only")
    add_groove_argument(p)
    p.add_argument("--beats", action="store_true",
                   help="score the beat tracker instead: per clip of --data (with beats/) F-measure, CMLt, "
                        "AMLt, tempo, meter, downbeat F, clean and at 10 dB pink noise, beside librosa "
                        "(beats.txt and beats.json in -o)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--out", type=Path, default=Path("eval_report"), help="report directory")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_evaluate)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    if args.beats:
        from dancepose.offline.beats import beat_report, shared_root

        beat_report(shared=shared_root(args.data), clips=args.songs, seed=args.seed, out_dir=args.out,
                    quiet=args.quiet)
        return 0
    from dancepose.offline.evaluate import evaluate

    evaluate(poses=args.poses, audio=args.audio, model_dir=args.model, data=args.data, songs=args.songs,
             reactivity_tests=args.reactivity, minutes_in_frame=args.minutes_in_frame, out_dir=args.out,
             seed=args.seed, generate=not args.no_model, groove=args.groove, quiet=args.quiet)
    return 0


# ---------------------------------------------------------------------------------- build-default
def _add_build_default(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build-default", help="reproduce the shipped default dancer from the shared data",
                       description="Extract the shared dance videos' poses and train the default dancer "
                                   "(Dance with Melody + videos, split by song, seeded).")
    p.add_argument("shared", type=Path, help="the shared data folder (with dance_with_melody/)")
    p.add_argument("-o", "--out", type=Path, required=True, help="model directory, e.g. models/default")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_build_default)


def _cmd_build_default(args: argparse.Namespace) -> int:
    from dancepose.offline.default import DEFAULT_EPOCHS, build_default

    build_default(shared=args.shared, out_dir=args.out, epochs=args.epochs or DEFAULT_EPOCHS,
                  seed=args.seed, quiet=args.quiet)
    return 0


# ------------------------------------------------------------------------------------------- main
_COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    _add_fetch, _add_extract, _add_train, _add_learn, _add_render, _add_run, _add_evaluate, _add_build_default,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dancepose", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in _COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_cli(args.func, args, prog="dancepose")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
