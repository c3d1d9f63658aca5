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


#: Modules that run shows in real time, use the audio devices (one PulseAudio null sink), a browser, or
#: measure time.  On two pytest-xdist workers (``-n 2 --dist loadscope --no-loadscope-reorder``; the
#: README's command runs one process) they run one after another on one worker, so no two shows or
#: microphones overlap; every other module is a unit of its own (its module fixtures run once), taken by
#: whichever worker is free.  A show then has one offline test beside it.
SHOW_MODULES = frozenset({
    "test_audio", "test_audio_in", "test_beat_live", "test_cli_common", "test_link", "test_live",
    "test_live_mic", "test_osc", "test_recorder", "test_recording", "test_reliability", "test_serve",
    "test_tempo",
})
#: The longest offline modules (seconds, serial run on the 2-core CI machine), handed out first so that
#: neither worker is left with a long one at the end: Ray 127, extraction 104, learn 45, memory 35.
LONG_FIRST = ("test_ray_extract", "test_extract", "test_learn", "test_memory", "test_evaluate", "test_train",
              "test_window", "test_moves", "test_run")


def _unit(module_path: str) -> str:
    """The work unit of a test module: "show" for :data:`SHOW_MODULES`, else the module itself."""
    stem = Path(module_path).stem
    return "show" if stem in SHOW_MODULES else module_path


def pytest_collection_modifyitems(config, items):
    """On xdist workers, the order the units are handed out in (``--no-loadscope-reorder`` keeps it): the
    shows first, then :data:`LONG_FIRST`, then the rest as collected.  One process keeps the collected order."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    rank = {m: i + 1 for i, m in enumerate(LONG_FIRST)}

    def key(item) -> int:
        return 0 if _unit(str(item.path)) == "show" else rank.get(item.path.stem, len(rank) + 1)

    items.sort(key=key)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """xdist's scope scheduling with :func:`_unit` as the scope (its ``xdist_group`` marks do not reach the
    scheduler under pytest 9.2, whose node ids no longer come from ``_nodeid``)."""
    from xdist.scheduler import LoadScopeScheduling

    class ShowsOnOneWorker(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _unit(nodeid.split("::", 1)[0])

    return ShowsOnOneWorker(config, log)
