"""Re-runs with the real Dlib model: only new work, the same people, names kept, nothing lost."""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import filelock
import numpy as np
import pytest

from clusterfaces.edits import merge_people, rename_person
from clusterfaces.errors import ClusterfacesError
from clusterfaces.library import Library, ScanOptions
from clusterfaces.store import Store

HELD_BACK = ("2009-whitehouse/obama2.jpg", "video-stills/obama-720p.jpg")


def scan(library, root, **options):
    return library.scan(ScanOptions(roots=[root], model="Dlib", **options))


def person_of(result, relative, root):
    path = root / relative
    return next(entry.person for entry in result.people if path in entry.photos)


@pytest.fixture()
def library_copy(shared_photos, tmp_path):
    root = tmp_path / "photos"
    shutil.copytree(shared_photos, root, ignore=shutil.ignore_patterns("labels.json"))
    return Library(tmp_path / "library.db", tmp_path / "people"), root


def test_new_photos_of_a_known_person_join_them_by_id_and_name(library_copy, tmp_path):
    library, root = library_copy
    held = tmp_path / "held"
    for relative in HELD_BACK:
        (held / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(root / relative, held / relative)
    first = scan(library, root)
    obama = person_of(first, "2009-whitehouse/obama.jpg", root)
    with Store(library.database) as store:
        rename_person(store, obama.id, "Barack Obama")
    for relative in HELD_BACK:
        shutil.move(held / relative, root / relative)
    second = scan(library, root)
    assert second.photos_processed == 2 and second.faces_new == 2
    assert not second.reclustered  # two new faces: matched to known people, no full re-clustering
    for relative in HELD_BACK:
        person = person_of(second, relative, root)
        assert (person.id, person.name) == (obama.id, "Barack Obama")
    links = {os.readlink(p) for p in (library.output / "Barack Obama").iterdir()}
    assert {str(root / r) for r in HELD_BACK} <= links


def test_moved_and_renamed_photos_are_not_embedded_again(library_copy):
    library, root = library_copy
    first = scan(library, root)
    shutil.move(root / "got", root / "game-of-thrones")
    (root / "theatre" / "alex_lacamoire1.jpg").rename(root / "theatre" / "alex renamed.jpg")
    shutil.copy(root / "2009-whitehouse" / "biden.jpg", root / "2009-whitehouse" / "biden copy.jpg")
    with Store(library.database) as store:
        faces_before = {os.path.basename(os.fsdecode(path)): ids for path, ids in face_ids_by_photo(store)}
    second = scan(library, root)
    assert second.faces_new == 0  # nothing decoded, detected or embedded
    assert second.photos_reused == 6 + 1 + 1
    assert second.photos_removed == 0 and second.photos_missing == 0  # moved photos are the same photos
    with Store(library.database) as store:
        faces_after = {os.path.basename(os.fsdecode(path)): ids for path, ids in face_ids_by_photo(store)}
    assert faces_after["john1.jpeg"] == faces_before["john1.jpeg"]  # same face ids: edits on them stay
    assert faces_after["alex renamed.jpg"] == faces_before["alex_lacamoire1.jpg"]
    counts_before = {p.person.id: len(p.person.face_ids) for p in first.people}
    counts_after = {p.person.id: len(p.person.face_ids) for p in second.people}
    biden_id = person_of(first, "2009-whitehouse/biden.jpg", root).id
    assert counts_after == {**counts_before, biden_id: counts_before[biden_id] + 1}  # the copy adds one face
    kit = person_of(second, "game-of-thrones/john1.jpeg", root)
    assert kit.id == person_of(first, "got/john1.jpeg", root).id
    assert person_of(second, "theatre/alex renamed.jpg", root).id == \
        person_of(first, "theatre/alex_lacamoire1.jpg", root).id
    biden = person_of(first, "2009-whitehouse/biden.jpg", root)
    assert person_of(second, "2009-whitehouse/biden copy.jpg", root).id == biden.id
    for link in library.output.glob("*/*"):
        assert os.path.exists(link), f"dangling link {link}"


def face_ids_by_photo(store):
    return [(path, sorted(int(i) for i in ids.split(","))) for path, ids in store.db.execute(
        "SELECT p.path, group_concat(f.id) FROM photos p JOIN faces f ON f.photo_id = p.id GROUP BY p.id")]


def test_deleted_photos_are_kept_as_missing_until_forgotten(library_copy):
    library, root = library_copy
    first = scan(library, root)
    rose = person_of(first, "got/rose1.jpg", root)
    gone = root / "got" / "rose1.jpg"
    kept = gone.read_bytes()
    gone.unlink()
    result = scan(library, root)
    assert (result.photos_removed, result.photos_missing) == (0, 1)
    with Store(library.database) as store:
        record = store.photos_under([root])[str(gone)]
        assert record.missing_since is not None and store.person(rose.id) is not None
    links = [os.readlink(p) for p in library.output.glob("*/*") if p.is_symlink()]
    assert str(gone) not in links  # a missing photo's faces are not shown: the link would be broken
    assert all(os.path.exists(target) for target in links)
    gone.write_bytes(kept)  # back, with a new modification time: recognised by its pixels
    back = scan(library, root)
    assert (back.photos_returned, back.photos_missing, back.faces_new) == (1, 0, 0)
    assert person_of(back, "got/rose1.jpg", root).id == rose.id
    gone.unlink()
    forgotten = scan(library, root, forget_missing=True)
    assert (forgotten.photos_removed, forgotten.photos_missing) == (1, 0)
    with Store(library.database) as store:
        assert str(gone) not in store.photos_under([root])


def test_names_and_merges_survive_recluster(library_copy):
    library, root = library_copy
    first = scan(library, root)
    obama = person_of(first, "2009-whitehouse/obama.jpg", root)
    kit = person_of(first, "got/john1.jpeg", root)
    rose = person_of(first, "got/rose1.jpg", root)
    with Store(library.database) as store:
        rename_person(store, obama.id, "Barack")
        merge_people(store, kit.id, [rose.id])  # the user says they are one (wrongly, but it is their call)
        rename_person(store, kit.id, "Kit and Rose")
    again = scan(library, root, recluster=True)
    assert again.reclustered
    assert person_of(again, "2009-whitehouse/obama.jpg", root).name == "Barack"
    merged = person_of(again, "got/rose2.jpg", root)
    assert (merged.id, merged.name) == (kit.id, "Kit and Rose")
    assert person_of(again, "got/john2.jpeg", root).id == kit.id
    assert len(merged.face_ids) == len(kit.face_ids) + len(rose.face_ids)
    assert (library.output / "Kit and Rose").is_dir()


def test_a_second_scan_on_the_same_database_stops_clearly(library_copy):
    library, root = library_copy
    with filelock.FileLock(str(library.database) + ".lock"):
        with pytest.raises(ClusterfacesError, match="another clusterfaces command"):
            scan(library, root)


def database_content(db: Path, root: Path):
    with sqlite3.connect(db) as connection:
        photos = sorted((os.path.relpath(os.fsdecode(p), root), h, s) for p, h, s in connection.execute(
            "SELECT path, content_hash, status FROM photos"))
        rows = connection.execute(
            "SELECT p.path, f.x, f.y, f.w, f.h, f.embedding FROM faces f JOIN photos p ON p.id = f.photo_id")
        faces = sorted((os.path.relpath(os.fsdecode(p), root), x, y, w, h, e) for p, x, y, w, h, e in rows)
    return photos, faces


def test_sigkill_mid_scan_then_rerun_gives_the_uninterrupted_result(shared_photos, tmp_path):
    root = tmp_path / "photos"
    shutil.copytree(shared_photos, root, ignore=shutil.ignore_patterns("labels.json"))
    killed_db = tmp_path / "killed.db"
    command = [sys.executable, "-m", "clusterfaces", "scan", str(root), "--model", "Dlib", "--batch-size", "1",
               "--db", str(killed_db), "--out", str(tmp_path / "out-killed")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    committed = 0
    while time.monotonic() < deadline and process.poll() is None:
        if killed_db.exists():
            try:
                with sqlite3.connect(killed_db, timeout=1) as connection:
                    committed = connection.execute("SELECT count(*) FROM photos").fetchone()[0]
            except sqlite3.OperationalError:
                committed = 0
            if committed >= 3:
                break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 3 <= committed < 26, "the scan should be killed part-way"
    with sqlite3.connect(killed_db) as connection:
        partial = connection.execute("SELECT count(*) FROM photos").fetchone()[0]
    assert partial < 26
    rerun = Library(killed_db, tmp_path / "out-killed").scan(ScanOptions(roots=[root], model="Dlib"))
    assert rerun.photos_processed == 26 - partial
    Library(tmp_path / "clean.db", tmp_path / "out-clean").scan(ScanOptions(roots=[root], model="Dlib"))
    killed_photos, killed_faces = database_content(killed_db, root)
    clean_photos, clean_faces = database_content(tmp_path / "clean.db", root)
    assert killed_photos == clean_photos
    assert [f[:5] for f in killed_faces] == [f[:5] for f in clean_faces]  # no duplicate or lost face
    for killed, clean in zip(killed_faces, clean_faces):
        np.testing.assert_allclose(np.frombuffer(killed[5], "<f4"), np.frombuffer(clean[5], "<f4"), atol=1e-5)
    with sqlite3.connect(killed_db) as connection:
        statuses = [row[0] for row in connection.execute("SELECT status FROM runs ORDER BY id")]
    assert statuses == ["interrupted", "finished"]


def test_switching_detector_says_so_and_keeps_names(library_copy):
    pytest.importorskip("mtcnn", reason="the mtcnn detector is in the test extras")
    library, root = library_copy
    first = scan(library, root)
    obama = person_of(first, "2009-whitehouse/obama.jpg", root)
    with Store(library.database) as store:
        rename_person(store, obama.id, "Barack Obama")
    switched = scan(library, root, detector="mtcnn")
    assert switched.detector == "mtcnn"
    assert switched.photos_processed == 26 and switched.photos_reused == 0
    with Store(library.database) as store:
        assert {record.detector for record in store.photos_under([root]).values()} == {"mtcnn"}
    assert any("processed again" in warning and "carried over" in warning for warning in switched.warnings)
    named = person_of(switched, "2009-whitehouse/obama.jpg", root)
    assert named.name == "Barack Obama"
    assert person_of(switched, "video-stills/obama-240p.jpg", root).name == "Barack Obama"
    again = scan(library, root)  # the library now keeps mtcnn without being told
    assert again.detector == "mtcnn" and again.photos_processed == 0
