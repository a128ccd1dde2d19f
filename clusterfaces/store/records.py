"""What the database hands out and takes in: plain records, no SQL."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np


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
    missing_since: int | None = None  # the run that first did not find the file; None: on disk
    failed_with: str | None = None  # unreadable: the decoding settings that failed it (JSON)

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


def path_key(path: Path) -> bytes:
    """A path as stored: the file system's bytes, so any file name round-trips exactly."""
    return os.fsencode(path)
