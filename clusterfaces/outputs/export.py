"""The JSON identity map: who is in which photo, as a versioned, deterministic file.

The map is a view of the database, like the people folders: the same database always gives the same
bytes. That is why `made_at` is when the library last changed (its last finished scan or edit), not
the clock at export time.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path, PurePath

from clusterfaces import __version__
from clusterfaces.atomic import write_atomically
from clusterfaces.errors import ClusterfacesError, OutputError
from clusterfaces.store import ExportedFace, PersonRecord, Rejection, Store

SCHEMA_VERSION = "clusterfaces-identity-map/1"
SCHEMA_FILE = "identity_map.schema.json"
EMBEDDING_ENCODING = "base64 of little-endian float32"
_SURROGATE = re.compile("[\ud800-\udfff]")
_MAP_START = re.compile(rb'\s*\{\s*"schema"\s*:\s*"clusterfaces-identity-map/')


@dataclass(frozen=True)
class LibraryState:
    """Everything the map says, read from the database in one consistent snapshot."""

    roots: list[Path]
    model: str
    detector: str
    settings: dict
    changed_at: float
    people: list[PersonRecord]
    faces: list[ExportedFace]
    rejections: set[Rejection]  # "this face is not this person"
    photos_without_faces: int
    unreadable_photos: int


def read_library(store: Store, embeddings: bool = False) -> LibraryState:
    """What the last finished scan and every later edit left in the database."""
    with store.reading():
        last = store.last_run()
        if last is None:
            raise ClusterfacesError(f"{store.path} has no finished scan yet: run `clusterfaces scan` first")
        return LibraryState(
            roots=last.roots, model=last.model, detector=last.detector, settings=last.settings,
            changed_at=store.last_activity() or 0.0,
            people=store.people(last.model),
            faces=store.export_faces(last.model, last.roots, embeddings),
            rejections=store.rejections(),
            photos_without_faces=store.photos_without_faces(last.roots),
            unreadable_photos=len(store.unreadable_photos(last.roots)),
        )


def path_namer(roots: list[Path], relative: bool):
    """A function giving each photo path as the map writes it: absolute, or relative to its root (with
    several roots, prefixed by the root's folder name, so that paths stay apart)."""
    if not relative:
        return lambda location: location
    names = [root.name for root in roots]
    if len(roots) > 1 and len(set(names)) < len(names):
        raise ClusterfacesError("two photo roots share a folder name, so relative paths would be ambiguous: "
                                "export without --relative")
    prefixes = [(os.fsdecode(root).rstrip("/") + "/", (root.name + "/") if len(roots) > 1 else "")
                for root in roots]

    def name(location: str) -> str:
        for root, prefix in prefixes:
            if location.startswith(root):
                return prefix + PurePath(location[len(root):]).as_posix()
        return location

    return name


def _face(face: ExportedFace, name) -> dict:
    entry = {
        "id": face.id,
        "photo": name(face.location),
        "content_hash": face.content_hash,
        "box": dict(zip("xywh", face.box)),
        "photo_size": {"width": face.photo_size[0], "height": face.photo_size[1]},
        "score": face.score,
        "confirmed": face.confirmed,
    }
    if face.embedding is not None:
        entry["embedding"] = base64.b64encode(face.embedding).decode("ascii")
    return entry


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def identity_map(state: LibraryState, relative: bool = False, embeddings: bool = False) -> dict:
    """The map as plain data (see identity_map.schema.json)."""
    name = path_namer(state.roots, relative)
    faces_of: dict[int | None, list[ExportedFace]] = {}
    for face in state.faces:
        faces_of.setdefault(face.person_id, []).append(face)
    rejected: dict[int, list[int]] = {}
    face_ids = {face.id for face in state.faces}
    for rejection in sorted(state.rejections, key=lambda r: (r.face_id, r.person_id)):
        if rejection.face_id in face_ids:
            rejected.setdefault(rejection.person_id, []).append(rejection.face_id)
    people = []
    for person in state.people:
        person_id = person.id
        faces = faces_of.get(person_id, [])
        people.append({
            "id": person_id,
            "name": person.name,
            "ignored": person.ignored,
            "face_count": len(faces),
            "photos": sorted({name(face.location) for face in faces}),
            "faces": [_face(face, name) for face in faces],
            "not_faces": rejected.get(person_id, []),
        })
    dimensions = next((len(face.embedding) // 4 for face in state.faces if face.embedding is not None), None)
    return {
        "schema": SCHEMA_VERSION,
        "made_by": f"clusterfaces {__version__}",
        "made_at": _timestamp(state.changed_at),
        "made_at_means": "when the library last changed (its last finished scan or edit), not when this file "
                         "was written",
        "roots": [os.fsdecode(root) for root in state.roots],
        "paths": "relative" if relative else "absolute",
        "model": state.model,
        "detector": state.detector,
        "settings": state.settings,
        "embeddings": {"encoding": EMBEDDING_ENCODING, "dimensions": dimensions} if embeddings else None,
        "people": people,
        "unassigned_faces": [_face(face, name) for face in faces_of.get(None, [])],
        "photos_without_faces": state.photos_without_faces,
        "unreadable_photos": state.unreadable_photos,
    }


def to_json(data: dict) -> str:
    """Deterministic JSON text. Undecodable bytes in a path (lone surrogates) become \\udcXX escapes, which
    json.loads turns back into the same path."""
    text = json.dumps(data, ensure_ascii=False, indent=1) + "\n"
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def schema() -> dict:
    """The JSON Schema every identity map follows (shipped inside the package)."""
    return json.loads(resources.files("clusterfaces.outputs").joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))


def check_replaceable(path: Path) -> None:
    """Refuse to replace anything but an identity map (or an empty file): `export photo.jpg` is a slip."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise OutputError(f"{path} is a folder: give a file name for the identity map")
    if not stat.S_ISREG(info.st_mode):
        raise OutputError(f"{path} is not a regular file: give another path for the identity map")
    if info.st_size == 0:
        return
    try:
        with open(path, "rb") as file:
            head = file.read(4096)
    except OSError as error:
        raise OutputError(f"cannot read {path} to see what it is: {error.strerror}") from None
    if not _MAP_START.match(head):
        raise OutputError(f"{path} exists and is not an identity map, so it was not replaced: give another path, "
                          "or add --force to replace it")


def write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only (embeddings are biometric data), atomically: a reader sees
    the old file or the new one, never half of it."""
    write_atomically(path, text, private=True)
