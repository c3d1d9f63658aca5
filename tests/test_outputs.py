"""Output checks and atomic finalisation (models/outputs.py) on real file systems, incl. full and read-only
ones; ``render --save-openpose`` and concurrent renders through the real command line."""
from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from dancepose.models.errors import OutputError, ParameterError
from dancepose.models.outputs import (atomic_output, atomic_output_dir, check_output_dir, check_output_file,
                                      temp_name)


def _temps(folder):
    """Hidden temporaries left in ``folder`` (``.<name>.part-…``)."""
    return [p.name for p in folder.iterdir() if p.name.startswith(".") and ".part" in p.name]


def test_checks_create_nothing_and_writers_make_their_folders(tmp_path):
    """Issue 17: failed evaluate/live runs left empty folders, made by the checks.  The checks create
    nothing; the writer makes the folders, and removes them again when it fails."""
    p = check_output_file(tmp_path / "a" / "b" / "x.mp4", suffixes=(".mp4",))
    d = check_output_dir(tmp_path / "c" / "d")
    assert not p.parent.exists() and not d.exists() and sorted(os.listdir(tmp_path)) == []
    with pytest.raises(RuntimeError):
        with atomic_output(p) as tmp:
            tmp.write_bytes(b"x")
            raise RuntimeError("the work failed")
    assert os.listdir(tmp_path) == []
    with atomic_output(p) as tmp:
        tmp.write_bytes(b"x")
    assert p.read_bytes() == b"x"


def test_wrong_extension_is_a_parameter_error(tmp_path):
    with pytest.raises(ParameterError, match=r"\.mp4"):
        check_output_file(tmp_path / "x.png", suffixes=(".mp4",), what="video")


def test_path_under_a_file(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(OutputError, match="not a directory"):
        check_output_file(f / "out.mp4")
    with pytest.raises(OutputError, match="not a directory"):
        check_output_dir(f / "sub")
    with pytest.raises(OutputError, match="not a directory"):
        check_output_dir(f)


def test_device_and_directory_are_refused(tmp_path):
    with pytest.raises(OutputError, match="not a regular file"):
        check_output_file("/dev/full")
    with pytest.raises(OutputError, match="directory"):
        check_output_file(tmp_path)


def test_free_space_estimate(tmp_path):
    with pytest.raises(OutputError, match="free space"):
        check_output_file(tmp_path / "x.mp4", expected_bytes=1 << 60)


def test_atomic_output_renames_only_when_complete(tmp_path):
    out = tmp_path / "x.npz"
    with atomic_output(out) as tmp:
        np.savez(tmp, a=np.arange(3))
        assert tmp.exists() and not out.exists()
    assert out.exists() and _temps(tmp_path) == []
    with pytest.raises(RuntimeError):
        with atomic_output(out) as tmp:
            np.savez(tmp, a=np.arange(5))
            raise RuntimeError("boom")
    assert np.load(out)["a"].shape == (3,)  # the old file is untouched
    assert _temps(tmp_path) == []


def test_verify_failure_discards(tmp_path):
    out = tmp_path / "x.bin"

    def bad(p):
        raise OutputError("probe failed")

    with pytest.raises(OutputError):
        with atomic_output(out, verify=bad) as tmp:
            tmp.write_bytes(b"abc")
    assert not out.exists() and _temps(tmp_path) == []


def test_atomic_output_dir(tmp_path):
    out = tmp_path / "model"
    with atomic_output_dir(out) as tmp:
        (tmp / "a.txt").write_text("1")
    with pytest.raises(KeyboardInterrupt):
        with atomic_output_dir(out) as tmp:
            (tmp / "a.txt").write_text("2")
            raise KeyboardInterrupt
    assert (out / "a.txt").read_text() == "1"
    assert sorted(os.listdir(tmp_path)) == ["model"] and os.listdir(out) == ["a.txt"]


def test_folder_output_never_removes_what_else_is_there(tmp_path, monkeypatch):
    """Issue 17: ``atomic_output_dir`` swapped out the whole folder (``--save-openpose show`` deleted the song,
    the MP4 and a document in ``show/``; ``build-default -o`` the same).  Now it writes its own files into
    the folder: same-named files are replaced, everything else stays; ``.`` works."""
    show = tmp_path / "show"
    (show / "sub").mkdir(parents=True)
    for name, text in (("song.wav", "song"), ("notes.txt", "doc"), ("a.txt", "old"), ("sub/keep", "k")):
        (show / name).write_text(text)
    with atomic_output_dir(show) as tmp:
        (tmp / "a.txt").write_text("new")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "b.txt").write_text("b")
        assert sorted(os.listdir(show)) == sorted(["song.wav", "notes.txt", "a.txt", "sub", tmp.name])
    assert (show / "song.wav").read_text() == "song" and (show / "notes.txt").read_text() == "doc"
    assert (show / "a.txt").read_text() == "new" and (show / "sub" / "keep").read_text() == "k"
    assert (show / "sub" / "b.txt").read_text() == "b" and _temps(show) == []
    monkeypatch.chdir(show)
    with atomic_output_dir(".") as tmp:
        (tmp / "c.txt").write_text("c")
    assert sorted(os.listdir(show)) == ["a.txt", "c.txt", "notes.txt", "song.wav", "sub"]
    # a failure leaves the folder as it was
    with pytest.raises(KeyboardInterrupt):
        with atomic_output_dir(show) as tmp:
            (tmp / "a.txt").write_text("half")
            raise KeyboardInterrupt
    assert (show / "a.txt").read_text() == "new" and _temps(show) == []
    # a regular file where the folder should be: an error, the file untouched
    with pytest.raises(OutputError, match="not a directory"):
        with atomic_output_dir(show / "notes.txt"):
            pass
    assert (show / "notes.txt").read_text() == "doc"


def test_concurrent_writers_never_share_a_temporary(tmp_path):
    """Issue 17: two renders to one path shared ``.out.mp4.part.mp4``; the second removed the first's and
    the loser failed with "No such file or directory".  Two interleaved writers now both finish."""
    out = tmp_path / "out.bin"
    with atomic_output(out) as a:
        a.write_bytes(b"first")
        with atomic_output(out) as b:
            assert a != b
            b.write_bytes(b"second")
        assert a.read_bytes() == b"first"
    assert out.read_bytes() == b"first" and _temps(tmp_path) == []
    barrier = threading.Barrier(4)
    errors = []

    def write(k):
        try:
            with atomic_output(out) as t:
                t.write_bytes(b"%d" % k)
                barrier.wait(timeout=10)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and out.read_bytes() in {b"0", b"1", b"2", b"3"} and _temps(tmp_path) == []


def test_a_dead_writers_temporary_is_swept(tmp_path):
    """A writer killed with SIGKILL leaves its temporary; the next check of that output removes it (only
    temporaries of processes that no longer run on this host)."""
    out = tmp_path / "x.bin"
    code = ("import os, sys; from dancepose.models.outputs import atomic_output\n"
            f"with atomic_output({str(out)!r}) as t:\n    t.write_bytes(b'x'); os._exit(9)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    assert len(_temps(tmp_path)) == 1 and not out.exists()
    alive = temp_name(out)  # this process's own, still being written
    alive.write_bytes(b"mine")
    check_output_file(out)  # the check before the work sweeps
    with atomic_output(out) as t:
        t.write_bytes(b"y")
    assert out.read_bytes() == b"y" and _temps(tmp_path) == [alive.name]


def test_read_only_disk_is_refused_before_work(small_disk):
    ro = small_disk("1M", read_only=True)
    with pytest.raises(OutputError, match="read-only"):
        check_output_dir(ro / "json")
    with pytest.raises(OutputError, match="read-only"):
        check_output_file(ro / "x.mp4")


@pytest.fixture
def full_disk(small_disk):
    """A 1 MiB tmpfs (needs root; skipped otherwise)."""
    return small_disk("1M")


def test_full_disk_becomes_one_output_error_and_leaves_nothing(full_disk):
    out = full_disk / "big.npz"
    with pytest.raises(OutputError, match="no space left"):
        with atomic_output(out) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(os.urandom(2 << 20))
    assert os.listdir(full_disk) == []


# ------------------------------------------------------------------------- through the command line
def _song(shared, folder, seconds=3.0):
    from dancepose.models.audio import ffmpeg_exe

    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "song.wav"
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-ss", "30", "-t", str(seconds), "-i",
                    str(shared / "dance_with_melody" / "DANCE_C_6" / "audio.mp3"), str(out)], check=True)
    return out


def _render(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "dancepose.offline.cli", "render", *map(str, args),
                           "--size", "160x120", "-q"], capture_output=True, text=True, timeout=300, cwd=cwd)


def _one_line(err):
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_save_openpose_into_the_folder_of_the_song_keeps_everything(shared_data, tmp_path):
    """The issue's command: ``render show/song.wav -o show/out.mp4 --style openpose --save-openpose show``
    exited 0 leaving only the JSON files in ``show/``.  Now the song, the MP4 and the document stay."""
    show = tmp_path / "show"
    song = _song(shared_data, show)
    (show / "notes.txt").write_text("an unrelated document")
    r = _render(song, "-o", show / "out.mp4", "--style", "openpose", "--save-openpose", show)
    assert r.returncode == 0, r.stderr
    names = sorted(os.listdir(show))
    frames = [n for n in names if n.endswith("_keypoints.json")]
    assert len(frames) == 90 and sorted(set(names) - set(frames)) == ["notes.txt", "out.mp4", "song.wav"]
    assert (show / "notes.txt").read_text() == "an unrelated document"
    # `--save-openpose .` (a traceback before) writes into the working folder
    r = _render("song.wav", "-o", "out2.mp4", "--save-openpose", ".", cwd=show)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert sorted(set(os.listdir(show)) - set(frames)) == ["notes.txt", "out.mp4", "out2.mp4", "song.wav"]


def test_save_openpose_bad_folders_fail_before_the_render(shared_data, tmp_path, small_disk):
    """An existing file as DIR (silently replaced by a folder before), DIR under a file, a read-only DIR and
    a disk without room fail at once with one line and exit 6 — before the render (no MP4, no temporary)."""
    song = _song(shared_data, tmp_path / "in", seconds=10.0)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    doc = tmp_path / "doc.txt"
    doc.write_text("keep me")
    full = small_disk("1M")
    (full / "filler").write_bytes(b"\0" * 900_000)  # 10 s at 30 fps: 300 files need about 1.2 MB
    ro = small_disk("1M", read_only=True)
    for target, message in ((doc, "not a directory"), (doc / "json", "not a directory"),
                            (ro / "json", "read-only"), (full / "json", "not enough free space")):
        r = _render(song, "-o", out_dir / "out.mp4", "--save-openpose", target)
        assert r.returncode == 6 and message in _one_line(r.stderr), (target, r.stderr)
        assert os.listdir(out_dir) == [], (target, os.listdir(out_dir))  # the render never started
    assert doc.read_text() == "keep me" and os.listdir(full) == ["filler"]


def test_two_renders_to_one_path_both_finish(shared_data, tmp_path):
    """Two renders to one path shared one temporary name; the loser failed with "No such file or
    directory".  Now each has its own and both exit 0 (the last to finish is the file)."""
    from dancepose.models.outputs import verify_media

    song = _song(shared_data, tmp_path / "in", seconds=4.0)
    out = tmp_path / "same.mp4"
    cmd = [sys.executable, "-m", "dancepose.offline.cli", "render", str(song), "-o", str(out), "--size",
           "160x120", "-q"]
    procs = [subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    verify_media(out, video=True, audio=True, duration=4.0)
    assert sorted(os.listdir(tmp_path)) == ["in", "same.mp4"]


@pytest.mark.slow
def test_build_default_writes_its_files_into_the_folder_and_keeps_the_rest(shared_data, tmp_path):
    """``build-default -o DIR`` used the same folder swap: everything else in DIR was deleted.  Now the
    dancer's files are replaced and the rest stays; a bad -o fails before extraction and training."""
    from dancepose.offline.default import build_default
    from dancepose.offline.train import TrainConfig

    shared = tmp_path / "shared"
    (shared / "dance_with_melody").mkdir(parents=True)
    (shared / "dance_with_melody" / "DANCE_C_6").symlink_to(shared_data / "dance_with_melody" / "DANCE_C_6")
    model = tmp_path / "model"
    model.mkdir()
    (model / "README.txt").write_text("my notes on this dancer")
    (model / "config.json").write_text("{}")
    build_default(shared=shared, out_dir=model, epochs=1, cfg=TrainConfig(windows_per_epoch=64), quiet=True)
    assert sorted(os.listdir(model)) == ["README.txt", "config.json", "dancer.npz", "loss.png"]
    assert (model / "README.txt").read_text() == "my notes on this dancer"
    assert (model / "config.json").read_text() != "{}"
    r = subprocess.run([sys.executable, "-m", "dancepose.offline.cli", "build-default", str(shared), "-o",
                        str(model / "README.txt" / "m")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 6 and "not a directory" in _one_line(r.stderr)


def test_failed_runs_leave_no_empty_folders(tmp_path):
    """Failed ``evaluate -o new/rep`` and ``dancepose-live --log-* new/…`` runs left the folders the output
    checks had made.  The checks create nothing now."""
    from live_helpers import live_cmd, live_env

    bad = tmp_path / "bad.pose.npz"
    bad.write_bytes(b"not a pose file")  # found, but fails once the evaluation has started
    r = subprocess.run([sys.executable, "-m", "dancepose.offline.cli", "evaluate", "bad.pose.npz", "-o",
                        "new/rep", "-q"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 3 and "bad.pose.npz" in _one_line(r.stderr)
    bad.unlink()
    r = subprocess.run(live_cmd("--input", "missing.wav", "--headless", "--log-timings", "new2/t.csv",
                                "--log-poses", "new3/p.npz", "--record", "new4/r.mp4", "--save-openpose",
                                "new5/json"),
                       capture_output=True, text=True, timeout=300, cwd=tmp_path, env=live_env())
    assert r.returncode == 3 and "missing.wav" in _one_line(r.stderr)
    assert os.listdir(tmp_path) == []
