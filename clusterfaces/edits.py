"""What a user says about people: names and merges. Each edit is stored as a constraint that every
later clustering keeps (the faces involved become confirmed)."""

from __future__ import annotations

from dataclasses import dataclass

from clusterfaces.errors import ClusterfacesError
from clusterfaces.store import Store


@dataclass(frozen=True)
class PersonRow:
    """A person as `clusterfaces people` lists them."""

    id: int
    name: str | None
    ignored: bool
    faces: int
    photos: int


def list_people(store: Store) -> list[PersonRow]:
    """Every person of the library's current model with faces, largest first."""
    last = store.last_run()
    if last is None:
        return []
    counts = store.person_counts(last[1])
    return sorted(
        (PersonRow(pid, name, ignored, *counts.get(pid, (0, 0))) for pid, name, ignored in store.people(last[1])),
        key=lambda row: (-row.faces, row.id),
    )


def _existing(store: Store, person_id: int) -> tuple[int, str | None, bool, str]:
    person = store.person(person_id)
    if person is None:
        raise ClusterfacesError(f"there is no person {person_id}: `clusterfaces people` lists them")
    return person


def rename_person(store: Store, person_id: int, name: str) -> int:
    """Name a person; their current faces become confirmed. Returns the faces confirmed."""
    _existing(store, person_id)
    clean = " ".join(name.split())
    if not clean:
        raise ClusterfacesError("a name cannot be empty")
    with store.transaction():
        store.set_person_name(person_id, clean)
        return store.confirm_person_faces(person_id)


def merge_people(store: Store, target_id: int, other_ids: list[int]) -> int:
    """Move every face of the other people to the target (confirmed) and drop the others."""
    target = _existing(store, target_id)
    others = [_existing(store, pid) for pid in dict.fromkeys(other_ids) if pid != target_id]
    if any(other[3] != target[3] for other in others):
        raise ClusterfacesError("those people come from different recognition models and cannot be merged")
    with store.transaction():
        moved = 0
        for other in others:
            moved += store.move_person_faces(other[0], target_id)
            if target[1] is None and other[1]:
                store.set_person_name(target_id, other[1])  # keep a name the user gave
            store.delete_person(other[0])
        store.confirm_person_faces(target_id)
    return moved
