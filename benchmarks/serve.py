"""Benchmark of the browser source (``dancepose-live --serve``) and of transparent video; prints tables.

1. **Pose latency, show → page** on loopback: ``dancepose-live --headless --sim-clock --serve`` (demo loop,
   1280x720, paced at 60 fps) with the page open in a real Chromium (Debian's, via Playwright); the page
   stamps the first draw of each pose (``performance.timeOrigin + performance.now()``) against the show's
   send time (``time.time()`` when the frame was handed to the server, right after the window drew it).
   Median and p99 against the target of one display frame (16.7 ms); the page's frame rate beside it.
2. **Show frame time with 0, 1 and 20 viewers**: the same show with ``--log-timings``; viewers are WebSocket
   clients in a separate process that read and ack every pose as the page does (a browser per viewer would
   measure the browsers' CPU, not the server).  Rows without ``--serve`` and with 0 / 1 / 20 viewers,
   ``--rounds`` times in alternation (a shared machine's load drifts).
3. **Render speed** of ``dancepose render`` (a 1280x720, 30-fps render of a song excerpt, everything
   included: features, dancer, drawing, encoding, mux): H.264 MP4 against transparent WebM and ProRes,
   and the PNG sequence.

Usage: ``python benchmarks/serve.py [--seconds 12] [--rounds 1] [--render-seconds 20] [--skip-browser]``.
The load average is printed beside every table: re-run on a quiet machine for figures to quote.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from dancepose.models.clock import DISPLAY_FPS  # noqa: E402


def _load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _env() -> dict:
    env = dict(os.environ)
    env.update({"SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy", "PYGAME_HIDE_SUPPORT_PROMPT": "1"})
    return env


class Show:
    """``dancepose-live`` on the demo loop, headless, paced at 60 fps; ``serve`` adds ``--serve 127.0.0.1:0``."""

    def __init__(self, tmp: Path, *, seconds: float, serve: bool, tag: str) -> None:
        self.csv = tmp / f"frames_{tag}.csv"
        args = [sys.executable, "-m", "dancepose.realtime.cli", "--input", "demo", "--headless", "--sim-clock",
                "--size", "1280x720", "--duration", str(seconds), "--log-timings", str(self.csv), "-q"]
        if serve:
            args += ["--serve", "127.0.0.1:0"]
        self.proc = subprocess.Popen(args, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.url = self._url() if serve else None

    def _url(self) -> str:
        found, lines = threading.Event(), []

        def read() -> None:
            for line in self.proc.stderr:
                lines.append(line)
                if "browser source at" in line:
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(60):
            self.proc.kill()
            raise SystemExit(f"dancepose-live printed no URL: {''.join(lines)}")
        return next(ln for ln in lines if "browser source at" in ln).split(" at ")[1].split()[0]

    def finish(self, timeout: float) -> np.recarray:
        try:
            self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        if self.proc.returncode != 0:
            raise SystemExit(f"dancepose-live failed (exit {self.proc.returncode})")
        return np.genfromtxt(self.csv, delimiter=",", names=True)


def frame_stats(d: np.recarray, skip_s: float = 1.0) -> dict:
    keep = d["wall_time"] > d["wall_time"][0] + skip_s
    interval = np.diff(d["wall_time"][keep]) * 1e3
    return {"p50": np.percentile(d["frame_ms"][keep], 50), "p99": np.percentile(d["frame_ms"][keep], 99),
            "interval_p99": np.percentile(interval, 99),
            "late": int(np.sum(interval > 2.5e3 / DISPLAY_FPS)), "frames": int(keep.sum())}


# ------------------------------------------------------------------------------ viewers (own process)
async def _viewers(url: str, n: int, seconds: float) -> dict:
    from websockets.asyncio.client import connect

    ws_url = url.replace("http://", "ws://").rstrip("/") + "/ws"
    counts, ages = [0] * n, []

    async def one(k: int) -> None:
        async with connect(ws_url, compression=None) as ws:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=max(0.01, end - time.monotonic()))
                except asyncio.TimeoutError:
                    break
                m = json.loads(raw)
                if m.get("type") == "pose":
                    await ws.send("ack")
                    counts[k] += 1
                    if k == 0:
                        ages.append(time.time() - m["t"])

    await asyncio.gather(*(one(k) for k in range(n)))
    return {"rate": float(np.mean(counts)) / seconds, "min_rate": min(counts) / seconds,
            "age_p50": float(np.median(ages)) * 1e3 if ages else float("nan")}


def run_viewers_process(url: str, n: int, seconds: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, "--viewers-client", url, str(n), str(seconds)],
                            stdout=subprocess.PIPE, text=True)


# ------------------------------------------------------------------------------------------ rows
def run_frame_times(tmp: Path, *, seconds: float, rounds: int) -> list[tuple[str, dict, dict | None]]:
    rows = []
    for r in range(rounds):
        for viewers in (None, 0, 1, 20):
            show = Show(tmp, seconds=seconds, serve=viewers is not None, tag=f"{r}_{viewers}")
            client = None
            if viewers:
                time.sleep(0.5)
                client = run_viewers_process(show.url, viewers, seconds - 1.5)
            d = show.finish(timeout=seconds + 60)
            got = json.loads(client.communicate(timeout=60)[0]) if client else None
            label = "no --serve" if viewers is None else f"--serve, {viewers} viewer{'s' * (viewers != 1)}"
            rows.append((label, frame_stats(d), got))
            print(f"  {label}: done ({_load()})", file=sys.stderr)
    return rows


def run_browser_latency(tmp: Path, *, seconds: float) -> dict | None:
    from browser_helpers import chromium, chromium_missing

    why = chromium_missing()
    if why:
        print(f"browser latency skipped: {why}", file=sys.stderr)
        return None
    show = Show(tmp, seconds=seconds, serve=True, tag="browser")
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.goto(show.url)
            page.wait_for_function("window.dancepose && dancepose.received > 30", timeout=30_000)
            time.sleep(1.0)
            page.evaluate("dancepose.latencies.length = 0")
            f0 = page.evaluate("[dancepose.frames, performance.now()]")
            time.sleep(max(2.0, seconds - 6.0))
            lat = np.array(page.evaluate("dancepose.latencies"))
            f1 = page.evaluate("[dancepose.frames, performance.now()]")
    finally:
        d = show.finish(timeout=seconds + 60)
    return {"p50": float(np.median(lat)), "p99": float(np.percentile(lat, 99)), "n": len(lat),
            "page_fps": (f1[0] - f0[0]) / (f1[1] - f0[1]) * 1e3, "show": frame_stats(d)}


def run_render(tmp: Path, *, seconds: float) -> list[tuple[str, float, float, int]]:
    import imageio_ffmpeg

    from dancepose.offline.render import render_video

    shared = Path(os.environ.get("DANCEPOSE_SHARED_DATA", REPO.parent / "shared" / "data"))
    song = tmp / "song.wav"
    src = shared / "dance_with_melody" / "DANCE_C_6" / "audio.mp3"
    if src.is_file():
        cmd = ["-ss", "30", "-t", str(seconds), "-i", str(src)]
    else:  # no shared data: the demo loop
        from dancepose.realtime.demo_loop import demo_loop
        import wave

        y = demo_loop()[: int(seconds * 24000)]
        with wave.open(str(tmp / "demo.wav"), "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(24000)
            w.writeframes((y * 32767).astype("<i2").tobytes())
        cmd = ["-i", str(tmp / "demo.wav")]
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *cmd, str(song)], check=True)
    rows = []
    for label, out, extra in (("H.264 MP4 (opaque stage)", "r.mp4", {}),
                              ("VP9 WebM, transparent", "r.webm", {"background": (0, 0, 0, 0)}),
                              ("ProRes 4444 MOV, transparent", "r.mov", {"background": (0, 0, 0, 0)}),
                              ("H.264 MP4 + PNG sequence (opaque)", "p.mp4", {"save_frames": tmp / "png_rgb"}),
                              ("VP9 WebM + RGBA PNG sequence", "p.webm",
                               {"background": (0, 0, 0, 0), "save_frames": tmp / "png_rgba"})):
        t0 = time.perf_counter()
        render_video(audio=song, out=tmp / out, fps=30, size=(1280, 720), quiet=True, **extra)
        wall = time.perf_counter() - t0
        frames = int(round(seconds * 30))
        size_mb = (tmp / out).stat().st_size / 1e6
        rows.append((label, frames / wall, size_mb, frames))
        print(f"  render {label}: done ({_load()})", file=sys.stderr)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=12.0, help="length of each show")
    ap.add_argument("--rounds", type=int, default=1, help="repeat the 0/1/20-viewer rows in alternation")
    ap.add_argument("--render-seconds", type=float, default=20.0)
    ap.add_argument("--skip-browser", action="store_true")
    ap.add_argument("--skip-render", action="store_true")
    ap.add_argument("--viewers-client", nargs=3, metavar=("URL", "N", "SECONDS"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.viewers_client:
        url, n, seconds = a.viewers_client
        print(json.dumps(asyncio.run(_viewers(url, int(n), float(seconds)))))
        return
    print(f"dancepose browser source + transparent video, {os.cpu_count()} cores, {_load()} at start")
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        if not a.skip_browser:
            lat = run_browser_latency(tmp, seconds=a.seconds)
            if lat is not None:
                s = lat["show"]
                print(f"\n| pose latency show → page draw (Chromium, loopback, {lat['n']} poses) | figure | target |")
                print("|---|---|---|")
                print(f"| median / p99 | {lat['p50']:.1f} / {lat['p99']:.1f} ms | ≤ 16.7 ms (one display frame) |")
                print(f"| page frame rate | {lat['page_fps']:.1f} fps | ≥ 50 |")
                print(f"| show frame time p50 / p99 meanwhile | {s['p50']:.2f} / {s['p99']:.2f} ms, {s['late']} late "
                      f"of {s['frames']} | |")
                print(f"({_load()})")
        rows = run_frame_times(tmp, seconds=a.seconds, rounds=a.rounds)
        print("\n| show (demo, 1280x720, headless, 60 fps) | frame time p50 / p99 | interval p99 | late frames "
              "| poses/s per viewer (min) | pose age at the viewer p50 |")
        print("|---|---|---|---|---|---|")
        for label, s, got in rows:
            v = (f"{got['rate']:.1f} ({got['min_rate']:.1f})", f"{got['age_p50']:.2f} ms") if got else ("–", "–")
            print(f"| {label} | {s['p50']:.2f} / {s['p99']:.2f} ms | {s['interval_p99']:.1f} ms | {s['late']} of "
                  f"{s['frames']} | {v[0]} | {v[1]} |")
        print(f"({_load()})")
        if not a.skip_render:
            rr = run_render(tmp, seconds=a.render_seconds)
            base = rr[0][1]
            print(f"\n| dancepose render, 1280x720 at 30 fps, {a.render_seconds:.0f} s of song | frames/s | × H.264 "
                  "| file |")
            print("|---|---|---|---|")
            for label, fps, mb, _ in rr:
                print(f"| {label} | {fps:.1f} | {fps / base:.2f} | {mb:.1f} MB |")
            print(f"({_load()})")


if __name__ == "__main__":
    main()
