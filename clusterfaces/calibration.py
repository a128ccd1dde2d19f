"""Clustering distances from the library itself: faces in one photo are different people.

Every library carries, for free, a sample of "different person" distances for whatever model embedded
it: the pairs of faces that share a photo. Their distribution (mean and spread) places the model's
scale; the joining distances are set a fixed number of standard deviations below its mean, numbers
tuned once on Dlib (benchmarks/tune_clustering.py, README Clustering) and the same for every model:
a join at link_distance is as unlikely, for two different people of that library, whatever the model.

Fallbacks, when a library has fewer than MIN_PAIRS same-photo pairs (a few photos, or portraits only):
1. a model with a known same-person threshold (DeepFace's table) uses the tuned ratios of it;
2. any other model uses random pairs of the library's faces as the "different person" sample: they
   also hold some same-person pairs, which pull the mean down and widen the spread, so the distances
   come out shorter: a small unknown library is split rather than glued.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_PAIRS = 50  # same-photo pairs needed before they are trusted over the fallbacks
MAX_PAIRS = 200_000  # pairs used at most (a sample of them in a huge library)
RANDOM_PAIRS = 20_000
# Standard deviations below the mean of the different-person distances, tuned on Dlib (LFW dev half,
# faces/dev and photos at once): where two single faces join, where large groups may join, and where
# a new face joins a known person between re-clusterings.
LINK_SIGMAS = 2.5
GROUP_SIGMAS = 2.2
ATTACH_SIGMAS = 2.5


@dataclass(frozen=True)
class Calibration:
    """The joining distances for one library and where they came from."""

    link_distance: float
    group_distance: float
    attach_distance: float
    source: str  # "same-photo pairs", "model threshold" or "random pairs"
    pairs: int  # distances the estimate rests on (0 for the model threshold)
    mean: float  # of the different-person distances (0 for the model threshold)
    spread: float  # their standard deviation

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


def from_distances(distances: np.ndarray, source: str) -> Calibration:
    """Joining distances a fixed number of standard deviations below the mean of different-person distances."""
    mean, spread = float(np.mean(distances)), float(np.std(distances))

    def below(sigmas: float) -> float:
        return round(max(0.0, mean - sigmas * spread), 3)

    return Calibration(below(LINK_SIGMAS), below(GROUP_SIGMAS), below(ATTACH_SIGMAS), source, len(distances),
                       round(mean, 4), round(spread, 4))


def from_threshold(model: str) -> Calibration | None:
    """The tuned ratios of the model's published same-person threshold, when it has one."""
    from clusterfaces.clustering import GROUP_RATIO, LINK_RATIO, same_person_threshold

    threshold = same_person_threshold(model)
    if threshold <= 0:
        return None
    return Calibration(round(LINK_RATIO * threshold, 3), round(GROUP_RATIO * threshold, 3),
                       round(LINK_RATIO * threshold, 3), "model threshold", 0, 0.0, 0.0)


def calibrate(vectors: np.ndarray, photo_ids: np.ndarray | None, model: str) -> Calibration:
    """The library's joining distances: from its same-photo pairs, else the model's threshold, else random pairs."""
    vectors = np.asarray(vectors, dtype=np.float32)
    pairs = same_photo_distances(vectors, photo_ids) if photo_ids is not None else np.zeros(0)
    if len(pairs) >= MIN_PAIRS:
        return from_distances(pairs, "same-photo pairs")
    known = from_threshold(model)
    if known is not None:
        return known
    return from_distances(random_distances(vectors), "random pairs")
