"""The life of a library, with real Dlib scans of a copy of ../shared/photos: scan, name, ignore and correct;
then everything a real library goes through, each followed by a scan that must keep every name, ignore,
confirmation and "not this person" mark, and embed nothing that did not need it."""

import json
import os
import shutil
import sqlite3
import subprocess

import pytest
from PIL import Image
from typer.testing import CliRunner

from clusterfaces import Library, ScanOptions
from clusterfaces.cli.main import app
from clusterfaces.errors import ClusterfacesError
from clusterfaces.outputs.folders import MANIFEST_NAME
from clusterfaces.people import edits
from clusterfaces.scan.processing import DetectionSettings, failure_key

pytestmark = pytest.mark.slow
EXIFTOOL = shutil.which("exiftool")


def marks(database):
    """What the user said, and who every face is: names and ignores, confirmations, rejections, persons."""
    with sqlite3.connect(database) as db:
        return {
            "people": db.execute("SELECT id, name, ignored FROM people WHERE name IS NOT NULL OR ignored = 1"
                                 " ORDER BY id").fetchall(),
            "confirmed": db.execute("SELECT id, person_id FROM faces WHERE confirmed = 1 ORDER BY id").fetchall(),
            "rejections": db.execute("SELECT face_id, person_id FROM face_rejections ORDER BY 1, 2").fetchall(),
            "persons": db.execute("SELECT id, person_id FROM faces ORDER BY id").fetchall(),
        }


def missing_count(database):
    with sqlite3.connect(database) as db:
        return db.execute("SELECT count(*) FROM photos WHERE missing_since IS NOT NULL").fetchone()[0]


def folders(out):
    return {d.name: len(list(d.iterdir())) for d in out.iterdir() if d.is_dir()}


def person_of(result, path):
    return next(entry.person.id for entry in result.people if path in entry.photos)


def face_of(store, person_id, path):
    boxes = store.face_boxes(face.id for face in store.person_face_qualities(person_id))
    return next(face for face, place in boxes.items() if place.photo == path)


@pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed (CI installs it)")
def test_life_of_a_library(shared_photos, tmp_path, capsys):
    root = tmp_path / "photos"
    shutil.copytree(shared_photos, root, ignore=shutil.ignore_patterns("labels.json"))
    library = Library(tmp_path / "library.db", tmp_path / "people")
    options = ScanOptions(roots=[root], model="Dlib")
    first = library.scan(options)
    assert first.photos_processed == 26

    obama = person_of(first, root / "2009-whitehouse/obama.jpg")
    biden = person_of(first, root / "2009-whitehouse/biden.jpg")
    alex = person_of(first, root / "theatre/alex_lacamoire1.jpg")
    with library.editing() as store:
        edits.rename_person(store, obama, "Barack Obama")
        edits.ignore_person(store, alex)
        moved = face_of(store, biden, root / "2009-whitehouse/biden2.jpg")
        edits.move_face(store, moved, obama)
        rejected = face_of(store, obama, root / "2009-whitehouse/obama.jpg")
        edits.reject_face(store, rejected, obama)
    library.refresh_folders()
    said = marks(library.database)
    shown = folders(library.output)
    assert said["rejections"] == [(rejected, obama)] and (moved, obama) in said["confirmed"]
    assert shown["Barack Obama"] == 14 and not any(name.startswith(f"Person {alex:03d}") for name in shown)
    embedded = {}

    def rescan(step, expected_embedded, **changes):
        result = library.scan(ScanOptions(**{**vars(options), **changes}))
        photos = result.photos_processed - result.photos_reused - result.photos_retagged
        embedded[step] = {"photos re-embedded": photos, "faces embedded": result.faces_new}
        assert (photos, result.faces_new) == expected_embedded, step
        assert marks(library.database) == said, step
        return result

    # 1. The root is not there (a drive not mounted: the folder renamed away), then empty, then back.
    away = tmp_path / "photos-away"
    root.rename(away)
    gone = rescan("root not there", (0, 0))
    assert any("is not there" in warning for warning in gone.warnings)
    assert folders(library.output) == shown and missing_count(library.database) == 0
    root.mkdir()
    empty = rescan("root empty", (0, 0))
    assert any("is empty" in warning for warning in empty.warnings) and missing_count(library.database) == 0
    assert folders(library.output) == shown
    root.rmdir()
    away.rename(root)
    back = rescan("root back", (0, 0))
    assert back.photos_processed == 0 and folders(library.output) == shown and back.warnings == []

    # 2. A photo manager writes a rating and keywords into every JPEG: same pixels, same faces.
    jpegs = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    subprocess.run([EXIFTOOL, "-q", "-q", "-overwrite_original", "-Rating=5", "-Keywords=x", *map(str, jpegs)],
                   check=True)
    tagged = rescan("exiftool rating and keywords", (0, 0))
    assert tagged.photos_retagged == len(jpegs) == 23

    # 3. Half the photos move to another folder: the same photos, the same face ids.
    photos = sorted(p for p in root.rglob("*") if p.is_file())
    (root / "moved").mkdir()
    for photo in photos[::2]:
        photo.rename(root / "moved" / f"{photo.parent.name}-{photo.name}")
    half = rescan("half the photos moved", (0, 0))
    assert half.photos_reused == len(photos[::2]) == 13 and half.photos_missing == 0
    assert folders(library.output) == shown

    # 4. An --out inside the root is refused, in one line, before anything is written.
    inside = root / "People"
    with pytest.raises(ClusterfacesError, match="inside the photo folder"):
        Library(library.database, inside).scan(options)
    cli = CliRunner().invoke(app, ["scan", str(root), "--model", "Dlib", "--db", str(library.database),
                                   "--out", str(inside)])
    assert cli.exit_code == 1 and "inside the photo folder" in cli.output and "Traceback" not in cli.output
    assert not inside.exists() and marks(library.database) == said

    # 5. A bad --max-side is refused before anything is recorded; the photos stay readable.
    cli = CliRunner().invoke(app, ["scan", str(root), "--model", "Dlib", "--db", str(library.database),
                                   "--out", str(library.output), "--max-side", "-5"])
    assert cli.exit_code == 2 and "--max-side" in cli.output
    with pytest.raises(ClusterfacesError, match="--max-side 1 is out of range"):
        library.scan(ScanOptions(roots=[root], model="Dlib", max_side=1))
    readable = rescan("bad --max-side refused", (0, 0))
    assert readable.unreadable == [] and readable.photos_processed == 0
    # A photo an older version recorded as unreadable because of its options is tried again.
    poisoned = next(root.rglob("*john1.jpeg"))
    with sqlite3.connect(library.database) as db:
        db.execute("UPDATE photos SET status = 'unreadable', reason = 'corrupt image: scale must be > 0',"
                   " failed_with = ? WHERE path = ?",
                   (failure_key(DetectionSettings("dlib", "Dlib", -5)), os.fsencode(poisoned)))
        db.execute("DELETE FROM faces WHERE photo_id = (SELECT id FROM photos WHERE path = ?)",
                   (os.fsencode(poisoned),))
    retried = library.scan(options)
    assert retried.photos_processed == 1 and retried.unreadable == [] and retried.faces_new == 1
    embedded["photo recorded unreadable by a bad option, retried"] = {"photos re-embedded": 1, "faces embedded": 1}
    said = marks(library.database)  # that photo's face is a new face now (the old one was deleted above)

    # 6. An edited photo (cropped): detected again, its faces keep their ids, people and marks.
    edited = next(root.rglob("*biden2.jpg"))
    with Image.open(edited) as image:
        image.crop((10, 0, image.width, image.height)).save(edited, quality=92)
    redone = rescan("one photo cropped", (1, 1))
    assert redone.photos_redone == 1
    with library.editing() as store:
        assert (store.face(moved).person_id, store.face(moved).confirmed) == (obama, True)

    # 7. Photos deleted for good are kept as missing, and forgotten only when asked.
    deleted = next(root.rglob("*obama1.jpg"))
    deleted.unlink()
    kept = rescan("one photo deleted", (0, 0))
    assert kept.photos_missing == 1 and kept.photos_removed == 0
    manifest = library.output / MANIFEST_NAME
    written = manifest.stat().st_mtime_ns
    cli = CliRunner().invoke(app, ["scan", str(root), "--model", "Dlib", "--db", str(library.database),
                                   "--forget-missing"])  # no --out: the database remembers its folders
    assert cli.exit_code == 0, cli.output
    assert "forgotten" in cli.output and missing_count(library.database) == 0
    assert manifest.stat().st_mtime_ns != written  # the same people folders were written again
    with library.editing() as store:
        assert str(deleted) not in store.photos_under([root])
    with capsys.disabled():
        print("\nlife of a library, per step:", json.dumps(embedded, indent=1))
