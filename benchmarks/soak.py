"""Soak benchmark: ``dancepose-live --input FILE --headless --record`` for N minutes; prints a table.

Reported (the issue-16 targets first: ≥ 99 % of display frames presented, A/V drift ≤ 1 frame, RSS flat):

* display frames presented against the frames of the show's wall-clock time at 60 fps (and against the
  frames the audio clock asked for), frames not recorded;
* the A/V drift inside the MP4 (video vs audio stream duration, in video frames; target ≤ 1 frame) and the
  recording's length against the audio clock; how far behind the show the recording ran;
* RSS of the live process after the first minute and at the end, its growth and slope (flat: no upward
  slope), and of the recorder process + its ffmpeg;
* audio xruns (PortAudio status flags, watchdog restarts) and ALSA messages on stderr (should be none);
* the load average during the run (min / mean / max of the 1-minute figure, sampled every 10 s).

``--load N`` runs N busy-loop processes beside it (CPU load).  The input is a long real-music track made
by concatenating Dance-with-Melody songs (``../shared/data``) until it outlasts the run.  Real playback
through PulseAudio when a server answers (``.ci/pulse.sh``), else the simulated clock (then xruns are 0
by construction, and the table says so).

Usage: ``python benchmarks/soak.py [--minutes 30] [--load 2] [--size 1280x720] [--out DIR] [--sim-clock]``
(the issue-16 soak: ``--minutes 30 --load 2``).
"""
from __future__ import annotations

import argparse
import csv
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from live_helpers import live_cmd, live_env, pulse_ready  # noqa: E402
from pressure import SHOW_OVER, busy_loop, children, status_kib, stop  # noqa: E402

from dancepose.models.audio import ffmpeg_exe  # noqa: E402
from dancepose.models.clock import DISPLAY_FPS, SAMPLE_RATE  # noqa: E402
from dancepose.models.media.probe import probe_streams  # noqa: E402

SHARED = REPO.parent / "shared" / "data" / "dance_with_melody"
#: How often the soak samples RSS and the load average (s).
POLL_S = 1.0
#: Wall-clock seconds beyond the run's length after which the run is stopped with SIGTERM (a stream clock
#: slower than the wall clock would otherwise stretch it; the stop itself exercises finalisation).
WALL_MARGIN_S = 60.0


def long_track(seconds: float, out: Path) -> Path:
    """Real songs (Dance with Melody, all styles in turn) concatenated until ``seconds`` are covered."""
    rows = list(csv.DictReader(open(SHARED / "sequences.csv")))
    rows.sort(key=lambda r: (r["sequence"][6:], r["sequence"]))  # interleave styles: C_4, R_2, T_1, W_1 …
    chosen, total = [], 0.0
    for r in rows:
        if total >= seconds + 30:
            break
        chosen.append(SHARED / r["sequence"] / "audio.mp3")
        total += float(r["song_duration_s"])
    cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-y"]
    for p in chosen:
        cmd += ["-i", str(p)]
    cmd += ["-filter_complex", "".join(f"[{i}:a]" for i in range(len(chosen))) + f"concat=n={len(chosen)}:v=0:a=1",
            "-ac", "1", "-ar", str(SAMPLE_RATE), str(out)]
    subprocess.run(cmd, check=True)
    return out


def tree_rss_kib(pid: int) -> int:
    """RSS of every descendant of ``pid`` (the recorder process and its ffmpeg, Python's resource tracker)."""
    return sum(status_kib(c, "VmRSS") + tree_rss_kib(c) for c in children(pid))


def soak(*, minutes: float, load: int, size: str, out_dir: Path, sim_clock: bool = False) -> dict:
    seconds = minutes * 60.0
    out_dir.mkdir(parents=True, exist_ok=True)
    song = long_track(seconds, out_dir / "track.wav")
    rec = out_dir / "soak.mp4"
    busy = [busy_loop() for _ in range(load)]  # each in its own session, as other applications are
    samples: list[tuple[float, int, int, float]] = []  # (t, live RSS, children RSS, load1)
    try:
        time.sleep(2.0 if load else 0.0)
        t0 = time.monotonic()
        proc = subprocess.Popen(live_cmd("--input", str(song), "--headless", "--size", size, "--duration",
                                         str(seconds), "--record", str(rec), *(["--sim-clock"] if sim_clock else [])),
                                env=live_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
        reader.start()
        stopped = False
        show_over: float | None = None  # when the show ended (the recorder may still be finishing)
        while proc.poll() is None:
            if show_over is None and any(SHOW_OVER in ln for ln in lines):
                show_over = time.monotonic() - t0
                stop(busy)  # the neighbours made the show's load; the recording's finishing is not timed
            if show_over is None:  # the show's RSS, not the finishing recorder's wait
                kids = tree_rss_kib(proc.pid)
                rss = status_kib(proc.pid, "VmRSS")
                if rss > 0:  # 0: the process ended between poll() and the read
                    samples.append((time.monotonic() - t0, rss, kids, os.getloadavg()[0]))
            if not stopped and show_over is None and time.monotonic() - t0 > seconds + WALL_MARGIN_S:
                proc.send_signal(signal.SIGTERM)  # the audio clock fell behind the wall clock: stop, finalise
                stopped = True
            try:
                proc.wait(timeout=POLL_S)
            except subprocess.TimeoutExpired:
                pass
        wall = time.monotonic() - t0
        reader.join(timeout=10)
        err = "".join(lines)
    finally:
        stop(busy)
    summary = re.search(r"(\d+) frames in ([\d.]+) s, ([\d.]+) s of audio, first frame after ([\d.]+) s, "
                        r"xruns (\d+), dropped video frames (\d+)", err)
    if proc.returncode not in (0, 143) or summary is None:
        raise SystemExit(f"soak run failed (exit {proc.returncode}):\n{err[-2000:]}")
    frames, show_s, audio_s, first_s, xruns, dropped = (float(g) for g in summary.groups())
    if not rec.exists():
        raise SystemExit(f"soak run left no recording (exit {proc.returncode}):\n{err[-2000:]}")
    behind = re.search(r"ran up to ([\d.]+) s behind", err)
    finishing = re.search(r"finishing it took ([\d.]+) s", err)
    info = probe_streams(rec)
    v, a = info["video"]["duration"], info["audio"]["duration"]
    t = np.array([s[0] for s in samples])
    live_rss = np.array([s[1] for s in samples]) / 1024.0
    kid_rss = np.array([s[2] for s in samples]) / 1024.0
    loads = np.array([s[3] for s in samples])
    warm = np.searchsorted(t, 60.0)  # after the first minute (imports, model, first allocations)
    warm = min(warm, len(t) - 1)
    alsa_lines = sum("ALSA lib" in ln for ln in err.splitlines())
    return {
        "minutes": minutes, "load_procs": load, "exit": proc.returncode, "clock": "PulseAudio" if pulse_ready() and not sim_clock else "simulated",
        "wall_s": wall, "audio_s": audio_s, "first_frame_s": first_s,
        "video_s": v, "audio_stream_s": a, "av_drift_frames": abs(v - a) * DISPLAY_FPS,
        "rec_vs_audio_frames": abs(v - min(audio_s, seconds)) * DISPLAY_FPS,
        "frames": frames, "frames_expected": min(audio_s, seconds) * DISPLAY_FPS,
        "show_s": show_s, "frames_wall": show_s * DISPLAY_FPS,
        "behind_s": float(behind.group(1)) if behind else float("nan"),
        "finishing_s": float(finishing.group(1)) if finishing else 0.0,
        "dropped": dropped, "xruns": xruns, "alsa_lines": alsa_lines,
        "rss_start_mb": live_rss[warm], "rss_end_mb": live_rss[-1], "rss_max_mb": live_rss.max(),
        "rss_growth_mb": live_rss[-1] - live_rss[warm],
        "rss_slope_mb_per_10min": (np.polyfit(t[warm:], live_rss[warm:], 1)[0] * 600.0
                                   if len(t) - warm >= 3 else float("nan")),
        "rec_rss_start_mb": kid_rss[warm], "rec_rss_end_mb": kid_rss[-1], "rec_rss_max_mb": kid_rss.max(),
        "load_min": loads.min(), "load_mean": loads.mean(), "load_max": loads.max(),
        "mp4_mb": rec.stat().st_size / 1e6,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--load", type=int, default=0, help="busy-loop processes beside the run")
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--out", type=Path, default=None, help="keep the track, MP4 here (default: a temp dir)")
    ap.add_argument("--sim-clock", action="store_true", help="the simulated clock instead of PulseAudio playback")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        r = soak(minutes=args.minutes, load=args.load, size=args.size, out_dir=args.out or Path(tmp),
                 sim_clock=args.sim_clock)
    print(f"soak: {r['minutes']:g} min, {r['load_procs']} busy-loop processes, clock {r['clock']}, "
          f"{args.size}, exit {r['exit']}" + (" (stopped by SIGTERM at the wall-clock limit)" if r["exit"] == 143
                                              else ""))
    presented = 100.0 * r["frames"] / max(r["frames_wall"], 1.0)
    load = f"[load {r['load_min']:.1f}–{r['load_max']:.1f}, mean {r['load_mean']:.1f}]"
    rows = [
        ("load average (1 min) min / mean / max", f"{r['load_min']:.2f} / {r['load_mean']:.2f} / {r['load_max']:.2f}"),
        ("display frames presented / of the show's wall clock at 60 fps",
         f"{r['frames']:.0f} / {r['frames_wall']:.0f} = {presented:.2f} % (target ≥ 99 %) {load}"),
        ("A/V drift in the MP4", f"{r['av_drift_frames']:.2f} frames (target ≤ 1) {load}"),
        ("RSS of the show after 1 min → end (max)", f"{r['rss_start_mb']:.1f} → {r['rss_end_mb']:.1f} MB "
                                                    f"({r['rss_max_mb']:.1f})"),
        ("RSS growth / slope (target: flat)",
         f"{r['rss_growth_mb']:+.1f} MB / {r['rss_slope_mb_per_10min']:+.2f} MB per 10 min {load}"),
        ("wall clock (launch → exit) / show", f"{r['wall_s']:.1f} s / {r['show_s']:.1f} s"),
        ("audio played (stream clock)", f"{r['audio_s']:.2f} s"),
        ("display frames presented / asked by the audio clock", f"{r['frames']:.0f} / {r['frames_expected']:.0f}"),
        ("recording: video / audio stream", f"{r['video_s']:.3f} s / {r['audio_stream_s']:.3f} s"),
        ("recording vs audio clock", f"{r['rec_vs_audio_frames']:.2f} frames"),
        ("recording ran behind the show (max) / finishing took",
         f"{r['behind_s']:.2f} s / {r['finishing_s']:.1f} s"),
        ("display frames not recorded", f"{r['dropped']:.0f}"),
        ("audio xruns", f"{r['xruns']:.0f}"),
        ("ALSA lines on stderr", f"{r['alsa_lines']}"),
        ("RSS recorder + ffmpeg after 1 min → end (max)",
         f"{r['rec_rss_start_mb']:.1f} → {r['rec_rss_end_mb']:.1f} MB ({r['rec_rss_max_mb']:.1f})"),
        ("MP4 size", f"{r['mp4_mb']:.1f} MB"),
    ]
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{w}}  {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
