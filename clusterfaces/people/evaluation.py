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

from clusterfaces.boxes import box_overlap
from clusterfaces.store import FacePlace


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


@dataclass
class ScoredLibrary:
    """A scanned library lined up with its labels, for end-to-end scoring.

    `vectors`, `photo_ids`, `usable` and `people` cover every face the scan stored (bystanders too);
    `truth` names the labelled ones (None for faces nobody labelled); `missed` lists the identities of
    labelled faces the detector did not find: each counts as a person of its own in every score."""

    vectors: np.ndarray
    photo_ids: np.ndarray
    usable: np.ndarray
    people: np.ndarray  # the person the pipeline put each face with, -1 for nobody
    truth: list[str | None]
    missed: list[str]
    paths: list[str]  # each face's photo, relative to the root


def match_labelled_faces(labels: dict, root: Path, boxes: dict[int, FacePlace],
                         face_ids: Sequence[int]) -> tuple[list[str | None], list[str]]:
    """Identity of each face (in face_ids order, None where the labels do not tell), and the identities
    of the labelled faces no detection matched.

    Where labels.json gives boxes, each labelled box goes to the one detected face it overlaps most
    (IoU >= 0.3), so one labelled face is never counted twice. Otherwise a photo with one person and
    one face names that face; a photo with no face at all misses everybody it names; a photo with
    several people and no boxes cannot be told apart and is left out."""
    per_photo: dict[str, list[int]] = {}
    for index, face_id in enumerate(face_ids):
        per_photo.setdefault(Path(os.path.relpath(boxes[face_id].photo, root)).as_posix(), []).append(index)
    truth: list[str | None] = [None] * len(face_ids)
    missed: list[str] = []
    for relative, people in labels.get("photos", {}).items():
        members = per_photo.get(relative, [])
        labelled = labels.get("faces", {}).get(relative)
        if not labelled:
            if not members:
                missed.extend(people)
            elif len(people) == 1 and len(members) == 1:
                truth[members[0]] = people[0]
            continue
        candidates = sorted(((box_overlap(entry["box"], boxes[face_ids[i]].box), i, entry["identity"])
                             for entry in labelled for i in members), reverse=True)
        taken: set[int] = set()
        for overlap, index, identity in candidates:
            if overlap < 0.3:
                break
            if index not in taken and identity not in {truth[i] for i in taken}:
                truth[index] = identity
                taken.add(index)
        found = Counter(truth[i] for i in taken)
        missed.extend((Counter(entry["identity"] for entry in labelled) - found).elements())
    return truth, sorted(missed)


@dataclass(frozen=True)
class Quality:
    """What a user sees of a clustering: scores over the labelled faces, strangers and mixed people."""

    bcubed: Scores
    pairwise: Scores
    nmi: float
    people_found: int  # reported people (clusters) holding at least one labelled face
    people_true: int
    unclustered: float  # share of labelled faces left alone (missed ones included)
    seen_once: int  # people with exactly one labelled face
    seen_once_joined: float  # share of them whose face was put with some other face
    mixed_people: int  # reported people holding labelled faces of more than one person
    mixed_share: float


def quality(truth: Sequence[str | None], predicted: Sequence[int], missed: Sequence[str] = ()) -> Quality:
    """Score a clustering of all faces (truth None: unlabelled, still counted as company for a stranger);
    missed labelled faces count as people of their own."""
    from sklearn.metrics import normalized_mutual_info_score

    predicted = np.asarray(predicted, dtype=np.int64)
    sizes = Counter(predicted[predicted >= 0].tolist())
    scored = [i for i, t in enumerate(truth) if t is not None]
    names = [truth[i] for i in scored] + list(missed)
    labels = predicted[scored].tolist() + [-1] * len(missed)
    counts = Counter(names)
    once = {name for name, n in counts.items() if n == 1}
    joined = sum(1 for i in scored if truth[i] in once and predicted[i] >= 0 and sizes[int(predicted[i])] > 1)
    members: dict[int, set] = {}
    for name, label in zip(names, labels):
        if label >= 0:
            members.setdefault(label, set()).add(name)
    mixed = sum(1 for held in members.values() if len(held) > 1)
    alone = [f"alone-{i}" if label < 0 else str(label) for i, label in enumerate(labels)]
    return Quality(
        bcubed=bcubed(names, labels), pairwise=pairwise(names, labels),
        nmi=float(normalized_mutual_info_score(names, alone)) if names else 0.0,
        people_found=len(members), people_true=len(counts),
        unclustered=float(np.mean([label < 0 for label in labels])) if labels else 0.0,
        seen_once=len(once), seen_once_joined=joined / len(once) if once else 0.0,
        mixed_people=mixed, mixed_share=mixed / len(members) if members else 0.0,
    )
