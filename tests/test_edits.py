"""Scriptable edits on a real scanned library: each changes the database and the folders, is journaled,
and `undo` puts back exactly what was there (ids, names, ignored and confirmed flags, rejections)."""

import json
import os
import shutil
import sqlite3

import pytest
from typer.testing import CliRunner

from clusterfaces import Library, ScanOptions
from clusterfaces.cli.main import app
from clusterfaces.errors import ClusterfacesError
from clusterfaces.outputs.folders import MAX_BYTES, MAX_CHARS
from clusterfaces.people import edits
from clusterfaces.store import FaceState, Rejection


@pytest.fixture()
def library(scanned, tmp_path):
    database, root, people = scanned
    shutil.copy(database, tmp_path / "library.db")
    library = Library(tmp_path / "library.db", tmp_path / "people")
    library.refresh_folders()
    return library, root, people


def state(database):
    """Everything an edit may change: people rows, each face's person and confirmation, rejections."""
    with sqlite3.connect(database) as db:
        return (db.execute("SELECT id, name, ignored, model, created_run FROM people ORDER BY id").fetchall(),
                db.execute("SELECT id, person_id, confirmed FROM faces ORDER BY id").fetchall(),
                db.execute("SELECT face_id, person_id FROM face_rejections ORDER BY 1, 2").fetchall())


def folders(out):
    """Folder name -> names of the links in it."""
    return {d.name: sorted(p.name for p in d.iterdir()) for d in out.iterdir() if d.is_dir()}


def faces_of(store, person_id):
    return [face.id for face in store.person_face_qualities(person_id)]


def face_in(store, root, photo, person_id):
    """The face of `person_id` in a photo (by path below the root)."""
    boxes = store.face_boxes(faces_of(store, person_id))
    return next(face for face, place in boxes.items() if place.photo == root / photo)


def test_name_then_undo(library):
    library, root, people = library
    before, folders_before = state(library.database), folders(library.output)
    with library.editing() as store:
        assert edits.rename_person(store, people["obama"], "  Barack \t Obama ") == 14
        assert store.person(people["obama"]).name == "Barack Obama"
        assert all(state.confirmed for state in store.face_states([people["obama"]]))
    library.refresh_folders()
    assert len(folders(library.output)["Barack Obama"]) == 14
    assert f"Person {people['obama']:03d}" not in folders(library.output)
    with library.editing() as store:
        assert edits.undo_last(store) == f'person {people["obama"]} named "Barack Obama"'
    library.refresh_folders()
    assert state(library.database) == before
    assert folders(library.output) == folders_before


def test_merge_then_undo_restores_both_people_with_their_ids(library):
    library, root, people = library
    kit, rose = people["kit"], people["rose"]
    with library.editing() as store:
        edits.rename_person(store, rose, "Rose")
        edits.reject_face(store, face_in(store, root, "got/john1.jpeg", kit), rose)  # a rejection naming Rose
    before = state(library.database)
    with library.editing() as store:
        assert edits.merge_people(store, kit, [rose]) == 3
        assert store.person(rose) is None and store.person(kit).name == "Rose"  # Kit had no name: Rose's is kept
        assert store.rejections() == set()  # went with Rose's row
        edits.undo_last(store)
    assert state(library.database) == before
    with library.editing() as store:
        edits.undo_last(store)
        edits.undo_last(store)
        with pytest.raises(ClusterfacesError, match="nothing to undo"):
            edits.undo_last(store)
    library.refresh_folders()
    assert {f"Person {kit:03d}", f"Person {rose:03d}"} <= set(folders(library.output))


def test_ignore_removes_the_folder_and_undo_brings_it_back(library):
    library, root, people = library
    before, folders_before = state(library.database), folders(library.output)
    label = f"Person {people['alex']:03d}"
    with library.editing() as store:
        edits.ignore_person(store, people["alex"])
        assert store.person(people["alex"]).ignored is True
    library.refresh_folders()
    assert label not in folders(library.output)
    with library.editing() as store:
        edits.undo_last(store)
    library.refresh_folders()
    assert state(library.database) == before
    assert folders(library.output) == folders_before


def test_split_takes_apart_a_wrong_merge_and_undo_puts_it_back(library):
    library, root, people = library
    kit, rose = people["kit"], people["rose"]
    with library.editing() as store:
        kit_faces, rose_faces = set(faces_of(store, kit)), set(faces_of(store, rose))
        edits.merge_people(store, kit, [rose])
    merged = state(library.database)
    with library.editing() as store:
        groups = edits.split_person(store, kit)
        assert [faces for _, faces in groups] == [4, 3]
        assert groups[0][0] == kit  # the largest sub-group keeps the id
        new = groups[1][0]
        assert set(faces_of(store, kit)) == kit_faces and set(faces_of(store, new)) == rose_faces
        confirmed = {state.face_id: state.confirmed for state in store.face_states([kit, new])}
        assert all(confirmed[f] for f in kit_faces) and not any(confirmed[f] for f in rose_faces)
        assert (store.person(new).name, store.person(new).ignored) == (None, False)
        assert edits.journal(store)[-1].action == "split"
    library.refresh_folders()
    assert len(folders(library.output)[f"Person {new:03d}"]) == 3
    with library.editing() as store:
        edits.undo_last(store)
        assert store.person(new) is None
    assert state(library.database) == merged


def test_a_person_of_one_group_is_not_split(library):
    library, root, people = library
    before = state(library.database)
    with library.editing() as store:
        assert edits.split_person(store, people["alex"]) == [(people["alex"], 3)]
        assert edits.journal(store) == []
    assert state(library.database) == before


def test_faces_move_and_not_and_their_undo(library):
    library, root, people = library
    obama, biden = people["obama"], people["biden"]
    before = state(library.database)
    with library.editing() as store:
        face = face_in(store, root, "2009-whitehouse/biden.jpg", biden)
        assert edits.reject_face(store, face, biden) is True
        assert (store.face(face).person_id, store.face(face).confirmed) == (None, False)
        assert Rejection(face, biden) in store.rejections()
        assert edits.reject_face(store, face, obama) is False  # not with Obama either: only remembered
    library.refresh_folders()
    assert "biden.jpg" in " ".join(folders(library.output)["Unclustered"])
    with library.editing() as store:
        assert edits.move_face(store, face, biden) is None
        assert (store.face(face).person_id, store.face(face).confirmed) == (biden, True)
        assert Rejection(face, biden) not in store.rejections()
        assert Rejection(face, obama) in store.rejections()
        assert [entry.action for entry in edits.journal(store)] == ["not", "not", "move"]
        for _ in range(3):
            edits.undo_last(store)
    assert state(library.database) == before
    with library.editing() as store:
        with pytest.raises(ClusterfacesError, match="there is no face 999999"):
            edits.move_face(store, 999999, obama)
        with pytest.raises(ClusterfacesError, match="there is no person 999999"):
            edits.reject_face(store, face, 999999)


def test_corrections_survive_a_full_reclustering(library):
    library, root, people = library
    obama, biden = people["obama"], people["biden"]
    with library.editing() as store:
        rejected = face_in(store, root, "2009-whitehouse/obama.jpg", obama)
        moved = face_in(store, root, "2009-whitehouse/biden2.jpg", biden)
        edits.reject_face(store, rejected, obama)
        edits.move_face(store, moved, obama)
    before = {face: person for face, person, _ in state(library.database)[1]}
    library.scan(ScanOptions(roots=[root], model="Dlib", recluster=True))
    with library.editing() as store:
        assert store.face(rejected).person_id != obama
        assert (store.face(moved).person_id, store.face(moved).confirmed) == (obama, True)
    after = {face: person for face, person, _ in state(library.database)[1]}
    assert after.keys() == before.keys()
    changed = {face: (before[face], after[face]) for face in before if before[face] != after[face]}
    assert changed == {}, "only the edited faces may change person, and they were edited before the scan"
    assert {biden, obama} <= set(after.values())  # Biden keeps his id and his other faces


def test_undo_gives_back_an_id_a_later_scan_reused(library):
    library, root, people = library
    kit, alex = people["kit"], people["alex"]
    assert alex == max(people.values())  # the highest id: SQLite hands it out again once it is free
    before = state(library.database)
    with library.editing() as store:
        edits.merge_people(store, kit, [alex])
        with store.transaction():  # what a scan does when it finds someone new
            newcomer = store.new_person("Dlib", None)
            store.set_face_states([FaceState(25, newcomer, False)])  # Lin-Manuel Miranda's face
        assert newcomer == alex
        edits.undo_last(store)
        assert (store.person(alex).name, store.person(alex).ignored) == (None, False)
        assert set(faces_of(store, alex)) == {face for face, person, _ in before[1] if person == alex}
        relocated = store.face(25).person_id
        assert relocated not in (None, alex, kit) and faces_of(store, relocated) == [25]
    library.refresh_folders()


def invoke(library, *args, input=None):
    return CliRunner().invoke(app, [*args, "--db", str(library.database), "--out", str(library.output)], input=input)


def test_hostile_names_stay_inside_the_output(library, tmp_path):
    library, root, people = library
    ids = sorted(people.values())
    names = ["../../etc", "con", "a/b", "x" * 10_000, "👩‍🔬 Zoë 王芳"]
    for person_id, name in zip(ids, names):
        result = invoke(library, "people", "rename", str(person_id), name)
        assert result.exit_code == 0, result.output
    created = set(folders(library.output))
    assert {"etc", "con_", "ab", "👩‍🔬 Zoë 王芳"} <= created
    long = next(name for name in created if name.startswith("xxx"))
    assert len(long) <= MAX_CHARS and len(long.encode()) <= MAX_BYTES
    assert {p.name for p in tmp_path.iterdir()} <= {
        "library.db", "library.db-wal", "library.db-shm", "library.db.lock", "people"}
    for folder in library.output.iterdir():
        assert folder.parent == library.output and not folder.is_symlink()
    with library.editing() as store:
        assert [store.person(pid).name for pid in ids] == names  # the display names are kept as typed
    empty = invoke(library, "people", "rename", str(ids[0]), "  ")
    assert empty.exit_code == 1 and empty.stderr.strip() == "error: a name cannot be empty"
    escape = invoke(library, "people", "rename", str(ids[0]), "\x1b[31mRed\x07\u202eeman")
    assert escape.exit_code == 0
    with library.editing() as store:
        assert store.person(ids[0]).name == "[31mRed eman"  # no terminal escapes or direction overrides stored


def test_two_people_can_share_a_name(library):
    library, root, people = library
    for who in ("kit", "rose"):
        assert invoke(library, "people", "rename", str(people[who]), "José").exit_code == 0
    assert {"José", "José (2)"} <= set(folders(library.output))


def test_cli_edits_log_and_undo(library):
    library, root, people = library
    before, folders_before = state(library.database), folders(library.output)
    kit, rose, alex = people["kit"], people["rose"], people["alex"]
    assert invoke(library, "people", "ignore", str(alex)).exit_code == 0
    assert invoke(library, "people", "merge", str(kit), str(rose)).exit_code == 0
    split = invoke(library, "people", "split", str(kit))
    assert split.exit_code == 0 and "review the new people" in split.stdout
    listed = json.loads(CliRunner().invoke(app, ["faces", "list", str(kit), "--json", "--db",
                                                 str(library.database)]).stdout)
    face = listed[0]["id"]
    assert invoke(library, "faces", "not", str(face), str(kit)).exit_code == 0
    assert invoke(library, "faces", "move", str(face), str(kit)).exit_code == 0
    log = json.loads(CliRunner().invoke(app, ["log", "--json", "--db", str(library.database)]).stdout)
    assert [entry["action"] for entry in log] == ["ignore", "merge", "split", "not", "move"]
    for expected in reversed(log):
        result = invoke(library, "undo")
        assert result.exit_code == 0 and result.stdout.strip() == f"undone: {expected['summary']}"
    assert state(library.database) == before
    assert folders(library.output) == folders_before
    empty = invoke(library, "undo")
    assert empty.exit_code == 1 and len(empty.stderr.strip().splitlines()) == 1
    table = CliRunner().invoke(app, ["log", "--db", str(library.database)]).stdout
    assert table.count("undone") == 5
    assert os.path.isdir(library.output)
