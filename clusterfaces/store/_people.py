"""Queries about people: assignments, names, the user's edits and their journal."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable

from clusterfaces.store.records import (
    FaceBox,
    FaceQuality,
    FaceRecord,
    FaceState,
    JournalEntry,
    MarkedFace,
    PersonCounts,
    PersonRecord,
    Rejection,
    UndoRecord,
)

_PERSON = "SELECT id, name, ignored, model, created_run FROM people"


def _person(row: tuple) -> PersonRecord:
    return PersonRecord(row[0], row[1], bool(row[2]), row[3], row[4])


class PeopleQueries:
    db: sqlite3.Connection

    # --- people -----------------------------------------------------------------------------
    def people(self, model: str) -> list[PersonRecord]:
        """Every person of the model, by id."""
        return [_person(row) for row in self.db.execute(f"{_PERSON} WHERE model = ? ORDER BY id", (model,))]

    def new_person(self, model: str, run_id: int | None) -> int:
        return int(self.db.execute(
            "INSERT INTO people (model, created_run) VALUES (?, ?)", (model, run_id)
        ).lastrowid)

    def assign_faces(self, assignments: Iterable[tuple[int, int | None]]) -> None:
        """Set each face's person (None: no person)."""
        self.db.executemany("UPDATE faces SET person_id = ? WHERE id = ?", ((p, f) for f, p in assignments))

    def marked_faces(self, model: str) -> list[MarkedFace]:
        """Faces that belong to a person the user named or ignored, or that the user confirmed."""
        return [
            MarkedFace(os.fsdecode(path), (x, y, w, h), person, name, bool(ignored), bool(confirmed))
            for path, x, y, w, h, person, name, ignored, confirmed in self.db.execute(
                "SELECT p.path, f.x, f.y, f.w, f.h, f.person_id, pe.name, pe.ignored, f.confirmed FROM faces f"
                " JOIN photos p ON p.id = f.photo_id JOIN people pe ON pe.id = f.person_id"
                " WHERE f.model = ? AND (pe.name IS NOT NULL OR pe.ignored = 1 OR f.confirmed = 1)", (model,))
        ]

    def faces_in_photo(self, location: str, model: str) -> list[FaceBox]:
        """The model's faces of the photo at this path."""
        return [FaceBox(face_id, (x, y, w, h)) for face_id, x, y, w, h in self.db.execute(
            "SELECT f.id, f.x, f.y, f.w, f.h FROM faces f JOIN photos p ON p.id = f.photo_id"
            " WHERE p.path = ? AND f.model = ?", (os.fsencode(location), model))]

    def carry_face(self, face_id: int, person_id: int, confirmed: bool) -> None:
        self.db.execute("UPDATE faces SET person_id = ?, confirmed = ? WHERE id = ?",
                        (person_id, int(confirmed), face_id))

    def new_named_person(self, model: str, run_id: int, name: str | None, ignored: bool) -> int:
        return int(self.db.execute("INSERT INTO people (name, ignored, model, created_run) VALUES (?, ?, ?, ?)",
                                   (name, int(ignored), model, run_id)).lastrowid)

    def rejections(self) -> set[Rejection]:
        """Every (face, person) pair the user said are not the same person."""
        return {Rejection(f, p) for f, p in self.db.execute("SELECT face_id, person_id FROM face_rejections")}

    def person_counts(self, model: str) -> dict[int, PersonCounts]:
        """Person id -> their faces and distinct photos."""
        return {pid: PersonCounts(faces, photos) for pid, faces, photos in self.db.execute(
            "SELECT person_id, count(*), count(DISTINCT photo_id) FROM faces WHERE person_id IS NOT NULL"
            " AND model = ? GROUP BY person_id", (model,))}

    def person(self, person_id: int) -> PersonRecord | None:
        row = self.db.execute(f"{_PERSON} WHERE id = ?", (person_id,)).fetchone()
        return _person(row) if row else None

    def set_person_name(self, person_id: int, name: str | None) -> None:
        self.db.execute("UPDATE people SET name = ? WHERE id = ?", (name, person_id))

    def confirm_person_faces(self, person_id: int) -> int:
        """Mark every face of the person as confirmed by the user."""
        return self.db.execute("UPDATE faces SET confirmed = 1 WHERE person_id = ?", (person_id,)).rowcount

    def move_person_faces(self, from_person: int, to_person: int) -> int:
        """Give all faces of one person to another, confirmed (a merge); returns faces moved."""
        return self.db.execute("UPDATE faces SET person_id = ?, confirmed = 1 WHERE person_id = ?",
                               (to_person, from_person)).rowcount

    def delete_person(self, person_id: int) -> None:
        self.db.execute("DELETE FROM people WHERE id = ?", (person_id,))

    def person_face_count(self, person_id: int) -> int:
        return self.db.execute("SELECT count(*) FROM faces WHERE person_id = ?", (person_id,)).fetchone()[0]

    def delete_people_without_faces(self, model: str) -> None:
        # Unnamed, unignored people with no faces left carry no user work: they can go.
        self.db.execute(
            "DELETE FROM people WHERE model = ? AND name IS NULL AND ignored = 0 "
            "AND id NOT IN (SELECT DISTINCT person_id FROM faces WHERE person_id IS NOT NULL)",
            (model,),
        )

    # --- edits and journal ------------------------------------------------------------------
    def add_journal_entry(self, action: str, summary: str, undo: dict) -> int:
        return int(self.db.execute("INSERT INTO journal (at, action, summary, undo) VALUES (?, ?, ?, ?)",
                                   (time.time(), action, summary, json.dumps(undo))).lastrowid)

    def last_journal_entry(self) -> UndoRecord | None:
        """The latest edit not undone yet, with its undo information."""
        row = self.db.execute("SELECT id, action, summary, undo FROM journal WHERE undone = 0"
                              " ORDER BY id DESC LIMIT 1").fetchone()
        return UndoRecord(row[0], row[1], row[2], json.loads(row[3])) if row else None

    def mark_undone(self, entry_id: int) -> None:
        self.db.execute("UPDATE journal SET undone = 1 WHERE id = ?", (entry_id,))

    def journal_entries(self, limit: int) -> list[JournalEntry]:
        """The latest edits, oldest first."""
        rows = self.db.execute("SELECT id, at, action, summary, undone FROM journal ORDER BY id DESC LIMIT ?",
                               (limit,)).fetchall()
        return [JournalEntry(i, at, action, summary, bool(undone)) for i, at, action, summary, undone in reversed(rows)]

    def people_rows(self, person_ids: Iterable[int]) -> list[PersonRecord]:
        """The given people that exist, in the order given."""
        return [person for person in map(self.person, person_ids) if person is not None]

    def restore_person_row(self, person: PersonRecord) -> None:
        """Put a person row back as it was, id included (insert it if it is gone)."""
        person_id, name, ignored, model, created_run = (person.id, person.name, int(person.ignored), person.model,
                                                        person.created_run)
        if self.person(person_id) is None:
            self.db.execute("INSERT INTO people (id, name, ignored, model, created_run) VALUES (?, ?, ?, ?, ?)",
                            (person_id, name, ignored, model, created_run))
        else:
            self.db.execute("UPDATE people SET name = ?, ignored = ?, model = ?, created_run = ? WHERE id = ?",
                            (name, ignored, model, created_run, person_id))

    def relocate_person(self, person_id: int) -> int:
        """Give a person a fresh id (faces and rejections follow), freeing the old one; returns the new id."""
        new_id = self.db.execute("INSERT INTO people (name, ignored, model, created_run) SELECT name, ignored,"
                                 " model, created_run FROM people WHERE id = ?", (person_id,)).lastrowid
        self.db.execute("UPDATE faces SET person_id = ? WHERE person_id = ?", (new_id, person_id))
        self.db.execute("UPDATE face_rejections SET person_id = ? WHERE person_id = ?", (new_id, person_id))
        self.delete_person(person_id)
        return int(new_id)

    def face_states(self, person_ids: Iterable[int] = (), face_ids: Iterable[int] = ()) -> list[FaceState]:
        """The state of the faces of the given people and of the given faces, by face id."""
        found = {}
        for pid in person_ids:
            for row in self.db.execute("SELECT id, person_id, confirmed FROM faces WHERE person_id = ?", (pid,)):
                found[row[0]] = FaceState(row[0], row[1], bool(row[2]))
        for fid in face_ids:
            row = self.db.execute("SELECT id, person_id, confirmed FROM faces WHERE id = ?", (fid,)).fetchone()
            if row:
                found[row[0]] = FaceState(row[0], row[1], bool(row[2]))
        return [found[face] for face in sorted(found)]

    def set_face_states(self, states: Iterable[FaceState]) -> None:
        """Set each face's person (None: nobody) and confirmation, for the faces that still exist."""
        self.db.executemany("UPDATE faces SET person_id = ?, confirmed = ? WHERE id = ?",
                            ((s.person_id, int(s.confirmed), s.face_id) for s in states))

    def face(self, face_id: int) -> FaceRecord | None:
        row = self.db.execute("SELECT id, person_id, confirmed, model FROM faces WHERE id = ?", (face_id,)).fetchone()
        return FaceRecord(row[0], row[1], bool(row[2]), row[3]) if row else None

    def person_face_qualities(self, person_id: int) -> list[FaceQuality]:
        """Each face of the person with its detection score and shorter box side, by face id."""
        return [FaceQuality(*row) for row in self.db.execute(
            "SELECT id, score, min(w, h) FROM faces WHERE person_id = ? ORDER BY id", (person_id,))]

    def person_of_faces(self, model: str) -> dict[int, int]:
        """Face id -> person id, for every face of the model that has a person."""
        return dict(self.db.execute("SELECT id, person_id FROM faces WHERE model = ? AND person_id IS NOT NULL",
                                    (model,)).fetchall())

    def set_person_ignored(self, person_id: int, ignored: bool) -> None:
        self.db.execute("UPDATE people SET ignored = ? WHERE id = ?", (int(ignored), person_id))

    def people_rejections(self, person_ids: Iterable[int]) -> list[Rejection]:
        """Every rejection that names one of the people, by face then person."""
        return sorted((Rejection(*row) for pid in person_ids for row in self.db.execute(
            "SELECT face_id, person_id FROM face_rejections WHERE person_id = ?", (pid,))),
            key=lambda r: (r.face_id, r.person_id))

    def replace_rejections(self, person_ids: Iterable[int], rejections: Iterable[Rejection]) -> None:
        """Make the people's rejections exactly these (those whose face or person is gone are dropped)."""
        self.db.executemany("DELETE FROM face_rejections WHERE person_id = ?", ((pid,) for pid in person_ids))
        self.db.executemany(
            "INSERT OR IGNORE INTO face_rejections (face_id, person_id) SELECT ?, ? WHERE EXISTS (SELECT 1 FROM"
            " faces WHERE id = ?) AND EXISTS (SELECT 1 FROM people WHERE id = ?)",
            ((r.face_id, r.person_id, r.face_id, r.person_id) for r in rejections))

    def add_rejection(self, face_id: int, person_id: int) -> None:
        self.db.execute("INSERT OR IGNORE INTO face_rejections (face_id, person_id) VALUES (?, ?)",
                        (face_id, person_id))

    def remove_rejection(self, face_id: int, person_id: int) -> None:
        self.db.execute("DELETE FROM face_rejections WHERE face_id = ? AND person_id = ?", (face_id, person_id))
