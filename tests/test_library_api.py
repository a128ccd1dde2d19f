"""The public Library API (issue 14): its surface, its reads, its multi-face edits, and the layering rules."""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path

import pytest

import clusterfaces
from clusterfaces import ClusterfacesError, Library
from clusterfaces.store import Store

PACKAGE = Path(clusterfaces.__file__).parent


def test_every_public_name_resolves():
    for name in clusterfaces.__all__:
        assert getattr(clusterfaces, name) is not None, name
    with pytest.raises(AttributeError):
        clusterfaces.Store  # noqa: B018 - the store is not public


def test_reads_never_create_a_database(tmp_path):
    library = Library(tmp_path / "typo.db")
    assert library.people() == [] and library.journal() == [] and library.unassigned_faces() == []
    for read in (library.current, lambda: library.person(1), lambda: library.person_faces(1)):
        with pytest.raises(ClusterfacesError, match="there is no library at"):
            read()
    assert not (tmp_path / "typo.db").exists()


def _journal(database):
    with sqlite3.connect(database) as db:
        return db.execute("SELECT action, summary, undone FROM journal ORDER BY id").fetchall()


def _owners(database, faces):
    with sqlite3.connect(database) as db:
        return {f: db.execute("SELECT person_id, confirmed FROM faces WHERE id = ?", (f,)).fetchone() for f in faces}


def test_people_and_faces_reads_agree_with_the_database(library_copy):
    library, root, people = library_copy
    listed = library.people()
    assert [p.faces for p in listed] == sorted((p.faces for p in listed), reverse=True)
    obama = library.person(people["obama"])
    assert obama.faces == len(library.person_faces(obama.id)) and obama.label == f"Person {obama.id:03d}"
    assert obama.cover_face in {face.id for face in library.person_faces(obama.id)}
    page = library.person_faces(obama.id, offset=2, limit=3)
    assert [f.id for f in page] == [f.id for f in library.person_faces(obama.id)][2:5]
    assert all(face.photo.is_relative_to(root) and face.person_id == obama.id for face in page)
    assert library.faces([page[1].id, 10**12, page[0].id]) == [page[1], page[0]]
    with pytest.raises(ClusterfacesError, match="there is no person"):
        library.person(10**12)


def test_selected_faces_move_reject_and_become_a_person_in_one_undoable_edit_each(library_copy):
    library, root, people = library_copy
    database = library.database
    biden = [f.id for f in library.person_faces(people["biden"])][:2]
    before = _owners(database, biden)

    moved = library.move_faces(biden, people["obama"])
    assert _owners(database, biden) == {f: (people["obama"], 1) for f in biden}
    assert moved.summary.startswith("2 faces") and len(_journal(database)) == 1
    assert library.undo().summary == moved.summary
    assert _owners(database, biden) == before

    rejected = library.reject_faces(biden, people["biden"])
    assert rejected.faces == 2 and all(owner == (None, 0) for owner in _owners(database, biden).values())
    library.undo()
    assert _owners(database, biden) == before

    made = library.new_person(biden)
    assert made.person_id not in people.values()
    assert _owners(database, biden) == {f: (made.person_id, 1) for f in biden}
    assert library.person(made.person_id).faces == 2
    assert library.person_faces(made.person_id)[0].photo.exists()
    library.undo()
    assert _owners(database, biden) == before
    with pytest.raises(ClusterfacesError, match="there is no person"):
        library.person(made.person_id)
    assert [row[0] for row in _journal(database)] == ["move", "not", "new"]
    assert all(row[2] == 1 for row in _journal(database))


def test_suggestions_and_doubtful_faces(library_copy):
    library, root, people = library_copy
    library.rename(people["obama"], "Barack Obama")
    library.rename(people["biden"], "Joe Biden")
    face = library.person_faces(people["obama"])[0]
    suggested = library.suggest_people(face.id, k=3)
    assert suggested and suggested[0].name == "Joe Biden"  # its own person is left out
    assert [s.distance for s in suggested] == sorted(s.distance for s in suggested)
    doubts = library.doubtful_faces(people["obama"], limit=3)
    assert [d.distance for d in doubts] == sorted((d.distance for d in doubts), reverse=True)
    assert {d.face.person_id for d in doubts} == {people["obama"]}


def test_an_edit_and_the_folders_after_it_read_no_embedding(library_copy, monkeypatch):
    """Describing people and writing their folders needs ids, people, photos, sizes and scores only: with
    every embedding read made to fail, a rename, a merge, an undo and a refresh still work."""
    library, root, people = library_copy

    def no_vectors(*args, **kwargs):
        raise AssertionError("an edit read embeddings")

    for method in ("load_faces", "face_embeddings", "person_embeddings", "photo_faces"):
        monkeypatch.setattr(Store, method, no_vectors)
    assert library.rename(people["obama"], "Barack Obama").folders_warning is None
    assert library.merge(people["kit"], [people["rose"]]).faces > 0
    library.undo()
    result = library.refresh_folders()
    assert "Barack Obama" in {p.person.label for p in result.people}
    assert (library.output / "Barack Obama").is_dir()


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _layer(path: Path) -> str:
    relative = path.relative_to(PACKAGE).parts
    if relative == ("__main__.py",):
        return "cli"  # `python -m clusterfaces` is the command line
    if relative == ("__init__.py",):
        return "api"  # the package itself: the public names, imported lazily from the layers that define them
    return relative[0] if len(relative) > 1 else "base"


def test_the_layers_only_import_downwards():
    """Front ends import the library; nothing imports a front end; nothing below the library imports it;
    the base imports nothing of the project but itself."""
    allowed = {
        "base": {"base"}, "store": {"base", "store"},
        "scan": {"base", "store", "scan"}, "people": {"base", "store", "scan", "people"},
        "outputs": {"base", "store", "scan", "people", "outputs"},
        "library": {"base", "store", "scan", "people", "outputs", "library"},
        "cli": {"base", "store", "scan", "people", "outputs", "library", "cli",
                "web"},  # `clusterfaces review` starts the web app: the one front end that launches another
        "web": {"base", "library", "web"},
        "api": {"base", "store", "people", "library"},
    }
    packages = {"store", "scan", "people", "outputs", "library", "cli", "web"}
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        layer = _layer(path)
        for module in _imports(path):
            parts = module.split(".")
            if parts[0] != "clusterfaces" or len(parts) < 2 or parts[1] == "__version__":
                continue
            target = parts[1] if parts[1] in packages else "base"
            if target == "base" and len(parts) == 2 and parts[1] in clusterfaces.__all__:
                target = "library"  # `from clusterfaces import Library`: the public API
            if target not in allowed[layer]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert wrong == []


def test_only_the_library_opens_a_store():
    opened = []
    for path in PACKAGE.rglob("*.py"):
        if _layer(path) in ("store", "library"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Store":
                opened.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert opened == []


def test_a_thumbnail_decodes_a_big_photo_at_the_size_its_face_needs(tmp_path):
    """A 160-pixel thumbnail of a big face needs a fraction of a 4,000-pixel photo (JPEG draft decoding),
    and looks the same as one cut from the full decode."""
    import numpy as np
    from PIL import Image

    from clusterfaces.outputs import crops

    rng = np.random.default_rng(7)
    small = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
    photo = tmp_path / "big.jpg"
    Image.fromarray(small).resize((4000, 3000), Image.Resampling.BICUBIC).save(photo, quality=92)
    face = (1000, 800, 1200, 1200)
    side = crops._decode_side(photo, [(1, face)], 160, 0.2)
    assert 300 <= side <= 700
    assert crops._decode_side(photo, [(1, (10, 10, 40, 40))], 160, 0.2) == crops.CROP_DECODE_SIDE  # a tiny face
    (_, quick), = crops.face_crops([(1, photo, face)], size=160)
    chosen, crops._decode_side = crops._decode_side, lambda *args: None  # None: decode at full size
    try:
        (_, full), = crops.face_crops([(1, photo, face)], size=160)
    finally:
        crops._decode_side = chosen
    difference = np.abs(np.asarray(quick, dtype=np.int16) - np.asarray(full, dtype=np.int16)).mean()
    assert quick.size == full.size == (160, 160) and difference < 6, difference
