"""Scoring a clustering against known identities: BCubed and pairwise precision/recall/F1.

Unclustered faces (label -1) count as people of their own, so leaving a face out costs recall
and never buys precision.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _with_singletons(predicted: Sequence[int]) -> list[object]:
    return [("alone", i) if label < 0 else label for i, label in enumerate(predicted)]


def bcubed(truth: Sequence[object], predicted: Sequence[int]) -> Scores:
    """BCubed precision, recall and F1 (Amigó et al. 2009), averaged over faces."""
    clusters = _with_singletons(predicted)
    if not clusters:
        return Scores(0.0, 0.0, 0.0)
    pair_counts = Counter(zip(clusters, truth))
    cluster_sizes = Counter(clusters)
    truth_sizes = Counter(truth)
    precision = sum(pair_counts[(c, t)] / cluster_sizes[c] for c, t in zip(clusters, truth)) / len(clusters)
    recall = sum(pair_counts[(c, t)] / truth_sizes[t] for c, t in zip(clusters, truth)) / len(clusters)
    return Scores(precision, recall, _f1(precision, recall))


def pairwise(truth: Sequence[object], predicted: Sequence[int]) -> Scores:
    """Precision and recall over all pairs of faces put together / that belong together."""
    clusters = _with_singletons(predicted)

    def pairs(counter: Counter) -> int:
        return sum(n * (n - 1) // 2 for n in counter.values())

    together = pairs(Counter(clusters))
    belong = pairs(Counter(truth))
    correct = pairs(Counter(zip(clusters, truth)))
    precision = correct / together if together else 1.0
    recall = correct / belong if belong else 1.0
    return Scores(precision, recall, _f1(precision, recall))


def box_overlap(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    width = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    height = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = width * height
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def true_identity(labels: dict, root: Path, photo: Path, box: Sequence[float], face_count: int) -> str | None:
    """Who a detected face is, from a labels.json: by box overlap where boxes are given, else the
    photo's only person when it has exactly one person and one face; None when it cannot be told."""
    relative = Path(os.path.relpath(photo, root)).as_posix()
    boxes = labels.get("faces", {}).get(relative)
    if boxes:
        best = max(boxes, key=lambda entry: box_overlap(entry["box"], box))
        return best["identity"] if box_overlap(best["box"], box) >= 0.3 else None
    people = labels.get("photos", {}).get(relative, [])
    if len(people) == 1 and face_count == 1:
        return people[0]
    return None


def load_labels(path: Path) -> dict:
    """Read a labels.json (relative path -> identities, optionally each face's box)."""
    return json.loads(Path(path).read_text())


def labelled_faces(database: Path, root: Path, labels: dict, model: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The faces of a scanned library whose identity the labels tell: (identities, their L2-normalised
    embeddings, the person each was put with or -1)."""
    from clusterfaces.faces import l2_normalise
    from clusterfaces.store import Store

    with Store(database) as store:
        faces = store.load_faces(model, [root])
        boxes = store.face_boxes(faces.ids.tolist())
    per_photo = Counter(path for path, _ in boxes.values())
    keep, truth = [], []
    for index, face_id in enumerate(faces.ids.tolist()):
        path, box = boxes[face_id]
        identity = true_identity(labels, root, path, box, per_photo[path])
        if identity is not None:
            keep.append(index)
            truth.append(identity)
    people = faces.person_ids[keep]
    return truth, l2_normalise(faces.embeddings[keep]), np.where(people > 0, people, -1)
