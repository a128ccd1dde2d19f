"""The scan's fast paths find what the slow ones found: lean dlib client, saved detector, draft + bilinear."""

import numpy as np
import pytest
from PIL import Image

from clusterfaces.images import DETECTION_RESAMPLE, decode_image
from clusterfaces.scan import detectors, weights
from clusterfaces.scan.faces import FaceDetector

PHOTOS = ("2009-whitehouse/obama_and_biden.jpg", "2009-whitehouse/obama3.jpg", "got/kit_with_rose.jpg",
          "theatre/alex_lacamoire1.jpg")


def box_overlap(a, b) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    width = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    height = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return width * height / (a[2] * a[3] + b[2] * b[3] - width * height)


def regions_key(regions) -> list[tuple]:
    return [(r.x, r.y, r.w, r.h, round(r.confidence, 6), r.left_eye, r.right_eye) for r in regions]


def test_lean_dlib_client_gives_deepfaces_regions_eyes_included(shared_photos):
    from deepface.modules import modeling

    from clusterfaces.scan.faces import _dlib_shape_predictor

    weights.stage_shipped_dlib_weights()
    deepface_client = modeling.build_model(task="face_detector", model_name="dlib")
    lean = detectors.DlibHogDetector(_dlib_shape_predictor())
    faces = 0
    for rel in PHOTOS:
        pixels = np.ascontiguousarray(decode_image(shared_photos / rel).pixels[:, :, ::-1])
        theirs = regions_key(deepface_client.detect_faces(pixels))
        assert regions_key(lean.detect_faces(pixels)) == theirs, rel
        faces += len(theirs)
    assert faces >= 5  # two photos of two and three people among them


def test_saved_hog_detector_is_dlibs_own_and_a_damaged_copy_is_rebuilt(shared_photos):
    import dlib

    saved = weights.weights_dir() / f"dlib_frontal_face_detector_{dlib.__version__}.svm"
    saved.unlink(missing_ok=True)
    built = detectors._frontal_face_detector()  # builds it and saves the copy
    assert saved.is_file()
    loaded = detectors._frontal_face_detector()  # from the copy
    reference = dlib.get_frontal_face_detector()
    pixels = decode_image(shared_photos / PHOTOS[0]).pixels
    expected = reference.run(pixels, 1)
    for detector in (built, loaded):
        found = detector.run(pixels, 1)
        assert [str(r) for r in found[0]] == [str(r) for r in expected[0]] and len(expected[0]) == 3
        assert np.allclose(found[1], expected[1])
    saved.write_bytes(saved.read_bytes()[:500])  # a copy cut short: built again, and saved whole
    again = detectors._frontal_face_detector()
    assert [str(r) for r in again.run(pixels, 1)[0]] == [str(r) for r in expected[0]]
    assert saved.stat().st_size > 500


@pytest.fixture(scope="module")
def dlib_hog() -> FaceDetector:
    return FaceDetector("dlib", "Dlib")


def test_draft_and_bilinear_decoding_find_the_same_faces_as_full_decoding_with_lanczos(dlib_hog, shared_photos,
                                                                                        tmp_path):
    # A 12-MP JPEG (the photo upscaled to 4000 px): the scan decodes it at 1/2 scale in libjpeg (draft) and
    # brings it to 1600 px bilinearly; the slow way decodes every pixel and resamples with Lanczos.
    for rel in PHOTOS[:2]:
        with Image.open(shared_photos / rel) as photo:
            ratio = 4000 / max(photo.size)
            photo.convert("RGB").resize((round(photo.width * ratio), round(photo.height * ratio)),
                                        Image.Resampling.BICUBIC).save(tmp_path / "big.jpg", quality=90)
        fast = decode_image(tmp_path / "big.jpg", 1600, DETECTION_RESAMPLE)
        with Image.open(tmp_path / "big.jpg") as big:
            big.load()
            assert big.size == fast.original_size
            slow = big.copy()
            slow.thumbnail((1600, 1600), Image.Resampling.LANCZOS)
        assert fast.pixels.shape == np.asarray(slow).shape
        slow_faces = dlib_hog.detect_faces(type(fast)(np.asarray(slow), fast.original_size, "JPEG"))
        fast_faces = dlib_hog.detect_faces(fast)
        assert len(fast_faces) == len(slow_faces) >= 1, rel
        for a, b in zip(sorted(f.box for f in fast_faces), sorted(f.box for f in slow_faces)):
            assert box_overlap(a, b) > 0.85, (rel, a, b)
