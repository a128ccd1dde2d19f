"""Shared fixtures: where the test photos are, isolated homes, and one real scan shared by the session."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def shared_data() -> Path:
    """../shared beside the checkout, or $CLUSTERFACES_TEST_DATA."""
    return Path(os.environ.get("CLUSTERFACES_TEST_DATA", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_photos() -> Path:
    path = shared_data() / "photos"
    if not (path / "labels.json").is_file():
        pytest.skip(f"test photos not found at {path} (set CLUSTERFACES_TEST_DATA to the shared folder)")
    return path


@pytest.fixture(scope="session")
def shared_dev_faces() -> Path:
    path = shared_data() / "faces" / "dev"
    if not path.is_dir():
        pytest.skip(f"face crops not found at {path} (set CLUSTERFACES_TEST_DATA to the shared folder)")
    return path


@pytest.fixture(scope="session", autouse=True)
def isolated_homes(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep tests away from the user's database and weights; weights are staged once per session."""
    home = tmp_path_factory.mktemp("homes")
    os.environ["CLUSTERFACES_HOME"] = str(home / "clusterfaces")
    os.environ.setdefault("DEEPFACE_HOME", str(home / "deepface"))
    # A command waits up to 10 minutes for another one's lock; tests that mean to wait say how long.
    os.environ.setdefault("CLUSTERFACES_LOCK_WAIT", "1")


# Who is in which of ../shared/photos, by one photo each (for tests that edit named people).
WHO = {"obama": "2009-whitehouse/obama.jpg", "biden": "2009-whitehouse/biden.jpg", "kit": "got/john1.jpeg",
       "rose": "got/rose1.jpg", "alex": "theatre/alex_lacamoire1.jpg"}


@dataclass
class SessionScan:
    """The session's one real Dlib scan of the shared photos (labels.json left out)."""

    database: Path
    output: Path
    root: Path  # the scanned photos; put back as they were by restore_photos
    pristine: Path  # an untouched copy of root, same bytes and modification times
    people: dict[str, int]  # person id by WHO key
    result: object  # the scan's ScanResult


def tree_state(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every entry below root: (mode, size, mtime_ns), by relative path."""
    state = {}
    for folder, folders, files in os.walk(root):
        for name in folders + files:
            info = os.lstat(os.path.join(folder, name))
            state[os.path.relpath(os.path.join(folder, name), root)] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return state


def restore_photos(session: SessionScan) -> None:
    """Put the session's photos back exactly as scanned, if a test changed them."""
    if tree_state(session.root) != tree_state(session.pristine):
        for folder, _, _ in os.walk(session.root):
            os.chmod(folder, 0o755)
        shutil.rmtree(session.root)
        shutil.copytree(session.pristine, session.root, symlinks=True)


def copy_database(source: Path, target: Path) -> Path:
    """Copy a database file with its write-ahead log, if any."""
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            shutil.copy(f"{source}{suffix}", f"{target}{suffix}")
    return target


@pytest.fixture(scope="session")
def session_scan(shared_photos, tmp_path_factory) -> SessionScan:
    from clusterfaces import Library, ScanOptions

    base = tmp_path_factory.mktemp("scanned")
    root = base / "photos"
    shutil.copytree(shared_photos, root, ignore=shutil.ignore_patterns("labels.json"))
    shutil.copytree(root, base / "pristine")
    result = Library(base / "library.db", base / "people").scan(ScanOptions(roots=[root], model="Dlib"))
    people = {who: next(p.person.id for p in result.people if root / photo in p.photos) for who, photo in WHO.items()}
    return SessionScan(base / "library.db", base / "people", root, base / "pristine", people, result)


@pytest.fixture(scope="session")
def scanned(session_scan):
    """(database, photos root, person id by WHO key) of the session's scan. Never edit it: tests copy
    the database and edit the copy (or use `library_copy`)."""
    return session_scan.database, session_scan.root, session_scan.people


@pytest.fixture()
def library_copy(session_scan, tmp_path):
    """(Library, photos root, person id by WHO key): a private copy of the session's scanned database
    with its own output folder. The photos are the session's: a test may change them (add, edit, delete,
    touch files below root), and they are put back exactly as they were afterwards."""
    from clusterfaces import Library

    library = Library(copy_database(session_scan.database, tmp_path / "library.db"), tmp_path / "people")
    try:
        yield library, session_scan.root, dict(session_scan.people)
    finally:
        restore_photos(session_scan)
