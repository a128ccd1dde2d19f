"""The demo builder through the CLI, and the gallery page opened in headless Chromium."""

import json
import shutil
import subprocess
import sys

import pytest
from conftest import copy_database, restore_photos

from clusterfaces import Library, ScanOptions

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow  # builds and scans a library of its own in a new process
def test_demo_command_builds_labels_and_scans(shared_dev_faces, tmp_path):
    source = tmp_path / "faces"
    for identity in ("Barack_Obama", "Hugh_Laurie", "Tina_Fey"):
        (source / identity).mkdir(parents=True)
        # Eight faces each: six of Tina Fey's crops are spread so widely (up to 0.51 apart, Dlib) that the
        # precision-first clustering leaves four of them alone rather than risk gluing strangers.
        for crop in sorted((shared_dev_faces / identity).iterdir())[:8]:
            shutil.copy(crop, source / identity / crop.name)
    out = tmp_path / "demo"
    completed = subprocess.run([sys.executable, "-m", "clusterfaces", "demo", "--from", str(source), "--out", str(out),
                                "--model", "Dlib"], capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    labels = json.loads((out / "photos" / "labels.json").read_text())
    assert sum(len(people) for people in labels["photos"].values()) == 24
    assert {face["identity"] for faces in labels["faces"].values() for face in faces} == \
        {"Barack_Obama", "Hugh_Laurie", "Tina_Fey"}
    assert "clusterfaces gallery --db" in completed.stdout
    people = [p for p in (out / "people").iterdir() if p.is_dir() and p.name.startswith("Person")]
    assert len(people) == 3
    for person in people:  # and no folder holds two people: its photos share one labelled identity
        held = [set(labels["photos"][link.resolve().relative_to((out / "photos").resolve()).as_posix()])
                for link in person.iterdir() if not link.name.startswith(".")]
        assert held and set.intersection(*held), f"{person.name} mixes people: {held}"


def test_demo_without_a_source_offline_says_what_to_do(tmp_path):
    completed = subprocess.run([sys.executable, "-m", "clusterfaces", "demo", "--out", str(tmp_path / "demo")],
                               capture_output=True, text=True, timeout=300,
                               env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HTTPS_PROXY": "http://127.0.0.1:9",
                                    "HTTP_PROXY": "http://127.0.0.1:9", "SCIKIT_LEARN_DATA": str(tmp_path / "skl")})
    assert completed.returncode == 1
    assert "--from" in completed.stderr and len(completed.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def gallery_page(session_scan, tmp_path_factory):
    """The gallery of the session's scan plus a file that is not a photo (scanned on a copy of the database)."""
    work = tmp_path_factory.mktemp("gallery")
    (session_scan.root / "broken.jpg").write_bytes(b"not a photo")
    try:
        library = Library(copy_database(session_scan.database, work / "library.db"), work / "people")
        result = library.scan(ScanOptions(roots=[session_scan.root], model="Dlib"))
        stats = library.write_gallery(work / "gallery")
    finally:
        restore_photos(session_scan)
    return stats, result, work


def test_gallery_lists_people_faces_and_problems(gallery_page):
    stats, result, work = gallery_page
    page = stats.page.read_text()
    assert stats.people == len(result.people) == page.count('class="card person')
    assert "broken.jpg" in page and "text file" in page
    assert stats.thumbnails == len(list((work / "gallery" / "thumbs").iterdir()))
    assert "http://" not in page and "https://" not in page


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_gallery_loads_in_headless_chromium_without_network(gallery_page):
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extras")
    stats, result, work = gallery_page
    errors, requests = [], []
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda request: requests.append(request.url))
        page.goto(stats.page.as_uri())
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")  # lazy images load on scroll
        page.wait_for_load_state("networkidle")
        page.wait_for_function("Array.from(document.images).every(i => i.complete)")
        cards = page.locator("section.person").count()
        broken = page.evaluate("Array.from(document.images).filter(i => i.naturalWidth === 0).map(i => i.src)")
        images = page.evaluate("document.images.length")
        page.screenshot(path=str(work / "gallery.png"), full_page=True)
        browser.close()
    assert cards == len(result.people)
    assert images == stats.thumbnails and images > 0
    assert broken == []
    assert errors == []
    assert all(url.startswith("file://") for url in requests), [u for u in requests if not u.startswith("file://")]
    assert (work / "gallery.png").stat().st_size > 10_000


def test_gallery_with_a_relative_database_path_prints_a_link(library_copy, monkeypatch):
    """`clusterfaces gallery --db lib.db` (a path relative to the working folder) ends with a file:// link."""
    from typer.testing import CliRunner

    from clusterfaces.cli.main import app

    library, _, _ = library_copy
    monkeypatch.chdir(library.database.parent)
    result = CliRunner().invoke(app, ["gallery", "--db", library.database.name])
    assert result.exit_code == 0, result.output
    assert "open file://" in result.output and (library.database.parent / "gallery" / "index.html").is_file()
