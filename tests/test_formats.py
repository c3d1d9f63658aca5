"""Containers, codecs and real alpha: WebM (VP9 yuva420p) and ProRes 4444 written by the recorder, render
and ``--record``, decoded again with the bundled ffmpeg — transparent off the figure, opaque on it."""
from __future__ import annotations

import subprocess

import imageio_ffmpeg
import numpy as np
import pytest
from scipy import ndimage

from dancepose.models.clock import SAMPLE_RATE
from dancepose.models.dancer import DEFAULT_MODEL_DIR, Dancer
from dancepose.models.errors import ParameterError
from dancepose.models.media import draw
from dancepose.models.media.formats import (ALPHA_SUFFIXES, FORMATS, FRAME_PATTERN, decode_frames,
                                            video_format)
from dancepose.models.media.frames import PngSequenceWriter
from dancepose.models.media.probe import probe_streams
from dancepose.models.media.recorder import Mp4Recorder
from dancepose.offline.cli import main

from live_helpers import live_cmd, live_env, model_args

needs_default = pytest.mark.skipif(not (DEFAULT_MODEL_DIR / "dancer.npz").is_file(),
                                   reason="the default dancer (models/default) is not there yet")
SIZE = (320, 240)


def _figure_frames(n: int, size=SIZE, style: str = "stick") -> np.ndarray:
    """RGBA frames of the default dancer's idle sway with exact alpha (AlphaFigure)."""
    dancer = Dancer.load(None)
    st, bg = draw.look(style=style, background=draw.TRANSPARENT)
    surface = draw.make_stage(*size, background=bg)
    fig = draw.AlphaFigure(size)
    out = []
    for k in range(n):
        px = draw.pose_to_pixels(dancer.idle_pose(k / 30.0), width=size[0], height=size[1])
        fig.draw(surface, px, style=st)
        out.append(draw.surface_to_rgba(surface).copy())
    return np.stack(out)


def assert_real_alpha(decoded: np.ndarray, reference: np.ndarray, *, lossy: bool) -> None:
    """Decoded RGBA frames vs the frames given to the encoder: transparent off the figure, opaque on it,
    the figure's colours kept."""
    for got, ref in zip(decoded, reference):
        figure = ref[..., 3] > 0
        far = ~ndimage.binary_dilation(figure, iterations=4)
        core = ndimage.binary_erosion(ref[..., 3] == 255, iterations=2)
        assert far.mean() > 0.8 and core.sum() > 200
        off, on = got[..., 3][far], got[..., 3][core]
        if lossy:  # VP9's alpha plane is coded lossily: a few levels of noise (≤ 2 %) near the figure at most
            assert (off <= 4).mean() > 0.999 and off.max() <= 24, (off.max(), (off > 4).mean())
            assert (off == 0).mean() > 0.99
            assert on.min() >= 230, on.min()
        else:
            assert off.max() == 0 and on.min() == 255
        err = np.abs(got[..., :3][core].astype(int) - ref[..., :3][core]).mean()
        assert err < 8, err


def test_one_table_of_formats():
    assert set(FORMATS) == {".mp4", ".webm", ".mov"} and set(ALPHA_SUFFIXES) == {".webm", ".mov"}
    assert video_format("a/b.WEBM").video_codec == "vp9"
    assert video_format("x.mov", alpha=True).encode_args(alpha=True)[-1] == "yuva444p10le"
    assert video_format("x.webm", alpha=True).encode_args(alpha=True)[-1] == "yuva420p"
    with pytest.raises(ParameterError, match="no alpha channel"):
        video_format("x.mp4", alpha=True)
    with pytest.raises(ParameterError, match="must end with"):
        video_format("x.avi")


@needs_default
@pytest.mark.parametrize("suffix", [".webm", ".mov"])
def test_recorder_writes_real_alpha_and_audio(tmp_path, suffix):
    frames = _figure_frames(30)
    out = tmp_path / f"alpha{suffix}"
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)
    with Mp4Recorder(out, width=SIZE[0], height=SIZE[1], fps=30, sample_rate=SAMPLE_RATE,
                     drop_when_behind=False, alpha=True) as rec:
        rec.add_audio(tone)
        for f in frames:
            rec.process(f)
    info = probe_streams(out)
    fmt = FORMATS[suffix]
    assert info["video"]["codec"] == fmt.video_codec and info["video"]["alpha"]
    assert info["audio"]["codec"] == fmt.audio_codec
    assert info["video"]["packets"] == 30 and info["audio"]["duration"] == pytest.approx(1.0, abs=0.05)
    decoded = decode_frames(out, width=SIZE[0], height=SIZE[1], start=0, count=30)
    assert len(decoded) == 30
    assert_real_alpha(decoded, frames, lossy=suffix == ".webm")
    with pytest.raises(ParameterError, match="uint8 of shape"):  # an alpha recorder takes RGBA only
        Mp4Recorder(tmp_path / "x.webm", width=SIZE[0], height=SIZE[1], fps=30, sample_rate=SAMPLE_RATE,
                    alpha=True).process(frames[0][..., :3])


def test_opaque_webm_and_mov_have_no_alpha(tmp_path):
    rgb = np.full((SIZE[1], SIZE[0], 3), 90, np.uint8)
    for suffix in (".webm", ".mov", ".mp4"):
        out = tmp_path / f"opaque{suffix}"
        with Mp4Recorder(out, width=SIZE[0], height=SIZE[1], fps=30, sample_rate=SAMPLE_RATE,
                         drop_when_behind=False) as rec:
            rec.add_audio(np.zeros(SAMPLE_RATE // 2))
            for _ in range(15):
                rec.process(rgb)
        info = probe_streams(out)
        assert info["video"]["codec"] == FORMATS[suffix].video_codec and not info["video"]["alpha"]
        assert decode_frames(out, width=SIZE[0], height=SIZE[1])[0][..., 3].min() == 255


@needs_default
def test_alpha_figure_composites_exactly_like_drawing_on_a_colour():
    """The figure with its alpha over any colour = the figure drawn on that colour (SDL's anti-aliasing)."""
    rng = np.random.default_rng(0)
    dancer = Dancer.load(None)
    for style in ("stick", "openpose"):
        st, _ = draw.look(style=style, background=draw.TRANSPARENT)
        fig, surface = draw.AlphaFigure(SIZE), draw.make_stage(*SIZE, background=draw.TRANSPARENT)
        for k in range(3):
            px = draw.pose_to_pixels(dancer.idle_pose(k * 0.7), width=SIZE[0], height=SIZE[1])
            fig.draw(surface, px, style=st)
            rgba = draw.surface_to_rgba(surface).astype(float)
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            plain = draw.make_stage(*SIZE, background=colour)
            draw.draw_figure(plain, px, style=st)
            a = rgba[..., 3:] / 255.0
            composite = rgba[..., :3] * a + (1 - a) * np.array(colour)
            assert np.abs(composite - draw.surface_to_rgb(plain)).max() <= 2.0
            assert (rgba[..., 3] == 0).mean() > 0.9 and (rgba[..., 3] == 255).sum() > 300


def test_png_sequence_is_atomic(tmp_path):
    frames = np.zeros((3, 16, 16, 4), np.uint8)
    frames[:, 4:8, 4:8] = (255, 0, 0, 255)
    out = tmp_path / "frames"
    with PngSequenceWriter(out, width=16, height=16, alpha=True) as w:
        for f in frames:
            w.write(f)
    names = sorted(p.name for p in out.iterdir())
    assert names == [FRAME_PATTERN.format(k) for k in range(3)]
    from PIL import Image

    im = np.asarray(Image.open(out / names[1]))
    assert im.shape == (16, 16, 4) and im[5, 5].tolist() == [255, 0, 0, 255] and im[0, 0, 3] == 0
    with pytest.raises(RuntimeError):  # interrupted: the complete folder from before stays as it was
        with PngSequenceWriter(out, width=16, height=16, alpha=True) as w:
            w.write(frames[0])
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in out.iterdir()) == names
    assert [p.name for p in tmp_path.iterdir()] == ["frames"]  # no temporaries


def _song(shared, tmp_path, seconds=3.0):
    out = tmp_path / "song.wav"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-ss", "30", "-t", str(seconds),
                    "-i", str(shared / "dance_with_melody" / "DANCE_C_6" / "audio.mp3"), str(out)], check=True)
    return out


@needs_default
@pytest.mark.parametrize("suffix", [".webm", ".mov"])
def test_render_transparent_video_and_png_sequence(shared_data, tmp_path, suffix):
    song = _song(shared_data, tmp_path)
    out, frames_dir = tmp_path / f"dance{suffix}", tmp_path / "frames"
    assert main(["render", str(song), "-o", str(out), "--background", "transparent", "--size", "320x240",
                 "--save-frames", str(frames_dir), "-q"]) == 0
    info = probe_streams(out)
    fmt = FORMATS[suffix]
    assert info["video"]["codec"] == fmt.video_codec and info["video"]["alpha"]
    assert info["audio"]["codec"] == fmt.audio_codec and info["audio"]["duration"] == pytest.approx(3.0, abs=0.1)
    pngs = sorted(frames_dir.glob("frame_*.png"))
    assert len(pngs) == info["video"]["packets"] == 90
    from PIL import Image

    picks = [10, 45, 80]
    ref = np.stack([np.asarray(Image.open(pngs[k])) for k in picks])
    assert ref.shape == (3, 240, 320, 4)
    decoded = np.stack([decode_frames(out, width=320, height=240, start=k)[0] for k in picks])
    assert_real_alpha(decoded, ref, lossy=suffix == ".webm")


@needs_default
def test_transparent_needs_a_codec_with_alpha(shared_data, tmp_path, capsys):
    song = _song(shared_data, tmp_path, seconds=1.0)
    assert main(["render", str(song), "-o", str(tmp_path / "x.mp4"), "--background", "transparent", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no alpha channel" in err[0] and ".webm or .mov" in err[0]
    assert list(tmp_path.iterdir()) == [song]
    r = subprocess.run(live_cmd("--headless", "--sim-clock", "--duration", "1", "--background", "transparent",
                                "--record", str(tmp_path / "y.mp4")), env=live_env(), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "no alpha channel" in r.stderr and "Traceback" not in r.stderr


@needs_default
def test_live_record_transparent_webm_and_screenshot(tmp_path):
    out, shot = tmp_path / "show.webm", tmp_path / "last.png"
    r = subprocess.run(live_cmd(*model_args(), "--input", "demo", "--headless", "--sim-clock", "--duration", "2",
                                "--size", "320x240", "--background", "transparent", "--record", str(out),
                                "--screenshot", str(shot), "-q"),
                       env=live_env(), capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    info = probe_streams(out)
    assert info["video"]["codec"] == "vp9" and info["video"]["alpha"] and info["audio"]["codec"] == "opus"
    assert info["video"]["packets"] == 120
    from PIL import Image

    last = np.asarray(Image.open(shot))
    assert last.shape == (240, 320, 4)
    decoded = decode_frames(out, width=320, height=240, start=119)
    assert_real_alpha(decoded, last[None], lossy=True)  # the last recorded frame is the screenshot
