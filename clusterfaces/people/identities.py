"""People: writing each run's person ids to the store, keeping what the user said, across every run."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clusterfaces.boxes import box_overlap
from clusterfaces.people.continuity import drop_rejected
from clusterfaces.store import MarkedFace, Store


@dataclass(frozen=True)
class PersonSummary:
    """One person as the report shows them."""

    id: int
    name: str | None
    ignored: bool
    face_ids: tuple[int, ...]

    @property
    def label(self) -> str:
        return self.name or f"Person {self.id:03d}"


def store_people(store: Store, model: str, face_ids: np.ndarray, people: np.ndarray, run_id: int) -> None:
    """Write each face's person; negative ids become new people (in order), rejected pairs are dropped."""
    rejected = {(r.face_id, r.person_id) for r in store.rejections()}
    with store.transaction():
        created: dict[int, int] = {}
        for marker in sorted({int(p) for p in people if p < 0}, reverse=True):
            created[marker] = store.new_person(model, run_id)
        final = drop_rejected(face_ids, np.asarray([created.get(int(p), int(p)) for p in people]), rejected)
        store.assign_faces((int(face), int(person) if person > 0 else None) for face, person in zip(face_ids, final))
        store.delete_people_without_faces(model)


def carry_over_people(store: Store, old_faces: list[MarkedFace], model: str, run_id: int) -> int:
    """After a model or detector switch: give each new face the person of the old face it overlaps
    (same photo, box IoU >= 0.5), so names, merges and ignores survive. Returns faces carried."""
    new_people: dict[int, int] = {}
    carried = 0
    with store.transaction():
        for old in old_faces:
            candidates = store.faces_in_photo(old.location, model)
            if not candidates:
                continue
            best = max(candidates, key=lambda face: box_overlap(face.box, old.box))
            if box_overlap(best.box, old.box) < 0.5:
                continue
            if old.person_id not in new_people:
                new_people[old.person_id] = store.new_named_person(model, run_id, old.name, old.ignored)
            store.carry_face(best.id, new_people[old.person_id], old.confirmed or old.name is not None)
            carried += 1
    return carried


def people_with_faces(store: Store, model: str, face_ids: np.ndarray, person_ids: np.ndarray) -> list[PersonSummary]:
    """People that hold at least one of the faces, largest first."""
    members: dict[int, list[int]] = {}
    for face, person in zip(face_ids, person_ids):
        if person > 0:
            members.setdefault(int(person), []).append(int(face))
    people = []
    for person in store.people(model):
        if person.id in members:
            people.append(PersonSummary(person.id, person.name, person.ignored, tuple(members[person.id])))
    return sorted(people, key=lambda p: (-len(p.face_ids), p.id))
