"""One open database: connection settings, migrations and transactions; the queries live in mixins."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from clusterfaces.errors import DatabaseError
from clusterfaces.store._export import ExportQueries
from clusterfaces.store._library import LibraryQueries
from clusterfaces.store._people import PeopleQueries
from clusterfaces.store._transactions import Transaction
from clusterfaces.store.schema import MIGRATIONS


class Store(LibraryQueries, PeopleQueries, ExportQueries):
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

    def transaction(self) -> Transaction:
        """A write transaction: committed on success, rolled back on any exception."""
        return Transaction(self.db)
