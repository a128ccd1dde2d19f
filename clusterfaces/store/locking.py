"""The database lock: one scan or edit writes at a time; the second waits for the first, saying so."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import filelock

from clusterfaces.errors import ClusterfacesError
from clusterfaces.store.database import check_database_file, running_scan_roots

LOCK_WAIT_SECONDS = 600.0  # how long a command waits for another one; CLUSTERFACES_LOCK_WAIT overrides it
LOCK_WAIT_VARIABLE = "CLUSTERFACES_LOCK_WAIT"


def lock_wait() -> float:
    """Seconds to wait for the lock: $CLUSTERFACES_LOCK_WAIT, or LOCK_WAIT_SECONDS."""
    try:
        return max(0.0, float(os.environ.get(LOCK_WAIT_VARIABLE, LOCK_WAIT_SECONDS)))
    except ValueError:
        return LOCK_WAIT_SECONDS


def _duration(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:g} minutes"
    return f"{seconds:g} second{'' if seconds == 1 else 's'}"


def holder(database: Path) -> str:
    """Who most likely holds the lock: a running scan (its run row says so), or another command (an edit, an
    import, an answer being saved)."""
    roots = running_scan_roots(database)
    if roots is not None:
        return f"the scan of {', '.join(roots) or 'the photos'} (database {database})"
    return f"another clusterfaces command using {database}"


@contextlib.contextmanager
def database_lock(database: Path) -> Iterator[None]:
    """Hold the database's lock (`<database>.lock` beside it). When another scan or edit holds it, say
    so on stderr and wait up to lock_wait() seconds; then stop with a one-line error, having changed
    nothing. A --db that is some other file (a photo) is refused before any lock file is made."""
    database = Path(database)
    check_database_file(database)
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ClusterfacesError(f"cannot create the folder for {database}: {error.strerror}") from None
    lock = filelock.FileLock(str(database) + ".lock", timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        wait = lock_wait()
        print(f"waiting for {holder(database)} to finish... (up to {_duration(wait)}; Ctrl-C stops waiting "
              "and changes nothing)", file=sys.stderr, flush=True)
        try:
            lock.acquire(timeout=wait)
        except filelock.Timeout:
            raise ClusterfacesError(
                f"another clusterfaces command (a scan or an edit) is still using {database} after "
                f"{_duration(wait)}; nothing was changed: run this again when it has finished") from None
    except OSError as error:
        raise ClusterfacesError(f"cannot create the lock file {database}.lock: {error.strerror}") from None
    try:
        yield
    finally:
        lock.release()
