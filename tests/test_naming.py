"""The interactive naming session, driven through its input (answers piped in), on a real scanned library."""

import io
import os
import shutil
import sqlite3
import stat
import subprocess
import sys

import pytest
from PIL import Image
from rich.console import Console
from typer.testing import CliRunner

from clusterfaces import Library
from clusterfaces.cli.main import app
from clusterfaces.outputs.folders import MAX_BYTES, MAX_CHARS
from clusterfaces.outputs.sheets import GAP, TILE, FacePreview, contact_sheet, person_crops, write_contact_sheet
from clusterfaces.store import FaceState


@pytest.fixture()
def library(scanned, tmp_path, monkeypatch):
    database, root, people = scanned
    shutil.copy(database, tmp_path / "library.db")
    monkeypatch.setenv("CLUSTERFACES_HOME", str(tmp_path / "home"))  # where the contact sheets go
    library = Library(tmp_path / "library.db", tmp_path / "people")
    library.refresh_folders()
    order = [person.id for person in library.people()]  # the order the session asks in: largest first
    return library, root, people, order


def name(library, answers):
    """Run `clusterfaces name` with the answers piped in."""
    return CliRunner().invoke(app, ["name", "--db", str(library.database), "--out", str(library.output)],
                              input=answers)


def people_rows(library):
    with sqlite3.connect(library.database) as db:
        return {pid: (name, bool(ignored)) for pid, name, ignored in db.execute("SELECT id, name, ignored FROM people")}


def folders(library):
    return {d.name for d in library.output.iterdir() if d.is_dir()}


def actions(library):
    return [entry.action for entry in library.journal()]


def test_name_skip_ignore_and_quit(library, tmp_path):
    library, root, people, order = library
    result = name(library, "Barack Obama\n\n-\nq\n")
    assert result.exit_code == 0, result.output
    rows = people_rows(library)
    assert rows[order[0]] == ("Barack Obama", False)
    assert rows[order[1]] == (None, False)  # skipped
    assert rows[order[2]] == (None, True)  # ignored
    assert all(rows[pid] == (None, False) for pid in order[3:])  # never reached
    assert actions(library) == ["name", "ignore"]
    assert folders(library) == {"Barack Obama", "Unclustered"} | {f"Person {pid:03d}" for pid in order[1:2] + order[3:]}
    assert len(list((library.output / "Barack Obama").iterdir())) == 14
    assert "✓ named Barack Obama" in result.stdout and "✓ ignored" in result.stdout
    assert "2 still unnamed" not in result.stdout and "3 still unnamed" in result.stdout
    sheet = tmp_path / "home" / "sheets" / f"person-{order[0]}.jpg"
    assert f"faces: {sheet}" in result.stdout
    assert stat.S_IMODE(sheet.stat().st_mode) == 0o600 and stat.S_IMODE(sheet.parent.stat().st_mode) == 0o700
    with Image.open(sheet) as image:
        assert image.format == "JPEG" and image.size == (GAP + 6 * (TILE + GAP), GAP + 2 * (TILE + GAP))
    assert "▀" not in result.stdout  # no preview without a colour terminal


def test_quit_at_end_of_input_and_resume(library):
    library, root, people, order = library
    first = name(library, "Alice\n")  # the input ends after one answer: that is a quit, with the answer saved
    assert first.exit_code == 0 and "4 still unnamed" in first.stdout
    assert people_rows(library)[order[0]] == ("Alice", False)
    second = name(library, "Bob\nq\n")  # picks up with the next unnamed person
    assert second.exit_code == 0
    assert f"Person {order[0]:03d}" not in second.stdout and f"Person {order[1]:03d}" in second.stdout
    assert people_rows(library)[order[1]] == ("Bob", False)
    assert {"Alice", "Bob"} <= folders(library)


def test_a_name_someone_has_merges_the_two_and_undo_separates_them(library):
    library, root, people, order = library
    kit, rose = people["kit"], people["rose"]
    answers = {kit: "Kit", rose: " kit ", people["obama"]: "", people["biden"]: "", people["alex"]: ""}
    result = name(library, "".join(answers[pid] + "\n" for pid in order))
    assert result.exit_code == 0, result.output
    assert f"✓ joined Kit (person {kit})" in result.stdout
    rows = people_rows(library)
    assert rows[kit] == ("Kit", False) and rose not in rows
    assert len(list((library.output / "Kit").iterdir())) == 6  # kit_with_rose.jpg holds both: one link
    assert actions(library) == ["name", "merge"]
    undo = CliRunner().invoke(app, ["undo", "--db", str(library.database), "--out", str(library.output)])
    assert undo.exit_code == 0 and "merged into person" in undo.stdout
    assert people_rows(library)[rose] == (None, False)
    assert f"Person {rose:03d}" in folders(library)


def carve_out_video_stills(library, root, obama):
    """Make the library hold Obama twice, as a scan might: his video stills as a separate person."""
    with library.editing() as store:
        boxes = store.face_boxes([face.id for face in store.person_face_qualities(obama)])
        stills = [face for face, place in boxes.items() if place.photo.parent.name == "video-stills"]
        with store.transaction():
            twin = store.new_person("Dlib", None)
            store.set_face_states(FaceState(face, twin, False) for face in stills)
    return twin


def test_nearest_named_person_is_suggested_and_yes_merges(library):
    library, root, people, order = library
    obama = people["obama"]
    twin = carve_out_video_stills(library, root, obama)
    result = name(library, "Barack Obama\ny\nq\n")
    assert result.exit_code == 0, result.output
    assert "looks like Barack Obama (0." in result.stdout and "same person? [y/N]" in result.stdout
    assert "✓ joined Barack Obama" in result.stdout
    rows = people_rows(library)
    assert twin not in rows and rows[obama] == ("Barack Obama", False)
    assert len(list((library.output / "Barack Obama").iterdir())) == 14
    assert actions(library) == ["name", "merge"]


def test_no_to_the_suggestion_asks_for_a_name(library):
    library, root, people, order = library
    twin = carve_out_video_stills(library, root, people["obama"])
    result = name(library, "Barack Obama\nn\n-\nq\n")
    assert result.exit_code == 0, result.output
    assert people_rows(library)[twin] == (None, True)
    assert actions(library) == ["name", "ignore"]


def test_help_then_answer(library):
    library, root, people, order = library
    result = name(library, "?\nAlice\nq\n")
    assert result.exit_code == 0
    assert "skip for now" in result.stdout and "quit: every answer so far is saved" in result.stdout
    assert people_rows(library)[order[0]] == ("Alice", False)


def test_hostile_names_in_the_session(library, tmp_path):
    library, root, people, order = library
    names = ["../../etc", "con", "a/b", "x" * 10_000, "👩‍🔬 Zoë 王芳"]
    result = name(library, "".join(n + "\n" for n in names))
    assert result.exit_code == 0, result.output
    rows = people_rows(library)
    assert [rows[pid][0] for pid in order] == names
    made = folders(library)
    assert {"etc", "con_", "ab", "👩‍🔬 Zoë 王芳", "Unclustered"} <= made and len(made) == 6
    long = next(folder for folder in made if folder.startswith("xxx"))
    assert len(long) <= MAX_CHARS and len(long.encode()) <= MAX_BYTES
    assert {p.name for p in tmp_path.iterdir()} <= {
        "library.db", "library.db-wal", "library.db-shm", "library.db.lock", "people", "home"}
    assert not (library.output.parent.parent / "etc").exists()
    for link in library.output.glob("*/*"):
        assert link.parent.parent == library.output and os.path.exists(link)


def test_piped_stdin_to_the_real_command_then_undo(library):
    library, root, people, order = library
    command = [sys.executable, "-m", "clusterfaces", "name", "--db", str(library.database), "--out",
               str(library.output)]
    done = subprocess.run(command, input="Barack Obama\n", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Barack Obama" in folders(library)
    undo = subprocess.run([sys.executable, "-m", "clusterfaces", "undo", "--db", str(library.database), "--out",
                           str(library.output)], capture_output=True, text=True, timeout=120)
    assert undo.returncode == 0 and undo.stdout.startswith("undone:")
    assert "Barack Obama" not in folders(library) and f"Person {order[0]:03d}" in folders(library)


def test_preview_draws_half_blocks_only_in_colour(library):
    library, root, people, order = library
    with library.editing() as store:
        crops = [crop for _, crop in person_crops(store, people["obama"])]
    assert len(crops) == 12
    colour = Console(file=io.StringIO(), force_terminal=True, color_system="truecolor", width=100)
    colour.print(FacePreview(crops))
    drawn = colour.file.getvalue()
    assert drawn.count("▀") == 4 * 20 * 10  # four faces of 20 x 20 pixels, two pixels per cell
    assert "\x1b[38;2;" in drawn and ";48;2;" in drawn  # foreground: top pixel, background: bottom pixel
    narrow = Console(file=io.StringIO(), force_terminal=True, color_system="truecolor", width=50)
    narrow.print(FacePreview(crops))
    assert narrow.file.getvalue().count("▀") == 2 * 20 * 10
    plain = Console(file=io.StringIO(), width=100)  # not a terminal: no colour, no preview
    plain.print(FacePreview(crops))
    assert plain.file.getvalue().strip() == ""


def test_contact_sheet_skips_photos_it_cannot_read(library, tmp_path):
    library, root, people, order = library
    photo = root / "got" / "rose1.jpg"
    aside = tmp_path / "rose1.jpg"
    shutil.move(photo, aside)
    try:
        with library.editing() as store:
            crops = person_crops(store, people["rose"])
    finally:
        shutil.move(aside, photo)
    assert len(crops) == 2
    sheet = write_contact_sheet(contact_sheet(crops), people["rose"], tmp_path / "sheets")
    with Image.open(sheet) as image:
        assert image.size == (GAP + 2 * (TILE + GAP), GAP + TILE + GAP)
    assert stat.S_IMODE(sheet.stat().st_mode) == 0o600
