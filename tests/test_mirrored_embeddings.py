"""Mirror averaging: a face's vector from its crop and the crop's mirror image, one way per library."""

import numpy as np
import pytest

from clusterfaces.images import decode_image
from clusterfaces.scan.faces import FaceDetector, FaceEmbedder, l2_normalise
from clusterfaces.store import FaceRow, Store

PHOTOS = ("2009-whitehouse/obama.jpg", "got/rose1.jpg")


@pytest.fixture(scope="module")
def dlib_chips(shared_photos):
    detector = FaceDetector("dlib", "Dlib", allow_download=False)
    chips = [detector.detect_faces(decode_image(shared_photos / relative))[0].crop for relative in PHOTOS]
    return chips, FaceEmbedder("Dlib", allow_download=False)


def test_the_vector_is_the_mean_of_the_crop_and_its_mirror(dlib_chips):
    chips, embedder = dlib_chips
    mirrors = [np.ascontiguousarray(chip[:, ::-1]) for chip in chips]
    plain, mirrored = l2_normalise(embedder.embed_faces(chips)), l2_normalise(embedder.embed_faces(mirrors))
    assert np.linalg.norm(plain - mirrored, axis=1).min() > 0.01  # Dlib does see the difference
    embedder.mirrored = True
    try:
        averaged = embedder.embed_faces(chips)
        assert np.allclose(averaged, (plain + mirrored) / 2, atol=1e-5)
        # the mirror image of a face now gets the face's own vector
        assert np.allclose(embedder.embed_faces(mirrors), averaged, atol=1e-5)
    finally:
        embedder.mirrored = False


def test_a_library_keeps_the_embedding_its_faces_have(tmp_path):
    new = Store(tmp_path / "new.db")
    with new.transaction():
        assert new.choose_embedding("Dlib", mirror_new=True) is True
    with new.transaction():  # decided once: asking again, even otherwise, changes nothing
        assert new.choose_embedding("Dlib", mirror_new=False) is True
    assert new.mirrored_embeddings("Dlib") and not new.mirrored_embeddings("Facenet512")
    with new.transaction():
        assert new.choose_embedding("Facenet512", mirror_new=False) is False
    new.close()

    # A library from before mirror averaging: its Dlib faces are plain, so its new faces stay plain too.
    old = Store(tmp_path / "old.db")
    run = old.start_run([tmp_path], "Dlib", "dlib", {})
    with old.transaction():
        old.save_photo(tmp_path / "a.jpg", 10, 1, "hash", run, status="done", model="Dlib", detector="dlib",
                       faces=[FaceRow((1, 2, 30, 30), [], 0.9, np.ones(128, np.float32))])
    with old.transaction():
        assert old.choose_embedding("Dlib", mirror_new=True) is False
    assert not old.mirrored_embeddings("Dlib")
    old.close()


def test_a_new_library_mirrors_and_queries_embed_its_way(scanned, shared_photos):
    """The session's scan made a new Dlib library: mirror-averaged. A query photo that is in the library
    gets back its stored vector, which it would not if queries embedded otherwise."""
    from clusterfaces import Library

    database, root, people = scanned
    library = Library(database)
    with library.reading() as store:
        assert store.mirrored_embeddings("Dlib")
    index = library.search_index()
    assert index.mirrored
    from clusterfaces.people.search import QueryEmbedder

    query = QueryEmbedder(index, allow_download=False).faces(root / "2009-whitehouse/obama.jpg")
    assert len(query) == 1
    assert np.linalg.norm(index.vectors - query[0].vector, axis=1).min() < 1e-4


def test_no_mirror_makes_a_plain_library_and_later_scans_keep_it(shared_photos, tmp_path):
    """--no-mirror (for speed) is a new library's choice; the next scan, without the flag, keeps it."""
    import shutil

    from clusterfaces import Library, ScanOptions

    root = tmp_path / "photos"
    (root / "a").mkdir(parents=True)
    shutil.copy(shared_photos / "2009-whitehouse/obama.jpg", root / "a")
    library = Library(tmp_path / "library.db", tmp_path / "people")
    library.scan(ScanOptions(roots=[root], model="Dlib", mirror=False, workers=1))
    shutil.copy(shared_photos / "2009-whitehouse/obama2.jpg", root / "a")
    library.scan(ScanOptions(roots=[root], model="Dlib", workers=1))
    with library.reading() as store:
        assert not store.mirrored_embeddings("Dlib")
        faces = store.load_faces("Dlib", [root])
        places = store.face_boxes(faces.ids.tolist())
    assert len(faces.ids) == 2
    detector, embedder = FaceDetector("dlib", "Dlib", allow_download=False), FaceEmbedder("Dlib", allow_download=False)
    for row, face in enumerate(faces.ids.tolist()):  # each stored vector is the plain embedding of its chip
        (found,) = detector.detect_faces(decode_image(places[face].photo))
        assert np.allclose(l2_normalise(embedder.embed_faces([found.crop]))[0],
                           l2_normalise(faces.embeddings[row:row + 1])[0], atol=1e-5)
