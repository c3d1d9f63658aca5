"""``dancepose extract`` with real MediaPipe on the shared dance clips and photos; resume; bad input."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from dancepose.models.errors import InputError
from dancepose.models.posefile import MISSING, OBSERVED, PoseSequence
from dancepose.models.skeleton import Joint
from dancepose.offline.backends import Person
from dancepose.offline.cli import main
from dancepose.offline.extract import MainPersonTracker, extract_pose, extract_video

DANCEPOSE = Path(sys.executable).with_name("dancepose")


@pytest.fixture(scope="module")
def video(shared_data) -> Path:
    return shared_data / "dance_videos" / "dancer_fullbody_70s.mp4"


@pytest.fixture(scope="module")
def full_run(video, tmp_path_factory) -> PoseSequence:
    """The whole 70 s clip through MediaPipe (≈ 30 s on 2 cores), once for the module."""
    out = tmp_path_factory.mktemp("full")
    paths = extract_pose(sources=[video], out_dir=out, quiet=True)
    assert paths == [out / "dancer_fullbody_70s.pose.npz"]
    assert not (out / "dancer_fullbody_70s.pose.partial.npz").exists()
    return PoseSequence.load(paths[0])


# --------------------------------------------------------------------------------- real video
@pytest.mark.slow
def test_video_pose_track(full_run, video):
    seq = full_run
    cap = cv2.VideoCapture(str(video))
    n_frames, fps = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    assert abs(len(seq) - n_frames) <= 2
    assert seq.fps == pytest.approx(fps)
    assert seq.image_size == (320, 240)
    assert "backend=mediapipe" in seq.source and "dancer_fullbody_70s.mp4" in seq.source
    present = (seq.flags != MISSING).any(axis=1)
    assert present.mean() > 0.90
    # geometry: head above pelvis above ankles (y down), inside the frame
    ok = (seq.flags[:, Joint.HEAD] != MISSING) & (seq.flags[:, Joint.PELVIS] != MISSING)
    assert ok.mean() > 0.85
    head_y, pelvis_y = seq.keypoints[ok, Joint.HEAD, 1], seq.keypoints[ok, Joint.PELVIS, 1]
    assert (head_y < pelvis_y).mean() > 0.95
    ank = (seq.flags[:, Joint.L_ANKLE] != MISSING) & (seq.flags[:, Joint.PELVIS] != MISSING)
    assert (seq.keypoints[ank, Joint.L_ANKLE, 1] > seq.keypoints[ank, Joint.PELVIS, 1]).mean() > 0.9
    vis = seq.flags == OBSERVED
    xy = seq.keypoints[vis]
    assert ((xy[:, 0] > -10) & (xy[:, 0] < 330) & (xy[:, 1] > -10) & (xy[:, 1] < 250)).mean() > 0.99
    # one dancer, followed smoothly: per-frame pelvis jumps are small compared with the body
    both = ok[1:] & ok[:-1]
    jumps = np.linalg.norm(np.diff(seq.keypoints[:, Joint.PELVIS], axis=0), axis=-1)[both]
    torso = np.nanmedian(np.linalg.norm(seq.keypoints[:, Joint.NECK] - seq.keypoints[:, Joint.PELVIS], axis=-1))
    assert np.percentile(jumps, 99) < 0.5 * torso
    assert np.isnan(seq.keypoints[seq.flags == MISSING]).all()


def test_images_directory(shared_data, tmp_path):
    images = shared_data / "images"
    paths = extract_pose(sources=[images], out_dir=tmp_path, quiet=True, overlay=True)
    names = {p.name for p in paths}
    for name in ("apink1", "golf", "p1", "p3_dance"):
        assert f"{name}.pose.npz" in names
    for p in paths:
        seq = PoseSequence.load(p)
        stem = p.name[: -len(".pose.npz")]
        img = cv2.imread(str(next(images.glob(stem + ".*"))))
        assert len(seq) == 1 and seq.image_size == (img.shape[1], img.shape[0])
        head, pelvis = seq.keypoints[0, Joint.HEAD], seq.keypoints[0, Joint.PELVIS]
        assert np.isfinite(head).all() and np.isfinite(pelvis).all(), stem
        assert head[1] < pelvis[1], stem
        assert 0 <= pelvis[0] < img.shape[1] and 0 <= pelvis[1] < img.shape[0]
        overlay = cv2.imread(str(tmp_path / f"{stem}.overlay.png"))
        assert overlay.shape == img.shape
        assert (np.abs(overlay.astype(int) - img).sum(-1) > 60).mean() > 0.001   # a skeleton was drawn


def test_video_overlay_and_openpose_json(video, tmp_path):
    paths = extract_pose(sources=[video], out_dir=tmp_path, quiet=True, overlay=True, openpose_json=True,
                         max_frames=60)
    seq = PoseSequence.load(paths[0])
    assert len(seq) == 60
    cap = cv2.VideoCapture(str(tmp_path / "dancer_fullbody_70s.overlay.mp4"))
    frames = 0
    while cap.read()[0]:
        frames += 1
    assert frames == 60 and cap.get(cv2.CAP_PROP_FRAME_WIDTH) == 320
    cap.release()
    js = sorted((tmp_path / "dancer_fullbody_70s.openpose").glob("*_keypoints.json"))
    assert len(js) == 60
    back = PoseSequence.from_openpose_json(tmp_path / "dancer_fullbody_70s.openpose", fps=seq.fps,
                                           image_size=seq.image_size)
    ok = np.isfinite(seq.keypoints[:, Joint.NECK]).all(-1)
    np.testing.assert_allclose(back.keypoints[ok, Joint.NECK], seq.keypoints[ok, Joint.NECK], atol=1e-3)
    assert not list(tmp_path.glob("*.part*"))


def test_resume_after_interrupt(video, tmp_path, capsys):
    ref = PoseSequence.load(extract_video(path=video, out_dir=tmp_path / "ref", quiet=True, max_frames=360))

    def interrupt(index: int) -> None:
        if index == 329:
            raise KeyboardInterrupt

    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        extract_video(path=video, out_dir=out, quiet=True, max_frames=360, checkpoint_every=40,
                      on_frame=interrupt)
    ckpt = out / "dancer_fullbody_70s.pose.partial.npz"
    assert ckpt.is_file() and not (out / "dancer_fullbody_70s.pose.npz").exists()
    with np.load(ckpt) as d:
        assert d["counts"].shape == (330,)             # every frame done, saved on the interrupt

    seen: list[int] = []
    seq = PoseSequence.load(extract_video(path=video, out_dir=out, quiet=False, max_frames=360,
                                          on_frame=seen.append))
    assert "330 frames saved, continuing at frame 300" in capsys.readouterr().err
    assert seen[0] == 300 and seen[-1] == 359       # from the start of the 10-s state block (300 frames)
    assert not ckpt.exists()
    assert len(seq) == len(ref) == 360
    # the detector starts afresh at every block in every run, and tracking and smoothing ran over the
    # whole video: the same file, bit for bit
    np.testing.assert_array_equal(seq.flags, ref.flags)
    np.testing.assert_array_equal(seq.keypoints, ref.keypoints)
    np.testing.assert_array_equal(seq.confidence, ref.confidence)


def test_a_block_start_keeps_the_dancer_of_the_block_before(two_dancers):
    """Two dancers side by side: starting afresh at frame 300, MediaPipe looking at the whole frame takes
    the other one; looking again inside the first dancer's box keeps them (the rule every run applies)."""
    from dancepose.offline.backends import make_detector
    from dancepose.offline.extract import continued, detect_frames, last_dancer
    from dancepose.offline.video import iter_frames

    video = two_dancers
    frames: list = []
    detect_frames(path=video, backend="mediapipe", openpose_model=None, start=0, stop=310, block=300,
                  into=frames)
    before = last_dancer(frames[:300])
    assert before and continued(before, frames[300])
    with make_detector("mediapipe") as det:                         # the first look alone
        first = det.process(next(iter_frames(video, start=300, stop=301, seek=True))[1])
    assert first and not continued(before, first), "the whole-frame look kept the dancer: no test"
    side = [np.nanmedian(f[0].points[:, 0]) < 360 for f in frames[290:310] if f]
    assert len(set(side)) == 1                                      # one dancer throughout


def test_existing_outputs_are_skipped_unless_forced(shared_data, tmp_path):
    img = shared_data / "images" / "p1.jpg"
    (first,) = extract_pose(sources=[img], out_dir=tmp_path, quiet=True)
    stamp = first.stat().st_mtime_ns
    extract_pose(sources=[img], out_dir=tmp_path, quiet=True)
    assert first.stat().st_mtime_ns == stamp
    extract_pose(sources=[img], out_dir=tmp_path, quiet=True, force=True)
    assert first.stat().st_mtime_ns != stamp


# --------------------------------------------------------------------------------- tracker
def _person(x0: float, y0: float, w: float, h: float) -> Person:
    pts = np.array([[x0, y0], [x0 + w, y0 + h], [x0 + w / 2, y0 + h / 2]], np.float32)
    return Person(points=pts, confidence=np.ones(3, np.float32))


def test_tracker_keeps_the_main_dancer():
    tr = MainPersonTracker(image_size=(640, 480))
    main_p, side = _person(270, 100, 100, 300), _person(10, 100, 60, 200)
    assert tr.select([side, main_p]) is main_p               # largest, central
    for step in range(1, 20):                                  # main drifts left, a bigger person enters
        moving = _person(270 - 5 * step, 100, 100, 300)
        big = _person(450, 20, 180, 440)
        assert tr.select([big, moving]) is moving
    for _ in range(3):                                         # a few frames without anyone: still locked
        assert tr.select([]) is None
    assert tr.select([_person(520, 20, 110, 440), _person(180, 100, 100, 300)]).points[0, 0] == 180


# --------------------------------------------------------------------------------- bad input
def _assert_one_line_error(rc: int, err: str, out_dir: Path) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc != 0
    assert len(lines) == 1, err
    assert lines[0].startswith("dancepose: error: ") and "Traceback" not in err
    assert not list(out_dir.glob("*.pose.npz")) if out_dir.exists() else True


@pytest.mark.parametrize("kind", ["missing", "text_as_mp4", "unsupported"])
def test_cli_bad_paths_subprocess(tmp_path, kind):
    src = tmp_path / {"missing": "nothere.mp4", "text_as_mp4": "notes.mp4", "unsupported": "notes.txt"}[kind]
    if kind != "missing":
        src.write_text("this is not a video\n")
    out = tmp_path / "out"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    r = subprocess.run([str(DANCEPOSE), "extract", str(src), "-o", str(out)], capture_output=True, text=True,
                       env=env, timeout=120)
    _assert_one_line_error(r.returncode, r.stderr, out)


def test_cli_truncated_video(video, tmp_path, capfd):
    bad = tmp_path / "cut.mp4"
    bad.write_bytes(video.read_bytes()[:250_000])
    out = tmp_path / "out"
    rc = main(["extract", str(bad), "-o", str(out), "-q"])
    _assert_one_line_error(rc, capfd.readouterr().err, out)
    assert not list(out.glob("*"))


def test_cli_nobody_in_image(tmp_path, capfd):
    img = tmp_path / "wall.png"
    cv2.imwrite(str(img), np.full((360, 480, 3), (60, 140, 200), np.uint8))
    out = tmp_path / "out"
    rc = main(["extract", str(img), "-o", str(out), "--overlay"])
    _assert_one_line_error(rc, capfd.readouterr().err, out)
    assert not list(out.glob("*")) if out.exists() else True
    with pytest.raises(InputError, match="nobody"):
        extract_pose(sources=[img], out_dir=out, quiet=True)


def test_cli_openpose_without_model(tmp_path, shared_data, capfd):
    rc = main(["extract", str(shared_data / "images" / "p1.jpg"), "-o", str(tmp_path), "--backend", "openpose"])
    _assert_one_line_error(rc, capfd.readouterr().err, tmp_path)
    assert rc == 2


# ------------------------------------------------------------------ issue 11: checkpoints, signals, outputs
@pytest.fixture(scope="module")
def short_video(shared_data) -> Path:
    return shared_data / "dance_videos" / "dancer_nomusic_2s.mp4"


def _interrupt_at(frame: int):
    def hook(index: int) -> None:
        if index == frame:
            raise KeyboardInterrupt
    return hook


def test_corrupt_checkpoint_is_discarded_and_force_clears_it(short_video, tmp_path, capfd):
    ckpt = tmp_path / "dancer_nomusic_2s.pose.partial.npz"
    with pytest.raises(KeyboardInterrupt):
        extract_video(path=short_video, out_dir=tmp_path, quiet=True, on_frame=_interrupt_at(29))
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])          # a checkpoint cut short (a crash, a full disk)
    capfd.readouterr()
    seen: list[int] = []
    seq = PoseSequence.load(extract_video(path=short_video, out_dir=tmp_path, quiet=True, on_frame=seen.append))
    err = capfd.readouterr().err
    assert "discarding the checkpoint (unreadable" in err and "Traceback" not in err
    assert seen[0] == 0 and len(seq) == seen[-1] + 1 and not ckpt.exists()

    # --force: a good checkpoint is not resumed from but deleted
    with pytest.raises(KeyboardInterrupt):
        extract_video(path=short_video, out_dir=tmp_path, quiet=True, on_frame=_interrupt_at(29))
    assert ckpt.is_file()
    seen.clear()
    rc = main(["extract", str(short_video), "-o", str(tmp_path), "--force", "-q"])
    assert rc == 0 and not ckpt.exists()
    again = PoseSequence.load(tmp_path / "dancer_nomusic_2s.pose.npz")
    np.testing.assert_allclose(again.keypoints, seq.keypoints, atol=1e-3, equal_nan=True)


@pytest.mark.parametrize("where", ["under_a_file", "onto_a_file"])
def test_output_folder_checked_before_any_work(short_video, tmp_path, capfd, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder\n")
    out = blocker / "out" if where == "under_a_file" else blocker
    rc = main(["extract", str(short_video), "-o", str(out)])
    err = capfd.readouterr().err
    assert rc == 6, err
    assert [ln for ln in err.splitlines() if ln.strip()] == [err.strip()] and "not a directory" in err
    assert blocker.read_text() == "a file, not a folder\n"


def test_batch_with_a_corrupt_video_carries_on(short_video, tmp_path, capfd):
    src = tmp_path / "videos"
    src.mkdir()
    (src / "a_good.mp4").symlink_to(short_video)
    (src / "b_corrupt.mp4").write_bytes(short_video.read_bytes()[:3000])
    out = tmp_path / "out"
    rc = main(["extract", str(src), "-o", str(out), "-q"])
    err = capfd.readouterr().err
    assert rc == 3 and "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines[0].startswith("b_corrupt.mp4: failed: ")                      # reported per item …
    assert lines[-1].startswith("dancepose: error: ") and "1 of 2 sources extracted" in lines[-1]
    assert (out / "a_good.pose.npz").is_file() and not (out / "b_corrupt.pose.npz").exists()  # … the rest done


@pytest.mark.slow
def test_sigterm_checkpoints_then_rerun_resumes(video, tmp_path):
    """A real SIGTERM to a real ``dancepose extract``: exit 143, every frame done is in the checkpoint."""
    import signal
    import time

    out = tmp_path / "out"
    cmd = [str(DANCEPOSE), "extract", str(video), "-o", str(out), "--max-frames", "900"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    ckpt = out / "dancer_fullbody_70s.pose.partial.npz"
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 300
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)                               # the periodic checkpoint at frame 300 …
    time.sleep(2.0)                                   # … and some frames after it
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "dancepose: interrupted (SIGTERM)"
    done = int(err.strip().splitlines()[-2].split("|")[-1].split("/")[0].strip().split()[-1])
    with np.load(ckpt) as d:
        assert len(d["counts"]) == done > 300         # nothing lost since the last periodic checkpoint
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    assert f"{done} frames saved, continuing at frame {done // 300 * 300}" in r.stderr
    assert len(PoseSequence.load(out / "dancer_fullbody_70s.pose.npz")) == 900 and not ckpt.exists()


def test_signals_during_library_start_are_delivered_afterwards():
    """A handler's exception raised while MediaPipe imports was swallowed by the import; now it waits."""
    import signal

    from dancepose.models.cli import Interrupted, install_signal_handlers
    from dancepose.models.cli import signals_deferred

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    install_signal_handlers()
    try:
        reached = False
        with pytest.raises(Interrupted) as info:
            with signals_deferred():
                signal.raise_signal(signal.SIGTERM)
                reached = True                          # not interrupted inside the block
        assert reached and info.value.exit_code == 143
    finally:
        for s, h in saved.items():
            signal.signal(s, h)


def test_ray_option_without_ray_installed(short_video, tmp_path):
    """``--ray`` where Ray is not installed: one line saying how to install it, exit 2, nothing done."""
    code = ("import sys; sys.modules['ray'] = None; from dancepose.offline.cli import main; "
            f"sys.exit(main(['extract', {str(short_video)!r}, '-o', {str(tmp_path / 'out')!r}, '--ray']))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert r.returncode == 2
    assert r.stderr.strip() == ('dancepose: error: --ray needs Ray, which is not installed: '
                                'pip install "dancepose[ray]"')
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------- issue 17 defects
def test_overlay_onto_a_full_disk_is_one_line(short_video, tmp_path, small_disk):
    """``extract --overlay`` onto a full disk: the encoder died and the user got a BrokenPipeError traceback.
    Now exit 6 with one line naming the overlay, and no temporary left."""
    disk = small_disk("64k")  # room for the pose file, not for the overlay video
    r = subprocess.run([str(DANCEPOSE), "extract", str(short_video), "-o", str(disk), "--overlay", "-q"],
                       capture_output=True, text=True, timeout=300)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 6 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "dancer_nomusic_2s.overlay.mp4" in lines[0] and "no space left" in lines[0]
    assert not [p for p in os.listdir(disk) if ".part" in p], os.listdir(disk)


def test_already_extracted_message_names_the_option(short_video, tmp_path, capfd):
    """The skip message said ``force=True`` (the Python keyword), not the command's ``--force``."""
    assert main(["extract", str(short_video), "-o", str(tmp_path)]) == 0
    capfd.readouterr()
    assert main(["extract", str(short_video), "-o", str(tmp_path)]) == 0
    err = capfd.readouterr().err
    assert "already extracted, skipping (--force to redo)" in err and "force=True" not in err
