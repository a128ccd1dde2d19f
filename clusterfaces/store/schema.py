"""The database schema as an append-only list of named migration steps."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

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


@migration
def m004_missing_and_settings(db: sqlite3.Connection) -> None:
    # A photo that is not on disk at a scan is kept, faces, people and edits included, with the run
    # that first missed it; it is forgotten only when the user asks (`scan --forget-missing`).
    # An unreadable photo remembers the decoding settings that failed it, so other settings retry it.
    # The library remembers its output folder, so edits without --out update the folders of the scan.
    _run_script(
        db,
        """
        ALTER TABLE photos ADD COLUMN missing_since INTEGER REFERENCES runs(id);
        ALTER TABLE photos ADD COLUMN failed_with TEXT;
        CREATE TABLE library_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        """,
    )
