"""The review web app in Debian's Chromium, driven by real clicks and keys on a real scanned library: every
edit made on the page is in the database, the journal and the people folders, and a re-clustering keeps it."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from clusterfaces import ClusterfacesError, ScanOptions
from clusterfaces.web.app import ReviewServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "review.png"
pytestmark = [pytest.mark.slow,  # a real browser, a real library, re-clusterings
              pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")]


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extras")
    with playwright.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield launched
        launched.close()


class Session:
    """A review server on a private copy of the scanned library, and a page open on it that records every
    request it makes and every error it logs."""

    def __init__(self, browser, library, tmp_path: Path) -> None:
        from playwright.sync_api import expect

        self.expect = expect
        self.library = library
        self.server = ReviewServer(library, cache=tmp_path / "thumbs").start()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.context = browser.new_context(viewport={"width": 1200, "height": 860})
        self.page = self.context.new_page()
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("console", lambda message: self.errors.append(message.text) if message.type == "error" else None)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.goto(self.server.url)
        self.expect(self.page.locator("#people .card").first).to_be_visible()

    def close(self) -> None:
        self.context.close()
        self.server.stop()

    def person_page(self, person_id: int) -> None:
        self.page.click("#nav-people")
        self.page.click(f"#people .card[data-id='{person_id}']")
        self.expect(self.page.locator("#faces .face").first).to_be_visible()
        self.expect(self.page.locator("#more")).to_contain_text("faces")

    def tiles(self):
        return self.page.locator("#faces .face")

    def tile_ids(self) -> list[int]:
        return [int(tile.get_attribute("data-id")) for tile in self.tiles().all()]

    def saved(self) -> str:
        """Waits for the edit's answer on the page; checks the journal's last line says the same."""
        self.expect(self.page.locator("#toast-text")).not_to_have_text("Saving…")
        shown = self.page.locator("#toast-text").text_content()
        assert shown == self.library.journal()[-1].summary or shown.startswith(self.library.journal()[-1].summary)
        return shown

    def folder_agrees(self, person_id: int) -> None:
        """The person's folder holds exactly the photos of their faces, under the name the page shows."""
        person = self.library.person(person_id)
        folder = self.library.output / person.label
        linked = {os.path.realpath(link) for link in folder.iterdir() if not link.name.startswith(".")}
        assert linked == {os.path.realpath(face.photo) for face in self.library.person_faces(person_id)}

    def only_the_app_was_asked(self) -> None:
        assert self.requests and all(url.startswith(self.server.base + "/") for url in self.requests), \
            [url for url in self.requests if not url.startswith(self.server.base + "/")]
        assert self.errors == []


@pytest.fixture()
def session(browser, library_copy, tmp_path):
    library, root, who = library_copy
    opened = Session(browser, library, tmp_path)
    try:
        yield opened, root, who
    finally:
        opened.close()


def _screenshot(page, tmp_path: Path) -> None:
    """The page as it is, with every face blurred (the photos are other people's): to tmp_path, and to
    docs/review.png when CLUSTERFACES_UPDATE_SCREENSHOT=1."""
    page.wait_for_load_state("networkidle")
    page.evaluate("() => document.querySelectorAll('img').forEach(i => { i.style.filter = 'blur(12px)'; })")
    shown = page.evaluate("() => Array.from(document.querySelectorAll('#view img')).map(i => "
                          "[i.complete && i.naturalWidth > 0, getComputedStyle(i).filter])")
    assert shown and all(loaded and "blur(12px)" in blur for loaded, blur in shown), shown
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(tmp_path / "review.png"))
    if os.environ.get("CLUSTERFACES_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copy(tmp_path / "review.png", SCREENSHOT)


def test_name_search_new_person_merge_and_undo_in_the_browser(session, tmp_path):
    s, root, who = session
    page, library = s.page, s.library
    assert s.page.locator("#people .card").count() == len(library.people(include_ignored=False))
    assert "token" not in page.url  # swapped for the cookie

    # Name a person: click their card, click the heading, type, Enter.
    s.person_page(who["obama"])
    page.click("#person-name")
    page.locator("#rename").press_sequentially("Barack Obama")
    page.keyboard.press("Enter")
    s.expect(page.locator("#person-name")).to_contain_text("Barack Obama")
    assert "Barack Obama" in s.saved()
    assert library.person(who["obama"]).name == "Barack Obama"
    s.folder_agrees(who["obama"])

    # Search by name on the people page.
    page.click("#nav-people")
    page.locator("#search").press_sequentially("bar")
    s.expect(page.locator("#people .card")).to_have_count(1)
    s.expect(page.locator("#people .card .label")).to_have_text("Barack Obama")
    page.locator("#search").fill("")

    # Select three faces (click, shift-click) and a fourth (shift+arrow), and make them a new person.
    s.person_page(who["obama"])
    faces = s.tile_ids()
    s.tiles().nth(0).click()
    s.tiles().nth(2).click(modifiers=["Shift"])
    page.keyboard.press("Shift+ArrowRight")
    s.expect(page.locator("#selected-count")).to_have_text("4 selected")
    _screenshot(page, tmp_path)
    page.click("#new-person")
    s.expect(page).not_to_have_url(re.compile(f"#/person/{who['obama']}$"))
    s.expect(page.locator("#person-name")).to_contain_text("Person")
    new_id = int(page.url.rsplit("/", 1)[1])
    assert "new person" in s.saved()
    s.expect(s.tiles()).to_have_count(4)
    assert sorted(f.id for f in library.person_faces(new_id)) == sorted(faces[:4])
    assert library.person(who["obama"]).faces == len(faces) - 4
    s.folder_agrees(new_id)
    s.folder_agrees(who["obama"])

    # Merge them back: the type-ahead finds the name, Enter picks it.
    page.click("#merge")
    page.locator("#picker-input").press_sequentially("barack")
    s.expect(page.locator("#picker-list li").first).to_contain_text("Barack Obama")
    page.keyboard.press("Enter")
    s.expect(page.locator("#person-name")).to_contain_text("Barack Obama")
    assert "merged" in s.saved()
    assert library.person(who["obama"]).faces == len(faces)
    with pytest.raises(ClusterfacesError):
        library.person(new_id)
    assert not (library.output / f"Person {new_id:03d}").exists()
    s.folder_agrees(who["obama"])

    # Undo the merge from History: the new person is back.
    page.click("#nav-history")
    s.expect(page.locator("#undo")).to_contain_text("merged")
    page.click("#undo")
    s.expect(page.locator("#journal tr.undone")).to_have_count(1)
    assert library.journal()[-1].undone
    assert sorted(f.id for f in library.person_faces(new_id)) == sorted(faces[:4])
    s.folder_agrees(new_id)
    s.folder_agrees(who["obama"])
    s.only_the_app_was_asked()

    # A full re-clustering keeps the name and the new person.
    library.scan(ScanOptions(roots=[root], model="Dlib", recluster=True))
    assert library.person(who["obama"]).name == "Barack Obama"
    assert sorted(f.id for f in library.person_faces(new_id)) == sorted(faces[:4])
    assert not set(faces[:4]) & {f.id for f in library.person_faces(who["obama"])}


def test_who_is_this_move_not_this_person_undo_and_ignore_in_the_browser(session):
    s, root, who = session
    page, library = s.page, s.library
    library.name(who["rose"], "Rose Leslie")  # a name to type; the rest happens on the page
    page.reload()

    # "Who is this?": a face in no group, and the named person suggested for it, one click.
    page.click("#nav-who")
    offered = page.locator("#who-unassigned .item").first
    s.expect(offered.locator(".suggest")).to_contain_text("Rose Leslie?")
    asked = int(offered.get_attribute("data-face"))
    offered.locator(".suggest").click()
    assert "moved" in s.saved()
    s.expect(page.locator(f"#who-unassigned .item[data-face='{asked}']")).to_have_count(0)
    assert library.faces([asked])[0].person_id == who["rose"]
    s.folder_agrees(who["rose"])

    # Move a face with the keyboard: focus the grid, arrow to the second face, space, m, type, Enter.
    s.person_page(who["kit"])
    moved = s.tile_ids()[1]
    page.focus("#faces")
    page.keyboard.press("ArrowRight")
    page.keyboard.press(" ")
    s.expect(page.locator("#selected-count")).to_have_text("1 selected")
    page.keyboard.press("m")
    page.locator("#picker-input").press_sequentially("rose")
    page.keyboard.press("Enter")
    assert "moved" in s.saved()
    s.expect(s.tiles()).to_have_count(library.person(who["kit"]).faces)
    assert moved not in s.tile_ids()
    face = library.faces([moved])[0]
    assert face.person_id == who["rose"] and face.confirmed
    s.folder_agrees(who["rose"])
    s.folder_agrees(who["kit"])

    # "Not this person" with a click and the button; then one-click undo from the note; then again.
    s.person_page(who["biden"])
    rejected = s.tile_ids()[0]
    s.tiles().nth(1).dblclick()  # the whole photo, upright and bounded, then Escape
    s.expect(page.locator("#viewer")).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert page.evaluate("() => document.querySelector('#viewer-img').naturalWidth") > 0
    page.keyboard.press("Escape")
    s.expect(page.locator("#viewer")).to_be_hidden()
    s.tiles().nth(0).click()
    page.click("#not-person")
    assert " not " in s.saved()
    s.expect(page.locator(f"#faces .face[data-id='{rejected}']")).to_have_count(0)
    assert library.faces([rejected])[0].person_id is None
    s.folder_agrees(who["biden"])
    page.click("#toast-undo")
    s.expect(page.locator(f"#faces .face[data-id='{rejected}']")).to_have_count(1)
    assert library.faces([rejected])[0].person_id == who["biden"] and library.journal()[-1].undone
    s.folder_agrees(who["biden"])
    page.locator(f"#faces .face[data-id='{rejected}']").click()
    page.click("#not-person")
    assert " not " in s.saved()
    s.only_the_app_was_asked()

    # Ignore a person: their card hides behind the toggle.
    s.person_page(who["alex"])
    page.click("#ignore")
    assert "ignored" in s.saved()
    assert library.person(who["alex"]).ignored
    page.click("#nav-people")
    s.expect(page.locator(f"#people .card[data-id='{who['alex']}']")).to_have_count(0)
    page.check("#show-ignored")
    s.expect(page.locator(f"#people .card.ignored[data-id='{who['alex']}']")).to_have_count(1)

    # A scan running is shown, and gone when it ends (the page asks every few seconds).
    library.scan_running = lambda: True
    s.expect(page.locator("#scan-banner")).to_be_visible(timeout=15_000)
    del library.scan_running
    s.expect(page.locator("#scan-banner")).to_be_hidden(timeout=15_000)

    # A full re-clustering keeps the move and the rejection.
    library.scan(ScanOptions(roots=[root], model="Dlib", recluster=True))
    assert library.faces([moved])[0].person_id == library.faces([asked])[0].person_id == who["rose"]
    assert library.faces([rejected])[0].person_id != who["biden"]
    assert library.person(who["rose"]).name == "Rose Leslie" and library.person(who["alex"]).ignored
