"""Output checks and atomic finalisation (models/outputs.py) on real file systems, incl. a full one."""
from __future__ import annotations

import os

import numpy as np
import pytest

from dancepose.models.errors import OutputError, ParameterError
from dancepose.models.outputs import (atomic_output, atomic_output_dir, check_output_dir, check_output_file,
                                      temp_name)


def test_check_output_file_accepts_new_path_and_creates_folder(tmp_path):
    p = check_output_file(tmp_path / "a" / "b" / "x.mp4", suffixes=(".mp4",))
    assert p.parent.is_dir() and not p.exists()


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
    assert out.exists() and not temp_name(out).exists()
    with pytest.raises(RuntimeError):
        with atomic_output(out) as tmp:
            np.savez(tmp, a=np.arange(5))
            raise RuntimeError("boom")
    assert np.load(out)["a"].shape == (3,)  # the old file is untouched
    assert not temp_name(out).exists()


def test_verify_failure_discards(tmp_path):
    out = tmp_path / "x.bin"

    def bad(p):
        raise OutputError("probe failed")

    with pytest.raises(OutputError):
        with atomic_output(out, verify=bad) as tmp:
            tmp.write_bytes(b"abc")
    assert not out.exists() and not temp_name(out).exists()


def test_atomic_output_dir(tmp_path):
    out = tmp_path / "model"
    with atomic_output_dir(out) as tmp:
        (tmp / "a.txt").write_text("1")
    with pytest.raises(KeyboardInterrupt):
        with atomic_output_dir(out) as tmp:
            (tmp / "a.txt").write_text("2")
            raise KeyboardInterrupt
    assert (out / "a.txt").read_text() == "1"
    assert sorted(os.listdir(tmp_path)) == ["model"]


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
