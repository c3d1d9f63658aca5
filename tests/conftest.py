"""Shared fixtures: real data from ../shared/data (skipped cleanly when absent), headless SDL."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]


def _find_shared() -> Path | None:
    env = os.environ.get("DANCEPOSE_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates += [REPO.parent / "shared" / "data", REPO.parent.parent / "shared" / "data"]
    for c in candidates:
        if (c / "README.md").is_file():
            return c
    return None


SHARED = _find_shared()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ../shared/data; skips the test when it is not there."""
    if SHARED is None:
        pytest.skip("../shared/data is not available")
    return SHARED


@pytest.fixture(scope="session")
def two_dancers(shared_data, tmp_path_factory) -> Path:
    """A real two-dancer shot: the portrait clip beside itself mirrored and reversed (720×640, 13 s)."""
    import subprocess

    import imageio_ffmpeg

    v = str(shared_data / "dance_videos" / "dancer_studio_portrait_13s.mp4")
    out = tmp_path_factory.mktemp("two") / "two.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-i", v, "-i", v, "-filter_complex",
                    "[0:v]scale=360:640,trim=0:13,setpts=PTS-STARTPTS[a];[1:v]scale=360:640,hflip,reverse,"
                    "trim=0:13,setpts=PTS-STARTPTS[b];[a][b]hstack=inputs=2[v]", "-map", "[v]", "-an",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-g", "30", str(out)], check=True)
    return out


@pytest.fixture
def small_disk(tmp_path):
    """Factory: ``small_disk("1M")`` mounts a real tmpfs of that size (a disk that fills); needs root.
    ``small_disk("1M", read_only=True)``: a read-only one (root writes into a chmod-555 folder anyway).

    Unmounted after the test; the test is skipped where mounting is not allowed.
    """
    import subprocess

    mounts: list[Path] = []

    def mount(size: str, *, read_only: bool = False) -> Path:
        mnt = tmp_path / f"disk{len(mounts)}"
        mnt.mkdir()
        opts = f"{'ro,' if read_only else ''}size={size}"
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(mnt)], capture_output=True)
        if r.returncode != 0:
            pytest.skip("cannot mount a tmpfs here (needs root)")
        mounts.append(mnt)
        return mnt

    yield mount
    for mnt in mounts:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill_disk(folder: Path) -> None:
    import errno

    with open(folder / "filler", "wb", buffering=0) as fh:
        for chunk in (b"\0" * 65536, b"\0"):
            try:
                while True:
                    fh.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC


@pytest.fixture
def fill_disk():
    """``fill_disk(folder)``: fill the disk of ``folder`` (a :func:`small_disk`) to the last byte, a real
    ENOSPC for everyone writing there."""
    return _fill_disk
