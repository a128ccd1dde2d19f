"""The interactive naming session: the unnamed people one by one, largest first, each answer saved at once."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape

from clusterfaces.errors import ClusterfacesError
from clusterfaces.library import Edit, Library, Person
from clusterfaces.outputs.sheets import SHEET_FACES, FacePreview, contact_sheet, write_contact_sheet

PROMPT = "[bold]name[/] (Enter: skip, -: ignore, ?: help, q: quit): "
HELP = """\
  a name  name this person: their folder takes the name and their faces
          stay together from now on (a name someone has joins the two)
  Enter   skip for now (asked again next time)
  -       ignore: not someone you care about (no folder, not asked again)
  ?       this help
  q       quit: every answer so far is saved; `clusterfaces name` goes on
  `clusterfaces undo` takes back the last answer, `clusterfaces log` lists them."""


@dataclass
class SessionTally:
    """What a session did."""

    named: int = 0
    merged: int = 0
    ignored: int = 0
    skipped: int = 0
    quit: bool = False


class NamingSession:
    """Asks about each unnamed person in turn; every answer is one edit, saved and shown in the folders."""

    def __init__(self, library: Library, console: Console, ask: Callable[[str], str] | None = None,
                 preview: bool | None = None) -> None:
        self.library = library
        self.console = console
        self._input = ask or console.input
        # Answers piped in are not echoed by a terminal: print them, so the transcript reads as a dialogue.
        self._echo = ask is None and not (sys.stdin and sys.stdin.isatty())
        self.preview = bool(console.is_terminal and console.color_system) if preview is None else preview
        self.tally = SessionTally()
        self.skipped: set[int] = set()

    def run(self) -> SessionTally:
        """Walk the unnamed people until none is left or the user quits (q, or end of input). The database
        lock is held only while an answer is written, never while the prompt waits: a scan may run
        meanwhile, and an answer given during a scan waits for it."""
        while (waiting := self._waiting()) and not self.tally.quit:
            self._review(waiting[0], len(waiting))
        self._farewell(len(self._waiting()) + len(self.skipped))
        return self.tally

    def _waiting(self) -> list[Person]:
        return [person for person in self.library.people()
                if person.name is None and not person.ignored and person.faces and person.id not in self.skipped]

    def _ask(self, prompt: str) -> str | None:
        """One line of input, stripped; None at the end of input (treated as quit)."""
        try:
            answer = self._input(prompt)
        except EOFError:
            self.console.print()
            return None
        if self._echo:
            self.console.print(answer, markup=False, highlight=False, soft_wrap=True)
        return answer.strip()

    def _review(self, person: Person, waiting: int) -> None:
        self._show(person, waiting)
        suggestion = self.library.suggest_for_person(person.id)
        if suggestion is not None:
            answer = self._ask(f"looks like [bold]{escape(suggestion.name)}[/] ({suggestion.distance:.2f}) — "
                               "same person? \\[y/N] ")
            if answer is None or answer.lower() == "q":
                self.tally.quit = True
                return
            if answer.lower() in ("y", "yes"):
                edit = self._write(person, lambda: self.library.merge(suggestion.person_id, [person.id]))
                if edit is not None:
                    self._saved(f"joined {escape(suggestion.name)}", edit)
                    self.tally.merged += 1
                return
        while not self._answer(person):
            pass

    def _answer(self, person: Person) -> bool:
        """Ask for a name and act on it; False when the question has to be asked again."""
        answer = self._ask(PROMPT)
        if answer is None or answer.lower() == "q":
            self.tally.quit = True
        elif answer == "?":
            self.console.print(HELP, markup=False)
            return False
        elif answer == "":
            self.skipped.add(person.id)
            self.tally.skipped += 1
        elif answer == "-":
            edit = self._write(person, lambda: self.library.ignore(person.id))
            if edit is not None:
                self.tally.ignored += 1
                self._saved("ignored", edit)
        else:
            try:
                edit = self._write(person, lambda: self.library.name(person.id, answer))
            except ClusterfacesError as error:
                self.console.print(f"[red]{escape(str(error))}[/]")
                return False
            if edit is None:
                return True
            target = self.library.person(edit.person_id)
            merged = target.id != person.id
            self.tally.merged += merged
            self.tally.named += not merged
            self._saved(f"joined {escape(target.label)} (person {target.id})" if merged
                        else f"named {escape(target.label)}", edit)
        return True

    def _write(self, person: Person, edit: Callable[[], Edit]) -> Edit | None:
        """Save one answer (the library waits for the database lock while it writes). When the person is
        gone by then (a scan that ran while the prompt waited regrouped their faces), say the answer is
        dropped and return None."""
        try:
            return edit()
        except ClusterfacesError:
            if self._exists(person.id):
                raise
        self.console.print(f"[yellow]person {person.id} is gone: a scan regrouped their faces while you answered; "
                           "nothing was saved for them[/]", soft_wrap=True)
        return None

    def _exists(self, person_id: int) -> bool:
        try:
            self.library.person(person_id)
        except ClusterfacesError:
            return False
        return True

    def _show(self, person: Person, waiting: int) -> None:
        self.console.print()
        self.console.rule(f"Person {person.id:03d}", align="left")
        self.console.print(f"{person.faces} faces in {person.photos} photos "
                           f"({waiting} unnamed {'person' if waiting == 1 else 'people'} to go)")
        crops = self.library.person_crops(person.id, SHEET_FACES)
        if not crops:
            self.console.print("[dim]none of this person's photos can be read right now[/]")
            return
        try:
            sheet = write_contact_sheet(contact_sheet(crops), person.id)
            self.console.print(f"faces: {escape(str(sheet))}", soft_wrap=True)
        except ClusterfacesError as error:
            self.console.print(f"[yellow]{escape(str(error))}[/]", soft_wrap=True)
        if self.preview:
            self.console.print(FacePreview([crop for _, crop in crops]))

    def _saved(self, what: str, edit: Edit) -> None:
        self.console.print(f"[green]✓[/] {what}")
        if edit.folders_warning:
            self.console.print(f"[yellow]{escape(edit.folders_warning)}[/]", soft_wrap=True)

    def _farewell(self, left: int) -> None:
        tally = self.tally
        counts = [(tally.named, "named"), (tally.merged, "joined to someone"), (tally.ignored, "ignored")]
        done = ", ".join(f"{count} {what}" for count, what in counts if count)
        done = f"saved: {done}" if done else "nothing changed"
        if left:
            self.console.print(f"{done}. {left} still unnamed: `clusterfaces name` asks again.")
        else:
            self.console.print(f"{done}. Everyone has a name or is ignored.")
        self.console.print(f"people folders: {escape(str(self.library.output))}", soft_wrap=True)
