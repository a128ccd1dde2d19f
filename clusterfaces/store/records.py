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


Box = tuple[int, int, int, int]  # x, y, w, h in upright, full-size pixels


@dataclass(frozen=True)
class PersonRecord:
    """A person's row: who they are, whatever their faces."""

    id: int
    name: str | None
    ignored: bool
    model: str
    created_run: int | None = None

    def as_row(self) -> list:
        """The row as the journal's undo information keeps it."""
        return [self.id, self.name, int(self.ignored), self.model, self.created_run]


@dataclass(frozen=True)
class FaceRecord:
    """A face's place among people: its person (None: nobody), whether the user put it there, its model."""

    id: int
    person_id: int | None
    confirmed: bool
    model: str


@dataclass(frozen=True)
class FaceState:
    """What an edit changes about a face, and what undo puts back."""

    face_id: int
    person_id: int | None
    confirmed: bool

    def as_row(self) -> list:
        return [self.face_id, self.person_id, int(self.confirmed)]


@dataclass(frozen=True)
class Rejection:
    """The user said this face is not this person."""

    face_id: int
    person_id: int


@dataclass(frozen=True)
class LastScan:
    """The last finished scan: what it walked, with which model and detector, and its settings."""

    roots: list[Path]
    model: str
    detector: str
    settings: dict


@dataclass(frozen=True)
class Recluster:
    """The last run that re-clustered a model's faces, and how many faces it clustered."""

    run_id: int
    faces: int


@dataclass(frozen=True)
class JournalEntry:
    """One edit as `clusterfaces log` shows it."""

    id: int
    at: float  # seconds since the epoch
    action: str
    summary: str
    undone: bool


@dataclass(frozen=True)
class UndoRecord:
    """The latest edit not undone yet, with what undoing it needs."""

    id: int
    action: str
    summary: str
    undo: dict


@dataclass(frozen=True)
class MarkedFace:
    """A face that carries user work (its person is named or ignored, or the user confirmed it), by place."""

    location: str  # photo path text
    box: Box
    person_id: int
    name: str | None
    ignored: bool
    confirmed: bool


@dataclass(frozen=True)
class FaceBox:
    """A face of a photo: its id and box (and, where asked, its embedding and model)."""

    id: int
    box: Box
    embedding: np.ndarray | None = None
    model: str | None = None


@dataclass(frozen=True)
class FaceQuality:
    """How good a face is for showing: the detector's score and the box's shorter side."""

    id: int
    score: float
    size: int


@dataclass(frozen=True)
class FacePlace:
    """Where a face is: its photo and box."""

    photo: Path
    box: Box


@dataclass(frozen=True)
class PersonCounts:
    """How many faces a person has, and in how many photos (and, where asked, the face that shows them best)."""

    faces: int
    photos: int
    cover_face: int | None = None


@dataclass(frozen=True)
class UnreadablePhoto:
    """A photo that could not be read, and why."""

    path: Path
    reason: str


@dataclass(frozen=True)
class ExportedFace:
    """One face as the identity map and the sidecars need it."""

    id: int
    location: str  # photo path text
    content_hash: str | None
    box: Box
    score: float
    person_id: int | None
    confirmed: bool
    photo_size: tuple[int | None, int | None]  # upright width, height
    embedding: bytes | None


@dataclass(frozen=True)
class FaceListing:
    """A face as front ends list it: where it is, whose it is, how sure (no embedding)."""

    id: int
    person_id: int | None
    photo: Path
    box: Box
    score: float
    confirmed: bool
    missing: bool  # its photo was not on disk at the last scan


@dataclass(frozen=True)
class FaceAssignments:
    """Faces of one model below some roots, without their vectors: what describing people needs."""

    ids: np.ndarray  # int64
    person_ids: np.ndarray  # int64, 0 where none
    photo_ids: np.ndarray  # int64
    scores: np.ndarray
    sizes: np.ndarray


@dataclass(frozen=True)
class ChangeMarker:
    """Where the library stands: its latest run and edit, and how many edits were undone. Equal markers
    mean the faces' people have not changed in between."""

    last_run: int
    last_edit: int
    undone_edits: int
