"""The interactive naming session: the unnamed people one by one, largest first, each answer saved at once."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape

from clusterfaces.cli.common import folders_not_updated
from clusterfaces.errors import ClusterfacesError, OutputError
from clusterfaces.library.core import Library
from clusterfaces.outputs.sheets import FacePreview, contact_sheet, person_crops, write_contact_sheet
from clusterfaces.people.edits import (
    FaceVectors,
    PersonRow,
    ignore_person,
    list_people,
    merge_people,
    name_person,
    nearest_named_person,
)
from clusterfaces.store import Store

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
        with Store(self.library.database) as store:
            vectors = FaceVectors(store)
            while (waiting := self._waiting(store)) and not self.tally.quit:
                self._review(store, vectors, waiting[0], len(waiting))
            left = len(self._waiting(store)) + len(self.skipped)
        self._farewell(left)
        return self.tally

    def _waiting(self, store: Store) -> list[PersonRow]:
        return [row for row in list_people(store)
                if row.name is None and not row.ignored and row.faces and row.id not in self.skipped]

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

    def _review(self, store: Store, vectors: FaceVectors, person: PersonRow, waiting: int) -> None:
        self._show(store, person, waiting)
        suggestion = nearest_named_person(store, vectors, person.id)
        if suggestion is not None:
            answer = self._ask(f"looks like [bold]{escape(suggestion.name)}[/] ({suggestion.distance:.2f}) — "
                               "same person? \\[y/N] ")
            if answer is None or answer.lower() == "q":
                self.tally.quit = True
                return
            if answer.lower() in ("y", "yes"):
                with self.library.exclusive():  # held only while the answer is written
                    if not self._still_there(store, person):
                        return
                    merge_people(store, suggestion.person_id, [person.id])
                self._saved(f"joined {escape(suggestion.name)}")
                self.tally.merged += 1
                return
        while not self._answer(store, person):
            pass

    def _answer(self, store: Store, person: PersonRow) -> bool:
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
            with self.library.exclusive():
                if not self._still_there(store, person):
                    return True
                ignore_person(store, person.id)
            self.tally.ignored += 1
            self._saved("ignored")
        else:
            try:
                with self.library.exclusive():
                    if not self._still_there(store, person):
                        return True
                    target, merged = name_person(store, person.id, answer)
            except ClusterfacesError as error:
                self.console.print(f"[red]{escape(str(error))}[/]")
                return False
            name = store.person(target)[1]
            self.tally.merged += merged
            self.tally.named += not merged
            self._saved(f"joined {escape(name)} (person {target})" if merged else f"named {escape(name)}")
        return True

    def _still_there(self, store: Store, person: PersonRow) -> bool:
        """Whether the person still exists once the lock is held (a scan that ran while the prompt waited may
        have regrouped their faces); if not, say the answer is dropped."""
        if store.person(person.id) is not None:
            return True
        self.console.print(f"[yellow]person {person.id} is gone: a scan regrouped their faces while you answered; "
                           "nothing was saved for them[/]", soft_wrap=True)
        return False

    def _show(self, store: Store, person: PersonRow, waiting: int) -> None:
        self.console.print()
        self.console.rule(f"Person {person.id:03d}", align="left")
        self.console.print(f"{person.faces} faces in {person.photos} photos "
                           f"({waiting} unnamed {'person' if waiting == 1 else 'people'} to go)")
        crops = person_crops(store, person.id)
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

    def _saved(self, what: str) -> None:
        self.console.print(f"[green]✓[/] {what}")
        try:
            self.library.refresh_folders()
        except OutputError as error:
            self.console.print(f"[yellow]{escape(folders_not_updated(error))}[/]", soft_wrap=True)

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
