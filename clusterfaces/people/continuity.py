"""Continuity: how person ids carry over from one clustering to the next (pure rules, no store)."""

from __future__ import annotations

from collections import Counter

import numpy as np


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


def drop_rejected(face_ids: np.ndarray, people: np.ndarray, rejected: set[tuple[int, int]]) -> np.ndarray:
    """The user's "not this person" wins over every other rule: a face given a person it was rejected from
    (a (face id, person id) pair in `rejected`) joins nobody."""
    people = np.array(people, dtype=np.int64)
    if rejected:
        dropped = [(int(face), int(person)) in rejected for face, person in zip(face_ids, people)]
        people[np.asarray(dropped, dtype=bool)] = 0
    return people
