"""One open database: connection settings, migrations and transactions; the queries live in mixins."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import sqlite3
import stat
import time
from pathlib import Path

from clusterfaces.errors import DatabaseError
from clusterfaces.store._export import ExportQueries
from clusterfaces.store._faces import FaceQueries
from clusterfaces.store._library import LibraryQueries
from clusterfaces.store._people import PeopleQueries
from clusterfaces.store._transactions import Transaction
from clusterfaces.store.schema import MIGRATIONS

SQLITE_HEADER = b"SQLite format 3\x00"


def check_database_file(path: Path) -> None:
    """Refuse a database path that is something else (a folder, a photo given as --db by mistake) before
    anything is created beside it."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as error:
        raise DatabaseError(f"cannot open database {path}: {error.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise DatabaseError(f"{path} is a folder: give --db a database file (it is created if it does not exist)")
    if not stat.S_ISREG(info.st_mode):
        raise DatabaseError(f"{path} is not a regular file: give --db a database file")
    if info.st_size == 0:
        return
    try:
        with open(path, "rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except OSError as error:
        raise DatabaseError(f"cannot open database {path}: {error.strerror}") from None
    if header != SQLITE_HEADER:
        raise DatabaseError(f"{path} is not a clusterfaces database (not an SQLite file; a photo?) and was left as "
                            "it is: choose another --db")


def disk_full(error: BaseException, path: Path | None = None) -> bool:
    """Whether an error says the disk (or the quota) is full. SQLite reports a full disk met while growing
    its shared-memory index as a mere I/O error: then the free space beside the database decides."""
    if isinstance(error, sqlite3.Error):
        if getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(error):
            return True
        if path is not None and "disk I/O error" in str(error):
            try:
                return shutil.disk_usage(Path(path).resolve().parent).free < 2**20
            except OSError:
                return False
        return False
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


def disk_full_message(path: Path) -> str:
    """One line for a full disk: where, how much is free, and that nothing saved is lost."""
    try:
        free = f"{shutil.disk_usage(Path(path).resolve().parent).free / 2**20:,.1f} MB free"
    except OSError:
        free = "no space left"
    return (f"the disk holding the database {path} is full ({free}): free some space and run the command again; "
            "everything saved before is kept")


def running_scan_roots(path: Path) -> list[str] | None:
    """The roots of the scan running on this database now (by its run row), or None; read-only."""
    try:
        uri = Path(os.path.abspath(path)).as_uri() + "?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=1)) as db:
            row = db.execute("SELECT status, roots FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        return list(json.loads(row[1])) if row and row[0] == "running" else None
    except (sqlite3.Error, ValueError, TypeError):
        return None


class Store(LibraryQueries, FaceQueries, PeopleQueries, ExportQueries):
    """One open database. Use as a context manager; commits happen where the caller says."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        check_database_file(self.path)
        created = False
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
        except (sqlite3.DatabaseError, OSError) as error:
            if disk_full(error, self.path):
                self._remove_if_new(created)
                raise DatabaseError(disk_full_message(self.path)) from None
            if isinstance(error, OSError):
                raise DatabaseError(f"cannot open database {self.path}: {error.strerror}") from None
            raise DatabaseError(
                f"{self.path} is not a usable clusterfaces database ({error}); "
                "move it aside (it is never overwritten) or choose another with --db"
            ) from None

    def _remove_if_new(self, created: bool) -> None:
        """A database this very call created and could not finish holds nothing: take it away again."""
        if hasattr(self, "db"):
            self.db.close()
        if created:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type: object, error: BaseException | None, traceback: object) -> None:
        self.close()
        if error is not None and disk_full(error, self.path):
            # What was committed stays; the transaction that hit the full disk was rolled back.
            raise DatabaseError(disk_full_message(self.path)) from None

    def close(self) -> None:
        self.db.close()

    # --- schema -----------------------------------------------------------------------------
    def _migrate(self) -> None:
        tables = {row[0] for row in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "schema_migrations" not in tables:
            raise DatabaseError(f"{self.path} is another program's SQLite database and was left as it is: choose "
                                "another --db")
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

    def transaction(self) -> Transaction:
        """A write transaction: committed on success, rolled back on any exception."""
        return Transaction(self.db)
