"""Benchmark of ``dancepose-live`` on this machine; prints a table.

* frame time p50/p99 (CPU work per frame) and frame interval p99 / dropped frames, with and without
  recording, and with the rig outputs on: ``--osc`` to a python-osc server in this process (its receive
  rate is reported) and ``--link`` with a second Link peer in this process (so the session path runs)
  (demo input, 1280x720, headless; real playback when an audio device exists);
* features + dancer cost per frame p50/p99;
* time to first frame (process launch → first presented frame);
* audio → motion latency through the virtual microphone (PulseAudio null sink, ``.ci/pulse.sh``):
  a 120 BPM click track is played by a sounddevice OutputStream here (DAC times on the monotonic
  clock) while ``dancepose-live --input mic`` logs its shown poses; reported are the lag of the joint-speed
  / click-envelope cross-correlation peak and the median lag of the figure's kinematic beats (local
  minima of joint speed… the *onset* of motion after each click is the peak of acceleration, reported too).

Usage: ``python benchmarks/live.py [--model DIR] [--seconds 10]``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from live_helpers import click_envelope, click_track, motion_speed, pulse_ready  # noqa: E402

from dancepose.models.clock import DISPLAY_FPS, SAMPLE_RATE  # noqa: E402


def _env() -> dict:
    env = dict(os.environ)
    env.update({"SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy", "PYGAME_HIDE_SUPPORT_PROMPT": "1"})
    return env


def _live(args: list[str], model: list[str]) -> tuple[subprocess.Popen, float]:
    t0 = time.monotonic()
    p = subprocess.Popen([sys.executable, "-m", "dancepose.realtime.cli", *model, "-q", *args], env=_env(),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return p, t0


def _frames(csv: Path) -> np.recarray:
    return np.genfromtxt(csv, delimiter=",", names=True)


def run_frames(tmp: Path, model: list[str], seconds: float, record: bool, extra: tuple[str, ...] = ()) -> dict:
    csv = tmp / f"frames_{record}_{len(extra)}.csv"
    extra = (["--record", str(tmp / "rec.mp4")] if record else []) + list(extra)
    p, t0 = _live(["--input", "demo", "--headless", "--size", "1280x720", "--duration", str(seconds),
                   "--log-timings", str(csv), *extra], model)
    try:
        _, err = p.communicate(timeout=seconds + 60)
    finally:
        if p.poll() is None:
            p.kill()
    if p.returncode != 0:
        raise SystemExit(f"dancepose-live failed: {err.strip()}")
    d = _frames(csv)
    interval = np.diff(d["wall_time"]) * 1e3
    return {"frame_ms": np.percentile(d["frame_ms"], [50, 99]),
            "interval_p99": np.percentile(interval, 99),
            "dropped": int(np.sum(np.maximum(np.round(interval / (1e3 / DISPLAY_FPS)) - 1, 0))),
            "frames": len(d),
            "model_ms": np.percentile(d["model_ms"], [50, 99]),
            "first_frame": d["wall_time"][0] - t0}


def run_rig(tmp: Path, model: list[str], seconds: float) -> dict:
    """Frames with --osc (to a real server here) and --link (a second peer here, at 128 BPM)."""
    import threading

    import link
    from pythonosc.dispatcher import Dispatcher
    from pythonosc.osc_server import ThreadingOSCUDPServer

    times: list[float] = []
    d = Dispatcher()
    d.map("/dancepose/pose", lambda *a: times.append(time.monotonic()))
    server = ThreadingOSCUDPServer(("127.0.0.1", 0), d)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    peer = link.Link(128.0)
    peer.enabled = True
    try:
        r = run_frames(tmp, model, seconds, record=False,
                       extra=("--osc", f"127.0.0.1:{server.server_address[1]}", "--link"))
        time.sleep(0.2)
    finally:
        peer.enabled = False
        server.shutdown()
        server.server_close()
    t = np.asarray(times)
    r["osc_messages"] = len(t)
    r["osc_rate"] = (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 else float("nan")
    return r


def run_sink_costs(n: int = 3000) -> dict:
    """In-process cost of the rig outputs per frame: OscSink.send (pose + events) and LinkSync
    (apply with a peer in the session + send), on real frames of a simulated-clock performance."""
    import link

    from dancepose.models.dancer import Dancer
    from dancepose.realtime.audio_in import SimulatedPlayback
    from dancepose.realtime.engine import Engine
    from dancepose.realtime.link import LinkSync
    from dancepose.realtime.osc import OscSink
    from dancepose.realtime.performance import Performance

    y, _ = click_track(seconds=n / DISPLAY_FPS + 1)
    frames = []

    class Keep:
        def send(self, f):
            frames.append(f)

    with Performance(engine=Engine(dancer=Dancer.load(None)), source=SimulatedPlayback(y), sinks=[Keep()]) as perf:
        perf.run(max_frames=n)
    osc = OscSink(host="127.0.0.1", port=9, size=(1280, 720))  # the discard port: nobody listens
    peer = link.Link(128.0)
    peer.enabled = True
    sync = LinkSync()
    try:
        t0 = time.monotonic()
        while sync._link.numPeers() == 0 and time.monotonic() - t0 < 10:
            time.sleep(0.05)
        feats = perf.features
        osc_us, link_us = [], []
        for f in frames:
            t = time.perf_counter()
            osc.send(f)
            osc_us.append(time.perf_counter() - t)
            t = time.perf_counter()
            sync.apply(feats, feature_now=f.state.display_time)
            sync.send(f)
            link_us.append(time.perf_counter() - t)
    finally:
        osc.close()
        sync.close()
        peer.enabled = False
    return {"osc_us": np.percentile(osc_us, [50, 99]) * 1e6, "link_us": np.percentile(link_us, [50, 99]) * 1e6,
            "link_peers": sync.peers}


def run_ab(blocks: int = 20, block: int = 60) -> dict:
    """OSC + Link off/on in ONE process, alternating every ``block`` frames: the fairest comparison on a
    machine whose load drifts.  A headless 1280x720 window, the demo loop on the simulated clock, paced
    at the display rate; OSC to the discard port (the cost is the send), Link with a second peer here."""
    import link

    from dancepose.models.dancer import Dancer
    from dancepose.models.media.draw import FigureStyle
    from dancepose.realtime.audio_in import SimulatedPlayback
    from dancepose.realtime.demo_loop import demo_loop
    from dancepose.realtime.engine import Engine
    from dancepose.realtime.link import LinkSync
    from dancepose.realtime.osc import OscSink
    from dancepose.realtime.performance import Performance
    from dancepose.realtime.window import Window, WindowSink

    window = Window(size=(1280, 720), headless=True)
    peer = link.Link(128.0)
    peer.enabled = True
    sync = LinkSync()
    osc = OscSink(host="127.0.0.1", port=9, size=lambda: window.size)
    ws = WindowSink(window=window, style=FigureStyle())
    perf = Performance(engine=Engine(dancer=Dancer.load(None)), source=SimulatedPlayback(demo_loop(), loop=True),
                       sinks=[ws], inputs=[ws])
    times: dict[bool, list[float]] = {False: [], True: []}
    try:
        with perf:
            for b in range(blocks):
                on = bool(b % 2)
                perf.sinks = [ws, osc, sync] if on else [ws]
                perf.tempo_sources = [sync] if on else []
                for _ in range(block):
                    t = time.perf_counter()
                    perf.step()
                    times[on].append(time.perf_counter() - t)
                    window.tick()
    finally:
        osc.close()
        sync.close()
        peer.enabled = False
        window.close()
    return {on: np.percentile(np.array(v) * 1e3, [50, 99]) for on, v in times.items()} | {"peers": sync.peers}


def run_latency(tmp: Path, model: list[str]) -> dict | None:
    if not pulse_ready():
        return None
    import sounddevice as sd

    y, clicks = click_track(seconds=8.0)
    csv, poses = tmp / "lat.csv", tmp / "lat.npz"
    p, _ = _live(["--input", "mic", "--headless", "--size", "640x360", "--duration", "13",
                  "--log-timings", str(csv), "--log-poses", str(poses)], model)
    time.sleep(3.5)
    pos = [0]
    stamp: list[float] = []

    def cb(out, frames, t, status):
        i = pos[0]
        if i == 0:
            stamp.append(time.monotonic() + (t.outputBufferDacTime - t.currentTime))
        n = max(0, min(frames, len(y) - i))
        out[:n, 0] = y[i:i + n]
        out[n:, 0] = 0.0
        pos[0] += frames

    try:
        with sd.OutputStream(samplerate=SAMPLE_RATE, channels=1, dtype="float32", blocksize=200,
                             callback=cb):
            time.sleep(8.5)
        p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    z = np.load(poses)
    t, speed = motion_speed(z["wall_time"], z["poses"])
    t = t - stamp[0]
    m = (t > 0.3) & (t < 8.0)
    lags = np.arange(0.0, 0.3, 0.005)
    cc = [np.corrcoef(speed[m], click_envelope(t[m], clicks + lag, width=0.02))[0, 1] for lag in lags]
    # Kinematic beats: local minima of joint speed; onsets: local maxima of acceleration.
    acc = np.append(np.diff(speed), 0.0) * DISPLAY_FPS  # forward difference (no np.gradient: see metrics)
    kb = t[1:-1][(speed[1:-1] < speed[:-2]) & (speed[1:-1] <= speed[2:])]
    on = t[1:-1][(acc[1:-1] > acc[:-2]) & (acc[1:-1] >= acc[2:]) & (acc[1:-1] > np.percentile(acc[m], 75))]

    def lag_after(events: np.ndarray) -> float:
        out = []
        for c in clicks[1:]:
            after = events[(events >= c) & (events < c + 0.25)]
            if len(after):
                out.append(after[0] - c)
        return float(np.median(out)) * 1e3 if out else float("nan")

    d = _frames(csv)
    return {"xcorr_lag_ms": lags[int(np.argmax(cc))] * 1e3, "xcorr": max(cc),
            "kin_beat_lag_ms": lag_after(kb), "onset_lag_ms": lag_after(on),
            "pipeline_ms": np.median(d["display_time"] - d["pose_time"]) * 1e3,
            "input_ms": np.median(d["display_time"] - d["audio_time"]) * 1e3}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--pairs", type=int, default=0,
                    help="also run N alternating off/on pairs of the OSC + Link comparison (a shared machine's "
                         "load drifts: alternating keeps the comparison fair)")
    a = ap.parse_args()
    model = ["--model", a.model] if a.model else []
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        plain = run_frames(tmp, model, a.seconds, record=False)
        rec = run_frames(tmp, model, a.seconds, record=True)
        rig = run_rig(tmp, model, a.seconds)
        costs = run_sink_costs()
        ab = run_ab()
        lat = run_latency(tmp, model)
    load = os.getloadavg()[0]
    rows = [
        ("frame time p50 / p99, no recording (ms)", f"{plain['frame_ms'][0]:.2f} / {plain['frame_ms'][1]:.2f}", "p99 ≤ 16.7"),
        ("frame interval p99 / dropped, no recording", f"{plain['interval_p99']:.1f} ms / {plain['dropped']} of {plain['frames']}", "0 dropped"),
        ("frame time p50 / p99, recording (ms)", f"{rec['frame_ms'][0]:.2f} / {rec['frame_ms'][1]:.2f}", "p99 ≤ 16.7"),
        ("frame interval p99 / dropped, recording", f"{rec['interval_p99']:.1f} ms / {rec['dropped']} of {rec['frames']}", "0 dropped"),
        ("frame time p50 / p99, OSC + Link on (ms)", f"{rig['frame_ms'][0]:.2f} / {rig['frame_ms'][1]:.2f}", "p99 ≤ 16.7"),
        ("frame interval p99 / dropped, OSC + Link on", f"{rig['interval_p99']:.1f} ms / {rig['dropped']} of {rig['frames']}", "0 dropped"),
        ("OSC /dancepose/pose received: count / rate", f"{rig['osc_messages']} / {rig['osc_rate']:.1f} per s", f"≈ {DISPLAY_FPS}"),
        ("in-process A/B, frame p50 / p99 (ms): OSC+Link off", f"{ab[False][0]:.2f} / {ab[False][1]:.2f}", "p99 ≤ 16.7"),
        ("in-process A/B, frame p50 / p99 (ms): OSC+Link on", f"{ab[True][0]:.2f} / {ab[True][1]:.2f}", "= off"),
        ("OSC send per frame p50 / p99 (µs, in process)", f"{costs['osc_us'][0]:.0f} / {costs['osc_us'][1]:.0f}", "≪ 16 700"),
        (f"Link apply + publish per frame p50 / p99 (µs, {costs['link_peers']} peer)", f"{costs['link_us'][0]:.0f} / {costs['link_us'][1]:.0f}", "≪ 16 700"),
        ("features + dancer per frame p50 / p99 (ms)", f"{plain['model_ms'][0]:.3f} / {plain['model_ms'][1]:.3f}", "≤ 1"),
        ("time to first frame (launch → frame, s)", f"{plain['first_frame']:.2f}", "≤ 1.5"),
    ]
    if lat is None:
        rows.append(("audio → motion latency", "skipped (no PulseAudio; run .ci/pulse.sh)", "≤ 30 ms"))
    else:
        rows += [
            ("click → kinematic beat (speed min) lag (ms)", f"{lat['kin_beat_lag_ms']:.0f}",
             "≤ 30 (audio → motion)"),
            ("click → motion onset (accel. peak) lag (ms)", f"{lat['onset_lag_ms']:.0f}", "–"),
            ("click → joint-speed xcorr peak lag (ms)", f"{lat['xcorr_lag_ms']:.0f} (r={lat['xcorr']:.2f})", "–"),
            ("engine display − pose time, median (ms)", f"{lat['pipeline_ms']:.1f}", ""),
            ("display − newest mic sample time, median (ms)", f"{lat['input_ms']:.1f}", ""),
        ]
    import resource

    # Every dancepose-live run above is a child process: the largest resident set among them.
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    rows.append(("peak memory of a dancepose-live run (RSS)", f"{rss_mb:.0f} MB", ""))
    w = max(len(r[0]) for r in rows)
    print(f"dancepose-live benchmark ({os.cpu_count()} cores, load average {load:.1f})")
    print(f"{'measure':<{w}}  {'value':<28}  target")
    for name, val, target in rows:
        print(f"{name:<{w}}  {val:<28}  {target}")
    if a.pairs:
        print(f"\nOSC + Link off / on, alternating runs of {a.seconds:.0f} s: frame time p50 / p99 (ms), dropped")
        with tempfile.TemporaryDirectory() as td:
            for i in range(a.pairs):
                try:
                    off = run_frames(Path(td), model, a.seconds, record=False)
                    on = run_rig(Path(td), model, a.seconds)
                except SystemExit as exc:  # e.g. the audio device timed out under load
                    print(f"  pair {i + 1}: failed ({exc})")
                    continue
                print(f"  pair {i + 1} (load {os.getloadavg()[0]:.1f}):  off {off['frame_ms'][0]:.2f} / "
                      f"{off['frame_ms'][1]:.2f}, {off['dropped']} of {off['frames']}   on {on['frame_ms'][0]:.2f} / "
                      f"{on['frame_ms'][1]:.2f}, {on['dropped']} of {on['frames']}  (OSC {on['osc_rate']:.1f}/s)")


if __name__ == "__main__":
    main()
