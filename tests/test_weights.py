"""Weights: offline staging of dlib's files, fallback when the default model cannot load, clear errors."""

import pytest

from clusterfaces.errors import ModelUnavailable
from clusterfaces.scan import weights
from clusterfaces.scan.faces import load_embedder


@pytest.fixture()
def empty_deepface_home(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path))
    return tmp_path / ".deepface" / "weights"


def test_dlib_weights_are_staged_from_the_installed_package(empty_deepface_home):
    copied = weights.stage_shipped_dlib_weights()
    assert sorted(copied) == sorted(weights.SHIPPED_DLIB_FILES)
    for name in weights.SHIPPED_DLIB_FILES:
        assert (empty_deepface_home / name).stat().st_size > 1_000_000
    assert weights.stage_shipped_dlib_weights() == []  # already there: nothing copied


def test_default_model_falls_back_to_dlib_with_a_warning(empty_deepface_home):
    embedder, warning = load_embedder("Facenet512", explicit=False, allow_download=False)
    assert embedder.model_name == "Dlib"
    assert "facenet512_weights.h5" in warning and "Dlib" in warning


def test_an_explicit_model_without_weights_stops_with_one_line(empty_deepface_home):
    with pytest.raises(ModelUnavailable) as error:
        load_embedder("Facenet512", explicit=True, allow_download=False)
    message = str(error.value)
    assert "\n" not in message
    assert "facenet512_weights.h5" in message and str(empty_deepface_home) in message


def test_deepface_download_failure_is_rephrased():
    error = ValueError(
        "⛓️‍💥 An exception occurred while downloading facenet512_weights.h5 from "
        "https://example.org/a.h5, https://example.org/b.h5. "
        "Consider downloading it manually to /home/u/.deepface/weights/facenet512_weights.h5."
    )
    missing = weights.parse_download_failure(error)
    assert missing.file_name == "facenet512_weights.h5"
    assert missing.target == "/home/u/.deepface/weights/facenet512_weights.h5"
    message = missing.message("Facenet512")
    assert "https://example.org/a.h5" in message and "\n" not in message


def test_offline_advice_names_facenet_casia_only_where_it_can_load(empty_deepface_home, monkeypatch):
    from clusterfaces.scan import facenet_casia

    monkeypatch.setattr(facenet_casia, "graph_path", lambda: None)
    assert weights.offline_choices() == "--model Dlib (works offline)"
    assert weights.missing_weight_files("Facenet512-CASIA", "") == sorted(
        [facenet_casia.WEIGHTS_FILE, "shape_predictor_5_face_landmarks.dat"])
    empty_deepface_home.mkdir(parents=True)
    (empty_deepface_home / facenet_casia.WEIGHTS_FILE).write_bytes(b"converted")  # a cached conversion counts
    assert "--model Facenet512-CASIA" in weights.offline_choices()
    assert weights.missing_weight_files("Facenet512-CASIA", "") == ["shape_predictor_5_face_landmarks.dat"]
