"""Reliability: one policy for bad items in a batch, inputs checked before work, outputs never half-written.

Real files, real training, real processes and signals; full disks are real 1 MiB tmpfs mounts.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from dancepose.models.errors import InputError
from dancepose.offline.dataset import load_songs
from dancepose.offline.train import TrainConfig, train_dancer

SONG = "DANCE_C_6"


def _bad_pose_files(folder):
    """Three broken pose files, each broken differently."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "garbage.pose.npz").write_bytes(b"not a zip archive at all")
    np.savez(folder / "wrongformat.pose.npz", format=np.str_("something-else"))
    np.savez(folder / "nokeys.pose.npz", format=np.str_("dancepose-pose"), version=np.int32(1))
    return sorted(folder.glob("*.pose.npz"))


def test_load_songs_carries_on_past_bad_files(shared_data, tmp_path, capsys):
    bad = _bad_pose_files(tmp_path / "bad")
    songs = load_songs([bad[0], shared_data / "dance_with_melody" / SONG, *bad[1:]], quiet=True)
    assert [s.name for s in songs] == [SONG]
    assert len(songs.failed) == 3 and all(f.split(":")[0] in {b.name for b in bad} for f in songs.failed)
    err = capsys.readouterr().err.splitlines()
    assert len([ln for ln in err if ln.startswith("dancepose: skipped")]) == 3
    assert "Traceback" not in "\n".join(err)
    with pytest.raises(InputError, match="no training data could be read"):
        load_songs(bad, quiet=True)
    with pytest.raises(InputError):  # one named item: its own error at once
        load_songs([bad[2]], quiet=True)


@pytest.mark.slow
def test_train_skips_a_bad_pose_file_then_exits_nonzero(shared_data, tmp_path, capsys):
    """A bad pose file among good data: the model is trained and written, the run ends non-zero."""
    bad = _bad_pose_files(tmp_path / "bad")[:1]
    out = tmp_path / "model"
    with pytest.raises(InputError, match=r"1 skipped: garbage\.pose\.npz"):
        train_dancer(data=[shared_data / "dance_with_melody" / SONG, *bad], out_dir=out, epochs=1, seed=0,
                     val_songs=0, cfg=TrainConfig(windows_per_epoch=64), quiet=True)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["summary"]["train_songs"] == [SONG]
