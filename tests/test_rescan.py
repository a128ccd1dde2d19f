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

from clusterfaces import Library, ScanOptions
from clusterfaces.errors import ClusterfacesError
from clusterfaces.library.scanning import crawl_photos
from clusterfaces.people.edits import merge_people, rename_person

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
    with library.editing() as store:
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
    with library.editing() as store:
        faces_before = {os.path.basename(os.fsdecode(path)): ids for path, ids in face_ids_by_photo(store)}
    second = scan(library, root)
    assert second.faces_new == 0  # nothing decoded, detected or embedded
    assert second.photos_reused == 6 + 1 + 1
    assert second.photos_removed == 0 and second.photos_missing == 0  # moved photos are the same photos
    with library.editing() as store:
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
    with library.editing() as store:
        record = store.photos_under([root])[str(gone)]
        assert record.missing_since is not None and store.person(rose.id) is not None
    links = [os.readlink(p) for p in library.output.glob("*/*") if p.is_symlink()]
    assert str(gone) not in links  # a missing photo's faces are not shown: the link would be broken
    assert all(os.path.exists(target) for target in links)
    returned = root / "elsewhere" / "rose.jpg"  # back in another folder, a new file: found by its pixels
    returned.parent.mkdir()
    returned.write_bytes(kept)
    back = scan(library, root)
    assert (back.photos_returned, back.photos_missing, back.faces_new) == (1, 0, 0)
    assert person_of(back, "elsewhere/rose.jpg", root).id == rose.id
    returned.unlink()
    forgotten = scan(library, root, forget_missing=True)
    assert (forgotten.photos_removed, forgotten.photos_missing) == (1, 0)
    with library.editing() as store:
        assert str(gone) not in store.photos_under([root]) and str(returned) not in store.photos_under([root])


def test_names_and_merges_survive_recluster(library_copy):
    library, root = library_copy
    first = scan(library, root)
    obama = person_of(first, "2009-whitehouse/obama.jpg", root)
    kit = person_of(first, "got/john1.jpeg", root)
    rose = person_of(first, "got/rose1.jpg", root)
    with library.editing() as store:
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
    with library.editing() as store:
        rename_person(store, obama.id, "Barack Obama")
    switched = scan(library, root, detector="mtcnn")
    assert switched.detector == "mtcnn"
    assert switched.photos_processed == 26 and switched.photos_reused == 0
    with library.editing() as store:
        assert {record.detector for record in store.photos_under([root]).values()} == {"mtcnn"}
    assert any("processed again" in warning and "carried over" in warning for warning in switched.warnings)
    named = person_of(switched, "2009-whitehouse/obama.jpg", root)
    assert named.name == "Barack Obama"
    assert person_of(switched, "video-stills/obama-240p.jpg", root).name == "Barack Obama"
    again = scan(library, root)  # the library now keeps mtcnn without being told
    assert again.detector == "mtcnn" and again.photos_processed == 0


# --- fast checks, no model: fingerprints, output folders, options ------------------------------------
def jpeg_with(tmp_path, name, **save):
    from PIL import Image

    path = tmp_path / name
    pixels = np.random.default_rng(0).integers(0, 255, size=(64, 96, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, "JPEG", quality=90, **save)
    return path


def test_a_pixel_fingerprint_ignores_metadata_but_not_pixels_or_orientation(tmp_path):
    from PIL import Image

    from clusterfaces.scan.crawl import content_hash, pixel_fingerprint

    plain = jpeg_with(tmp_path, "plain.jpg")
    exif = Image.Exif()
    exif[0x010E] = "a description"  # ImageDescription
    described = jpeg_with(tmp_path, "described.jpg", exif=exif.tobytes(), comment=b"a comment")
    assert content_hash(plain) != content_hash(described)
    assert pixel_fingerprint(plain) == pixel_fingerprint(described)
    appended = tmp_path / "appended.jpg"
    appended.write_bytes(plain.read_bytes() + b"trailer")
    assert pixel_fingerprint(appended) == pixel_fingerprint(plain)
    exif[0x0112] = 6  # rotated: the boxes change, so the fingerprint does
    rotated = jpeg_with(tmp_path, "rotated.jpg", exif=exif.tobytes())
    assert pixel_fingerprint(rotated) != pixel_fingerprint(plain)
    with Image.open(plain) as image:
        image.crop((1, 0, 96, 64)).save(tmp_path / "cropped.jpg", quality=90)
    assert pixel_fingerprint(tmp_path / "cropped.jpg") != pixel_fingerprint(plain)
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Keywords", "x")
    with Image.open(plain) as image:
        image.save(tmp_path / "a.png")
        image.save(tmp_path / "b.png", pnginfo=info)
        image.save(tmp_path / "a.webp", lossless=True)
    assert pixel_fingerprint(tmp_path / "a.png") == pixel_fingerprint(tmp_path / "b.png")
    assert pixel_fingerprint(tmp_path / "a.webp").startswith("d1:")  # other formats: decoded pixels
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    assert pixel_fingerprint(tmp_path / "broken.jpg").startswith("b1:")  # undecodable: the bytes


def test_a_stale_manifest_never_hides_photos_and_the_tool_links_are_not_photos(tmp_path):
    from clusterfaces.outputs.folders import MANIFEST_NAME, PersonFolder, write_people_folders

    root = tmp_path / "photos"
    root.mkdir()
    photo = jpeg_with(root, "a.jpg")
    old_out = root / "old-people"  # another library's output folder inside the root
    write_people_folders(old_out, [PersonFolder("Person 001", (photo,))], [root])
    people = tmp_path / "people"
    found, _ = crawl_photos([root], people, NullObserverForTests())
    assert [f.location for f in found] == [str(photo)]  # its links are skipped
    mine = jpeg_with(old_out / "Person 001", "mine.jpg")  # the user keeps a photo of their own there
    found, _ = crawl_photos([root], people, NullObserverForTests())
    assert sorted(f.location for f in found) == sorted([str(photo), str(mine)])  # found; the link still not
    stale = root / "holiday"
    stale.mkdir()
    (stale / MANIFEST_NAME).write_text('{"version": 1, "folders": [], "entries": []}')
    kept = jpeg_with(stale, "b.jpg")
    found, _ = crawl_photos([root], people, NullObserverForTests())
    assert str(kept) in {f.location for f in found}


class NullObserverForTests:
    def start(self, *args):
        pass

    def advance(self, *args):
        pass


def test_an_output_folder_inside_a_root_or_holding_photos_is_refused_before_anything_is_written(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    jpeg_with(root, "a.jpg")
    with pytest.raises(ClusterfacesError, match="is inside the photo folder"):
        Library(tmp_path / "library.db", root / "people").scan(ScanOptions(roots=[root], model="Dlib"))
    elsewhere = tmp_path / "pictures"
    elsewhere.mkdir()
    jpeg_with(elsewhere, "b.jpg")
    with pytest.raises(ClusterfacesError, match="holds photos clusterfaces did not put there"):
        Library(tmp_path / "library.db", elsewhere).scan(ScanOptions(roots=[root], model="Dlib"))
    assert not (root / "people").exists() and sorted(p.name for p in elsewhere.iterdir()) == ["b.jpg"]
    with Library(tmp_path / "library.db").reading() as store:
        assert store.last_run() is None  # nothing recorded


def test_options_out_of_range_are_refused_before_anything_is_recorded(tmp_path):
    from typer.testing import CliRunner

    from clusterfaces.cli.main import app

    root = tmp_path / "photos"
    root.mkdir()
    for bad in (["--max-side", "-5"], ["--max-side", "1"], ["--batch-size", "0"], ["--workers", "-1"],
                ["--min-face-size", "-1"], ["--attach-distance", "-0.5"], ["--cluster-epsilon", "3"]):
        result = CliRunner().invoke(app, ["scan", str(root), "--db", str(tmp_path / "x.db"), *bad])
        assert result.exit_code == 2 and bad[0] in result.output, bad
    assert not (tmp_path / "x.db").exists()
    for options in ({"max_side": -5}, {"max_side": 1}, {"batch_size": 0}, {"workers": -1}):
        with pytest.raises(ClusterfacesError, match="out of range"):
            Library(tmp_path / "y.db", tmp_path / "out").scan(ScanOptions(roots=[root], **options))
    assert not (tmp_path / "y.db").exists()


def test_the_database_remembers_its_output_folder(tmp_path):
    database = tmp_path / "library.db"
    with Library(database).editing() as store, store.transaction():
        store.set_setting("output", str(tmp_path / "my people"))
    assert Library(database).output == tmp_path / "my people"
    assert Library(database, tmp_path / "other").output == tmp_path / "other"
    assert Library(tmp_path / "new.db").output.name == "people"  # the default


def test_a_photo_recorded_with_a_byte_hash_is_still_recognised_when_moved(tmp_path):
    """Databases from before pixel fingerprints hold byte hashes: a moved photo is found by its bytes, keeps
    its row (face ids, people) and gets its pixel fingerprint."""
    from types import SimpleNamespace

    from clusterfaces.scan.crawl import FoundFile, content_hash, pixel_fingerprint
    from clusterfaces.scan.processing import DetectionSettings, process_photos
    from clusterfaces.store import FaceRow

    old = jpeg_with(tmp_path, "old.jpg")
    with Library(tmp_path / "library.db").editing() as store:
        run = store.start_run([tmp_path], "Dlib", "dlib", {})
        with store.transaction():
            photo = store.save_photo(old, old.stat().st_size, old.stat().st_mtime_ns, content_hash(old), run,
                                     status="done", dimensions=(96, 64), model="Dlib", detector="dlib",
                                     faces=[FaceRow((1, 2, 30, 30), [], 0.9, np.ones(128))])
        new = old.rename(tmp_path / "new.jpg")
        stat = new.stat()
        stats = process_photos([FoundFile(str(new), stat.st_size, stat.st_mtime_ns)], store,
                               SimpleNamespace(model_name="Dlib"), DetectionSettings("dlib", "Dlib", 1600), run,
                               movable={photo})
        assert (stats.moved_photos, stats.faces) == (1, 0)
        record = store.photos_under([tmp_path])[str(new)]
        assert record.id == photo and record.content_hash == pixel_fingerprint(new)


def test_a_missing_photo_back_elsewhere_with_new_tags_is_the_same_photo(tmp_path):
    from types import SimpleNamespace

    from PIL import Image

    from clusterfaces.scan.crawl import FoundFile, pixel_fingerprint
    from clusterfaces.scan.processing import DetectionSettings, process_photos
    from clusterfaces.store import FaceRow

    old = jpeg_with(tmp_path, "old.jpg")
    with Library(tmp_path / "library.db").editing() as store:
        run = store.start_run([tmp_path], "Dlib", "dlib", {})
        with store.transaction():
            photo = store.save_photo(old, old.stat().st_size, old.stat().st_mtime_ns, pixel_fingerprint(old), run,
                                     status="done", dimensions=(96, 64), model="Dlib", detector="dlib",
                                     faces=[FaceRow((1, 2, 30, 30), [], 0.9, np.ones(128))])
            store.mark_missing([photo], run)
        exif = Image.Exif()
        exif[0x010E] = "tagged on the way"
        new = jpeg_with(tmp_path, "new.jpg", exif=exif.tobytes())  # same pixels, another size
        old.unlink()
        stat = new.stat()
        stats = process_photos([FoundFile(str(new), stat.st_size, stat.st_mtime_ns)], store,
                               SimpleNamespace(model_name="Dlib"), DetectionSettings("dlib", "Dlib", 1600), run,
                               movable={photo})
        assert (stats.moved_photos, stats.faces) == (1, 0)
        assert store.photos_under([tmp_path])[str(new)].id == photo and store.missing_photos([tmp_path]) == []
