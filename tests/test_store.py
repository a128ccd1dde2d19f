"""The database: creation, privacy, migrations, refusal of foreign or newer files, exact paths."""

import os
import sqlite3
import stat

import numpy as np
import pytest

from clusterfaces import store as store_module
from clusterfaces.errors import DatabaseError
from clusterfaces.store import FaceRow, Store


def test_new_database_is_private_and_migrated(tmp_path):
    path = tmp_path / "sub" / "library.db"
    with Store(path) as store:
        applied = [row[0] for row in store.db.execute("SELECT name FROM schema_migrations")]
        mode = store.db.execute("PRAGMA journal_mode").fetchone()[0]
    assert applied == [name for name, _ in store_module.MIGRATIONS]
    assert mode == "wal"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_newer_schema_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "library.db"
    Store(path).close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO schema_migrations VALUES ('m999_from_the_future', 0)")
    before = path.read_bytes()
    with pytest.raises(DatabaseError, match="newer clusterfaces"):
        Store(path)
    assert path.read_bytes() == before


def test_a_file_that_is_not_a_database_is_refused_and_kept(tmp_path):
    path = tmp_path / "library.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DatabaseError) as error:
        Store(path)
    assert "\n" not in str(error.value)
    assert path.read_bytes() == b"this is not sqlite" * 100


def test_faces_and_odd_paths_round_trip(tmp_path):
    odd = tmp_path / os.fsdecode(b"caf\xe9 line\nbreak.jpg")
    with Store(tmp_path / "library.db") as store:
        run = store.start_run([tmp_path], "Dlib", "dlib", {})
        vector = np.arange(128, dtype=np.float32) / 128
        with store.transaction():
            store.save_photo(odd, 10, 20, "abc", run, status="done", model="Dlib", detector="dlib",
                             faces=[FaceRow((1, 2, 30, 40), [(1.0, 2.0)], 0.9, vector)])
        records = store.photos_under([tmp_path])
        faces = store.load_faces("Dlib", [tmp_path])
        assert store.load_faces("Facenet512", [tmp_path]).ids.size == 0  # models never mix
    assert [record.path for record in records.values()] == [odd]
    assert os.fsencode(next(iter(records))) == os.fsencode(odd)
    np.testing.assert_array_equal(faces.embeddings[0], vector)
    assert faces.sizes.tolist() == [30]


def test_a_failed_transaction_leaves_nothing(tmp_path):
    with Store(tmp_path / "library.db") as store:
        run = store.start_run([tmp_path], "Dlib", "dlib", {})
        with pytest.raises(RuntimeError), store.transaction():
            store.save_photo(tmp_path / "a.jpg", 1, 1, "h", run, status="done")
            raise RuntimeError("interrupted")
        assert store.photos_under([tmp_path]) == {}
