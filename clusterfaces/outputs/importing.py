"""`clusterfaces import`: put the names, merges, ignores and corrections of an identity map back into a
database, for instance one built from scratch after the old one was lost.

Faces are matched by the photo's content hash and box overlap (so moved or renamed photos still match),
each exported person continues the current person that holds most of their faces, and every matched
face gets the person and the "confirmed" flag the map gives it. The import is one journalled edit:
`clusterfaces undo` takes it back.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clusterfaces.boxes import box_overlap
from clusterfaces.errors import ClusterfacesError
from clusterfaces.outputs.export import SCHEMA_VERSION, schema
from clusterfaces.people.continuity import match_clusters_to_people
from clusterfaces.people.edits import clean_name, undo_snapshot
from clusterfaces.store import ExportedFace, FaceState, Store

MIN_OVERLAP = 0.5  # box IoU for an exported face to be the same face as a stored one
# A map without embeddings takes about 400 bytes a face: 256 MB is some 600,000 faces. The bound keeps a
# wrong or hostile file from taking all memory (parsed JSON takes several times its size).
MAX_MAP_BYTES = 256 * 2**20
LARGEST_INTEGER = 2**63 - 1  # SQLite's and numpy's int64


@dataclass(frozen=True)
class Unmatched:
    """An exported face that carried user work and was not found in the database."""

    person: str  # "Alice" or "person 7"
    photo: str
    box: tuple[int, int, int, int]


@dataclass
class ImportReport:
    """What an import restored, and what it could not."""

    people: int = 0  # exported people whose faces were found
    names: int = 0
    ignored: int = 0
    merged: int = 0  # current people whose faces joined another person, as the map says
    faces_matched: int = 0
    faces_in_map: int = 0
    faces_moved: int = 0  # matched faces that changed person
    rejections: int = 0
    faces_unknown_to_map: int = 0  # faces in the database the map does not have (photos added since)
    unmatched: list[Unmatched] = field(default_factory=list)
    people_not_found: list[str] = field(default_factory=list)  # named or ignored, none of their faces found
    other_model: str | None = None  # the map's model, when the library now uses another one
    folders_warning: str | None = None  # saved, but the people folders could not follow (Library.import_map)

    def summary(self, source: str) -> str:
        text = (f"imported {source}: {_count(self.names, 'name')}, {self.ignored} ignored, "
                f"{_count(self.merged, 'merge')}, {self.faces_matched}/{self.faces_in_map} faces matched")
        return text + (f", {len(self.unmatched)} named or confirmed faces not found" if self.unmatched else "")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def load_identity_map(path: Path) -> dict:
    """Read an identity map and check it against the schema; a bad file is a one-line error."""
    data = _read_json(Path(path))
    version = data.get("schema") if isinstance(data, dict) else None
    if isinstance(version, str) and version.startswith("clusterfaces-identity-map/") and version != SCHEMA_VERSION:
        raise ClusterfacesError(f"{path} is a {version} map and this clusterfaces reads {SCHEMA_VERSION}: "
                                "use the clusterfaces version that wrote it, or a newer one")
    _check_integers(path, data)
    _check_unique_ids(path, data)
    import jsonschema

    try:
        errors = sorted(jsonschema.Draft202012Validator(schema()).iter_errors(data), key=lambda e: list(e.path))
    except RecursionError:
        raise ClusterfacesError(f"{path} nests its values too deeply to be an identity map") from None
    if errors:
        where = "/".join(str(part) for part in errors[0].path) or "the top level"
        raise ClusterfacesError(f"{path} is not a clusterfaces identity map ({where}: {errors[0].message})")
    return data


def _read_json(path: Path) -> object:
    """The file's JSON, if it is a regular file of at most MAX_MAP_BYTES that a JSON parser can take."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise ClusterfacesError(f"{path} is not a regular file: give a file `clusterfaces export` wrote")
        if info.st_size > MAX_MAP_BYTES:
            raise ClusterfacesError(f"{path} is {info.st_size / 2**20:,.0f} MB, over the {MAX_MAP_BYTES // 2**20} MB "
                                    "an identity map may be (export without --with-embeddings: import does not "
                                    "use them)")
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ClusterfacesError(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise ClusterfacesError(f"{path} is not JSON ({error}); give a file `clusterfaces export` wrote") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise ClusterfacesError(f"{path} nests lists or objects too deeply to be an identity map") from None
    except ValueError as error:  # JSONDecodeError, or an integer of more than 4,300 digits
        raise ClusterfacesError(f"{path} is not JSON ({error}); give a file `clusterfaces export` wrote") from None


def _check_integers(path: Path, data: object) -> None:
    """Every integer fits the database's 64 bits (ids and boxes go to SQLite and numpy)."""
    stack: list[tuple[object, str]] = [(data, "")]
    while stack:
        value, where = stack.pop()
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and not -LARGEST_INTEGER <= value <= LARGEST_INTEGER:
            shown = str(value) if len(str(value)) <= 24 else f"{str(value)[:12]}... ({len(str(value))} digits)"
            place = where.lstrip("/") or "the top level"
            raise ClusterfacesError(f"{path} is not a clusterfaces identity map ({place}: {shown} is out of range)")
        if isinstance(value, dict):
            stack.extend((item, f"{where}/{key}") for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((item, f"{where}/{index}") for index, item in enumerate(value))


def _check_unique_ids(path: Path, data: object) -> None:
    """Each person and each face appears once: two entries with one id would fuse silently. Runs before the
    schema check (a map of the same people repeated thousands of times is refused at once), so it takes
    any shape."""
    people = data.get("people") if isinstance(data, dict) else None
    unassigned = data.get("unassigned_faces") if isinstance(data, dict) else None
    if not isinstance(people, list):
        return
    persons: dict[int, str] = {}
    places: list[tuple[str, object]] = []
    for index, person in enumerate(people):
        if not isinstance(person, dict):
            continue
        pid = person.get("id")
        if isinstance(pid, int):
            if pid in persons:
                raise ClusterfacesError(f"{path} lists person {pid} twice ({persons[pid]} and people/{index}): an "
                                        "identity map has each person once")
            persons[pid] = f"people/{index}"
        if isinstance(person.get("faces"), list):
            places += [(f"people/{index}/faces/{j}", face) for j, face in enumerate(person["faces"])]
    if isinstance(unassigned, list):
        places += [(f"unassigned_faces/{j}", face) for j, face in enumerate(unassigned)]
    faces: dict[int, str] = {}
    for where, face in places:
        fid = face.get("id") if isinstance(face, dict) else None
        if isinstance(fid, int):
            if fid in faces:
                raise ClusterfacesError(f"{path} lists face {fid} twice ({faces[fid]} and {where}): an identity map "
                                        "has each face once")
            faces[fid] = where


def _same_photo(exported: str, location: str, relative: bool) -> bool:
    return location.endswith("/" + exported) if relative else location == exported


def match_faces(data: dict, current: list[ExportedFace]) -> dict[int, int]:
    """Exported face id -> stored face id: same photo bytes (or, without a hash, the same path) and a box
    overlap of at least MIN_OVERLAP; the best pairs first (same path, then overlap), each face used once."""
    relative = data["paths"] == "relative"
    by_hash: dict[str, list[ExportedFace]] = {}
    for face in current:
        if face.content_hash:
            by_hash.setdefault(face.content_hash, []).append(face)
    pairs = []
    for exported in _exported_faces(data):
        if _fingerprint(exported["content_hash"]):
            candidates = by_hash.get(exported["content_hash"], [])
        else:  # no hash, or a map from before fingerprints (a digest of the file's bytes): match by path
            candidates = [f for f in current if _same_photo(exported["photo"], f.location, relative)]
        box = tuple(exported["box"][k] for k in "xywh")
        for face in candidates:
            overlap = box_overlap(box, face.box)
            if overlap >= MIN_OVERLAP:
                same = _same_photo(exported["photo"], face.location, relative)
                pairs.append((same, overlap, exported["id"], face.id))
    matched: dict[int, int] = {}
    used: set[int] = set()
    for _, _, exported_id, face_id in sorted(pairs, key=lambda p: (-p[0], -p[1], p[2], p[3])):
        if exported_id not in matched and face_id not in used:
            matched[exported_id] = face_id
            used.add(face_id)
    return matched


def _fingerprint(content_hash: str | None) -> bool:
    """Whether a map's content hash is a photo fingerprint as the database keeps them ("j1:...")."""
    return bool(content_hash) and ":" in content_hash


def _exported_faces(data: dict) -> list[dict]:
    return [face for person in data["people"] for face in person["faces"]] + data["unassigned_faces"]


def _label(person: dict) -> str:
    return person["name"] or f"person {person['id']}"


def _carries_work(person: dict) -> bool:
    return bool(person["name"] or person["ignored"] or person["not_faces"]
                or any(face["confirmed"] for face in person["faces"]))


def import_identity_map(store: Store, data: dict, source: str = "identity map") -> ImportReport:
    """Restore the map's people on the faces this database holds, as one journalled edit (run it under the
    database lock: Library.editing)."""
    last = store.last_run()
    if last is None:
        raise ClusterfacesError(f"{store.path} has no finished scan yet: run `clusterfaces scan` on the same "
                                "photos first, then import")
    model = last.model
    report = ImportReport(other_model=data["model"] if data["model"] != model else None)
    current = store.export_faces(model, last.roots)
    matched = match_faces(data, current)
    now_person = {face.id: face.person_id or 0 for face in current}
    report.faces_in_map, report.faces_matched = len(_exported_faces(data)), len(matched)
    report.faces_unknown_to_map = len(current) - len(matched)

    # Each exported person continues the current person holding most of their faces, or a new one.
    owners = [(person["id"], matched[face["id"]]) for person in data["people"] for face in person["faces"]
              if face["id"] in matched]
    target = match_clusters_to_people(np.asarray([o for o, _ in owners], dtype=np.int64),
                                      np.asarray([now_person[f] for _, f in owners], dtype=np.int64))
    people_before = [person.id for person in store.people(model)]
    with store.transaction():
        undo = undo_snapshot(store, people_before, faces_of=people_before, faces=list(matched.values()))
        states, sources = [], {}
        for person in data["people"]:
            faces = [matched[face["id"]] for face in person["faces"] if face["id"] in matched]
            if not faces:
                if person["name"] or person["ignored"]:
                    report.people_not_found.append(_label(person))
                continue
            if person["id"] not in target:
                target[person["id"]] = store.new_person(model, None)
                undo["created"].append(target[person["id"]])
            pid = target[person["id"]]
            report.people += 1
            sources[pid] = {now_person[f] for f in faces} - {0, pid}
            _restore_person(store, pid, person, report)
            sure = {matched[face["id"]]: face["confirmed"] for face in person["faces"] if face["id"] in matched}
            states += [FaceState(face, pid, sure[face]) for face in faces]
            for face_id in person["not_faces"]:
                if face_id in matched:
                    store.add_rejection(matched[face_id], pid)
                    report.rejections += 1
        states += [FaceState(matched[face["id"]], None, False) for face in data["unassigned_faces"]
                   if face["id"] in matched]
        before = {face: person for face, person, _ in undo["faces"]}
        report.faces_moved = sum(1 for state in states if before.get(state.face_id) != state.person_id)
        store.set_face_states(states)
        store.delete_people_without_faces(model)
        remaining = {person.id for person in store.people(model)}
        undo["deleted"] = [pid for pid in people_before if pid not in remaining]
        report.merged = len({pid for group in sources.values() for pid in group} & set(undo["deleted"]))
        report.unmatched = [Unmatched(_label(person), face["photo"], tuple(face["box"][k] for k in "xywh"))
                            for person in data["people"] if _carries_work(person)
                            for face in person["faces"] if face["id"] not in matched]
        store.add_journal_entry("import", report.summary(source), undo)
    return report


def _restore_person(store: Store, person_id: int, person: dict, report: ImportReport) -> None:
    """Give the person the map's name and ignored flag (a name or flag the database has and the map lacks
    stays: an import adds what was said, it never forgets what was said since)."""
    if person["name"]:
        store.set_person_name(person_id, clean_name(person["name"]))
        report.names += 1
    if person["ignored"]:
        store.set_person_ignored(person_id, True)
        report.ignored += 1
