"""OpenPose-format backend: a bottom-up COCO-18 network (19 heatmaps + 38 PAFs) plus real PAF grouping.

The network is user supplied, either

* a frozen TensorFlow GraphDef (``.pb``, e.g. tf-pose-estimation's ``mobilenet_v2_small/graph_opt.pb``;
  input ``image:0`` BGR 0–255 NHWC, output ``Openpose/concat_stage7:0`` NHWC 57 channels), run through
  ``tf.compat.v1`` — TensorFlow is imported only when such a model is loaded; or
* a Caffe ``.prototxt`` with its ``.caffemodel`` beside it (CMU OpenPose COCO), run through ``cv2.dnn``
  (input ``blobFromImage(img, 1/255)``, output NCHW 57 channels).

Both produce 18 part heatmaps + background (channels 0–18) and 19 limbs × (x, y) part affinity fields
(channels 19–56) in the original CMU COCO order (:data:`LIMB_PARTS`, :data:`LIMB_PAF_CHANNELS`).

Decoding (:func:`decode_people`) follows OpenPose / tf-pose-estimation's ``pafprocess``:

1. upsample heatmaps and PAFs (cubic) by ``upsample`` and smooth the heatmaps with a Gaussian;
2. part candidates = local maxima (3×3 max-pool NMS) above ``heat_threshold``;
3. for every limb and every candidate pair (A, B), the PAF line integral: the PAF is sampled at
   ``paf_steps`` points on the segment A→B and dotted with its unit vector; a pair is a candidate
   connection when more than ``min_aligned`` samples exceed ``vector_threshold`` and the mean score plus a
   distance penalty ``min(0, 0.5·H / |AB| − 1)`` is positive;
4. per limb, connections are taken greedily by score so that each part candidate is used at most once
   (the bipartite matching of OpenPose);
5. connections are assembled into people limb by limb (joining or merging partial people that share a
   part); people with fewer than ``min_parts`` parts or mean score below ``min_person_score`` are dropped.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dancepose.models.errors import ModelError, ParameterError

from dancepose.models.cli import signals_deferred

from . import Person

N_PARTS = 18
#: (part A, part B) of the 19 limbs of the COCO-18 OpenPose networks, in network order.
LIMB_PARTS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
    (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17),
)
#: (x, y) channel of each limb's PAF in the 57-channel output.
LIMB_PAF_CHANNELS: tuple[tuple[int, int], ...] = (
    (31, 32), (39, 40), (33, 34), (35, 36), (41, 42), (43, 44), (19, 20), (21, 22), (23, 24), (25, 26),
    (27, 28), (29, 30), (47, 48), (49, 50), (53, 54), (51, 52), (55, 56), (37, 38), (45, 46),
)
#: Limbs from this index on (shoulder → ear) may extend a person but never start one.
N_LIMBS_STARTING = 17

_DEFAULT_MODEL_HINT = ("pass --openpose-model with an OpenPose-format network: a TensorFlow GraphDef .pb "
                       "(e.g. tf-pose-estimation mobilenet_v2_small/graph_opt.pb) or a Caffe .prototxt "
                       "with its .caffemodel beside it")


@dataclass(frozen=True)
class PafConfig:
    """Parameters of the PAF decoding (defaults of tf-pose-estimation's ``pafprocess``).

    Attributes
    ----------
    upsample : float
        Heatmaps/PAFs are resized from stride 8 to stride ``8 / upsample`` before peak search.
    smooth_sigma : float
        Gaussian sigma (upsampled pixels) applied to the heatmaps before NMS.
    heat_threshold : float
        Minimum heatmap value of a part candidate.
    vector_threshold : float
        A PAF sample "agrees" with a limb when its dot product with the limb direction exceeds this.
    paf_steps : int
        Samples of the PAF line integral.
    min_aligned : int
        A connection needs more than this many agreeing samples.
    min_parts : int
        People with fewer parts are dropped.
    min_person_score : float
        People whose total score / part count is below this are dropped.
    """

    upsample: float = 4.0
    smooth_sigma: float = 3.0
    heat_threshold: float = 0.05
    vector_threshold: float = 0.05
    paf_steps: int = 10
    min_aligned: int = 8
    min_parts: int = 4
    min_person_score: float = 0.4


def find_peaks(heatmaps: np.ndarray, *, config: PafConfig = PafConfig()) -> list[np.ndarray]:
    """Part candidates by 3×3 non-maximum suppression of smoothed heatmaps.

    Parameters
    ----------
    heatmaps : np.ndarray [shape=(H, W, >=18)] float32
        Upsampled part heatmaps (background channel ignored).

    Returns
    -------
    list of 18 arrays [shape=(n_k, 3)]: x, y (heatmap pixels), score (unsmoothed heatmap value).
    """
    import cv2

    peaks = []
    kernel = np.ones((3, 3), np.uint8)
    for k in range(N_PARTS):
        hm = np.ascontiguousarray(heatmaps[:, :, k], dtype=np.float32)
        sm = cv2.GaussianBlur(hm, (0, 0), config.smooth_sigma) if config.smooth_sigma > 0 else hm
        is_max = (sm == cv2.dilate(sm, kernel)) & (sm > config.heat_threshold)
        ys, xs = np.nonzero(is_max)
        peaks.append(np.stack([xs, ys, hm[ys, xs]], axis=1).astype(np.float32) if len(xs)
                     else np.zeros((0, 3), np.float32))
    return peaks


def _connections(peaks_a: np.ndarray, peaks_b: np.ndarray, paf_x: np.ndarray, paf_y: np.ndarray,
                 *, config: PafConfig) -> np.ndarray:
    """Greedy one-to-one connections of one limb → array [shape=(m, 3)]: index A, index B, score."""
    if len(peaks_a) == 0 or len(peaks_b) == 0:
        return np.zeros((0, 3), np.float32)
    h, w = paf_x.shape
    a = peaks_a[:, None, :2]                          # (nA, 1, 2)
    vec = peaks_b[None, :, :2] - a                    # (nA, nB, 2)
    norm = np.linalg.norm(vec, axis=-1)               # (nA, nB)
    unit = vec / np.maximum(norm, 1e-12)[..., None]
    t = np.linspace(0.0, 1.0, config.paf_steps, dtype=np.float32)
    pts = a[..., None, :] + vec[..., None, :] * t[:, None]       # (nA, nB, S, 2)
    xi = np.clip(np.rint(pts[..., 0]).astype(int), 0, w - 1)
    yi = np.clip(np.rint(pts[..., 1]).astype(int), 0, h - 1)
    dots = paf_x[yi, xi] * unit[..., None, 0] + paf_y[yi, xi] * unit[..., None, 1]   # (nA, nB, S)
    aligned = (dots > config.vector_threshold).sum(axis=-1)
    score = dots.mean(axis=-1) + np.minimum(0.5 * h / np.maximum(norm, 1e-12) - 1.0, 0.0)
    ok = (aligned > config.min_aligned) & (score > 0) & (norm > 1e-12)
    ia, ib = np.nonzero(ok)
    if len(ia) == 0:
        return np.zeros((0, 3), np.float32)
    order = np.argsort(-score[ia, ib], kind="stable")
    used_a, used_b, out = set(), set(), []
    for o in order:
        i, j = int(ia[o]), int(ib[o])
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        out.append((i, j, float(score[i, j])))
        if len(out) >= min(len(peaks_a), len(peaks_b)):
            break
    return np.asarray(out, dtype=np.float32)


def decode_people(heatmaps: np.ndarray, pafs: np.ndarray, *, config: PafConfig = PafConfig()
                  ) -> list[Person]:
    """Group part candidates into people with the part affinity fields.

    Parameters
    ----------
    heatmaps : np.ndarray [shape=(H, W, 19)]
        Upsampled (and not yet smoothed) heatmaps, 18 parts + background.
    pafs : np.ndarray [shape=(H, W, 38)]
        Upsampled PAFs, channel ``c - 19`` of :data:`LIMB_PAF_CHANNELS`.

    Returns
    -------
    list of Person with 18 COCO points in heatmap pixels (NaN where missing), best score first.
    """
    peaks = find_peaks(heatmaps, config=config)
    offsets = np.cumsum([0] + [len(p) for p in peaks])
    all_peaks = np.concatenate(peaks, axis=0) if offsets[-1] else np.zeros((0, 3), np.float32)
    # subsets: rows of 18 global peak ids (-1 none), then total score, then part count
    subsets: list[np.ndarray] = []
    for k, ((pa, pb), (cx, cy)) in enumerate(zip(LIMB_PARTS, LIMB_PAF_CHANNELS)):
        conns = _connections(peaks[pa], peaks[pb], pafs[:, :, cx - 19], pafs[:, :, cy - 19], config=config)
        for ia, ib, s in conns:
            ga, gb = int(offsets[pa] + ia), int(offsets[pb] + ib)
            found = [j for j, sub in enumerate(subsets) if sub[pa] == ga or sub[pb] == gb]
            if len(found) == 1 or (len(found) == 2 and _overlap(subsets[found[0]], subsets[found[1]])):
                sub = subsets[found[0]]
                if sub[pb] != gb:
                    if sub[pb] < 0:
                        sub[-1] += 1
                    sub[pb] = gb
                    sub[-2] += all_peaks[gb, 2] + s
                if sub[pa] < 0:   # joined through B only
                    sub[pa] = ga
                    sub[-1] += 1
                    sub[-2] += all_peaks[ga, 2]
            elif len(found) == 2:   # two partial people sharing this limb: merge
                s1, s2 = subsets[found[0]], subsets[found[1]]
                s1[:-2] += s2[:-2] + 1
                s1[-2:] += s2[-2:]
                s1[-2] += s
                del subsets[found[1]]
            elif not found and k < N_LIMBS_STARTING:
                row = -np.ones(N_PARTS + 2, dtype=np.float64)
                row[pa], row[pb] = ga, gb
                row[-1] = 2
                row[-2] = all_peaks[ga, 2] + all_peaks[gb, 2] + s
                subsets.append(row)
    people = []
    for sub in subsets:
        count, total = sub[-1], sub[-2]
        if count < config.min_parts or total / count < config.min_person_score:
            continue
        pts = np.full((N_PARTS, 2), np.nan, np.float32)
        conf = np.zeros(N_PARTS, np.float32)
        ids = sub[:N_PARTS].astype(int)
        has = ids >= 0
        pts[has] = all_peaks[ids[has], :2]
        conf[has] = np.clip(all_peaks[ids[has], 2], 0.0, 1.0)
        people.append(Person(points=pts, confidence=conf, score=float(total)))
    people.sort(key=lambda p: -p.score)
    return people


def _overlap(s1: np.ndarray, s2: np.ndarray) -> bool:
    """True when two partial people both have some part (they cannot be merged)."""
    return bool(((s1[:N_PARTS] >= 0) & (s2[:N_PARTS] >= 0)).any())


def network_size(width: int, height: int, *, base: tuple[int, int] = (432, 368), multiple: int = 16
                 ) -> tuple[int, int]:
    """Network input (w, h) with the frame's aspect ratio and about the pixel area of ``base``."""
    area = base[0] * base[1]
    scale = np.sqrt(area / float(width * height))
    w = max(multiple, int(round(width * scale / multiple)) * multiple)
    h = max(multiple, int(round(height * scale / multiple)) * multiple)
    return w, h


class OpenPoseDetector:
    """An OpenPose-format network + PAF decoding, as a context manager.

    Parameters
    ----------
    model : Path
        ``.pb`` frozen GraphDef, or Caffe ``.prototxt`` (the ``.caffemodel`` of the same stem, or the only
        one, in the same folder).
    base_size : (int, int)
        Input (w, h) the network was trained at; frames are resized to the same area keeping their aspect
        ratio (multiples of 16) unless ``keep_aspect`` is False.
    config : PafConfig
        Decoding parameters.

    Attributes
    ----------
    stage_seconds : dict
        Accumulated wall time of ``"inference"`` (resize + network) and ``"paf"`` (upsampling + decoding).
    """

    name = "openpose"
    tracks = False

    def __init__(self, *, model: Path | None, base_size: tuple[int, int] = (432, 368), keep_aspect: bool = True,
                 config: PafConfig = PafConfig(), input_name: str = "image:0",
                 output_name: str = "Openpose/concat_stage7:0") -> None:
        if model is None:
            raise ParameterError(f"the openpose backend needs a model: {_DEFAULT_MODEL_HINT}")
        self.model = Path(model)
        if not self.model.is_file():
            raise ModelError(f"{self.model}: no such model file; {_DEFAULT_MODEL_HINT}")
        if self.model.suffix.lower() not in (".pb", ".prototxt"):
            raise ModelError(f"{self.model}: unsupported model type; {_DEFAULT_MODEL_HINT}")
        self.base_size = base_size
        self.keep_aspect = keep_aspect
        self.config = config
        self.input_name = input_name
        self.output_name = output_name
        self.stage_seconds = {"inference": 0.0, "paf": 0.0}
        self._sess = self._net = None

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> "OpenPoseDetector":
        with signals_deferred():
            if self.model.suffix.lower() == ".pb":
                self._load_tf()
            else:
                self._load_caffe()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._sess is not None:
            self._sess.close()
        self._sess = self._net = None

    def reset(self) -> None:
        """Nothing to forget: every frame is processed on its own."""

    def _load_tf(self) -> None:
        import os

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        try:
            gd = tf.compat.v1.GraphDef()
            gd.ParseFromString(self.model.read_bytes())
            graph = tf.Graph()
            with graph.as_default():
                tf.compat.v1.import_graph_def(gd, name="")
            self._in = graph.get_tensor_by_name(self.input_name)
            self._out = graph.get_tensor_by_name(self.output_name)
        except Exception as exc:  # noqa: BLE001 - protobuf/TF raise many types
            raise ModelError(f"{self.model}: not a usable OpenPose GraphDef ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
        if self._out.shape[-1] is not None and int(self._out.shape[-1]) != 57:
            raise ModelError(f"{self.model}: output has {self._out.shape[-1]} channels, expected 57 "
                             "(19 COCO heatmaps + 38 PAFs)")
        self._sess = tf.compat.v1.Session(graph=graph)

    def _load_caffe(self) -> None:
        import cv2

        weights = self.model.with_suffix(".caffemodel")
        if not weights.is_file():
            found = sorted(self.model.parent.glob("*.caffemodel"))
            if len(found) != 1:
                raise ModelError(f"{self.model}: no .caffemodel beside the prototxt")
            weights = found[0]
        try:
            self._net = cv2.dnn.readNetFromCaffe(str(self.model), str(weights))
        except cv2.error as exc:
            raise ModelError(f"{self.model}: cv2.dnn cannot load it ({str(exc).strip().splitlines()[-1]})"
                             ) from None

    # ------------------------------------------------------------------ inference
    def input_size(self, width: int, height: int) -> tuple[int, int]:
        """Network input (w, h) for a frame of ``width × height``."""
        return network_size(width, height, base=self.base_size) if self.keep_aspect else self.base_size

    def infer(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """Run the network → (output [shape=(h/8, w/8, 57)], network input size (w, h))."""
        import cv2

        h, w = frame_bgr.shape[:2]
        nw, nh = self.input_size(w, h)
        img = cv2.resize(frame_bgr, (nw, nh), interpolation=cv2.INTER_AREA if nw < w else cv2.INTER_CUBIC)
        if self._sess is not None:
            out = self._sess.run(self._out, {self._in: img[None].astype(np.float32)})[0]
        elif self._net is not None:
            blob = cv2.dnn.blobFromImage(img, 1.0 / 255, (nw, nh), (0, 0, 0), swapRB=False, crop=False)
            self._net.setInput(blob)
            out = self._net.forward()[0].transpose(1, 2, 0)
        else:
            raise RuntimeError("OpenPoseDetector used outside its context manager")
        if out.shape[-1] < 57:
            raise ModelError(f"{self.model}: output has {out.shape[-1]} channels, expected 57")
        return np.ascontiguousarray(out[..., :57], dtype=np.float32), (nw, nh)

    def process(self, frame_bgr: np.ndarray) -> list[Person]:
        """Detect all people in ``frame_bgr`` (H, W, 3) uint8 → list of Person (18 COCO points, frame px)."""
        t0 = time.perf_counter()
        out, (nw, nh) = self.infer(frame_bgr)
        t1 = time.perf_counter()
        uh = int(round(out.shape[0] * self.config.upsample))
        uw = int(round(out.shape[1] * self.config.upsample))
        heat = _resize_channels(out[..., :19], (uw, uh))
        paf = _resize_channels(out[..., 19:57], (uw, uh))
        people = decode_people(heat, paf, config=self.config)
        h, w = frame_bgr.shape[:2]
        # pixel centres: heatmap pixel i covers frame [i, i+1) * scale
        sx, sy = w / uw, h / uh
        res = []
        for p in people:
            pts = (p.points + 0.5) * np.array([sx, sy], np.float32)
            res.append(Person(points=pts.astype(np.float32), confidence=p.confidence, score=p.score))
        self.stage_seconds["inference"] += t1 - t0
        self.stage_seconds["paf"] += time.perf_counter() - t1
        return res


def _resize_channels(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """cv2.resize (cubic) of a many-channel map, in chunks of ≤ 4 channels for safety."""
    import cv2

    parts = [cv2.resize(np.ascontiguousarray(x[..., i:i + 4]), size, interpolation=cv2.INTER_CUBIC)
             for i in range(0, x.shape[-1], 4)]
    parts = [p[..., None] if p.ndim == 2 else p for p in parts]
    return np.concatenate(parts, axis=-1)
