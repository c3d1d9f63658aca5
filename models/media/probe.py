"""The media probe: what streams a media file holds (codec, size, rate, exact duration).

:func:`probe_streams` uses the bundled ffmpeg (imageio-ffmpeg ships no ffprobe).  Both sides use it: the
tests and benchmarks of the recorder, ``dancepose render`` and ``dancepose-live --record``.
"""
from __future__ import annotations

import os
import re
import subprocess
from fractions import Fraction
from pathlib import Path

from dancepose.models.audio import ffmpeg_exe
from dancepose.models.errors import InputError

_STREAM_RE = re.compile(r"Stream #\d+:(\d+)(?:\[[^\]]*\])?(?:\([^)]*\))?: (Video|Audio|Subtitle|Data): (\w+)")
_DUR_RE = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_SIZE_RE = re.compile(r", (\d{2,5})x(\d{2,5})")
_FPS_RE = re.compile(r", (\d+(?:\.\d+)?) fps")
_RATE_RE = re.compile(r", (\d+) Hz, ([\w.]+)")
_PIX_RE = re.compile(r"Video: [^,]*, ([a-z][a-z0-9]+)[(,]")
_ALPHA_MODE_RE = re.compile(r"^\s+alpha_mode\s*:\s*1\s*$", re.IGNORECASE)


def probe_streams(path: str | os.PathLike) -> dict:
    """List the streams of a media file with their codec and exact duration.

    Uses the bundled ffmpeg twice: ``ffmpeg -i`` (codecs, sizes, rates) and a packet listing
    (``-c copy -f framecrc``) for per-stream durations.

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    dict
        ``{"duration": container seconds or None, "streams": [ {"index", "type" ("video"/"audio"/…),
        "codec", "duration" (s), "packets", and "width"/"height"/"fps"/"pix_fmt"/"alpha" (an alpha channel:
        a pixel format with alpha, or WebM's ``alpha_mode`` 1) or "sample_rate"/"channels"} ],
        "video": first video stream dict or None, "audio": first audio stream dict or None}``

    Raises
    ------
    InputError
        Missing or unreadable file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"media file not found: {path}")
    exe = ffmpeg_exe()
    info = subprocess.run([exe, "-nostdin", "-hide_banner", "-i", str(path)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, check=False).stderr.decode("utf-8", "replace")
    streams: dict[int, dict] = {}
    current: dict | None = None
    for line in info.splitlines():
        m = _STREAM_RE.search(line)
        if not m:
            if current is not None and _ALPHA_MODE_RE.match(line):  # VP9 alpha in WebM (BlockAdditional)
                current["alpha"] = True
            continue
        s = {"index": int(m.group(1)), "type": m.group(2).lower(), "codec": m.group(3),
             "duration": None, "packets": 0}
        if s["type"] == "video":
            if (sz := _SIZE_RE.search(line)):
                s["width"], s["height"] = int(sz.group(1)), int(sz.group(2))
            if (f := _FPS_RE.search(line)):
                s["fps"] = float(f.group(1))
            pix = _PIX_RE.search(line)
            s["pix_fmt"] = pix.group(1) if pix else None
            s["alpha"] = bool(pix) and pix.group(1).startswith(("yuva", "rgba", "argb", "bgra", "abgr", "gbrap",
                                                                  "ya"))
        elif s["type"] == "audio":
            if (r := _RATE_RE.search(line)):
                s["sample_rate"] = int(r.group(1))
                layout = r.group(2)
                s["channels"] = {"mono": 1, "stereo": 2}.get(layout, layout)
        streams[s["index"]] = current = s
    if not streams:
        last = [ln for ln in info.strip().splitlines() if ln.strip()]
        raise InputError(f"cannot read media file {path.name}: {last[-1] if last else 'no streams'}")
    dm = _DUR_RE.search(info)
    container = int(dm.group(1)) * 3600 + int(dm.group(2)) * 60 + float(dm.group(3)) if dm else None

    crc = subprocess.run([exe, "-nostdin", "-v", "error", "-i", str(path), "-map", "0", "-c", "copy",
                          "-f", "framecrc", "-"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         check=False).stdout.decode("utf-8", "replace")
    tb: dict[int, Fraction] = {}
    span: dict[int, list[int]] = {}
    for line in crc.splitlines():
        if line.startswith("#tb "):
            k, v = line[4:].split(":")
            tb[int(k)] = Fraction(v.strip())
        elif line and not line.startswith("#"):
            parts = [p.strip() for p in line.split(",")]
            if len(parts) < 5:
                continue
            i, pts, dur = int(parts[0]), int(parts[2]), int(parts[3])
            lo_hi = span.setdefault(i, [pts, pts + dur, 0])
            lo_hi[0] = min(lo_hi[0], pts)
            lo_hi[1] = max(lo_hi[1], pts + dur)
            lo_hi[2] += 1
    for i, (lo, hi, n) in span.items():
        if i in streams and i in tb:
            streams[i]["duration"] = float((hi - max(lo, 0)) * tb[i])
            streams[i]["packets"] = n
    listed = [streams[k] for k in sorted(streams)]
    first = {t: next((s for s in listed if s["type"] == t), None) for t in ("video", "audio")}
    return {"duration": container, "streams": listed, "video": first["video"], "audio": first["audio"]}
