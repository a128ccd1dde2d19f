"""End to end on real photos with the real Dlib model: the people folders a user gets."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clusterfaces import UNCLUSTERED_FOLDER, Library, ScanOptions


def folder_contents(out: Path, root: Path) -> dict[str, set[str]]:
    """Person folder name -> relative paths of the photos its links point at."""
    contents = {}
    for folder in sorted(p for p in out.iterdir() if p.is_dir()):
        contents[folder.name] = {os.path.relpath(os.readlink(link), root) for link in folder.iterdir()
                                 if link.is_symlink()}
    return contents


@pytest.fixture()
def scanned(session_scan):
    """The session's real scan of a copy of the shared photos: (library, its result, its people folders)."""
    return Library(session_scan.database, session_scan.output), session_scan.result, session_scan.output


def test_every_person_gets_one_folder_with_all_their_photos(scanned, shared_photos, session_scan):
    _, result, out = scanned
    labels = json.loads((shared_photos / "labels.json").read_text())["photos"]
    contents = folder_contents(out, session_scan.root)
    people = {name: photos for name, photos in contents.items() if name != UNCLUSTERED_FOLDER}
    identities = {identity for names in labels.values() for identity in names}
    # Every identity seen in at least two photos has exactly one folder holding all of its photos.
    for identity in sorted(identities):
        photos = {path for path, names in labels.items() if identity in names}
        if len(photos) < 2:
            continue
        holders = [name for name, linked in people.items() if photos <= linked]
        assert len(holders) == 1, f"{identity}: {len(holders)} folders hold all of {sorted(photos)}"
    # No folder glues two people together: all its photos share one labelled identity.
    for name, linked in people.items():
        shared = set.intersection(*(set(labels[path]) for path in linked))
        assert shared, f"{name} mixes people: {sorted(linked)}"
    obama = next(n for n, p in people.items() if "2009-whitehouse/obama.jpg" in p)
    biden = next(n for n, p in people.items() if "2009-whitehouse/biden.jpg" in p)
    assert obama != biden
    for group in ("2009-whitehouse/two_people.jpg", "2009-whitehouse/obama_and_biden.jpg"):
        assert group in people[obama] and group in people[biden]
    assert len(people) == 5  # Obama, Biden, Kit Harington, Rose Leslie, Alex Lacamoire
    assert result.people[0].person.label == obama  # largest first


def test_no_labelled_face_is_lost(scanned, shared_photos, session_scan):
    library, result, _ = scanned
    labels = json.loads((shared_photos / "labels.json").read_text())["photos"]

    with library.editing() as store:
        faces = store.load_faces("Dlib", [session_scan.root])
        boxes = store.face_boxes(faces.ids.tolist())
    per_photo = {}
    for path in (place.photo for place in boxes.values()):
        relative = os.path.relpath(path, session_scan.root)
        per_photo[relative] = per_photo.get(relative, 0) + 1
    for relative, names in labels.items():
        assert per_photo.get(relative, 0) >= len(names), f"{relative}: {per_photo.get(relative, 0)} faces"
    assert result.unreadable == []
    assert result.faces_total == sum(per_photo.values())


def test_rescan_without_changes_processes_nothing(library_copy, session_scan):
    library, root, _ = library_copy
    first = session_scan.result
    again = library.scan(ScanOptions(roots=[root], model="Dlib"))
    assert again.photos_processed == 0
    assert again.faces_new == 0
    assert [p.person.id for p in again.people] == [p.person.id for p in first.people]


def test_bad_files_are_reported_and_the_scan_goes_on(shared_photos, tmp_path):
    photos = tmp_path / "photos"
    (photos / "album").mkdir(parents=True)
    shutil.copy(shared_photos / "got" / "rose1.jpg", photos / "album" / "rose1.jpg")
    (photos / "album" / "empty.jpg").write_bytes(b"")
    (photos / "album" / "notes.jpg").write_text("not a photo at all")
    good = (shared_photos / "got" / "rose2.jpg").read_bytes()
    (photos / "album" / "truncated.jpg").write_bytes(good[: len(good) // 3])
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in photos.rglob("*") if p.is_file()}
    result = Library(tmp_path / "db.sqlite", tmp_path / "out").scan(ScanOptions(roots=[photos], model="Dlib"))
    reasons = {photo.path.name: photo.reason for photo in result.unreadable}
    assert set(reasons) == {"empty.jpg", "notes.jpg", "truncated.jpg"}
    assert "empty" in reasons["empty.jpg"] and "text" in reasons["notes.jpg"]
    assert all("\n" not in reason for reason in reasons.values())
    assert result.faces_total == 1
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in photos.rglob("*") if p.is_file()}
    assert after == before  # photos are never modified


def test_cli_scan_prints_a_summary(shared_photos, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("rose1.jpg", "rose2.jpg", "john1.jpeg"):
        shutil.copy(shared_photos / "got" / name, photos / name)
    completed = subprocess.run(
        [sys.executable, "-m", "clusterfaces", "scan", str(photos), "--out", str(tmp_path / "out"),
         "--db", str(tmp_path / "db.sqlite"), "--model", "Dlib"],
        capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    assert "clusterfaces summary" in completed.stdout
    assert "3  photos seen" in completed.stdout
    assert "People folders" in completed.stdout
    assert (tmp_path / "out").is_dir()


def test_cli_errors_are_one_line(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "clusterfaces", "scan", str(tmp_path / "missing"), "--db", str(tmp_path / "d.db")],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 1
    assert completed.stderr.strip().startswith("error:")
    assert len(completed.stderr.strip().splitlines()) == 1
    assert "Traceback" not in completed.stderr
