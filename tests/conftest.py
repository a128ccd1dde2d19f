"""Shared fixtures: where the test photos are, and isolated homes for the database and weights."""

from __future__ import annotations

import os
import shutil
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


# Who is in which of ../shared/photos, by one photo each (for tests that edit named people).
WHO = {"obama": "2009-whitehouse/obama.jpg", "biden": "2009-whitehouse/biden.jpg", "kit": "got/john1.jpeg",
       "rose": "got/rose1.jpg", "alex": "theatre/alex_lacamoire1.jpg"}


@pytest.fixture(scope="session")
def scanned(shared_photos, tmp_path_factory):
    """One real Dlib scan of the shared photos for the whole session: (database, photos root, person id
    by WHO key). Never edit it: tests copy the database and edit the copy."""
    from clusterfaces.library import Library, ScanOptions

    base = tmp_path_factory.mktemp("scanned")
    root = base / "photos"
    shutil.copytree(shared_photos, root, ignore=shutil.ignore_patterns("labels.json"))
    result = Library(base / "library.db", base / "people").scan(ScanOptions(roots=[root], model="Dlib"))
    people = {who: next(p.person.id for p in result.people if root / photo in p.photos) for who, photo in WHO.items()}
    return base / "library.db", root, people
