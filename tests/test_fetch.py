"""``dancepose fetch`` against a local HTTP server (127.0.0.1, ephemeral port) serving real clips.

yt-dlp's generic extractor downloads the files; nothing touches the internet.
"""
from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import threading
import wave
from pathlib import Path

import imageio_ffmpeg
import pytest

from dancepose.offline.cli import main
from dancepose.offline.fetch import ARCHIVE_NAME, NO_AUDIO, fetch_videos

CLIP = "dancer_studio_portrait_13s.mp4"  # 13.38 s, AAC audio


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):  # yt-dlp closes probe connections early
        pass


@pytest.fixture()
def server(shared_data, tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    shutil.copyfile(shared_data / "dance_videos" / CLIP, root / CLIP)
    # the same real clip with its audio stream removed (stream copy, no re-encoding)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(root / CLIP),
                    "-map", "0:v:0", "-c", "copy", str(root / "silent_video.mp4")], check=True)
    httpd = _Server(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _wav_seconds(path):
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def test_download_then_skip(server, tmp_path, capsys):
    out = tmp_path / "videos"
    links = tmp_path / "links.txt"
    links.write_text(f"# my dance videos\n\n{server}/{CLIP}\n")
    assert main(["fetch", str(links), "-o", str(out), "-q"]) == 0
    videos = sorted(out.glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size == (tmp_path / "www" / CLIP).stat().st_size
    wav = videos[0].with_suffix(".wav")
    assert _wav_seconds(wav) == pytest.approx(13.38, abs=0.1)
    assert (out / ARCHIVE_NAME).read_text().strip()
    mtime = wav.stat().st_mtime_ns

    report = fetch_videos(links=[f"{server}/{CLIP}"], out_dir=out, quiet=True)
    assert not report.ok and not report.failed
    assert [i.video for i in report.skipped] == videos
    assert wav.stat().st_mtime_ns == mtime  # not re-extracted
    assert main(["fetch", f"{server}/{CLIP}", "-o", str(out), "-q"]) == 0


def test_failing_link_reported_and_others_carry_on(server, tmp_path, capsys):
    out = tmp_path / "videos"
    bad = f"{server}/no_such_video.mp4"
    code = main(["fetch", bad, f"{server}/{CLIP}", f"{server}/silent_video.mp4", "-o", str(out), "-q"])
    assert code == 3  # a link failed: the documented exit code of bad input (it was 1)
    err = capsys.readouterr().err
    failed_lines = [ln for ln in err.splitlines() if "FAILED" in ln]
    assert len(failed_lines) == 1 and bad in failed_lines[0] and "404" in failed_lines[0]
    assert "Traceback" not in err
    assert NO_AUDIO in err
    names = sorted(p.name for p in out.iterdir())
    assert sum(n.endswith(".mp4") for n in names) == 2
    assert sum(n.endswith(".wav") for n in names) == 1  # the video without audio has no WAV

    report = fetch_videos(links=[f"{server}/silent_video.mp4", bad], out_dir=out, quiet=True)
    assert len(report.failed) == 1 and report.failed[0].link == bad
    assert len(report.skipped) == 1 and report.skipped[0].wav is None
    assert report.skipped[0].note == NO_AUDIO and not report.success


def test_bad_link_argument(tmp_path, capsys):
    assert main(["fetch", str(tmp_path / "links-missing.txt"), "-o", str(tmp_path / "o")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a URL and no such file" in err[0]


class _CutShortHandler(_Handler):
    """Serves ``/cut_short.mp4`` announcing the whole clip but closing the connection after 40 %."""

    def do_GET(self):  # noqa: N802 - http.server API
        if not self.path.endswith("/cut_short.mp4"):
            return super().do_GET()
        data = (Path(self.directory) / CLIP).read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) * 4 // 10])
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture()
def flaky_server(shared_data, tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    clip = (shared_data / "dance_videos" / CLIP).read_bytes()
    (root / CLIP).write_bytes(clip)
    (root / "truncated.mp4").write_bytes(clip[: len(clip) * 6 // 10])  # a served file that is cut short
    httpd = _Server(("127.0.0.1", 0), functools.partial(_CutShortHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}", root
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_truncated_downloads_are_not_kept_and_are_fetched_again(flaky_server, tmp_path, capsys):
    url, root = flaky_server
    out = tmp_path / "videos"
    code = main(["fetch", f"{url}/truncated.mp4", f"{url}/cut_short.mp4", f"{url}/{CLIP}", "-o", str(out),
                 "-q"])
    assert code == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err
    failed = [ln for ln in err.splitlines() if "FAILED" in ln]
    assert len(failed) == 2, err
    assert all(ln.split(": ", 2)[-1].strip() for ln in failed), failed  # each with a reason
    assert any("truncated.mp4" in ln and ("damaged" in ln or "playable" in ln) for ln in failed), failed
    assert any("cut_short.mp4" in ln for ln in failed), failed
    names = sorted(p.name for p in out.iterdir())
    assert not [n for n in names if n.endswith((".part", ".ytdl"))], names  # no leftovers
    assert [n for n in names if n.endswith(".mp4")] == [n for n in names if CLIP[:-4] in n and n.endswith(".mp4")]
    assert len((out / ARCHIVE_NAME).read_text().split()) == 2  # only the good link ("generic <id>")

    # the server now has the whole file: a rerun fetches it (the bad one was not archived)
    (root / "truncated.mp4").write_bytes((root / CLIP).read_bytes())
    report = fetch_videos(links=[f"{url}/truncated.mp4", f"{url}/{CLIP}"], out_dir=out, quiet=True)
    assert len(report.ok) == 1 and "truncated" in report.ok[0].video.name and not report.failed
    assert report.ok[0].video.stat().st_size == (root / CLIP).stat().st_size
    assert _wav_seconds(report.ok[0].wav) == pytest.approx(13.38, abs=0.1)

    # a video damaged on disk after it was fetched is fetched again, its WAV re-extracted
    good = report.skipped[0].video
    good.write_bytes(good.read_bytes()[:100_000])
    report = fetch_videos(links=[f"{url}/{CLIP}"], out_dir=out, quiet=True)
    assert len(report.ok) == 1 and report.ok[0].video == good
    assert good.stat().st_size == (root / CLIP).stat().st_size


def _cut_at_a_fragment(clip: bytes, tmp_path: Path) -> bytes:
    """The clip (a fragmented MP4) cut where the cut reads cleanly to its end: the decoder sees nothing
    wrong, only the length tells."""
    from dancepose.models.errors import OutputError
    from dancepose.models.outputs import verify_media

    probe = tmp_path / "probe.mp4"
    for frac in (0.5, 0.49, 0.51, 0.48, 0.52, 0.47, 0.53, 0.46, 0.54, 0.45):
        cut = clip[: int(len(clip) * frac)]
        probe.write_bytes(cut)
        try:
            info = verify_media(probe, video=True, audio=False)
        except OutputError:
            continue
        if info["video"]["duration"] < 10.0:
            return cut
    pytest.skip("no clean fragment boundary found in the clip")


def test_a_server_file_cut_at_a_fragment_is_not_kept(shared_data, tmp_path, capsys):
    """Issue 17: a truncated file on the server (a fragmented MP4 cut at a fragment boundary: it reads
    cleanly, just shorter) was kept at its final name and added to the download archive."""
    root = tmp_path / "www"
    root.mkdir()
    clip = (shared_data / "dance_videos" / CLIP).read_bytes()
    (root / "cut.mp4").write_bytes(_cut_at_a_fragment(clip, tmp_path))
    httpd = _Server(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    out = tmp_path / "videos"
    try:
        code = main(["fetch", f"http://127.0.0.1:{httpd.server_port}/cut.mp4", "-o", str(out), "-q"])
    finally:
        httpd.shutdown()
        httpd.server_close()
    err = capsys.readouterr().err
    assert code == 3 and "Traceback" not in err
    (line,) = [ln for ln in err.splitlines() if "FAILED" in ln]
    assert "cut short" in line, line
    assert not [p for p in out.iterdir() if p.suffix in (".mp4", ".wav", ".part")], list(out.iterdir())
    assert (out / ARCHIVE_NAME).read_text().strip() == ""


def test_a_full_disk_is_exit_6(server, small_disk, capsys):
    """A download onto a full disk: the documented output code 6, not 1."""
    disk = small_disk("256k")  # the 1.9-MB clip does not fit
    code = main(["fetch", f"{server}/{CLIP}", "-o", str(disk / "videos"), "-q"])
    err = capsys.readouterr().err
    assert code == 6 and "Traceback" not in err, err
    assert "No space left" in err or "no space left" in err
