"""The identity map on a real scanned library: it follows its JSON Schema, says what the database says,
is byte-for-byte deterministic and private, and `import` restores names, merges, ignores and
corrections into a database rebuilt from scratch."""

import base64
import datetime
import json
import os
import shutil
import sqlite3
import stat
from pathlib import Path

import filelock
import jsonschema
import numpy as np
import pytest
from conftest import copy_database, restore_photos
from typer.testing import CliRunner

from clusterfaces import Library, ScanOptions
from clusterfaces.cli.main import app
from clusterfaces.errors import ClusterfacesError
from clusterfaces.outputs.export import schema
from clusterfaces.people import edits
from clusterfaces.scan.faces import DEFAULT_DETECTOR

REJECTED = "2009-whitehouse/biden2.jpg"  # the user says this face is not Biden


def add_odd_files(root):
    (root / "empty").mkdir()
    from PIL import Image

    Image.linear_gradient("L").convert("RGB").save(root / "empty" / "sky.jpg")  # a photo with no face
    (root / "empty" / "notes.jpg").write_text("not a photo")  # an unreadable one


def run(*args):
    return CliRunner().invoke(app, [str(arg) for arg in args])


@pytest.fixture(scope="module")
def edited(session_scan, tmp_path_factory):
    """The session's real Dlib scan, plus a photo without faces and an unreadable one, with the user's work
    on it: two names, a merge (named), an ignore, a rejection. The two files leave with the module."""
    base = tmp_path_factory.mktemp("export")
    root, people = session_scan.root, session_scan.people
    add_odd_files(root)
    try:
        library = Library(copy_database(session_scan.database, base / "library.db"), base / "people")
        library.scan(ScanOptions(roots=[root], model="Dlib"))  # only the two new files are looked at
        with library.editing() as store:
            edits.rename_person(store, people["obama"], "Barack Obama")
            edits.rename_person(store, people["biden"], "Joe Biden")
            edits.merge_people(store, people["kit"], [people["rose"]])
            edits.rename_person(store, people["kit"], "Kit and Rose")
            edits.ignore_person(store, people["alex"])
            biden = [face.id for face in store.person_face_qualities(people["biden"])]
            face = next(f for f, p in store.face_photos(biden).items() if p == root / REJECTED)
            edits.reject_face(store, face, people["biden"])
        library.refresh_folders()
        yield library, root
    finally:
        restore_photos(session_scan)


@pytest.fixture()
def library(edited, tmp_path):
    """A copy of the edited database that a test may change or delete."""
    source, root = edited
    return Library(copy_database(source.database, tmp_path / "library.db"), tmp_path / "people"), root


def identities(database, root):
    """The user's work as SQL sees it, in terms that survive a rebuilt database: for each face (photo
    below the root, box) its person's name, ignored flag, confirmed flag and group; and the rejections."""
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT f.id, p.path, f.x, f.y, f.w, f.h, f.person_id, pe.name, pe.ignored, f.confirmed"
                          " FROM faces f JOIN photos p ON p.id = f.photo_id LEFT JOIN people pe ON pe.id = f.person_id")
        keys, faces, groups = {}, {}, {}
        for face, path, x, y, w, h, person, name, ignored, confirmed in rows:
            key = (os.path.relpath(os.fsdecode(path), root), (x, y, w, h))
            keys[face] = key
            faces[key] = (name, bool(ignored), bool(confirmed))
            if person:
                groups.setdefault(person, set()).add(key)
        rejections = {(keys[f], frozenset(groups.get(p, ()))) for f, p in db.execute("SELECT * FROM face_rejections")}
    return faces, {frozenset(group) for group in groups.values()}, rejections


def test_export_follows_the_schema_and_says_what_the_database_holds(library, tmp_path):
    library, root = library
    jsonschema.Draft202012Validator.check_schema(schema())
    maps = {}
    for name, options in {"plain": [], "relative": ["--relative"], "vectors": ["--with-embeddings"]}.items():
        result = run("export", tmp_path / f"{name}.json", "--db", library.database, *options)
        assert result.exit_code == 0, result.output
        maps[name] = json.loads((tmp_path / f"{name}.json").read_text())
        jsonschema.validate(maps[name], schema())
    data = maps["plain"]
    assert data["schema"] == "clusterfaces-identity-map/1" and data["model"] == "Dlib"
    assert data["detector"] == DEFAULT_DETECTOR
    assert data["roots"] == [str(root)] and data["embeddings"] is None
    assert "min_cluster_size" in data["settings"]["clustering"]
    assert (data["photos_without_faces"], data["unreadable_photos"]) == (1, 1)
    with sqlite3.connect(library.database) as db:
        stored = {face: (os.fsdecode(path), digest, [x, y, w, h], score, person, bool(sure), blob)
                  for face, path, digest, x, y, w, h, score, person, sure, blob in db.execute(
                      "SELECT f.id, p.path, p.content_hash, f.x, f.y, f.w, f.h, f.score, f.person_id, f.confirmed,"
                      " f.embedding FROM faces f JOIN photos p ON p.id = f.photo_id")}
        people = {pid: (name, bool(ignored))
                  for pid, name, ignored in db.execute("SELECT id, name, ignored FROM people")}
        rejected = set(db.execute("SELECT face_id, person_id FROM face_rejections"))
    exported = {}
    for person in data["people"]:
        assert (person["name"], person["ignored"]) == people[person["id"]]
        assert person["face_count"] == len(person["faces"])
        assert person["photos"] == sorted({face["photo"] for face in person["faces"]})
        assert set(person["not_faces"]) == {f for f, p in rejected if p == person["id"]}
        exported.update({face["id"]: (person["id"], face) for face in person["faces"]})
    exported.update({face["id"]: (None, face) for face in data["unassigned_faces"]})
    assert set(exported) == set(stored) and len(stored) == 30
    for face_id, (person, face) in exported.items():
        path, digest, box, score, owner, sure, _ = stored[face_id]
        assert (face["photo"], face["content_hash"], [face["box"][k] for k in "xywh"], face["score"],
                person, face["confirmed"]) == (path, digest, box, score, owner, sure)
        assert "embedding" not in face
    names = {person["name"] for person in data["people"]}
    assert {"Barack Obama", "Joe Biden", "Kit and Rose"} <= names
    assert any(person["ignored"] for person in data["people"])
    assert any(face["photo"].endswith(REJECTED) for face in data["unassigned_faces"])

    relative = maps["relative"]
    assert relative["paths"] == "relative" and relative["roots"] == [str(root)]
    assert {f["photo"] for p in relative["people"] for f in p["faces"]} == {
        os.path.relpath(f["photo"], root) for p in data["people"] for f in p["faces"]}

    vectors = maps["vectors"]
    assert vectors["embeddings"] == {"encoding": "base64 of little-endian float32", "dimensions": 128}
    for face in [f for p in vectors["people"] for f in p["faces"]] + vectors["unassigned_faces"]:
        decoded = np.frombuffer(base64.b64decode(face["embedding"]), dtype="<f4")
        np.testing.assert_array_equal(decoded, np.frombuffer(stored[face["id"]][6], dtype="<f4"))


def test_export_is_deterministic_private_and_can_go_to_stdout(library, tmp_path):
    library, root = library
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    second.write_text('{"schema": "clusterfaces-identity-map/1"}')  # an older export, readable by all
    os.chmod(second, 0o644)
    for target in (first, second):
        result = run("export", target, "--db", library.database, "--with-embeddings")
        assert result.exit_code == 0 and "readable by you only" in result.stdout
    assert first.read_bytes() == second.read_bytes()
    for target in (first, second):
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
    piped = run("export", "-", "--db", library.database, "--with-embeddings")
    assert piped.exit_code == 0 and piped.stdout.encode() == first.read_bytes()  # only the JSON on stdout
    moved = tmp_path / "elsewhere.db"
    shutil.copy(library.database, moved)
    assert run("export", "-", "--db", moved, "--with-embeddings").stdout == piped.stdout
    with sqlite3.connect(library.database) as db:
        last_edit = db.execute("SELECT max(at) FROM journal").fetchone()[0]
    made = datetime.datetime.fromtimestamp(last_edit, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert json.loads(first.read_text())["made_at"] == made
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []


@pytest.mark.slow  # a scan of every photo from scratch
def test_export_delete_the_database_rescan_and_import_restores_everything(library, tmp_path):
    library, root = library
    before = identities(library.database, root)
    assert run("export", tmp_path / "identities.json", "--db", library.database).exit_code == 0
    for suffix in ("", "-wal", "-shm"):
        Path(f"{library.database}{suffix}").unlink(missing_ok=True)
    rebuilt = library.scan(ScanOptions(roots=[root], model="Dlib"))
    assert not any(p.person.name for p in rebuilt.people)
    scanned = identities(library.database, root)
    result = run("import", tmp_path / "identities.json", "--db", library.database, "--out", library.output)
    assert result.exit_code == 0, result.output
    assert "matched 30 of the map's 30 faces; restored" in result.stdout and "not found" not in result.stdout
    restored = identities(library.database, root)
    assert restored == before  # every name, group, ignore, confirmation and rejection, face by face
    assert {"Barack Obama", "Joe Biden", "Kit and Rose"} <= {d.name for d in library.output.iterdir()}
    log = json.loads(run("log", "--json", "--db", library.database).stdout)
    assert [entry["action"] for entry in log] == ["import"]
    assert run("undo", "--db", library.database, "--out", library.output).exit_code == 0
    assert identities(library.database, root) == scanned
    assert run("import", tmp_path / "identities.json", "--db", library.database).exit_code == 0
    library.scan(ScanOptions(roots=[root], model="Dlib", recluster=True))  # the restored work are constraints
    assert identities(library.database, root)[0] == before[0]


@pytest.mark.slow  # a scan of every photo from scratch
def test_import_matches_moved_photos_by_content_and_reports_what_it_cannot(library, tmp_path):
    library, root = library
    before = identities(library.database, root)
    assert run("export", tmp_path / "map.json", "--db", library.database, "--relative").exit_code == 0
    data = json.loads((tmp_path / "map.json").read_text())
    alex = next(person for person in data["people"] if person["ignored"])
    for face in alex["faces"]:
        face["content_hash"] = "j1:" + "0" * 32  # as if those photos had been edited since
    (tmp_path / "map.json").write_text(json.dumps(data))
    moved = tmp_path / "moved" / "Pictures"
    shutil.copytree(root, moved)
    (moved / "got" / "kit_with_rose.jpg").unlink()
    fresh = Library(tmp_path / "fresh.db", tmp_path / "fresh-people")
    fresh.scan(ScanOptions(roots=[moved], model="Dlib"))
    result = run("import", tmp_path / "map.json", "--db", fresh.database, "--out", fresh.output)
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert f"not restored: person {alex['id']} (none of their faces is in this database)" in out
    assert "named or confirmed faces were not found" in out and "got/kit_with_rose.jpg" in out
    restored = identities(fresh.database, moved)[0]
    expected = {key: value for key, value in before[0].items() if key[0] != "got/kit_with_rose.jpg"}
    for key, (name, ignored, confirmed) in expected.items():
        if not ignored:  # Alex's faces could not be matched: they stay as the scan grouped them
            assert restored[key] == (name, ignored, confirmed), key
    assert not any(ignored for _, ignored, _ in restored.values())


def test_bad_maps_are_one_line_errors_and_change_nothing(library, tmp_path):
    library, root = library
    before = identities(library.database, root)
    good = tmp_path / "good.json"
    assert run("export", good, "--db", library.database).exit_code == 0
    data = json.loads(good.read_text())
    cases = {"garbage.json": "{ not json", "newer.json": json.dumps({**data, "schema": "clusterfaces-identity-map/2"}),
             "broken.json": json.dumps({**data, "people": [{"id": "one"}]})}
    expected = {"garbage.json": "is not JSON", "newer.json": "use the clusterfaces version that wrote it",
                "broken.json": "is not a clusterfaces identity map (people/0"}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        result = run("import", tmp_path / name, "--db", library.database)
        assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1, result.output
        assert expected[name] in " ".join(result.stderr.split())
    with filelock.FileLock(str(library.database) + ".lock"), pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLUSTERFACES_LOCK_WAIT", "0.5")  # the import waits half a second, then gives up
        locked = run("import", good, "--db", library.database)
    assert locked.exit_code == 1 and "another clusterfaces command" in locked.stderr
    assert identities(library.database, root) == before
    missing = run("export", "--db", tmp_path / "none.db")
    assert missing.exit_code == 1 and "no finished scan yet" in missing.stderr


def test_paths_that_are_not_utf8_survive_the_json(tmp_path):
    from clusterfaces.outputs.export import path_namer, to_json, write_private

    raw = b"/photos/caf\xe9/\xff.jpg"  # Latin-1 folder and a byte no encoding decodes
    location = os.fsdecode(raw)
    target = tmp_path / "map.json"
    write_private(target, to_json({"photo": location, "name": "José 王芳"}))
    text = target.read_bytes().decode("utf-8")  # valid UTF-8 on disk
    assert "José 王芳" in text and "\\udcff" in text
    assert os.fsencode(json.loads(text)["photo"]) == raw
    two = path_namer([Path("/a/Pictures"), Path("/b/Phone")], relative=True)
    assert two("/a/Pictures/2020/x.jpg") == "Pictures/2020/x.jpg" and two("/b/Phone/y.jpg") == "Phone/y.jpg"
    assert path_namer([Path("/a/Pictures")], relative=True)("/a/Pictures/2020/x.jpg") == "2020/x.jpg"
    with pytest.raises(ClusterfacesError, match="export without --relative"):
        path_namer([Path("/a/DCIM"), Path("/b/DCIM")], relative=True)
