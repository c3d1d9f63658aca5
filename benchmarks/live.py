"""Benchmark of ``dancepose-live`` on this machine; prints a table.

Default run:

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

``--one-core`` and ``--neighbour`` (the issue-16 targets; 60-s shows, recording, demo input, headless):

* ``--one-core``: pinned to one core (``taskset -c 1``), 1280×720, recording: late frames (interval >
  25 ms), frame time p99, features + dancer p99, time to first frame, peak RSS of the show and of the
  recorder (+ its ffmpeg), how far behind the recording ran, the recording's A/V drift;
* ``--neighbour``: 2 cores with one busy-loop neighbour (``python -c 'while True: pass'``, in a session
  of its own like any other application: with the kernel's scheduling autogroups a busy loop started in
  the show's own session shares the show's slice of the machine — 366–531 late frames in 20 s against
  172–185 in its own session, same machine, interleaved), recording, at 1280×720 and at 1920×1080: the
  same rows.

Every row carries the 1-minute load average before → after its run.  Usage:
``python benchmarks/live.py [--model DIR] [--seconds 10]``, ``python benchmarks/live.py --one-core
--neighbour`` (add ``--show-seconds 60``; ``--repeat N`` for N runs of each; ``--priority both`` for each
row at the show's realtime priority and at normal, alternating).
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
from pressure import SHOW_OVER, busy_loop, children, status_kib, stop  # noqa: E402

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


#: A display frame later than this (interval since the previous one, ms) is a late frame (a stutter).
LATE_MS = 25.0


def _tree_hwm(pid: int) -> dict[str, float]:
    """Peak RSS (VmHWM, MB) of a process and of its recorder (+ the recorder's ffmpeg)."""
    def hwm(p: int) -> float:
        return status_kib(p, "VmHWM") / 1024.0

    out = {"show": hwm(pid), "recorder": 0.0}
    for k in children(pid):
        try:
            is_rec = b"recorder_process" in Path(f"/proc/{k}/cmdline").read_bytes()
        except OSError:
            continue
        if is_rec:
            out["recorder"] = hwm(k) + sum(hwm(g) for g in children(k))
    return out


def run_show(tmp: Path, model: list[str], *, seconds: float, size: str, record: bool = True,
             cpus: str | None = None, neighbours: int = 0, tag: str = "show", sim_clock: bool = False,
             own_session: bool = True, priority: str = "realtime") -> dict:
    """One headless demo show under pressure: pinned to ``cpus`` (taskset) and/or beside ``neighbours``
    busy loops; per-frame timing from ``--log-timings``, peak RSS sampled from /proc, the recording probed;
    ``priority`` is the show's ``--priority`` (``r["priority"]``: what it got, from its last line)."""
    import re
    import threading

    from dancepose.models.media.probe import probe_streams

    csv, mp4 = tmp / f"{tag}.csv", tmp / f"{tag}.mp4"
    args = ["--input", "demo", "--headless", "--size", size, "--duration", str(seconds), "--log-timings", str(csv)]
    args += ["--record", str(mp4)] if record else []
    args += ["--sim-clock"] if sim_clock else []
    args += ["--priority", priority]
    busy = [busy_loop(own_session=own_session) for _ in range(neighbours)]
    load0 = os.getloadavg()[0]
    peaks = {"show": 0.0, "recorder": 0.0}
    try:
        time.sleep(1.0 if neighbours else 0.0)
        t0 = time.monotonic()
        cmd = [sys.executable, "-m", "dancepose.realtime.cli", *model, *args]
        p = subprocess.Popen((["taskset", "-c", cpus] if cpus else []) + cmd, env=_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(p.stderr), daemon=True)
        reader.start()
        load1 = None
        while p.poll() is None:
            for k, v in _tree_hwm(p.pid).items():
                peaks[k] = max(peaks[k], v)
            if load1 is None and any(SHOW_OVER in ln for ln in lines):
                load1 = os.getloadavg()[0]
                stop(busy)  # the show is over: the recording's finishing is not part of the figure
            time.sleep(0.5)
        reader.join(timeout=10)
        err = "".join(lines)
    finally:
        stop(busy)
    load1 = os.getloadavg()[0] if load1 is None else load1
    if p.returncode != 0:
        raise SystemExit(f"dancepose-live failed ({tag}): {err.strip()[-600:]}")
    d = _frames(csv)
    interval = np.diff(d["wall_time"]) * 1e3
    steps = d["model_steps"] > 0  # frames that stepped the dancer (the features come a frame before)
    r = {"frames": len(d), "late": int(np.sum(interval > LATE_MS)), "interval_p99": np.percentile(interval, 99),
         "interval_max": float(interval.max()), "frame_ms": np.percentile(d["frame_ms"], [50, 99]),
         "model_ms": np.percentile(d["model_ms"], [50, 99]),
         "step_ms": np.percentile(d["model_ms"][steps], [50, 99]) if steps.any() else np.array([np.nan, np.nan]),
         "two_steps": int(np.sum(d["model_steps"] > 1)), "first_frame": d["wall_time"][0] - t0,
         "rss_show": peaks["show"], "rss_recorder": peaks["recorder"], "load": (load0, load1),
         "behind": float("nan"), "av_frames": float("nan")}
    m = re.search(r"dropped video frames \d+, (.+)$", err.strip().splitlines()[-1] if err.strip() else "")
    r["priority"] = m.group(1) if m else "?"
    m = re.search(r"ran up to ([\d.]+) s behind", err)
    if m:
        r["behind"] = float(m.group(1))
    if record and mp4.exists():
        info = probe_streams(mp4)
        r["av_frames"] = abs(info["video"]["duration"] - info["audio"]["duration"]) * DISPLAY_FPS
    return r


def show_rows(label: str, r: dict, *, target_p99: bool = True) -> list[tuple[str, str, str, str]]:
    """Table rows of one :func:`run_show`: (measure, value, target, load average before → after the run)."""
    load = f"{r['load'][0]:.1f} → {r['load'][1]:.1f}"
    label = f"{label}, {r['priority']}"
    rows = [(f"{label}: late frames (> {LATE_MS:.0f} ms)",
             f"{r['late']} of {r['frames']} (interval p99 {r['interval_p99']:.1f}, max {r['interval_max']:.0f} ms)",
             "0"),
            (f"{label}: frame time p50 / p99 (ms)", f"{r['frame_ms'][0]:.2f} / {r['frame_ms'][1]:.2f}",
             "p99 ≤ 4" if target_p99 else ""),
            (f"{label}: features + dancer per display frame p50 / p99 (ms)",
             f"{r['model_ms'][0]:.3f} / {r['model_ms'][1]:.3f} (frames with a dancer step: "
             f"{r['step_ms'][0]:.2f} / {r['step_ms'][1]:.2f}; {r['two_steps']} with two)", "p99 ≤ 1"),
            (f"{label}: time to first frame (launch → frame)", f"{r['first_frame']:.2f} s", "≤ 1.5 s"),
            (f"{label}: peak RSS show / recorder + its ffmpeg",
             f"{r['rss_show']:.0f} MB / {r['rss_recorder']:.0f} MB", "≤ 250 MB"),
            (f"{label}: recording ran behind the show (max)", f"{r['behind']:.2f} s", "– (the show never is)"),
            (f"{label}: A/V drift in the recording", f"{r['av_frames']:.2f} frames", "≤ 1 frame")]
    return [(*row, load) for row in rows]


def pressure_rows(tmp: Path, model: list[str], *, one_core: bool, neighbour: bool, seconds: float,
                  repeat: int, sim_clock: bool = False, priorities: tuple[str, ...] = ("realtime",)
                  ) -> list[tuple[str, str, str, str]]:
    """The issue-16 rows: pinned to one core, and beside a busy-loop neighbour at 720p and 1080p, for each
    of ``priorities`` (alternating, so a drifting load treats them alike)."""
    rows: list[tuple[str, str, str, str]] = []
    for i in range(repeat):
        n = f" #{i + 1}" if repeat > 1 else ""
        for pr in priorities:
            kw = {"seconds": seconds, "sim_clock": sim_clock, "priority": pr}
            if one_core:
                r = run_show(tmp, model, size="1280x720", cpus="1", tag=f"one{i}{pr}", **kw)
                rows += show_rows(f"one core (taskset -c 1), 1280x720, recording{n}", r)
            if neighbour:
                r = run_show(tmp, model, size="1280x720", neighbours=1, tag=f"nb720_{i}{pr}", **kw)
                rows += show_rows(f"2 cores + busy neighbour, 1280x720, recording{n}", r)
                r = run_show(tmp, model, size="1920x1080", neighbours=1, tag=f"nb1080_{i}{pr}", **kw)
                rows += show_rows(f"2 cores + busy neighbour, 1920x1080, recording{n}", r, target_p99=False)
    load0 = os.getloadavg()[0]
    draw = run_draw_costs()
    load = f"{load0:.1f} → {os.getloadavg()[0]:.1f}"
    for size, d in draw.items():
        rows.append((f"draw one frame in process, {size}: changed rectangles / full redraw p50 / p99 (ms)",
                     f"{d['dirty'][0]:.2f} / {d['dirty'][1]:.2f} — {d['full'][0]:.2f} / {d['full'][1]:.2f}",
                     "1080p ≤ 720p", load))
    return rows


def print_table(title: str, rows: list[tuple[str, str, str, str]]) -> None:
    """Rows (measure, value, target, load average before → after the run that measured it)."""
    w = max(len(r[0]) for r in rows)
    v = max(len(r[1]) for r in rows)
    t = max(len(r[2]) for r in rows + [("", "", "target", "")])
    print(title)
    print(f"{'measure':<{w}}  {'value':<{v}}  {'target':<{t}}  load avg (1 min) before → after")
    for name, val, target, load in rows:
        print(f"{name:<{w}}  {val:<{v}}  {target:<{t}}  {load}")


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


def run_draw_costs(n: int = 1200, sizes: tuple[str, ...] = ("1280x720", "1920x1080")) -> dict:
    """In-process cost of drawing one display frame (:class:`~dancepose.realtime.window.Scene`: stage +
    figure + HUD, only the changed rectangles) per size, on the poses of a simulated-clock performance;
    a full redraw (stage blit + figure + HUD) beside it.  p50 / p99 in ms."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    from dancepose.models.dancer import Dancer
    from dancepose.models.media.draw import look
    from dancepose.realtime.audio_in import SimulatedPlayback
    from dancepose.realtime.engine import Engine
    from dancepose.realtime.performance import Performance
    from dancepose.realtime.window import HudInfo, Scene, _pygame

    pg = _pygame()
    y, _ = click_track(seconds=n / DISPLAY_FPS + 1)
    poses = []

    class Keep:
        def send(self, f):
            poses.append(np.array(f.pose, np.float32))

    with Performance(engine=Engine(dancer=Dancer.load(None)), source=SimulatedPlayback(y), sinks=[Keep()]) as perf:
        perf.run(max_frames=n)
    style, background = look(style="stick", background=None)
    out = {}
    for size in sizes:
        w, h = (int(v) for v in size.split("x"))
        surface = pg.Surface((w, h))
        ms = {"dirty": [], "full": []}
        for kind in ms:
            scene = Scene(style=style, background=background)
            for i, pose in enumerate(poses):
                hud = HudInfo(fps=60.0, tempo_bpm=120.0, beat_phase=(i % 30) / 30, beat_confidence=0.8,
                              level_db=-12.0, xruns=0, recording=True, paused=False, source="demo")
                if kind == "full":
                    scene.invalidate()
                t = time.perf_counter()
                scene.draw(surface, pose, hud)
                ms[kind].append((time.perf_counter() - t) * 1e3)
        out[size] = {k: np.percentile(v[60:], [50, 99]) for k, v in ms.items()}  # after the first second
    return out


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
        tempo = perf.tempo  # the performance's one tempo authority (what a tempo source leads)
        osc_us, link_us = [], []
        for f in frames:
            t = time.perf_counter()
            osc.send(f)
            osc_us.append(time.perf_counter() - t)
            t = time.perf_counter()
            sync.apply(tempo, feature_now=f.state.display_time)
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
                    times[on].append(time.perf_counter() - t - window.waited_s)  # (not the wait for the deadline)
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
    ap.add_argument("--one-core", action="store_true",
                    help="only the issue-16 row pinned to one core (taskset -c 1), recording")
    ap.add_argument("--neighbour", action="store_true",
                    help="only the issue-16 rows beside a busy-loop neighbour, recording, 1280x720 and 1920x1080")
    ap.add_argument("--show-seconds", type=float, default=60.0, help="length of those shows (default 60)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each of those rows")
    ap.add_argument("--priority", choices=("realtime", "normal", "both"), default="realtime",
                    help="those shows' --priority (both: each row at realtime and at normal, alternating)")
    ap.add_argument("--sim-clock", action="store_true",
                    help="those shows on the simulated clock (no audio device; default: real playback when a "
                         "device exists)")
    ap.add_argument("--pairs", type=int, default=0,
                    help="also run N alternating off/on pairs of the OSC + Link comparison (a shared machine's "
                         "load drifts: alternating keeps the comparison fair)")
    a = ap.parse_args()
    model = ["--model", a.model] if a.model else []
    if a.one_core or a.neighbour:
        with tempfile.TemporaryDirectory() as td:
            rows = pressure_rows(Path(td), model, one_core=a.one_core, neighbour=a.neighbour,
                                 seconds=a.show_seconds, repeat=a.repeat, sim_clock=a.sim_clock,
                                 priorities=("realtime", "normal") if a.priority == "both" else (a.priority,))
        clock = "simulated clock" if a.sim_clock else "real playback when a device exists"
        print_table(f"dancepose-live under pressure ({os.cpu_count()} cores; {a.show_seconds:g}-s shows, demo, "
                    f"headless, recording, {clock})", rows)
        return
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
