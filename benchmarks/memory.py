"""Benchmark: peak memory (RSS) of ``dancepose render`` and ``dancepose evaluate`` against the song's length.

    .venv/bin/python benchmarks/memory.py [--lengths 40s,5m,20m,60m] [--size 1280x720] [--fps 30]
                                          [--songs DIR] [--no-evaluate] [--out DIR [--reuse]]

Songs of each length are made by concatenating the real Dance-with-Melody songs of ../shared/data (in
their order, as often as needed, cut to length) into one 160 kb/s MP3 in ``--songs`` (default
``/tmp/dancepose-bench-songs``, kept for reuse; never inside the repository).  Each length is rendered
in a fresh process (``dancepose render SONG -o OUT.mp4 --save-pose OUT.pose.npz``), then the pose file is
scored against the song in another (``dancepose evaluate OUT.pose.npz --audio SONG --no-model``: the part
of the report that grows with the song).  A process's peak RSS is its own ``ru_maxrss`` (VmHWM); the
ffmpeg children (decoders, the encoder, the mux) run beside it and are shown in their own column (the
largest of them).  Target: render and evaluate ≤ 400 MB for a 1-hour song, and no growth with the length.
With ``--out DIR`` each render's figures are kept beside it (``render_<n>s.json``); ``--reuse`` then takes
the render of a length from there instead of rendering again (an hour renders in 30–60 min) and runs only
the evaluate.  The load average is printed beside each command's figures.

Before this release render held the whole song (features of the whole signal at once, the 44.1 kHz stereo
track in memory): 204 MB at 40 s, 596 MB at 5 min, 2.49 GB at 20 min.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DANCEPOSE_SHARED_DATA", REPO.parent / "shared" / "data"))

#: Runs a ``dancepose`` command in this process and reports its own and its children's peak RSS (kB).
_RUNNER = """
import resource, sys
from dancepose.offline.cli import main
code = main(sys.argv[1:])
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"PEAK-RSS {own} {kids}", file=sys.stderr)
sys.exit(code)
"""


def parse_length(text: str) -> float:
    """``40s``, ``5m``, ``1h`` or plain seconds → seconds."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", text.strip())
    if not m:
        raise SystemExit(f"bad length {text!r}: use e.g. 40s, 5m, 1h")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def make_song(seconds: float, folder: Path) -> Path:
    """A real-music MP3 of ``seconds``: the shared DwM songs end to end (cached in ``folder``)."""
    import imageio_ffmpeg

    out = folder / f"dwm_{int(seconds)}s.mp3"
    if out.is_file():
        return out
    songs = sorted((SHARED / "dance_with_melody").glob("*/audio.mp3"))
    if not songs:
        raise SystemExit(f"no Dance-with-Melody songs under {SHARED}")
    chosen, total = [], 0.0
    durations = _durations(songs)
    while total < seconds:
        for s in songs:
            chosen.append(s)
            total += durations[s]
            if total >= seconds:
                break
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-y"]
    for s in chosen:
        cmd += ["-i", str(s)]
    parts = "".join(f"[{i}:a]aformat=sample_rates=44100:channel_layouts=stereo[a{i}];" for i in range(len(chosen)))
    joined = "".join(f"[a{i}]" for i in range(len(chosen)))
    cmd += ["-filter_complex", f"{parts}{joined}concat=n={len(chosen)}:v=0:a=1[out]", "-map", "[out]",
            "-t", f"{seconds:.3f}", "-c:a", "libmp3lame", "-b:a", "160k"]
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".mp3", delete=False) as tmp:
        pass
    subprocess.run(cmd + [tmp.name], check=True)
    os.replace(tmp.name, out)
    return out


def _durations(songs: list[Path]) -> dict[Path, float]:
    import csv

    table = SHARED / "dance_with_melody" / "sequences.csv"
    with open(table) as f:
        rows = {r["sequence"]: float(r["song_duration_s"]) for r in csv.DictReader(f)}
    return {s: rows.get(s.parent.name, 60.0) for s in songs}


def run(args: list[str]) -> dict:
    """One ``dancepose`` command in a fresh process: exit code, seconds, peak RSS (MB) own and children."""
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", _RUNNER, *args], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    m = re.search(r"PEAK-RSS (\d+) (\d+)", r.stderr)
    if r.returncode != 0 or not m:
        tail = r.stderr.strip().splitlines()[-3:]
        raise SystemExit(f"{' '.join(args[:2])} failed ({r.returncode}): {' | '.join(tail)}")
    return {"seconds": seconds, "own": int(m.group(1)) / 1024, "children": int(m.group(2)) / 1024}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", default="40s,5m,20m,60m")
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--songs", type=Path, default=Path(tempfile.gettempdir()) / "dancepose-bench-songs")
    ap.add_argument("--out", type=Path, default=None, help="where renders go (default: a temporary folder)")
    ap.add_argument("--no-evaluate", action="store_true")
    ap.add_argument("--reuse", action="store_true",
                    help="with --out: take a length's render from an earlier run in --out, only evaluate")
    args = ap.parse_args()
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    lengths = [parse_length(t) for t in args.lengths.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="dancepose-memory-") as tmp:
        out_dir = args.out or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        for seconds in lengths:
            song = make_song(seconds, args.songs)
            mp4, pose = out_dir / f"render_{int(seconds)}s.mp4", out_dir / f"render_{int(seconds)}s.pose.npz"
            kept = out_dir / f"render_{int(seconds)}s.json"
            if args.reuse and kept.is_file() and pose.is_file():
                rend = json.loads(kept.read_text())
            else:
                rend = _loaded(run, ["render", str(song), "-o", str(mp4), "--size", args.size, "--fps",
                                     str(args.fps), "--save-pose", str(pose), "-q"])
                kept.write_text(json.dumps(rend))
            ev = None if args.no_evaluate else _loaded(run, ["evaluate", str(pose), "--audio", str(song),
                                                             "--no-model", "-o", str(out_dir / f"eval_{int(seconds)}s"),
                                                             "-q"])
            rows.append((seconds, rend, ev))
            _print(rows, args)
    return 0


def _loaded(fn, args: list[str]) -> dict:
    """``fn(args)`` with ``load``: the 1-minute load average, mean of before and after."""
    load0 = os.getloadavg()[0]
    out = fn(args)
    out["load"] = (load0 + os.getloadavg()[0]) / 2
    return out


def _print(rows: list, args: argparse.Namespace) -> None:
    print(f"\ndancepose memory benchmark — render {args.size} at {args.fps} fps (+ evaluate --no-model), "
          f"{os.cpu_count()} cores; peak RSS of the dancepose process (largest ffmpeg child beside it)")
    print(f"{'song':>8} {'render RSS':>11} {'(ffmpeg)':>9} {'render s':>9} {'x real time':>11} {'load':>5} "
          f"{'evaluate RSS':>13} {'evaluate s':>11} {'load':>5}")
    for seconds, r, e in rows:
        length = f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"
        ev = f"{e['own']:>10.0f} MB {e['seconds']:>11.1f} {e['load']:>5.1f}" if e else f"{'–':>13} {'–':>11} {'–':>5}"
        print(f"{length:>8} {r['own']:>8.0f} MB {r['children']:>6.0f} MB {r['seconds']:>9.1f} "
              f"{seconds / r['seconds']:>11.2f} {r['load']:>5.1f} {ev}")
    print("target: render and evaluate ≤ 400 MB for a 1-hour song; no growth with the length", flush=True)


if __name__ == "__main__":
    sys.exit(main())
