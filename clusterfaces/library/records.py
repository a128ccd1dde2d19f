"""What the Library hands front ends: people, faces, edits and suggestions as plain records."""

from __future__ import annotations

from dataclasses import dataclass

from clusterfaces.store import FaceListing


@dataclass(frozen=True)
class Person:
    """A person as front ends list them."""

    id: int
    name: str | None
    ignored: bool
    faces: int
    photos: int
    cover_face: int | None = None  # the face that shows them best

    @property
    def label(self) -> str:
        """The name, or "Person 007" for someone not named yet (as their folder is called)."""
        return self.name or f"Person {self.id:03d}"


Face = FaceListing  # a face as front ends list it: photo, box, person, score, confirmed, missing


@dataclass(frozen=True)
class Doubt:
    """A face and how far it lies from the centre of its person's faces (the farthest are the least sure)."""

    face: Face
    distance: float


@dataclass(frozen=True)
class Edit:
    """What an edit did: its journal line, the person it leaves the faces with, and a warning when the
    people folders could not follow (the edit itself is saved)."""

    summary: str
    person_id: int | None = None  # the person the edit leaves the faces with (a new one for new_person)
    faces: int = 0  # faces the edit moved, confirmed or took out
    groups: tuple[tuple[int, int], ...] = ()  # split: (person id, faces) per group, the kept one first
    folders_warning: str | None = None
