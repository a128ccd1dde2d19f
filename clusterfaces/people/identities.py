"""People: turning clusters into stable person ids, keeping what the user said, across every run."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from clusterfaces.people.cluster_centres import attach_leftovers
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


def match_clusters_to_people(labels: np.ndarray, previous_people: np.ndarray,
                             taken: set[int] | None = None) -> dict[int, int]:
    """Map cluster labels to existing person ids by the faces they share (0 means no person).

    Greedy on the largest overlap first: each person continues at most one cluster, and a cluster
    inherits the person that held most of its faces. Equal overlaps go first to the person for whom
    they are the larger share of their faces. Persons in `taken` are not available.
    """
    pairs = [(int(label), int(person)) for label, person in zip(labels, previous_people) if label >= 0 and person > 0]
    overlap = Counter(pairs)
    totals = Counter(person for _, person in pairs)
    mapping: dict[int, int] = {}
    taken = set(taken or ())
    for (label, person), _ in sorted(overlap.items(), key=lambda item: (
            -item[1], -item[1] / totals[item[0][1]], item[0])):
        if label not in mapping and person not in taken:
            mapping[label] = person
            taken.add(person)
    return mapping


def people_from_clusters(vectors: np.ndarray, labels: np.ndarray, previous: np.ndarray,
                         confirmed: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Person id for every face after a full re-clustering, keeping the user's constraints and every
    person's id: only the faces a person edited change person because of the edit.

    - A confirmed face keeps its person, whatever the clustering says.
    - Each cluster continues the person that held most of its faces before (each person continues at
      most one cluster, largest overlap first), and its other faces take that person.
    - A face whose person has a confirmed face in the same cluster stays with that person: a confirmed
      face pulls in the faces that were already its person's, never another person's.
    - A cluster that continues nobody but holds confirmed faces gives its new faces to the nearest of
      those people (their confirmed faces' centre); its faces of people continued elsewhere stay theirs.
    - Any other cluster becomes a new person: the part a re-clustering splits off an unconfirmed person
      (two people once glued together) is a person of its own, so a better clustering can mend old mistakes.
    Returns person ids (0: nobody; negative: the n-th new person, -1 for the first) and the labels of
    the clusters that became new people.
    """
    people = np.zeros(len(labels), dtype=np.int64)
    people[confirmed] = previous[confirmed]
    clustered = labels >= 0
    mapping = match_clusters_to_people(labels, previous)
    continued = set(mapping.values())
    centres: dict[int, np.ndarray] = {}
    new_labels: list[int] = []
    for label in sorted({int(x) for x in labels[clustered]}):
        members = labels == label
        anchored = set(previous[members & confirmed].tolist()) - {0}
        free = members & ~confirmed
        pulled = free & np.isin(previous, list(anchored)) & (previous > 0)
        people[pulled] = previous[pulled]
        rest = free & ~pulled
        person = mapping.get(label)
        if person is not None:
            people[rest] = person
            continue
        if anchored:
            # A confirmed face never pulls in another person's faces: faces of a person that continues in
            # another cluster stay theirs, and only the rest go to the nearest confirmed person.
            held = rest & np.isin(previous, list(continued)) & (previous > 0)
            people[held] = previous[held]
            rest &= ~held
            if not rest.any():
                continue
            persons = sorted(anchored)
            for anchor in persons:
                if anchor not in centres:
                    centre = vectors[confirmed & (previous == anchor)].mean(axis=0)
                    centres[anchor] = centre / (np.linalg.norm(centre) or 1.0)
            stacked = np.vstack([centres[a] for a in persons])
            index = np.flatnonzero(rest)
            people[index] = np.asarray(persons)[(vectors[index] @ stacked.T).argmax(axis=1)]
        else:
            new_labels.append(label)
            people[rest] = -len(new_labels)
    return people, new_labels


def match_faces(old: list[tuple[int, tuple[int, int, int, int], np.ndarray]],
                new: list[tuple[tuple[int, int, int, int], np.ndarray]], model: str) -> dict[int, int]:
    """The faces of an edited photo (new pixels) that are faces it showed before: new index -> old face id.

    A pair matches when the embeddings are within the model's same-person distance and the boxes
    overlap (IoU >= 0.5), or, for a crop or a resize that moved every box, the embeddings are within half
    that distance. Closest pairs first, each face at most once.
    """
    from clusterfaces.people.clustering import same_person_threshold
    from clusterfaces.people.evaluation import box_overlap

    if not old or not new:
        return {}
    threshold = same_person_threshold(model)
    unit = lambda v: np.asarray(v, dtype=np.float64) / (np.linalg.norm(v) or 1.0)  # noqa: E731
    pairs = []
    for index, (box, vector) in enumerate(new):
        for face, old_box, old_vector in old:
            distance = float(np.linalg.norm(unit(vector) - unit(old_vector)))
            overlap = box_overlap(box, old_box)
            if threshold <= 0:
                good = overlap >= 0.5
            else:
                good = distance <= threshold and (overlap >= 0.5 or distance <= threshold / 2)
            if good:
                pairs.append((distance, -overlap, index, face))
    kept: dict[int, int] = {}
    for _, _, index, face in sorted(pairs):
        if index not in kept and face not in kept.values():
            kept[index] = face
    return kept


def attach_to_people(vectors: np.ndarray, people: np.ndarray, max_distance: float) -> np.ndarray:
    """Between re-clusterings: give each face without a person to the nearest person, if clearly close."""
    labels = np.where(people > 0, people, -1)
    attached = attach_leftovers(vectors, labels, max_distance)
    return np.where(attached > 0, attached, 0)


def one_face_per_photo(vectors: np.ndarray, people: np.ndarray, photo_ids: np.ndarray,
                       confirmed: np.ndarray) -> np.ndarray:
    """A person appears at most once in a photo: of several faces given the same person in one photo,
    keep the confirmed one, else the one nearest the person's centre; the others join nobody."""
    people = people.copy()
    seen: dict[tuple[int, int], list[int]] = {}
    for index, (person, photo) in enumerate(zip(people.tolist(), photo_ids.tolist())):
        if person != 0:
            seen.setdefault((person, photo), []).append(index)
    for (person, _), members in seen.items():
        if len(members) < 2:
            continue
        centre = vectors[people == person].mean(axis=0)
        ranked = sorted(members, key=lambda i: (not confirmed[i], -float(vectors[i] @ centre)))
        for index in ranked[1:]:
            if not confirmed[index]:
                people[index] = 0
    return people


def store_people(store: Store, model: str, face_ids: np.ndarray, people: np.ndarray, run_id: int) -> None:
    """Write each face's person; negative ids become new people (in order), rejected pairs are dropped."""
    rejected = store.rejections()
    with store.transaction():
        created: dict[int, int] = {}
        for marker in sorted({int(p) for p in people if p < 0}, reverse=True):
            created[marker] = store.new_person(model, run_id)
        final = [created.get(int(p), int(p)) for p in people]
        store.assign_faces(
            (int(face), person if person > 0 and (int(face), person) not in rejected else None)
            for face, person in zip(face_ids, final)
        )
        store.delete_people_without_faces(model)


def carry_over_people(store: Store, old_faces: list, model: str, run_id: int) -> int:
    """After a model or detector switch: give each new face the person of the old face it overlaps
    (same photo, box IoU >= 0.5), so names, merges and ignores survive. Returns faces carried."""
    from clusterfaces.people.evaluation import box_overlap

    new_people: dict[int, int] = {}
    carried = 0
    with store.transaction():
        for location, box, person, name, ignored, confirmed in old_faces:
            candidates = store.faces_in_photo(location, model)
            if not candidates:
                continue
            face_id, new_box = max(candidates, key=lambda c: box_overlap(c[1], box))
            if box_overlap(new_box, box) < 0.5:
                continue
            if person not in new_people:
                new_people[person] = store.new_named_person(model, run_id, name, ignored)
            store.carry_face(face_id, new_people[person], confirmed or name is not None)
            carried += 1
    return carried


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
