"""A scanned library lined up with labels (labels.json) for scoring: what benchmarks and quality tests read."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np

from clusterfaces.library.core import Library
from clusterfaces.people.clustering import ClusterSettings
from clusterfaces.people.evaluation import ScoredLibrary, match_labelled_faces, true_identity
from clusterfaces.scan.faces import l2_normalise


def labelled_faces(database: Path, root: Path, labels: dict, model: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The faces of a scanned library whose identity the labels tell: (identities, their L2-normalised
    embeddings, the person each was put with or -1)."""
    with Library(database).reading() as store:
        faces = store.load_faces(model, [root])
        boxes = store.face_boxes(faces.ids.tolist())
    per_photo = Counter(path for path, _ in boxes.values())
    keep, truth = [], []
    for index, face_id in enumerate(faces.ids.tolist()):
        path, box = boxes[face_id].photo, boxes[face_id].box
        identity = true_identity(labels, root, path, box, per_photo[path])
        if identity is not None:
            keep.append(index)
            truth.append(identity)
    people = faces.person_ids[keep]
    return truth, l2_normalise(faces.embeddings[keep]), np.where(people > 0, people, -1)



def scored_library(database: Path, root: Path, labels: dict, model: str) -> ScoredLibrary:
    """Every face of a scanned library with its identity where labelled, and the labelled faces missed;
    `usable` marks the faces the default settings cluster (big and certain enough)."""
    with Library(database).reading() as store:
        faces = store.load_faces(model, [root])
        boxes = store.face_boxes(faces.ids.tolist())
    truth, missed = match_labelled_faces(labels, root, boxes, faces.ids.tolist())
    return ScoredLibrary(
        vectors=l2_normalise(faces.embeddings), photo_ids=faces.photo_ids,
        usable=ClusterSettings().clusterable(faces.sizes, faces.scores),
        people=np.where(faces.person_ids > 0, faces.person_ids, -1), truth=truth, missed=missed,
        paths=[Path(os.path.relpath(boxes[face].photo, root)).as_posix() for face in faces.ids.tolist()],
    )
