"""A user's whole session through the command line leaves every photo exactly as it was.

Scan, the interactive naming session, scripted edits, undo, the JSON export, XMP sidecars, import,
the gallery and a re-scan: afterwards each photo has the same bytes, modification time and mode, and
the only new files among the photos are the `.xmp` sidecars that `export --xmp` is asked to write.
"""

import os
import shutil

import pytest
from typer.testing import CliRunner

from clusterfaces.cli.main import app

pytestmark = pytest.mark.slow  # a whole session from a first scan of all the photos: a minute or more


def snapshot(root):
    """Every file below root: bytes, mtime and mode, by path."""
    files = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            info = os.stat(path)
            with open(path, "rb") as handle:
                files[path] = (handle.read(), info.st_mtime_ns, info.st_mode)
    return files


def test_scan_name_edit_export_import_and_rescan_touch_no_photo(shared_photos, tmp_path):
    photos = tmp_path / "photos"
    shutil.copytree(shared_photos, photos)
    before = snapshot(photos)
    db = ["--db", str(tmp_path / "library.db")]
    out = ["--out", str(tmp_path / "people")]
    runner = CliRunner()

    def run(*args, answers=None, where=(*db, *out)):
        result = runner.invoke(app, [*map(str, args), *where], input=answers)
        assert result.exit_code == 0, (args, result.output)
        return result.output

    run("scan", photos, "--model", "Dlib")
    run("name", answers="Alice\n\n-\nq\n")
    listing = run("people", where=db)
    assert "Alice" in listing
    run("people", "rename", "2", "Bob")
    run("undo")
    run("export", tmp_path / "identities.json", where=db)
    run("export", "--xmp", where=db)
    run("import", tmp_path / "identities.json")
    run("gallery", "--out", tmp_path / "gallery", where=db)
    run("scan", photos)
    run("scan", photos, "--recluster")

    after = snapshot(photos)
    sidecars = {path for path in after if path.endswith(".xmp")}
    assert sidecars, "export --xmp wrote no sidecar for the named person"
    assert all(path[: -len(".xmp")] in before for path in sidecars)  # photo.jpg -> photo.jpg.xmp, beside it
    assert {path: after[path] for path in after if path not in sidecars} == before
