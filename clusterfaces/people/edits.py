"""What a user says about people: names, merges, ignores, splits and face corrections.

Each edit is a constraint every later clustering keeps (the faces involved become confirmed, or a
(face, person) pair is rejected), and each is written to the journal, in the same transaction,
with the state it changed, so that `undo` puts back exactly what was there: ids, names, ignored
flags, confirmed flags and rejections.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clusterfaces.errors import ClusterfacesError
from clusterfaces.people.clustering import ClusterSettings, cluster_embeddings, same_person_threshold
from clusterfaces.scan.faces import l2_normalise
from clusterfaces.store import Store

# Control characters (terminal escapes, NUL...), bidirectional overrides that make text read other
# than it is, and lone surrogates (undecodable bytes in a command line) never belong in a name.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
SPLIT_MIN_CLUSTER_SIZE = 2
LARGEST_ID = 2**63 - 1  # SQLite's integers are 64 bits: a larger id names nobody


@dataclass(frozen=True)
class PersonRow:
    """A person as `clusterfaces people` lists them."""

    id: int
    name: str | None
    ignored: bool
    faces: int
    photos: int


@dataclass(frozen=True)
class JournalEntry:
    """One edit as `clusterfaces log` shows it."""

    id: int
    at: float  # seconds since the epoch
    action: str
    summary: str
    undone: bool


@dataclass(frozen=True)
class Suggestion:
    """A named person whose faces look like another person's."""

    person_id: int
    name: str
    distance: float  # between the L2-normalised centres of the two people's faces


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


def clean_name(name: str) -> str:
    """A name as stored: NFC, no control characters, single spaces. Raises if nothing is left."""
    text = " ".join(_UNPRINTABLE.sub(" ", unicodedata.normalize("NFC", name)).split())
    if not text:
        raise ClusterfacesError("a name cannot be empty")
    return text


def _name_key(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


def _short(name: str, limit: int = 40) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _who(person: tuple) -> str:
    return f'person {person[0]} "{_short(person[1])}"' if person[1] else f"person {person[0]}"


def existing_person(store: Store, person_id: int) -> tuple[int, str | None, bool, str]:
    """The person's row; a one-line error when there is no such person (ids past SQLite's 64 bits included)."""
    person = store.person(person_id) if 0 < person_id <= LARGEST_ID else None
    if person is None:
        raise ClusterfacesError(f"there is no person {_shown(person_id)}: `clusterfaces people` lists them")
    return person


_existing = existing_person


def _shown(number: int) -> str:
    text = str(number)
    return text if len(text) <= 24 else f"{text[:12]}... ({len(text)} digits)"


def _existing_face(store: Store, face_id: int) -> tuple[int, int | None, bool, str]:
    if not 0 < face_id <= LARGEST_ID:
        raise ClusterfacesError(f"there is no face {_shown(face_id)}: `clusterfaces faces list PERSON_ID` lists them")
    face = store.face(face_id)
    if face is None:
        raise ClusterfacesError(f"there is no face {face_id}: `clusterfaces faces list PERSON_ID` lists them")
    return face


def _snapshot(store: Store, people: Sequence[int], faces_of: Sequence[int] = (), faces: Sequence[int] = ()) -> dict:
    """What undoing an edit of these people and faces needs: their rows, faces and rejections as now."""
    people = list(dict.fromkeys(people))
    return {"people": store.people_rows(people), "faces": store.face_states(faces_of, faces),
            "rejections": store.people_rejections(people), "created": [], "deleted": []}


# --- edits --------------------------------------------------------------------------------------
def rename_person(store: Store, person_id: int, name: str) -> int:
    """Name a person; their current faces become confirmed. Returns the faces confirmed."""
    person = _existing(store, person_id)
    clean = clean_name(name)
    with store.transaction():
        undo = _snapshot(store, [person_id], faces_of=[person_id])
        store.set_person_name(person_id, clean)
        confirmed = store.confirm_person_faces(person_id)
        store.add_journal_entry("name", f'{_who(person)} named "{_short(clean)}"', undo)
    return confirmed


def merge_people(store: Store, target_id: int, other_ids: list[int], summary: str | None = None) -> int:
    """Move every face of the other people to the target (confirmed) and drop the others."""
    target = _existing(store, target_id)
    others = [_existing(store, pid) for pid in dict.fromkeys(other_ids) if pid != target_id]
    if not others:
        raise ClusterfacesError(f"give people other than {target_id} to merge into it")
    if any(other[3] != target[3] for other in others):
        raise ClusterfacesError("those people come from different recognition models and cannot be merged")
    ids = [other[0] for other in others]
    with store.transaction():
        undo = _snapshot(store, [target_id, *ids], faces_of=[target_id, *ids])
        undo["deleted"] = ids
        moved = 0
        name = target[1]
        for other in others:
            moved += store.move_person_faces(other[0], target_id)
            if name is None and other[1]:
                name = other[1]  # keep a name the user gave
                store.set_person_name(target_id, name)
            store.delete_person(other[0])
        store.confirm_person_faces(target_id)
        summary = summary or f"merged {', '.join(map(_who, others))} into {_who((target_id, name))}"
        store.add_journal_entry("merge", summary, undo)
    return moved


def name_person(store: Store, person_id: int, name: str) -> tuple[int, bool]:
    """Name a person as the interactive session does: a name another person already has merges the two
    (into that person). Returns (the person who now has the name, whether it was a merge)."""
    person = _existing(store, person_id)
    clean = clean_name(name)
    same = [row for row in list_people(store)
            if row.name and not row.ignored and row.id != person_id and _name_key(row.name) == _name_key(clean)]
    if not same:
        rename_person(store, person_id, clean)
        return person_id, False
    target = same[0]  # the largest of them
    merge_people(store, target.id, [person_id],
                 f'{_who(person)} named "{_short(clean)}": merged into {_who((target.id, target.name))}')
    return target.id, True


def ignore_person(store: Store, person_id: int, ignored: bool = True) -> None:
    """Mark a person as not someone the user cares about (no folder, not offered for naming), or undo that."""
    person = _existing(store, person_id)
    with store.transaction():
        undo = _snapshot(store, [person_id], faces_of=[person_id])
        store.set_person_ignored(person_id, ignored)
        if ignored:  # keep the ignored faces together, so a re-clustering does not offer them again
            store.confirm_person_faces(person_id)
        store.add_journal_entry("ignore" if ignored else "unignore",
                                f"{_who(person)} {'ignored' if ignored else 'no longer ignored'}", undo)


def split_person(store: Store, person_id: int) -> list[tuple[int, int]]:
    """Re-cluster one person's faces into sub-groups: the largest keeps the id, every other becomes a new
    unnamed person (its faces unconfirmed), faces in no sub-group stay. Returns (person id, faces) per group."""
    person = _existing(store, person_id)
    faces = store.load_faces(person[3], _last_run(store)[0])
    members = np.flatnonzero(faces.person_ids == person_id)
    settings = ClusterSettings(min_cluster_size=SPLIT_MIN_CLUSTER_SIZE)
    labels = cluster_embeddings(l2_normalise(faces.embeddings[members]), settings, person[3])
    groups = sorted(set(labels.tolist()) - {-1})  # 0 is the largest
    if len(groups) < 2:
        return [(person_id, len(members))]
    with store.transaction():
        undo = _snapshot(store, [person_id], faces_of=[person_id])
        result = [(person_id, len(members) - int((labels > 0).sum()))]
        for label in groups[1:]:
            new_id = store.new_person(person[3], None)
            moving = faces.ids[members[labels == label]].tolist()
            store.set_face_states((face, new_id, False) for face in moving)
            undo["created"].append(new_id)
            result.append((new_id, len(moving)))
        new = ", ".join(str(pid) for pid, _ in result[1:])
        store.add_journal_entry("split", f"{_who(person)} split: faces moved to new people {new}", undo)
    return result


def move_face(store: Store, face_id: int, person_id: int) -> int | None:
    """Put a face with a person (confirmed), lifting any earlier "not this person". Returns its old person."""
    face = _existing_face(store, face_id)
    person = _existing(store, person_id)
    if face[3] != person[3]:
        raise ClusterfacesError(f"face {face_id} comes from {face[3]} and person {person_id} from {person[3]}: "
                                "faces can only join people of the same recognition model")
    with store.transaction():
        undo = _snapshot(store, [p for p in (person_id, face[1]) if p], faces=[face_id])
        store.remove_rejection(face_id, person_id)
        store.set_face_states([(face_id, person_id, True)])
        origin = f" from person {face[1]}" if face[1] and face[1] != person_id else ""
        store.add_journal_entry("move", f"face {face_id} moved{origin} to {_who(person)}", undo)
    return face[1]


def reject_face(store: Store, face_id: int, person_id: int) -> bool:
    """Say a face is not this person: it leaves them if it is with them, and never joins them again.
    Returns whether it left them."""
    face = _existing_face(store, face_id)
    person = _existing(store, person_id)
    with store.transaction():
        undo = _snapshot(store, [person_id], faces=[face_id])
        store.add_rejection(face_id, person_id)
        left = face[1] == person_id
        if left:
            store.set_face_states([(face_id, None, False)])
        store.add_journal_entry("not", f"face {face_id} is not {_who(person)}{' (it left them)' if left else ''}",
                                undo)
    return left


# --- journal ------------------------------------------------------------------------------------
def undo_last(store: Store) -> str:
    """Revert the latest edit not undone yet; returns what it was."""
    with store.transaction():
        entry = store.last_journal_entry()
        if entry is None:
            raise ClusterfacesError("nothing to undo: no edits are left in the journal (`clusterfaces log`)")
        entry_id, _, summary, undo = entry
        _restore(store, undo)
        store.mark_undone(entry_id)
    return summary


def _restore(store: Store, undo: dict) -> None:
    """Put people, faces and rejections back as a snapshot recorded them (inside a transaction)."""
    deleted = set(undo["deleted"])
    for row in undo["people"]:
        now = store.people_rows([row[0]])
        if now and (row[0] in deleted or list(now[0][3:]) != list(row[3:])):
            store.relocate_person(row[0])  # a later scan gave the id to someone new: they get a fresh one
        store.restore_person_row(row)
    store.set_face_states(undo["faces"])
    store.replace_rejections([row[0] for row in undo["people"]], undo["rejections"])
    for person_id in undo["created"]:
        store.delete_person(person_id)


def journal(store: Store, limit: int = 50) -> list[JournalEntry]:
    """The latest edits, oldest first."""
    return [JournalEntry(*row) for row in store.journal_entries(limit)]


# --- suggestions --------------------------------------------------------------------------------
def _last_run(store: Store) -> tuple[list[Path], str]:
    last = store.last_run()
    if last is None:
        raise ClusterfacesError(f"{store.path} has no finished scan yet: run `clusterfaces scan` first")
    return last[0], last[1]


class FaceVectors:
    """The library's L2-normalised embeddings, loaded once for many questions (a naming session)."""

    def __init__(self, store: Store) -> None:
        roots, self.model = _last_run(store)
        faces = store.load_faces(self.model, roots)
        self.ids = faces.ids
        self.vectors = l2_normalise(faces.embeddings.astype(np.float64))
        self.threshold = same_person_threshold(self.model)

    def centres(self, store: Store) -> dict[int, np.ndarray]:
        """Person id -> unit centre of their faces, as the database assigns them now."""
        assigned = store.face_people(self.model)
        people = np.asarray([assigned.get(int(face), 0) for face in self.ids], dtype=np.int64)
        ids, inverse = np.unique(people, return_inverse=True)
        sums = np.zeros((len(ids), self.vectors.shape[1]))
        np.add.at(sums, inverse, self.vectors)
        return {int(pid): total / (np.linalg.norm(total) or 1.0) for pid, total in zip(ids, sums) if pid}


def nearest_named_person(store: Store, vectors: FaceVectors, person_id: int) -> Suggestion | None:
    """The named person nearest to this one, if nearer than the model's same-person distance."""
    centres = vectors.centres(store)
    if person_id not in centres:
        return None
    named = [(pid, name) for pid, name, ignored in store.people(vectors.model)
             if name and not ignored and pid != person_id and pid in centres]
    if not named:
        return None
    distance, pid, name = min((float(np.linalg.norm(centres[pid] - centres[person_id])), pid, name)
                              for pid, name in named)
    return Suggestion(pid, name, distance) if distance < vectors.threshold else None
