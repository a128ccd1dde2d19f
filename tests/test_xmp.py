"""XMP sidecars on a real scanned library, read back with ExifTool: the named faces' MWG regions land
on the right faces (EXIF-rotated photos included), other metadata in a sidecar is kept, photos are never
written, and folders that cannot be written are skipped with one line."""

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from clusterfaces import Library, ScanOptions
from clusterfaces.boxes import box_overlap
from clusterfaces.cli.main import app
from clusterfaces.outputs.xmp import sidecar_path
from clusterfaces.people import edits

ROTATED = "rotated/john1_exif6.jpg"  # got/john1.jpeg stored turned on its side, with EXIF orientation 6
NAMES = {"got/john1.jpeg": "Kit Harington", "2009-whitehouse/obama.jpg": "Barack Obama"}
FOREIGN_SIDECAR = """<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <!-- written by another photo tool -->
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:darktable="http://darktable.sf.net/" xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
    xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#" xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#"
    xmp:Rating="4" darktable:xmp_version="5">
   <dc:subject><rdf:Bag><rdf:li>holiday</rdf:li><rdf:li>Ünïcödé</rdf:li></rdf:Bag></dc:subject>
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">On the lawn</rdf:li></rdf:Alt></dc:description>
   <mwg-rs:Regions rdf:parseType="Resource">
    <mwg-rs:AppliedToDimensions stDim:w="100" stDim:h="100" stDim:unit="pixel"/>
    <mwg-rs:RegionList><rdf:Bag><rdf:li><rdf:Description mwg-rs:Name="Someone Else" mwg-rs:Type="Face">
     <mwg-rs:Area stArea:x="0.1" stArea:y="0.1" stArea:w="0.1" stArea:h="0.1" stArea:unit="normalized"/>
    </rdf:Description></rdf:li></rdf:Bag></mwg-rs:RegionList>
   </mwg-rs:Regions>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" photoshop:City="Washington"/>
 </rdf:RDF>
</x:xmpmeta>
"""


def exiftool(*paths):
    """ExifTool's reading of the files, structures kept (-struct), one dict per file."""
    if shutil.which("exiftool") is None:
        pytest.skip("exiftool is not installed (Debian: libimage-exiftool-perl)")
    output = subprocess.run(["exiftool", "-json", "-struct", "-G1", *map(str, paths)], capture_output=True,
                            check=True, text=True).stdout
    return {Path(entry["SourceFile"]): entry for entry in json.loads(output)}


def run(*args):
    return CliRunner().invoke(app, [str(arg) for arg in args])


@pytest.fixture(scope="module")
def named(shared_photos, tmp_path_factory):
    """A real Dlib scan of the photos plus an EXIF-rotated copy of one, with Kit and Obama named."""
    base = tmp_path_factory.mktemp("xmp")
    root = base / "photos"
    shutil.copytree(shared_photos, root, ignore=shutil.ignore_patterns("labels.json"))
    (root / ROTATED).parent.mkdir()
    with Image.open(root / "got" / "john1.jpeg") as upright:
        exif = Image.Exif()
        exif[0x0112] = 6  # the viewer turns it 90 degrees clockwise: upright again
        upright.transpose(Image.Transpose.ROTATE_90).save(root / ROTATED, quality=95, exif=exif)
    library = Library(base / "library.db", base / "people")
    result = library.scan(ScanOptions(roots=[root], model="Dlib"))
    with library.editing() as store:
        for photo, name in NAMES.items():
            edits.rename_person(store, next(p.person.id for p in result.people if root / photo in p.photos), name)
        edits.ignore_person(store, next(p.person.id for p in result.people if root / "theatre/alex-lacamoire.png"
                                        in p.photos))
    return library, root


@pytest.fixture()
def library(named, tmp_path):
    """A copy of the named database; every sidecar the test writes is removed afterwards."""
    source, root = named
    shutil.copy(source.database, tmp_path / "library.db")
    yield Library(tmp_path / "library.db", tmp_path / "people"), root
    for sidecar in root.rglob("*.xmp"):
        sidecar.unlink()


def named_faces(database, root):
    """Photo below the root -> (upright width, height) and the (name, box) of each named, not ignored face."""
    faces = {}
    with sqlite3.connect(database) as db:
        for path, width, height, name, x, y, w, h in db.execute(
                "SELECT p.path, p.width, p.height, pe.name, f.x, f.y, f.w, f.h FROM faces f JOIN photos p"
                " ON p.id = f.photo_id JOIN people pe ON pe.id = f.person_id"
                " WHERE pe.name IS NOT NULL AND pe.ignored = 0"):
            entry = faces.setdefault(os.path.relpath(os.fsdecode(path), root), ((width, height), []))
            entry[1].append((name, (x, y, w, h)))
    return faces


def regions_in_pixels(entry):
    """(width, height) and [(name, (x, y, w, h))] from ExifTool's RegionInfo, turned back into pixels."""
    info = entry["XMP-mwg-rs:RegionInfo"]
    size = info["AppliedToDimensions"]
    assert size["Unit"] == "pixel"
    width, height = size["W"], size["H"]
    regions = []
    for region in info["RegionList"]:
        area = region["Area"]
        assert region["Type"] == "Face" and area["Unit"] == "normalized"
        x, y, w, h = (float(area[k]) for k in ("X", "Y", "W", "H"))
        regions.append((region["Name"], ((x - w / 2) * width, (y - h / 2) * height, w * width, h * height)))
    return (width, height), regions


def snapshot(root):
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file() and p.suffix != ".xmp"}


def test_sidecars_carry_the_named_faces_as_exiftool_reads_them(library, tmp_path, monkeypatch):
    library, root = library
    monkeypatch.chdir(tmp_path)
    photos_before = snapshot(root)
    result = run("export", "--xmp", "--db", library.database)
    assert result.exit_code == 0, result.output
    expected = named_faces(library.database, root)
    assert len(expected) == 19 and sum(len(faces) for _, faces in expected.values()) == 19
    assert "XMP sidecars for 19 photos with 19 named faces: 19 written" in result.stdout
    assert not (tmp_path / "identities.json").exists()  # --xmp alone writes no JSON
    sidecars = sorted(root.rglob("*.xmp"))
    assert {os.path.relpath(p, root) for p in sidecars} == {photo + ".xmp" for photo in expected}
    read = exiftool(*sidecars)
    for photo, (size, faces) in expected.items():
        found_size, regions = regions_in_pixels(read[sidecar_path(root / photo)])
        assert found_size == size
        for (name, box), (found_name, found_box) in zip(sorted(faces), sorted(regions)):
            assert found_name == name and box_overlap(box, found_box) > 0.99, (photo, box, found_box)
    assert {name for _, faces in expected.values() for name, _ in faces} == set(NAMES.values())
    assert snapshot(root) == photos_before  # no photo was written or touched

    rotated_size, rotated = regions_in_pixels(read[sidecar_path(root / ROTATED)])
    upright_size, upright = regions_in_pixels(read[sidecar_path(root / "got/john1.jpeg")])
    with Image.open(root / ROTATED) as stored:
        assert stored.size == upright_size[::-1]  # the file's pixels lie on their side...
    assert rotated_size == upright_size  # ...the regions refer to the upright photo, as MWG says
    assert rotated[0][0] == "Kit Harington" and box_overlap(rotated[0][1], upright[0][1]) > 0.8

    mtimes = {p: p.stat().st_mtime_ns for p in sidecars}
    again = run("export", "--xmp", "--db", library.database)
    assert "0 written, 19 already up to date" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in sidecars} == mtimes
    assert not list(root.rglob("*.tmp"))


def test_an_existing_sidecar_keeps_its_other_metadata(library, tmp_path):
    library, root = library
    sidecar = sidecar_path(root / "2009-whitehouse/obama.jpg")
    sidecar.write_text(FOREIGN_SIDECAR, encoding="utf-8")
    os.chmod(sidecar, 0o640)
    before = exiftool(sidecar)[sidecar]
    assert run("export", tmp_path / "map.json", "--xmp", "--db", library.database).exit_code == 0
    after = exiftool(sidecar)[sidecar]
    kept = {key: value for key, value in before.items() if not key.startswith(("System:", "XMP-mwg-rs:"))}
    assert kept and {key: after.get(key) for key in kept} == kept
    assert after["XMP-dc:Subject"] == ["holiday", "Ünïcödé"] and after["XMP-xmp:Rating"] == 4
    assert after["XMP-photoshop:City"] == "Washington" and after["XMP-darktable:Xmp_version"] == 5
    (size, regions) = regions_in_pixels(after)
    assert [name for name, _ in regions] == ["Barack Obama"]  # the old regions were replaced
    text = sidecar.read_text(encoding="utf-8")
    assert "written by another photo tool" in text and "xmlns:darktable=" in text  # comment and prefixes kept
    assert stat.S_IMODE(sidecar.stat().st_mode) == 0o640
    assert json.loads((tmp_path / "map.json").read_text())["schema"]  # with a path, the JSON is written too


def test_un_naming_takes_clusterfaces_regions_away_and_leaves_other_tools_regions(library):
    library, root = library
    foreign = sidecar_path(root / "got/rose1.jpg")  # Rose is not named: her sidecar is someone else's
    foreign.write_text(FOREIGN_SIDECAR, encoding="utf-8")
    assert run("export", "--xmp", "--db", library.database).exit_code == 0
    kit = sidecar_path(root / "got/john2.jpeg")
    assert "Kit Harington" in kit.read_text()
    with library.editing() as store:
        for _ in range(3):
            edits.undo_last(store)  # the ignore, Obama's name and Kit's name: nobody is named any more
    result = run("export", "--xmp", "--db", library.database)
    assert "XMP sidecars for 0 photos with 0 named faces: 0 written, 0 already up to date, 19 cleared" in result.stdout
    assert "nobody is named yet" in result.stdout
    entry = exiftool(kit)[kit]
    assert "XMP-mwg-rs:RegionInfo" not in entry and "Kit Harington" not in kit.read_text()
    ET.fromstring(kit.read_bytes())  # still well-formed XMP
    assert foreign.read_text(encoding="utf-8") == FOREIGN_SIDECAR


def test_a_read_only_folder_is_skipped_with_one_line(library):
    library, root = library
    folder = root / "got"
    os.chmod(folder, 0o555)
    immutable = False
    try:
        if os.access(folder, os.W_OK):  # root writes anyway: make the folder immutable instead
            immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
            if not immutable:
                pytest.skip("cannot make a folder read-only for root here (no chattr)")
        result = run("export", "--xmp", "--db", library.database)
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        os.chmod(folder, 0o755)
    assert result.exit_code == 0, result.output
    skipped = [line for line in result.stderr.splitlines() if "skipped" in line]
    assert len(skipped) == 1 and skipped[0].startswith("skipped 4 photos, e.g. ") and "got/" in skipped[0]
    assert not list(folder.glob("*.xmp")) and not list(folder.glob(".*.tmp"))
    assert sidecar_path(root / "2009-whitehouse/obama.jpg").exists()


def test_a_sidecar_that_is_not_xml_is_left_alone(library):
    library, root = library
    sidecar = sidecar_path(root / "2009-whitehouse/obama.jpg")
    sidecar.write_bytes(b"<x:xmpmeta this is not <xml")
    result = run("export", "--xmp", "--db", library.database)
    assert result.exit_code == 0 and "skipped 1 photo," in result.stderr and "not valid XML" in result.stderr
    assert sidecar.read_bytes() == b"<x:xmpmeta this is not <xml"
