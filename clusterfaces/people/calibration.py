"""Clustering distances from the library itself: faces in one photo are different people.

Every library carries, for free, a sample of "different person" distances for whatever model embedded
it: the pairs of faces that share a photo. Their median places the model's scale; the joining
distances are fixed fractions of it, tuned once on Dlib (benchmarks/tune_clustering.py, README
Clustering) and the same for every model. (Their spread and low quantiles were tried and did not
carry over between libraries: LFW's same-photo pairs, with small background faces and look-alikes,
spread 1.5 times wider than those of faces/dev's group photos, while the medians differ by 7 %.)

Fallbacks, when a library has fewer than MIN_PAIRS same-photo pairs (a few photos, or portraits only):
1. a model with a known same-person threshold (DeepFace's table) takes the median that threshold
   implies (MEDIAN_PER_THRESHOLD, as measured for Dlib);
2. any other model uses random pairs of the library's faces as the "different person" sample: they
   also hold same-person pairs, which pull the median down, so the distances come out shorter: a
   small unknown library is split rather than glued.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_PAIRS = 50  # same-photo pairs needed before they are trusted over the fallbacks
MAX_PAIRS = 200_000  # pairs used at most (a sample of them in a huge library)
RANDOM_PAIRS = 20_000
# Fractions of the median different-person distance, tuned on Dlib (LFW dev half, faces/dev and photos
# at once): where two single faces join, where large groups may join, and where a face left alone
# (or a new face between re-clusterings) joins a large group.
LINK_SCALE = 0.64
GROUP_SCALE = 0.70
ATTACH_SCALE = 0.61
# The more faces, the more look-alikes within reach of each face: the scales above hold for a library
# of REFERENCE_FACES faces (LFW's development half) and move by SIZE_SLOPE per tenfold fewer faces (a
# family album of 500 faces of a dozen people can join at longer distances than 6,500 faces of 2,800
# people), by at most SIZE_LIMIT either way.
REFERENCE_FACES = 6_500
SIZE_SLOPE = 0.04
SIZE_LIMIT = 0.1
# Dlib's median same-photo distance on LFW's development half (0.529) over its DeepFace threshold (0.40):
# where a model known only by its threshold is assumed to put different people.
MEDIAN_PER_THRESHOLD = 1.32


@dataclass(frozen=True)
class Calibration:
    """The joining distances for one library and where they came from."""

    link_distance: float
    group_distance: float
    attach_distance: float
    source: str  # "same-photo pairs", "model threshold" or "random pairs"
    pairs: int  # distances the estimate rests on (0 for the model threshold)
    median: float  # of the different-person distances (0 for the model threshold)
    spread: float  # their standard deviation (for the record)

    def distances(self) -> dict[str, float]:
        """As ClusterSettings.resolved takes them."""
        return {"link_distance": self.link_distance, "group_distance": self.group_distance,
                "attach_distance": self.attach_distance}


def same_photo_distances(vectors: np.ndarray, photo_ids: np.ndarray, limit: int = MAX_PAIRS,
                         seed: int = 0) -> np.ndarray:
    """Distances between every two faces that share a photo (a sample of `limit` photos' pairs at most)."""
    photo_ids = np.asarray(photo_ids)
    order = np.argsort(photo_ids, kind="stable")
    groups = [group for group in np.split(order, np.flatnonzero(np.diff(photo_ids[order])) + 1) if len(group) > 1]
    if not groups:
        return np.zeros(0)
    firsts, seconds = [], []
    for group in groups:
        a, b = np.triu_indices(len(group), 1)
        firsts.append(group[a])
        seconds.append(group[b])
    first, second = np.concatenate(firsts), np.concatenate(seconds)
    if len(first) > limit:
        keep = np.random.default_rng(seed).choice(len(first), limit, replace=False)
        first, second = first[keep], second[keep]
    return np.sqrt(np.clip(2.0 - 2.0 * np.einsum("ij,ij->i", vectors[first], vectors[second]), 0.0, None))


def random_distances(vectors: np.ndarray, count: int = RANDOM_PAIRS, seed: int = 0) -> np.ndarray:
    """Distances between random pairs of different faces."""
    if len(vectors) < 2:
        return np.zeros(0)
    rng = np.random.default_rng(seed)
    first = rng.integers(0, len(vectors), count)
    second = (first + rng.integers(1, len(vectors), count)) % len(vectors)
    return np.sqrt(np.clip(2.0 - 2.0 * np.einsum("ij,ij->i", vectors[first], vectors[second]), 0.0, None))


def size_adjustment(faces: int) -> float:
    """What the scales gain (or lose, above REFERENCE_FACES) for a library of this many faces."""
    return float(np.clip(SIZE_SLOPE * np.log10(REFERENCE_FACES / max(faces, 1)), -SIZE_LIMIT, SIZE_LIMIT))


def scaled(median: float, source: str, pairs: int, spread: float, faces: int) -> Calibration:
    """The joining distances as fractions of a median different-person distance, for `faces` faces."""
    extra = size_adjustment(faces)
    return Calibration(round((LINK_SCALE + extra) * median, 3), round((GROUP_SCALE + extra) * median, 3),
                       round((ATTACH_SCALE + extra) * median, 3), source, pairs, round(median, 4), round(spread, 4))


def from_distances(distances: np.ndarray, source: str, faces: int = REFERENCE_FACES) -> Calibration:
    """Joining distances from a sample of different-person distances, for a library of `faces` faces."""
    return scaled(float(np.median(distances)), source, len(distances), float(np.std(distances)), faces)


def from_threshold(model: str, faces: int = REFERENCE_FACES) -> Calibration | None:
    """For a model with a published same-person threshold: the median different-person distance it
    implies (MEDIAN_PER_THRESHOLD, measured on Dlib), then the same scales."""
    from clusterfaces.people.clustering import same_person_threshold

    threshold = same_person_threshold(model)
    if threshold <= 0:
        return None
    return scaled(MEDIAN_PER_THRESHOLD * threshold, "model threshold", 0, 0.0, faces)


def calibrate(vectors: np.ndarray, photo_ids: np.ndarray | None, model: str) -> Calibration:
    """The library's joining distances: from its same-photo pairs, else the model's threshold, else random pairs."""
    vectors = np.asarray(vectors, dtype=np.float32)
    pairs = same_photo_distances(vectors, photo_ids) if photo_ids is not None else np.zeros(0)
    if len(pairs) >= MIN_PAIRS:
        return from_distances(pairs, "same-photo pairs", len(vectors))
    known = from_threshold(model, len(vectors))
    if known is not None:
        return known
    return from_distances(random_distances(vectors), "random pairs", len(vectors))
