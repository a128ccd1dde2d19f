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

import numpy as np

from clusterfaces.errors import ClusterfacesError
from clusterfaces.people.clustering import ClusterSettings, cluster_embeddings
from clusterfaces.scan.faces import l2_normalise
from clusterfaces.store import FaceRecord, FaceState, JournalEntry, PersonRecord, Rejection, Store

# Control characters (terminal escapes, NUL...), bidirectional overrides that make text read other
# than it is, and lone surrogates (undecodable bytes in a command line) never belong in a name.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
SPLIT_MIN_CLUSTER_SIZE = 2
LARGEST_ID = 2**63 - 1  # SQLite's integers are 64 bits: a larger id names nobody


def clean_name(name: str) -> str:
    """A name as stored: NFC, no control characters, single spaces. Raises if nothing is left."""
    text = " ".join(_UNPRINTABLE.sub(" ", unicodedata.normalize("NFC", name)).split())
    if not text:
        raise ClusterfacesError("a name cannot be empty")
    return text


def name_key(name: str) -> str:
    """What two names must share to be the same name (case and Unicode form aside)."""
    return unicodedata.normalize("NFC", name).casefold()


def _short(name: str, limit: int = 40) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _who(person_id: int, name: str | None) -> str:
    return f'person {person_id} "{_short(name)}"' if name else f"person {person_id}"


def existing_person(store: Store, person_id: int) -> PersonRecord:
    """The person's row; a one-line error when there is no such person (ids past SQLite's 64 bits included)."""
    person = store.person(person_id) if 0 < person_id <= LARGEST_ID else None
    if person is None:
        raise ClusterfacesError(f"there is no person {_shown(person_id)}: `clusterfaces people` lists them")
    return person


def _shown(number: int) -> str:
    text = str(number)
    return text if len(text) <= 24 else f"{text[:12]}... ({len(text)} digits)"


def existing_face(store: Store, face_id: int) -> FaceRecord:
    """The face's row; a one-line error when there is no such face."""
    face = store.face(face_id) if 0 < face_id <= LARGEST_ID else None
    if face is None:
        raise ClusterfacesError(f"there is no face {_shown(face_id)}: `clusterfaces faces list PERSON_ID` lists them")
    return face


def undo_snapshot(store: Store, people: Sequence[int], faces_of: Sequence[int] = (),
                  faces: Sequence[int] = ()) -> dict:
    """What undoing an edit of these people and faces needs, as the journal keeps it (plain JSON): their
    rows, faces and rejections as now."""
    people = list(dict.fromkeys(people))
    return {"people": [person.as_row() for person in store.people_rows(people)],
            "faces": [state.as_row() for state in store.face_states(faces_of, faces)],
            "rejections": [[r.face_id, r.person_id] for r in store.people_rejections(people)],
            "created": [], "deleted": []}


# --- edits --------------------------------------------------------------------------------------
def rename_person(store: Store, person_id: int, name: str) -> int:
    """Name a person; their current faces become confirmed. Returns the faces confirmed."""
    person = existing_person(store, person_id)
    clean = clean_name(name)
    with store.transaction():
        undo = undo_snapshot(store, [person_id], faces_of=[person_id])
        store.set_person_name(person_id, clean)
        confirmed = store.confirm_person_faces(person_id)
        store.add_journal_entry("name", f'{_who(person.id, person.name)} named "{_short(clean)}"', undo)
    return confirmed


def merge_people(store: Store, target_id: int, other_ids: list[int], summary: str | None = None) -> int:
    """Move every face of the other people to the target (confirmed) and drop the others."""
    target = existing_person(store, target_id)
    others = [existing_person(store, pid) for pid in dict.fromkeys(other_ids) if pid != target_id]
    if not others:
        raise ClusterfacesError(f"give people other than {target_id} to merge into it")
    if any(other.model != target.model for other in others):
        raise ClusterfacesError("those people come from different recognition models and cannot be merged")
    ids = [other.id for other in others]
    with store.transaction():
        undo = undo_snapshot(store, [target_id, *ids], faces_of=[target_id, *ids])
        undo["deleted"] = ids
        moved = 0
        name = target.name
        for other in others:
            moved += store.move_person_faces(other.id, target_id)
            if name is None and other.name:
                name = other.name  # keep a name the user gave
                store.set_person_name(target_id, name)
            store.delete_person(other.id)
        store.confirm_person_faces(target_id)
        merged = ", ".join(_who(other.id, other.name) for other in others)
        summary = summary or f"merged {merged} into {_who(target_id, name)}"
        store.add_journal_entry("merge", summary, undo)
    return moved


def same_name(store: Store, name: str, model: str, besides: int = 0) -> list[PersonRecord]:
    """The people of the model, not ignored, whose name is this name (case and Unicode form aside),
    largest first."""
    counts = store.person_counts(model)
    key = name_key(name)
    found = [person for person in store.people(model)
             if person.name and not person.ignored and person.id != besides and name_key(person.name) == key]
    return sorted(found, key=lambda person: (-(counts[person.id].faces if person.id in counts else 0), person.id))


def name_person(store: Store, person_id: int, name: str) -> tuple[int, bool]:
    """Name a person as the interactive session does: a name another person already has merges the two
    (into that person). Returns (the person who now has the name, whether it was a merge)."""
    person = existing_person(store, person_id)
    clean = clean_name(name)
    same = same_name(store, clean, person.model, besides=person_id)
    if not same:
        rename_person(store, person_id, clean)
        return person_id, False
    target = same[0]  # the largest of them
    merge_people(store, target.id, [person_id],
                 f'{_who(person.id, person.name)} named "{_short(clean)}": merged into {_who(target.id, target.name)}')
    return target.id, True


def ignore_person(store: Store, person_id: int, ignored: bool = True) -> None:
    """Mark a person as not someone the user cares about (no folder, not offered for naming), or undo that."""
    person = existing_person(store, person_id)
    with store.transaction():
        undo = undo_snapshot(store, [person_id], faces_of=[person_id])
        store.set_person_ignored(person_id, ignored)
        if ignored:  # keep the ignored faces together, so a re-clustering does not offer them again
            store.confirm_person_faces(person_id)
        store.add_journal_entry("ignore" if ignored else "unignore",
                                f"{_who(person.id, person.name)} {'ignored' if ignored else 'no longer ignored'}",
                                undo)


def split_person(store: Store, person_id: int) -> list[tuple[int, int]]:
    """Re-cluster one person's faces into sub-groups: the largest keeps the id, every other becomes a new
    unnamed person (its faces unconfirmed), faces in no sub-group stay. Returns (person id, faces) per group.
    Reads the embeddings of this person's faces only."""
    person = existing_person(store, person_id)
    members = [face.id for face in store.person_face_listings(person_id) if not face.missing]
    vectors = store.face_embeddings(members)
    members = [face for face in members if face in vectors]
    if len(members) < 2 * SPLIT_MIN_CLUSTER_SIZE:
        return [(person_id, len(members))]
    settings = ClusterSettings(min_cluster_size=SPLIT_MIN_CLUSTER_SIZE)
    labels = cluster_embeddings(l2_normalise(np.vstack([vectors[face] for face in members])), settings, person.model)
    groups = sorted(set(labels.tolist()) - {-1})  # 0 is the largest
    if len(groups) < 2:
        return [(person_id, len(members))]
    ids = np.asarray(members, dtype=np.int64)
    with store.transaction():
        undo = undo_snapshot(store, [person_id], faces_of=[person_id])
        result = [(person_id, len(members) - int((labels > 0).sum()))]
        for label in groups[1:]:
            new_id = store.new_person(person.model, None)
            moving = ids[labels == label].tolist()
            store.set_face_states(FaceState(face, new_id, False) for face in moving)
            undo["created"].append(new_id)
            result.append((new_id, len(moving)))
        new = ", ".join(str(pid) for pid, _ in result[1:])
        store.add_journal_entry("split", f"{_who(person.id, person.name)} split: faces moved to new people {new}",
                                undo)
    return result


def _faces_of_model(store: Store, face_ids: Sequence[int], person: PersonRecord) -> list[FaceRecord]:
    faces = [existing_face(store, face_id) for face_id in dict.fromkeys(face_ids)]
    if not faces:
        raise ClusterfacesError("give at least one face")
    for face in faces:
        if face.model != person.model:
            raise ClusterfacesError(f"face {face.id} comes from {face.model} and person {person.id} from "
                                    f"{person.model}: faces can only join people of the same recognition model")
    return faces


def _faces_text(faces: Sequence[FaceRecord]) -> str:
    if len(faces) == 1:
        return f"face {faces[0].id}"
    shown = ", ".join(str(face.id) for face in faces[:5])
    return f"{len(faces)} faces ({shown}{', ...' if len(faces) > 5 else ''})"


def move_faces(store: Store, face_ids: Sequence[int], person_id: int) -> list[int | None]:
    """Put faces with a person (confirmed), lifting any earlier "not this person"; one journal entry.
    Returns each face's old person."""
    person = existing_person(store, person_id)
    faces = _faces_of_model(store, face_ids, person)
    with store.transaction():
        origins = sorted({face.person_id for face in faces if face.person_id and face.person_id != person_id})
        undo = undo_snapshot(store, [person_id, *origins], faces=[face.id for face in faces])
        for face in faces:
            store.remove_rejection(face.id, person_id)
        store.set_face_states(FaceState(face.id, person_id, True) for face in faces)
        origin = (f" from person {origins[0]}" if len(origins) == 1 else
                  f" from people {', '.join(map(str, origins))}" if origins else "")
        store.add_journal_entry("move", f"{_faces_text(faces)} moved{origin} to {_who(person.id, person.name)}", undo)
    return [face.person_id for face in faces]


def move_face(store: Store, face_id: int, person_id: int) -> int | None:
    """Put a face with a person (confirmed), lifting any earlier "not this person". Returns its old person."""
    return move_faces(store, [face_id], person_id)[0]


def reject_faces(store: Store, face_ids: Sequence[int], person_id: int) -> int:
    """Say faces are not this person: those with them leave them, and none joins them again; one journal
    entry. Returns how many left them."""
    person = existing_person(store, person_id)
    faces = [existing_face(store, face_id) for face_id in dict.fromkeys(face_ids)]
    if not faces:
        raise ClusterfacesError("give at least one face")
    with store.transaction():
        undo = undo_snapshot(store, [person_id], faces=[face.id for face in faces])
        leaving = [face for face in faces if face.person_id == person_id]
        for face in faces:
            store.add_rejection(face.id, person_id)
        store.set_face_states(FaceState(face.id, None, False) for face in leaving)
        left = (" (it left them)" if len(faces) == 1 else f" ({len(leaving)} left them)") if leaving else ""
        store.add_journal_entry("not", f"{_faces_text(faces)} {'is' if len(faces) == 1 else 'are'} not "
                                       f"{_who(person.id, person.name)}{left}", undo)
    return len(leaving)


def reject_face(store: Store, face_id: int, person_id: int) -> bool:
    """Say a face is not this person: it leaves them if it is with them, and never joins them again.
    Returns whether it left them."""
    return reject_faces(store, [face_id], person_id) == 1


def new_person_from_faces(store: Store, face_ids: Sequence[int]) -> int:
    """Make the faces a person of their own (unnamed, the faces confirmed); each keeps a "not this person"
    towards the person it leaves, so a re-clustering does not put it back. Returns the new person's id."""
    faces = [existing_face(store, face_id) for face_id in dict.fromkeys(face_ids)]
    if not faces:
        raise ClusterfacesError("give at least one face")
    models = {face.model for face in faces}
    if len(models) > 1:
        raise ClusterfacesError("those faces come from different recognition models: choose faces of one model")
    with store.transaction():
        origins = sorted({face.person_id for face in faces if face.person_id})
        undo = undo_snapshot(store, origins, faces=[face.id for face in faces])
        new_id = store.new_person(models.pop(), None)
        undo["created"].append(new_id)
        store.set_face_states(FaceState(face.id, new_id, True) for face in faces)
        origin = (f" from person {origins[0]}" if len(origins) == 1 else
                  f" from people {', '.join(map(str, origins))}" if origins else "")
        store.add_journal_entry("new", f"{_faces_text(faces)}{origin} made into new person {new_id}", undo)
    return new_id


# --- journal ------------------------------------------------------------------------------------
def undo_last(store: Store) -> str:
    """Revert the latest edit not undone yet; returns what it was."""
    with store.transaction():
        entry = store.last_journal_entry()
        if entry is None:
            raise ClusterfacesError("nothing to undo: no edits are left in the journal (`clusterfaces log`)")
        _restore(store, entry.undo)
        store.mark_undone(entry.id)
    return entry.summary


def _restore(store: Store, undo: dict) -> None:
    """Put people, faces and rejections back as a snapshot recorded them (inside a transaction)."""
    deleted = set(undo["deleted"])
    for row in undo["people"]:
        before = PersonRecord(row[0], row[1], bool(row[2]), row[3], row[4])
        now = store.person(before.id)
        if now and (before.id in deleted or (now.model, now.created_run) != (before.model, before.created_run)):
            store.relocate_person(before.id)  # a later scan gave the id to someone new: they get a fresh one
        store.restore_person_row(before)
    store.set_face_states(FaceState(face, person, bool(confirmed)) for face, person, confirmed in undo["faces"])
    store.replace_rejections([row[0] for row in undo["people"]],
                             [Rejection(face, person) for face, person in undo["rejections"]])
    for person_id in undo["created"]:
        store.delete_person(person_id)


def journal(store: Store, limit: int = 50) -> list[JournalEntry]:
    """The latest edits, oldest first."""
    return store.journal_entries(limit)
