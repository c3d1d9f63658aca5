"""Shared fixtures: real data from ../shared/data (skipped cleanly when absent), headless SDL."""
from __future__ import annotations

import fcntl
import os
import tempfile
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

#: The modules that run live shows, use the microphone or a browser, or measure time.  On two workers
#: (``-n 2``) each of their tests has the machine to itself: it takes the turns lock exclusively, every
#: other test takes it shared, so offline tests run two at a time and never beside a show.
SHOW_MODULES = frozenset({
    "test_audio", "test_audio_in", "test_beat_live", "test_cli_common", "test_link", "test_live",
    "test_live_mic", "test_osc", "test_recorder", "test_recording", "test_reliability", "test_serve",
    "test_tempo",
})
#: The longest offline modules, first, so that no worker is left with a long one at the end (seconds in one
#: process on the 2-core CI machine: Ray 127, extraction 104, learn 45, memory 35).
LONG_FIRST = ("test_ray_extract", "test_extract", "test_learn", "test_memory", "test_evaluate", "test_train",
              "test_window", "test_moves", "test_run")
TURNS = pytest.StashKey[object]()


def pytest_collection_modifyitems(config, items):
    """The run order: :data:`LONG_FIRST`, the other offline modules as collected, the shows last.  With
    ``--dist loadfile --no-loadscope-reorder`` it is the order in which the workers get the modules."""
    rank = {m: i for i, m in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: len(rank) + 1 if item.path.stem in SHOW_MODULES
               else rank.get(item.path.stem, len(rank)))


def pytest_configure(config):
    """On an xdist worker: open the run's turns lock (one file per run, shared by its workers)."""
    worker = getattr(config, "workerinput", None)
    if worker is not None:
        path = Path(tempfile.gettempdir()) / f"dancepose-tests-{worker['testrunuid']}.turns"
        config.stash[TURNS] = open(path, "ab")  # noqa: SIM115 -- closed in pytest_unconfigure


def pytest_unconfigure(config):
    turns = config.stash.get(TURNS, None)
    if turns is not None:
        turns.close()
        Path(turns.name).unlink(missing_ok=True)  # the other worker keeps its own handle


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    """A test's turn, set-up and teardown included: alone for :data:`SHOW_MODULES`, else shared."""
    turns = item.config.stash.get(TURNS, None)
    if turns is None:
        yield
        return
    fcntl.flock(turns, fcntl.LOCK_EX if item.path.stem in SHOW_MODULES else fcntl.LOCK_SH)
    try:
        yield
    finally:
        fcntl.flock(turns, fcntl.LOCK_UN)


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
