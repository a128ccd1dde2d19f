"""What a user is promised, checked the way they meet it (the CLI, or the library for what it reports):
photo sizes in exports, what a scan skips, what counts as a changed photo, stable person ids across a
re-clustering, the automatic re-clustering, `--link-mode`, and unreadable folders and photos.

Each of the first six was seen to fail with a one-line bug planted in the code it guards (issue 13).
"""

import errno
import json
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image, ImageOps
from typer.testing import CliRunner

from clusterfaces import Library, ScanOptions, images
from clusterfaces.cli.main import app
from clusterfaces.outputs.demo import DemoSettings, build_demo_library
from clusterfaces.scan import crawl

ST_DIM = "{http://ns.adobe.com/xap/1.0/sType/Dimensions#}"
MWG_RS = "{http://www.metadataworkinggroup.com/schemas/regions/}"


def cli(*args, ok=True):
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    if ok:
        assert result.exit_code == 0, (args, result.output)
    return result


def where(library):
    return ["--db", library.database, "--out", library.output]


def identity_map(library) -> dict:
    return json.loads(cli("export", "-", "--db", library.database).stdout)


def all_faces(data) -> dict[int, tuple[int | None, dict]]:
    """Face id -> (person id or None, the face's entry), from an identity map."""
    faces = {face["id"]: (person["id"], face) for person in data["people"] for face in person["faces"]}
    faces.update({face["id"]: (None, face) for face in data["unassigned_faces"]})
    return faces


def person_of_photo(data, photo: Path) -> int:
    return next(person["id"] for person in data["people"] if str(photo) in person["photos"])


def upright_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return (ImageOps.exif_transpose(image) or image).size


def test_exports_give_each_photo_its_upright_width_and_height(library_copy):
    library, root, people = library_copy
    rotated = root / "rotated" / "kit-turned.jpg"
    rotated.parent.mkdir()
    with Image.open(root / "got" / "john1.jpeg") as upright:
        exif = Image.Exif()
        exif[0x0112] = 6  # stored on its side; a viewer turns it upright
        upright.transpose(Image.Transpose.ROTATE_90).save(rotated, quality=95, exif=exif)
    cli("scan", root, *where(library))
    data = identity_map(library)
    sizes = {face["photo"]: (face["photo_size"]["width"], face["photo_size"]["height"])
             for _, face in all_faces(data).values()}
    assert str(rotated) in sizes and len(sizes) >= 20
    assert sum(width != height for width, height in sizes.values()) >= 20  # a swap cannot hide
    for photo, size in sizes.items():
        assert size == upright_size(Path(photo)), photo

    cli("people", "rename", person_of_photo(data, root / "got/john1.jpeg"), "Kit", *where(library))
    cli("people", "rename", person_of_photo(data, root / "2009-whitehouse/obama.jpg"), "Obama", *where(library))
    cli("export", "--xmp", "--db", library.database)
    sidecars = sorted(root.rglob("*.xmp"))
    assert Path(f"{rotated}.xmp") in sidecars and len(sidecars) >= 10
    for sidecar in sidecars:
        dimensions = ET.parse(sidecar).getroot().find(f".//{MWG_RS}AppliedToDimensions")
        shown = (int(dimensions.get(f"{ST_DIM}w")), int(dimensions.get(f"{ST_DIM}h")))
        assert shown == upright_size(Path(str(sidecar)[: -len(".xmp")])), sidecar


def test_a_scan_skips_hidden_and_system_folders_and_people_folders(shared_photos, tmp_path):
    """One real scan of a root holding hidden files and folders, NAS, macOS and recycle-bin folders, and
    an earlier people folder moved in with the photos: only the two real photos are scanned, every time.
    An --out inside the root is refused before anything is written."""
    root = tmp_path / "photos"
    (root / "album").mkdir(parents=True)
    for name in ("rose1.jpg", "rose2.jpg"):
        shutil.copy(shared_photos / "got" / name, root / "album" / name)
    face = shared_photos / "got" / "john1.jpeg"  # a face in every place that must be skipped
    for skipped in (".hidden/kit.jpg", "album/.kit.jpg", "album/@eaDir/kit.jpg/SYNOFILE_THUMB_XL.jpg",
                    "__MACOSX/album/kit.jpg", "album/sub/#recycle/kit.jpg"):
        (root / skipped).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(face, root / skipped)
    database, out = tmp_path / "library.db", tmp_path / "people"
    inside = cli("scan", root, "--db", database, "--out", root / "people", "--model", "Dlib", ok=False)
    assert inside.exit_code == 1 and len(inside.stderr.strip().splitlines()) == 1
    assert "inside the photo folder" in inside.stderr and not (root / "people").exists()
    cli("scan", root, "--db", database, "--out", out, "--model", "Dlib")
    links = {link.name for link in out.glob("*/*") if link.is_symlink()}
    assert {"album__rose1.jpg", "album__rose2.jpg"} <= links  # links a scan could mistake for photos
    shutil.move(out, root / "people from before")  # the user files the people folders with the photos
    cli("scan", root, "--db", database, "--out", out)
    library = Library(database, out)
    data = identity_map(library)
    photos = {face["photo"] for _, face in all_faces(data).values()}
    assert photos == {str(root / "album" / "rose1.jpg"), str(root / "album" / "rose2.jpg")}
    again = library.scan(ScanOptions(roots=[root], model="Dlib"))
    assert (again.photos_seen, again.photos_processed, again.skipped) == (2, 0, [])


def test_a_photo_edited_in_place_to_the_same_size_is_processed_again(library_copy):
    """An editor that saves a photo at exactly its old size (same length, new pixels, new time) must not
    fool the scan: the old faces go, the new picture is looked at."""
    library, root, people = library_copy
    photo = root / "2009-whitehouse" / "obama.jpg"
    before = identity_map(library)
    obama = person_of_photo(before, photo)
    size, mtime_ns = photo.stat().st_size, photo.stat().st_mtime_ns
    replacement = photo.with_name("sky.jpg")
    Image.linear_gradient("L").convert("RGB").save(replacement, quality=90)  # no face in it
    data = replacement.read_bytes()
    replacement.unlink()
    assert len(data) < size
    photo.write_bytes(data + b"\0" * (size - len(data)))  # padding after the end-of-image marker
    os.utime(photo, ns=(mtime_ns + 2_000_000_000, mtime_ns + 2_000_000_000))
    assert photo.stat().st_size == size
    cli("scan", root, *where(library))
    after = identity_map(library)
    assert str(photo) not in {face["photo"] for _, face in all_faces(after).values()}
    assert person_of_photo(after, root / "2009-whitehouse" / "obama1.jpg") == obama
    assert not list(library.output.glob("*/2009-whitehouse__obama.jpg"))  # in no person's folder


def test_a_full_reclustering_keeps_every_person_and_their_id(library_copy):
    """`scan --recluster` on a library where nothing changed: every face stays with the same person id,
    named or not."""
    library, root, people = library_copy
    cli("people", "rename", people["obama"], "Obama", *where(library))
    before = identity_map(library)
    assert len(before["people"]) >= 5
    result = cli("scan", root, "--recluster", *where(library))
    assert "all faces re-clustered" in " ".join(result.stdout.split())
    after = identity_map(library)
    assert {f: p for f, (p, _) in all_faces(after).items()} == {f: p for f, (p, _) in all_faces(before).items()}
    assert [(p["id"], p["name"]) for p in after["people"]] == [(p["id"], p["name"]) for p in before["people"]]


def test_enough_new_faces_start_a_full_reclustering_without_being_asked(library_copy, shared_dev_faces, tmp_path):
    """Faces of people the library has never seen only join known people when they match; once enough
    wait unassigned, the next plain `scan` re-clusters everything, and the newcomers become people."""
    library, root, people = library_copy
    source = tmp_path / "newcomers"
    for identity in ("Hugh_Laurie", "Tina_Fey", "Mark_Ruffalo", "Jennifer_Aniston"):
        (source / identity).mkdir(parents=True)
        for crop in sorted((shared_dev_faces / identity).iterdir())[:8]:
            shutil.copy(crop, source / identity / crop.name)
    labels = build_demo_library(source, tmp_path / "composed", DemoSettings(group_share=0.0))
    shutil.copytree(tmp_path / "composed", root / "party", ignore=shutil.ignore_patterns("labels.json"))
    before = identity_map(library)
    result = cli("scan", root, *where(library))  # no --recluster
    assert "all faces re-clustered" in " ".join(result.stdout.split())
    after = identity_map(library)
    who = {str(root / "party" / photo): names[0] for photo, names in labels["photos"].items()}
    new_people: dict[str, set[int | None]] = {}
    for person, face in all_faces(after).values():
        if face["photo"] in who:
            new_people.setdefault(who[face["photo"]], set()).add(person)
    newcomers = [person for person in after["people"] if person["id"] not in {p["id"] for p in before["people"]}]
    assert len(newcomers) >= 3
    grouped = [name for name, persons in new_people.items() if len(persons - {None}) == 1]
    assert len(grouped) >= 3, new_people
    assert {p["id"] for p in before["people"]} <= {p["id"] for p in after["people"]}


@pytest.mark.parametrize("mode", ["copy", "hardlink"])
def test_scan_builds_the_people_folders_with_the_link_mode_asked_for(library_copy, mode):
    library, root, people = library_copy
    cli("scan", root, "--link-mode", mode, *where(library))
    cli("people", "rename", people["biden"], "Biden", *where(library))  # an edit keeps the library's mode
    entries = [entry for folder in library.output.iterdir() if folder.is_dir() for entry in folder.iterdir()]
    assert len(entries) >= 26 and (library.output / "Biden").is_dir()
    for entry in entries:
        assert not entry.is_symlink(), entry
        photo = root / entry.name.replace("__", "/")
        if mode == "hardlink":
            assert entry.stat().st_ino == photo.stat().st_ino, entry
        else:
            assert entry.stat().st_ino != photo.stat().st_ino and entry.read_bytes() == photo.read_bytes()


def test_a_folder_or_photo_that_cannot_be_read_is_reported_and_the_rest_is_scanned(shared_photos, tmp_path,
                                                                                  monkeypatch):
    """Permission denied, as a user who is not root meets it (root reads everything, so the error is
    patched in where the scan meets it: listing a folder, opening a photo)."""
    root = tmp_path / "photos"
    for folder in ("open", "locked", "secret"):
        (root / folder).mkdir(parents=True)
    shutil.copy(shared_photos / "got" / "rose1.jpg", root / "open" / "rose1.jpg")
    shutil.copy(shared_photos / "got" / "rose2.jpg", root / "locked" / "rose2.jpg")
    shutil.copy(shared_photos / "got" / "john1.jpeg", root / "secret" / "kit.jpg")
    scandir, image_open = os.scandir, images.Image.open

    def refusing_scandir(path="."):
        if Path(path) == root / "locked":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return scandir(path)

    def refusing_open(path, *args, **kwargs):
        if Path(path).name == "kit.jpg":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return image_open(path, *args, **kwargs)

    monkeypatch.setattr(crawl.os, "scandir", refusing_scandir)
    monkeypatch.setattr(images.Image, "open", refusing_open)
    library = Library(tmp_path / "library.db", tmp_path / "people")
    result = library.scan(ScanOptions(roots=[root], model="Dlib", workers=0))  # workers: the patch holds
    assert [(item.path, item.reason) for item in result.skipped] == [
        (root / "locked", "cannot read folder: Permission denied")]
    unreadable = [(photo.path, photo.reason) for photo in result.unreadable]
    assert unreadable == [(root / "secret" / "kit.jpg", "permission denied")]
    assert (result.photos_seen, result.faces_total) == (2, 1)
