"""The SQLite database: schema, migrations and every query (the only module that writes SQL)."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clusterfaces.errors import DatabaseError

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(function: Migration) -> Migration:
    """Register a schema step. Steps run once each, in definition order; never edit an applied one."""
    MIGRATIONS.append((function.__name__, function))
    return function


def _run_script(db: sqlite3.Connection, script: str) -> None:
    """Run several statements inside the caller's transaction (executescript would commit it)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""


@migration
def m001_initial(db: sqlite3.Connection) -> None:
    _run_script(
        db,
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            started_at REAL NOT NULL,
            finished_at REAL,
            status TEXT NOT NULL DEFAULT 'running',   -- running, finished, interrupted, failed
            roots TEXT NOT NULL,                      -- JSON list of root paths
            model TEXT NOT NULL,
            detector TEXT NOT NULL,
            settings TEXT NOT NULL DEFAULT '{}',      -- JSON: clustering and detection parameters
            summary TEXT NOT NULL DEFAULT '{}'        -- JSON: counts and stage timings
        );
        -- Paths are stored as the file system's bytes so that any file name round-trips exactly.
        CREATE TABLE photos (
            id INTEGER PRIMARY KEY,
            path BLOB NOT NULL UNIQUE,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            content_hash TEXT,
            status TEXT NOT NULL,                     -- done, unreadable
            reason TEXT,                              -- why it is unreadable
            width INTEGER,
            height INTEGER,
            model TEXT,                               -- model and detector the photo was processed with
            detector TEXT,
            processed_run INTEGER REFERENCES runs(id),
            seen_run INTEGER REFERENCES runs(id)
        );
        CREATE INDEX photos_hash ON photos(content_hash);
        CREATE TABLE people (
            id INTEGER PRIMARY KEY,
            name TEXT,
            ignored INTEGER NOT NULL DEFAULT 0,
            model TEXT NOT NULL,
            created_run INTEGER REFERENCES runs(id)
        );
        CREATE TABLE faces (
            id INTEGER PRIMARY KEY,
            photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
            x INTEGER NOT NULL, y INTEGER NOT NULL, w INTEGER NOT NULL, h INTEGER NOT NULL,
            landmarks TEXT NOT NULL,                  -- JSON [[x, y], ...] in full-size pixels
            score REAL NOT NULL,
            model TEXT NOT NULL,
            detector TEXT NOT NULL,
            embedding BLOB NOT NULL,                  -- float32 little-endian, as the model gave it
            person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
            created_run INTEGER REFERENCES runs(id)
        );
        CREATE INDEX faces_photo ON faces(photo_id);
        CREATE INDEX faces_person ON faces(person_id);
        CREATE INDEX faces_model ON faces(model);
        """
    )


@migration
def m002_user_constraints(db: sqlite3.Connection) -> None:
    # What a person said: a confirmed face stays with its person through every re-clustering, and
    # a rejected (face, person) pair never comes back. Runs remember whether they re-clustered.
    _run_script(
        db,
        """
        ALTER TABLE faces ADD COLUMN confirmed INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE face_rejections (
            face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
            person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
            PRIMARY KEY (face_id, person_id)
        );
        ALTER TABLE runs ADD COLUMN reclustered INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE runs ADD COLUMN clustered_faces INTEGER;
        """,
    )


@migration
def m003_journal(db: sqlite3.Connection) -> None:
    # Every edit a user makes, with what undoing it takes (JSON), so that `undo` restores exactly.
    db.execute(
        "CREATE TABLE journal (id INTEGER PRIMARY KEY, at REAL NOT NULL, action TEXT NOT NULL,"
        " summary TEXT NOT NULL, undo TEXT NOT NULL, undone INTEGER NOT NULL DEFAULT 0)"
    )


@dataclass(frozen=True)
class PhotoRecord:
    """What the database knows about one file."""

    id: int
    location: str  # the path as text (see FoundFile.location)
    size: int
    mtime_ns: int
    content_hash: str | None
    status: str
    reason: str | None
    model: str | None
    detector: str | None

    @property
    def path(self) -> Path:
        return Path(self.location)


@dataclass(frozen=True)
class FaceRow:
    """A face to store: where it is, how sure the detector was, and its embedding."""

    box: tuple[int, int, int, int]
    landmarks: list[tuple[float, float]]
    score: float
    embedding: np.ndarray


@dataclass(frozen=True)
class StoredFaces:
    """Faces of one model loaded for clustering: ids, vectors and what filters need."""

    ids: np.ndarray  # int64
    embeddings: np.ndarray  # float32 (n, d), as stored
    scores: np.ndarray
    sizes: np.ndarray  # shorter side of the box in pixels
    person_ids: np.ndarray  # int64, 0 where none
    confirmed: np.ndarray  # bool: the user put this face with its person
    created_runs: np.ndarray  # int64: the run that embedded the face
    photo_ids: np.ndarray  # int64


def _path_key(path: Path) -> bytes:
    return os.fsencode(path)


class Store:
    """One open database. Use as a context manager; commits happen where the caller says."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            created = not self.path.exists()
            if created:
                # Embeddings are biometric data: the database is readable by its owner only.
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as error:
            raise DatabaseError(
                f"{self.path} is not a usable clusterfaces database ({error}); "
                "move it aside (it is never overwritten) or choose another with --db"
            ) from None
        except OSError as error:
            raise DatabaseError(f"cannot open database {self.path}: {error.strerror}") from None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    # --- schema -----------------------------------------------------------------------------
    def _migrate(self) -> None:
        self.db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at REAL)")
        applied = {row[0] for row in self.db.execute("SELECT name FROM schema_migrations")}
        known = {name for name, _ in MIGRATIONS}
        if applied - known:
            newer = ", ".join(sorted(applied - known))
            raise DatabaseError(
                f"{self.path} was written by a newer clusterfaces (schema steps {newer}); "
                "upgrade clusterfaces to use it"
            )
        for name, step in MIGRATIONS:
            if name in applied:
                continue
            with self.transaction():
                step(self.db)
                self.db.execute("INSERT INTO schema_migrations VALUES (?, ?)", (name, time.time()))

    def transaction(self) -> _Transaction:
        """A write transaction: committed on success, rolled back on any exception."""
        return _Transaction(self.db)

    # --- runs -------------------------------------------------------------------------------
    def start_run(self, roots: Iterable[Path], model: str, detector: str, settings: dict) -> int:
        # Runs that never finished were interrupted (Ctrl-C, kill, crash): say so in their row.
        self.db.execute("UPDATE runs SET status = 'interrupted' WHERE status = 'running'")
        cursor = self.db.execute(
            "INSERT INTO runs (started_at, roots, model, detector, settings) VALUES (?, ?, ?, ?, ?)",
            (time.time(), json.dumps([os.fsdecode(r) for r in roots]), model, detector, json.dumps(settings)),
        )
        return int(cursor.lastrowid)

    def last_recluster(self, model: str) -> tuple[int, int] | None:
        """(run id, faces clustered) of the last finished run that re-clustered this model's faces."""
        row = self.db.execute(
            "SELECT id, coalesce(clustered_faces, 0) FROM runs WHERE status = 'finished' AND reclustered = 1"
            " AND model = ? ORDER BY id DESC LIMIT 1", (model,)).fetchone()
        return (row[0], row[1]) if row else None

    def mark_reclustered(self, run_id: int, face_count: int) -> None:
        self.db.execute("UPDATE runs SET reclustered = 1, clustered_faces = ? WHERE id = ?", (face_count, run_id))

    def set_run_model(self, run_id: int, model: str) -> None:
        self.db.execute("UPDATE runs SET model = ? WHERE id = ?", (model, run_id))

    def finish_run(self, run_id: int, summary: dict, status: str = "finished") -> None:
        self.db.execute(
            "UPDATE runs SET finished_at = ?, status = ?, summary = ? WHERE id = ?",
            (time.time(), status, json.dumps(summary), run_id),
        )

    def last_run(self) -> tuple[list[Path], str, str, dict] | None:
        """Roots, model, detector and settings of the last finished scan."""
        row = self.db.execute("SELECT roots, model, detector, settings FROM runs WHERE status = 'finished'"
                              " ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            return None
        return [Path(r) for r in json.loads(row[0])], row[1], row[2], json.loads(row[3])

    def last_model(self) -> tuple[str, str] | None:
        """(model, detector) of the last finished run: a library keeps them unless told otherwise."""
        row = self.db.execute(
            "SELECT model, detector FROM runs WHERE status = 'finished' ORDER BY id DESC LIMIT 1").fetchone()
        return (row[0], row[1]) if row else None

    # --- photos -----------------------------------------------------------------------------
    def photos_under(self, roots: Iterable[Path]) -> dict[str, PhotoRecord]:
        """Every photo the database holds below any of the roots, by path text."""
        records = {}
        for root in roots:
            prefix = _path_key(root).rstrip(b"/") + b"/"
            rows = self.db.execute(
                "SELECT id, path, size, mtime_ns, content_hash, status, reason, model, detector FROM photos "
                "WHERE substr(path, 1, ?) = ?",
                (len(prefix), prefix),
            )
            for row in rows:
                location = os.fsdecode(row[1])
                records[location] = PhotoRecord(row[0], location, *row[2:])
        return records

    def save_photo(
        self, path: Path, size: int, mtime_ns: int, content_hash: str | None, run_id: int, *,
        status: str, reason: str | None = None, dimensions: tuple[int, int] | None = None,
        model: str | None = None, detector: str | None = None, faces: Iterable[FaceRow] = (),
    ) -> int:
        """Record one processed photo and its faces, replacing what was stored for that path."""
        key = _path_key(path)
        width, height = dimensions or (None, None)
        self.db.execute("DELETE FROM photos WHERE path = ?", (key,))
        photo_id = self.db.execute(
            "INSERT INTO photos (path, size, mtime_ns, content_hash, status, reason, width, height, model,"
            " detector, processed_run, seen_run) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, size, mtime_ns, content_hash, status, reason, width, height, model, detector, run_id, run_id),
        ).lastrowid
        self.db.executemany(
            "INSERT INTO faces (photo_id, x, y, w, h, landmarks, score, model, detector, embedding, created_run)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (photo_id, *face.box, json.dumps(face.landmarks), face.score, model, detector,
                 np.asarray(face.embedding, dtype="<f4").tobytes(), run_id)
                for face in faces
            ],
        )
        return int(photo_id)

    def processed_sizes(self, model: str, detector: str) -> set[int]:
        """File sizes of the photos already processed with model and detector (to spot copies cheaply)."""
        return {row[0] for row in self.db.execute(
            "SELECT DISTINCT size FROM photos WHERE status = 'done' AND model = ? AND detector = ?",
            (model, detector))}

    def processed_photo_with_hash(self, content_hash: str, model: str, detector: str) -> int | None:
        """A photo with these exact bytes already processed with the model and detector, if any."""
        row = self.db.execute(
            "SELECT id FROM photos WHERE content_hash = ? AND status = 'done' AND model = ? AND detector = ?"
            " ORDER BY id LIMIT 1",
            (content_hash, model, detector),
        ).fetchone()
        return row[0] if row else None

    def reuse_photo(self, source_id: int, path: Path, size: int, mtime_ns: int, run_id: int) -> int:
        """Record path as holding the same bytes as photo source_id: its faces (embeddings, people and
        all) are copied, not recomputed. Returns the number of faces copied."""
        key = _path_key(path)
        source_path = self.db.execute("SELECT path FROM photos WHERE id = ?", (source_id,)).fetchone()[0]
        if source_path == key:  # same file, only its metadata changed (touched, copied back)
            self.db.execute("UPDATE photos SET size = ?, mtime_ns = ?, seen_run = ? WHERE id = ?",
                            (size, mtime_ns, run_id, source_id))
            return 0
        self.db.execute("DELETE FROM photos WHERE path = ?", (key,))
        photo_id = self.db.execute(
            "INSERT INTO photos (path, size, mtime_ns, content_hash, status, reason, width, height, model, detector,"
            " processed_run, seen_run) SELECT ?, ?, ?, content_hash, status, reason, width, height, model, detector,"
            " processed_run, ? FROM photos WHERE id = ?",
            (key, size, mtime_ns, run_id, source_id),
        ).lastrowid
        return self.db.execute(
            "INSERT INTO faces (photo_id, x, y, w, h, landmarks, score, model, detector, embedding, person_id,"
            " created_run, confirmed) SELECT ?, x, y, w, h, landmarks, score, model, detector, embedding, person_id,"
            " created_run, confirmed"
            " FROM faces WHERE photo_id = ? ORDER BY id",
            (photo_id, source_id),
        ).rowcount

    def remove_photos(self, photo_ids: Iterable[int]) -> int:
        """Forget photos that are gone from disk (their faces go with them)."""
        ids = list(photo_ids)
        self.db.executemany("DELETE FROM photos WHERE id = ?", ((i,) for i in ids))
        return len(ids)

    def unreadable_photos(self, roots: Iterable[Path]) -> list[tuple[Path, str]]:
        found = []
        for root in roots:
            prefix = _path_key(root).rstrip(b"/") + b"/"
            found += [(Path(os.fsdecode(path)), reason or "unknown reason") for path, reason in self.db.execute(
                "SELECT path, reason FROM photos WHERE status = 'unreadable' AND substr(path, 1, ?) = ?",
                (len(prefix), prefix))]
        return sorted(found)

    # --- faces ------------------------------------------------------------------------------
    def load_faces(self, model: str, roots: Iterable[Path]) -> StoredFaces:
        """Every face embedded with `model` in photos below the roots."""
        ids, vectors, scores, sizes, people, confirmed, created, photos = [], [], [], [], [], [], [], []
        for root in roots:
            prefix = _path_key(root).rstrip(b"/") + b"/"
            rows = self.db.execute(
                "SELECT f.id, f.embedding, f.score, min(f.w, f.h), coalesce(f.person_id, 0), f.confirmed,"
                " coalesce(f.created_run, 0), f.photo_id FROM faces f JOIN photos p ON p.id = f.photo_id"
                " WHERE f.model = ? AND substr(p.path, 1, ?) = ? ORDER BY f.id",
                (model, len(prefix), prefix),
            )
            for face_id, blob, score, size, person, sure, run, photo in rows:
                ids.append(face_id)
                vectors.append(np.frombuffer(blob, dtype="<f4"))
                scores.append(score)
                sizes.append(size)
                people.append(person)
                confirmed.append(bool(sure))
                created.append(run)
                photos.append(photo)
        dim = len(vectors[0]) if vectors else 0
        return StoredFaces(
            ids=np.asarray(ids, dtype=np.int64),
            embeddings=np.vstack(vectors).astype(np.float32) if vectors else np.zeros((0, dim), np.float32),
            scores=np.asarray(scores, dtype=np.float32),
            sizes=np.asarray(sizes, dtype=np.int64),
            person_ids=np.asarray(people, dtype=np.int64),
            confirmed=np.asarray(confirmed, dtype=bool),
            created_runs=np.asarray(created, dtype=np.int64),
            photo_ids=np.asarray(photos, dtype=np.int64),
        )

    def face_photos(self, face_ids: Iterable[int]) -> Iterator[tuple[int, Path]]:
        """(face id, photo path) pairs for the given faces."""
        ids = list(face_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for face_id, path in self.db.execute(
                f"SELECT f.id, p.path FROM faces f JOIN photos p ON p.id = f.photo_id WHERE f.id IN ({marks})", chunk
            ):
                yield face_id, Path(os.fsdecode(path))

    def face_boxes(self, face_ids: Iterable[int]) -> dict[int, tuple[Path, tuple[int, int, int, int]]]:
        """Each face's photo path and (x, y, w, h) box."""
        ids = list(face_ids)
        boxes = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for face_id, path, x, y, w, h in self.db.execute(
                f"SELECT f.id, p.path, f.x, f.y, f.w, f.h FROM faces f JOIN photos p ON p.id = f.photo_id "
                f"WHERE f.id IN ({marks})", chunk
            ):
                boxes[face_id] = (Path(os.fsdecode(path)), (x, y, w, h))
        return boxes

    def count_faces(self, roots: Iterable[Path]) -> int:
        total = 0
        for root in roots:
            prefix = _path_key(root).rstrip(b"/") + b"/"
            total += self.db.execute(
                "SELECT count(*) FROM faces f JOIN photos p ON p.id = f.photo_id WHERE substr(p.path, 1, ?) = ?",
                (len(prefix), prefix),
            ).fetchone()[0]
        return total

    # --- people -----------------------------------------------------------------------------
    def people(self, model: str) -> list[tuple[int, str | None, bool]]:
        return [
            (row[0], row[1], bool(row[2]))
            for row in self.db.execute("SELECT id, name, ignored FROM people WHERE model = ? ORDER BY id", (model,))
        ]

    def new_person(self, model: str, run_id: int | None) -> int:
        return int(self.db.execute(
            "INSERT INTO people (model, created_run) VALUES (?, ?)", (model, run_id)
        ).lastrowid)

    def assign_faces(self, assignments: Iterable[tuple[int, int | None]]) -> None:
        """Set each face's person (None: no person)."""
        self.db.executemany("UPDATE faces SET person_id = ? WHERE id = ?", ((p, f) for f, p in assignments))

    def people_faces(self, model: str) -> list[tuple[str, tuple[int, int, int, int], int, str | None, bool, bool]]:
        """Faces that belong to a person the user named or ignored, or that the user confirmed:
        (photo path text, box, person id, name, ignored, confirmed)."""
        return [
            (os.fsdecode(path), (x, y, w, h), person, name, bool(ignored), bool(confirmed))
            for path, x, y, w, h, person, name, ignored, confirmed in self.db.execute(
                "SELECT p.path, f.x, f.y, f.w, f.h, f.person_id, pe.name, pe.ignored, f.confirmed FROM faces f"
                " JOIN photos p ON p.id = f.photo_id JOIN people pe ON pe.id = f.person_id"
                " WHERE f.model = ? AND (pe.name IS NOT NULL OR pe.ignored = 1 OR f.confirmed = 1)", (model,))
        ]

    def faces_in_photo(self, location: str, model: str) -> list[tuple[int, tuple[int, int, int, int]]]:
        return [(face_id, (x, y, w, h)) for face_id, x, y, w, h in self.db.execute(
            "SELECT f.id, f.x, f.y, f.w, f.h FROM faces f JOIN photos p ON p.id = f.photo_id"
            " WHERE p.path = ? AND f.model = ?", (os.fsencode(location), model))]

    def carry_face(self, face_id: int, person_id: int, confirmed: bool) -> None:
        self.db.execute("UPDATE faces SET person_id = ?, confirmed = ? WHERE id = ?",
                        (person_id, int(confirmed), face_id))

    def new_named_person(self, model: str, run_id: int, name: str | None, ignored: bool) -> int:
        return int(self.db.execute("INSERT INTO people (name, ignored, model, created_run) VALUES (?, ?, ?, ?)",
                                   (name, int(ignored), model, run_id)).lastrowid)

    def rejections(self) -> set[tuple[int, int]]:
        """(face id, person id) pairs the user said are not the same person."""
        return {(f, p) for f, p in self.db.execute("SELECT face_id, person_id FROM face_rejections")}

    def person_counts(self, model: str) -> dict[int, tuple[int, int]]:
        """Person id -> (faces, distinct photos)."""
        return {pid: (faces, photos) for pid, faces, photos in self.db.execute(
            "SELECT person_id, count(*), count(DISTINCT photo_id) FROM faces WHERE person_id IS NOT NULL"
            " AND model = ? GROUP BY person_id", (model,))}

    def person(self, person_id: int) -> tuple[int, str | None, bool, str] | None:
        row = self.db.execute("SELECT id, name, ignored, model FROM people WHERE id = ?", (person_id,)).fetchone()
        return (row[0], row[1], bool(row[2]), row[3]) if row else None

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

    def last_journal_entry(self) -> tuple[int, str, str, dict] | None:
        """(id, action, summary, undo information) of the latest edit not undone yet."""
        row = self.db.execute("SELECT id, action, summary, undo FROM journal WHERE undone = 0"
                              " ORDER BY id DESC LIMIT 1").fetchone()
        return (row[0], row[1], row[2], json.loads(row[3])) if row else None

    def mark_undone(self, entry_id: int) -> None:
        self.db.execute("UPDATE journal SET undone = 1 WHERE id = ?", (entry_id,))

    def journal_entries(self, limit: int) -> list[tuple[int, float, str, str, bool]]:
        """(id, time, action, summary, undone) of the latest edits, oldest first."""
        rows = self.db.execute("SELECT id, at, action, summary, undone FROM journal ORDER BY id DESC LIMIT ?",
                               (limit,)).fetchall()
        return [(i, at, action, summary, bool(undone)) for i, at, action, summary, undone in reversed(rows)]

    def people_rows(self, person_ids: Iterable[int]) -> list[tuple[int, str | None, int, str, int | None]]:
        """Whole rows (id, name, ignored, model, created_run) of the given people that exist."""
        return [tuple(self.db.execute("SELECT id, name, ignored, model, created_run FROM people WHERE id = ?",
                                      (pid,)).fetchone()) for pid in person_ids if self.person(pid)]

    def restore_person_row(self, row: Iterable) -> None:
        """Put a person row back as it was, id included (insert it if it is gone)."""
        person_id, name, ignored, model, created_run = row
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

    def face_states(self, person_ids: Iterable[int] = (), face_ids: Iterable[int] = ()) -> list[list]:
        """[face id, person id, confirmed] of the faces of the given people and of the given faces."""
        found = {}
        for pid in person_ids:
            for row in self.db.execute("SELECT id, person_id, confirmed FROM faces WHERE person_id = ?", (pid,)):
                found[row[0]] = list(row)
        for fid in face_ids:
            row = self.db.execute("SELECT id, person_id, confirmed FROM faces WHERE id = ?", (fid,)).fetchone()
            if row:
                found[row[0]] = list(row)
        return sorted(found.values())

    def set_face_states(self, states: Iterable[Iterable]) -> None:
        """Set (face id, person id or None, confirmed) for each face that still exists."""
        self.db.executemany("UPDATE faces SET person_id = ?, confirmed = ? WHERE id = ?",
                            ((person, int(confirmed), face) for face, person, confirmed in states))

    def face(self, face_id: int) -> tuple[int, int | None, bool, str] | None:
        """(id, person id, confirmed, model) of one face."""
        row = self.db.execute("SELECT id, person_id, confirmed, model FROM faces WHERE id = ?", (face_id,)).fetchone()
        return (row[0], row[1], bool(row[2]), row[3]) if row else None

    def person_faces(self, person_id: int) -> list[tuple[int, float, int]]:
        """(face id, detection score, shorter box side) of each face of the person."""
        return [tuple(row) for row in self.db.execute(
            "SELECT id, score, min(w, h) FROM faces WHERE person_id = ? ORDER BY id", (person_id,))]

    def face_people(self, model: str) -> dict[int, int]:
        """Face id -> person id, for every face of the model that has a person."""
        return dict(self.db.execute("SELECT id, person_id FROM faces WHERE model = ? AND person_id IS NOT NULL",
                                    (model,)).fetchall())

    def set_person_ignored(self, person_id: int, ignored: bool) -> None:
        self.db.execute("UPDATE people SET ignored = ? WHERE id = ?", (int(ignored), person_id))

    def people_rejections(self, person_ids: Iterable[int]) -> list[list[int]]:
        """[face id, person id] of every rejection that names one of the people."""
        return sorted([list(row) for pid in person_ids for row in self.db.execute(
            "SELECT face_id, person_id FROM face_rejections WHERE person_id = ?", (pid,))])

    def replace_rejections(self, person_ids: Iterable[int], pairs: Iterable[Iterable[int]]) -> None:
        """Make the people's rejections exactly `pairs` (pairs whose face or person is gone are dropped)."""
        self.db.executemany("DELETE FROM face_rejections WHERE person_id = ?", ((pid,) for pid in person_ids))
        self.db.executemany(
            "INSERT OR IGNORE INTO face_rejections (face_id, person_id) SELECT ?, ? WHERE EXISTS (SELECT 1 FROM"
            " faces WHERE id = ?) AND EXISTS (SELECT 1 FROM people WHERE id = ?)",
            ((face, person, face, person) for face, person in pairs))

    def add_rejection(self, face_id: int, person_id: int) -> None:
        self.db.execute("INSERT OR IGNORE INTO face_rejections (face_id, person_id) VALUES (?, ?)",
                        (face_id, person_id))

    def remove_rejection(self, face_id: int, person_id: int) -> None:
        self.db.execute("DELETE FROM face_rejections WHERE face_id = ? AND person_id = ?", (face_id, person_id))

    # --- export and import ------------------------------------------------------------------
    def reading(self) -> _Reading:
        """A read transaction: every query inside sees the same state, even while a scan commits."""
        return _Reading(self.db)

    def last_activity(self) -> float | None:
        """When the library last changed: the later of the last finished scan and the last edit."""
        row = self.db.execute(
            "SELECT max(coalesce((SELECT max(finished_at) FROM runs WHERE status = 'finished'), 0),"
            " coalesce((SELECT max(at) FROM journal), 0))").fetchone()
        return row[0] or None

    def export_faces(self, model: str, roots: Iterable[Path], embeddings: bool = False) -> list[tuple]:
        """Every face of the model below the roots, by id: (face id, photo path text, content hash, (x, y, w, h),
        score, person id or None, confirmed, (photo width, height), embedding bytes or None)."""
        faces = []
        for root in roots:
            prefix = _path_key(root).rstrip(b"/") + b"/"
            rows = self.db.execute(
                "SELECT f.id, p.path, p.content_hash, f.x, f.y, f.w, f.h, f.score, f.person_id, f.confirmed,"
                f" p.width, p.height, {'f.embedding' if embeddings else 'NULL'} FROM faces f"
                " JOIN photos p ON p.id = f.photo_id WHERE f.model = ? AND substr(p.path, 1, ?) = ? ORDER BY f.id",
                (model, len(prefix), prefix))
            faces += [(face, os.fsdecode(path), digest, (x, y, w, h), score, person, bool(sure), (width, height), blob)
                      for face, path, digest, x, y, w, h, score, person, sure, width, height, blob in rows]
        return sorted(faces)

    def photos_without_faces(self, roots: Iterable[Path]) -> int:
        """Readable photos below the roots in which no face was found."""
        total = 0
        for root in roots:
            prefix = _path_key(root).rstrip(b"/") + b"/"
            total += self.db.execute(
                "SELECT count(*) FROM photos p WHERE p.status = 'done' AND substr(p.path, 1, ?) = ?"
                " AND NOT EXISTS (SELECT 1 FROM faces f WHERE f.photo_id = p.id)", (len(prefix), prefix)).fetchone()[0]
        return total


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")


class _Reading:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN")
        return self.db

    def __exit__(self, *exc: object) -> None:
        self.db.execute("COMMIT")
