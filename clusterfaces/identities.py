"""People: turning a fresh clustering into stable person ids that survive re-runs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from clusterfaces.store import Store


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


def match_clusters_to_people(labels: np.ndarray, previous_people: np.ndarray) -> dict[int, int]:
    """Map new cluster labels to existing person ids by the faces they share (0 means no person).

    Greedy on the largest overlap first: each person continues at most one cluster, and a cluster
    inherits the person that held most of its faces.
    """
    overlap = Counter(
        (int(label), int(person)) for label, person in zip(labels, previous_people) if label >= 0 and person > 0
    )
    mapping: dict[int, int] = {}
    taken: set[int] = set()
    for (label, person), _ in sorted(overlap.items(), key=lambda item: (-item[1], item[0])):
        if label not in mapping and person not in taken:
            mapping[label] = person
            taken.add(person)
    return mapping


def assign_people(
    store: Store, model: str, face_ids: np.ndarray, labels: np.ndarray, previous_people: np.ndarray, run_id: int
) -> None:
    """Store the clustering as people: matched clusters keep their person id, new ones get new ids.

    labels are ordered largest cluster first, so on a first run Person 001 is the largest.
    """
    mapping = match_clusters_to_people(labels, previous_people)
    with store.transaction():
        for label in sorted(set(int(x) for x in labels if x >= 0)):
            if label not in mapping:
                mapping[label] = store.new_person(model, run_id)
        store.assign_faces(
            (int(face), mapping[int(label)] if label >= 0 else None) for face, label in zip(face_ids, labels)
        )
        store.delete_people_without_faces(model)


def people_with_faces(store: Store, model: str, face_ids: np.ndarray, person_ids: np.ndarray) -> list[PersonSummary]:
    """People that hold at least one of the faces, largest first."""
    members: dict[int, list[int]] = {}
    for face, person in zip(face_ids, person_ids):
        if person > 0:
            members.setdefault(int(person), []).append(int(face))
    people = []
    for person_id, name, ignored in store.people(model):
        if person_id in members:
            people.append(PersonSummary(person_id, name, ignored, tuple(members[person_id])))
    return sorted(people, key=lambda p: (-len(p.face_ids), p.id))
