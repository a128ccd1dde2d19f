"""Who is in which photo as the database says now, and the people folders written from it (no embeddings)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from clusterfaces.library.options import PersonReport, ScanResult
from clusterfaces.outputs import folders
from clusterfaces.people.clustering import ClusterSettings
from clusterfaces.people.identities import people_with_faces
from clusterfaces.store import Store

UNCLUSTERED_FOLDER = "Unclustered"


def describe_people(store: Store, model: str, roots: list[Path], settings: ClusterSettings,
                    result: ScanResult) -> None:
    """Fill the result's people (largest first), its photos with ungrouped faces and its count of grouped
    faces. Reads ids, people, photos, scores and sizes only: never an embedding."""
    faces = store.face_assignments(model, roots)
    usable = settings.clusterable(faces.sizes, faces.scores)
    path_of = store.photo_paths(set(faces.photo_ids.tolist()))
    photo_of_face = {face: path_of[photo] for face, photo in zip(faces.ids.tolist(), faces.photo_ids.tolist())}
    result.faces_clustered = int((faces.person_ids > 0).sum())
    result.people = [
        PersonReport(person, sorted({photo_of_face[f] for f in person.face_ids}))
        for person in people_with_faces(store, model, faces.ids, faces.person_ids)
    ]
    result.unclustered_photos = sorted({
        photo_of_face[face] for face, person, ok in zip(faces.ids.tolist(), faces.person_ids.tolist(), usable.tolist())
        if person == 0 and ok
    })


def write_folders(output: Path, roots: list[Path], link_mode: str, result: ScanResult) -> None:
    """Make the people folders under output say what the result says (ignored people get none)."""
    wanted = [folders.PersonFolder(p.person.label, tuple(p.photos)) for p in result.people if not p.person.ignored]
    if result.unclustered_photos:
        wanted.append(folders.PersonFolder(UNCLUSTERED_FOLDER, tuple(result.unclustered_photos)))
    result.settings["folders"] = asdict(folders.write_people_folders(output, wanted, roots, link_mode))
