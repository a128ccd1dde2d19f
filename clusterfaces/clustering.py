"""Grouping face embeddings into people: HDBSCAN, then attaching clear leftovers to their person."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np

# Distances are Euclidean between L2-normalised embeddings. DeepFace publishes a same-person
# threshold per model in these units (its "euclidean_l2" verification threshold; Dlib: 0.40).
# Tuned with benchmarks/tune_clustering.py on Dlib embeddings of ../shared/faces/dev (513 faces,
# 12 people) and ../shared/photos (23 faces, 6 people), see the README's Clustering section:
# - clusters whose centres are closer than 0.75 x threshold are one person HDBSCAN split;
# - a leftover face joins the nearest person within 0.95 x threshold when unambiguous.
# The same ratios are applied to the other models' thresholds (not measured: no offline weights).
MERGE_RATIO = 0.75
ATTACH_RATIO = 0.95
# A leftover joins a person only if the second-nearest person is this much farther away.
ATTACH_MARGIN = 0.05
# Exact HDBSCAN up to this many faces; above, HDBSCAN over a k-nearest-neighbour graph
# (knn_hdbscan.py): exact takes ~15 s at 10,000 faces and grows near-quadratically in 128-512 dims.
EXACT_HDBSCAN_LIMIT = 5_000
BLOCK = 4096  # rows of a distance matrix computed at once: bounds memory with many people


@dataclass(frozen=True)
class ClusterSettings:
    """The clustering parameters that matter; None means 'chosen from the data'."""

    min_cluster_size: int | None = None
    min_samples: int | None = 1
    selection_method: str = "eom"
    selection_epsilon: float = 0.0
    algorithm: str = "auto"  # "exact" HDBSCAN, "knn" graph HDBSCAN, or "auto" by face count
    attach_distance: float | None = None
    merge_distance: float | None = None
    min_face_size: int = 30  # faces smaller than this (shorter box side, pixels) are not clustered
    min_score: float = 0.0  # nor faces the detector was less sure of

    def clusterable(self, sizes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Which faces are big and certain enough to be grouped (the others are stored only)."""
        return (np.asarray(sizes) >= self.min_face_size) & (np.asarray(scores) >= self.min_score)

    def resolved(self, face_count: int, model: str) -> ClusterSettings:
        """Fill in data-dependent values: min_cluster_size from library size, attach distance from model."""
        values = asdict(self)
        if self.min_cluster_size is None:
            values["min_cluster_size"] = adaptive_min_cluster_size(face_count)
        if self.attach_distance is None:
            values["attach_distance"] = round(ATTACH_RATIO * same_person_threshold(model), 3)
        if self.merge_distance is None:
            values["merge_distance"] = round(MERGE_RATIO * same_person_threshold(model), 3)
        return ClusterSettings(**values)


def same_person_threshold(model: str) -> float:
    """DeepFace's verification threshold for the model on L2-normalised embeddings (0 if unknown)."""
    from deepface.config.threshold import thresholds

    return float(thresholds.get(model, {}).get("euclidean_l2", 0.0))


def adaptive_min_cluster_size(face_count: int) -> int:
    """Small libraries need tiny clusters (a person in two photos); bigger ones need more evidence.

    On ../shared/photos (23 faces) size 3 glued two people together and 2 was exact; on faces/dev
    (513 faces) size 2 left 20 fragments and 3 gave BCubed F1 0.98.
    """
    if face_count < 200:
        return 2
    if face_count < 20000:
        return 3
    return 5


def cluster_embeddings(vectors: np.ndarray, settings: ClusterSettings, model: str) -> np.ndarray:
    """Cluster L2-normalised vectors: labels 0..k-1, largest cluster first, -1 for faces left alone."""
    count = len(vectors)
    settings = settings.resolved(count, model)
    if count < max(2, settings.min_cluster_size):
        return np.full(count, -1, dtype=np.int64)
    if settings.algorithm == "exact" or (settings.algorithm == "auto" and count <= EXACT_HDBSCAN_LIMIT):
        labels = _exact_hdbscan(vectors, settings)
    else:
        from clusterfaces.knn_hdbscan import knn_hdbscan

        labels = knn_hdbscan(vectors, settings.min_cluster_size, settings.min_samples or 1,
                             settings.selection_method, settings.selection_epsilon)
    labels = merge_close_clusters(vectors, labels, settings.merge_distance or 0.0)
    labels = detach_strays(vectors, labels, same_person_threshold(model))
    labels = attach_leftovers(vectors, labels, settings.attach_distance or 0.0)
    return order_by_size(labels)


def _exact_hdbscan(vectors: np.ndarray, settings: ClusterSettings) -> np.ndarray:
    import hdbscan

    clusterer = hdbscan.HDBSCAN(
        min_cluster_size=settings.min_cluster_size,
        min_samples=settings.min_samples,
        cluster_selection_method=settings.selection_method,
        cluster_selection_epsilon=settings.selection_epsilon,
        metric="euclidean",
        core_dist_n_jobs=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return clusterer.fit_predict(vectors.astype(np.float64))


def _centres(vectors: np.ndarray, labels: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """Unit-length mean of each cluster's vectors, in the order of `clusters`, with no copy of the vectors."""
    from scipy.sparse import csr_matrix

    row = np.full(int(labels.max()) + 1, -1, dtype=np.int64)
    row[clusters] = np.arange(len(clusters))
    members = np.flatnonzero(labels >= 0)
    members = members[row[labels[members]] >= 0]
    membership = csr_matrix((np.ones(len(members), dtype=vectors.dtype), (row[labels[members]], members)),
                            shape=(len(clusters), len(vectors)))
    sums = np.asarray(membership @ vectors, dtype=np.float64)
    return sums / np.linalg.norm(sums, axis=1, keepdims=True)


def _distances_to(vectors: np.ndarray, centres: np.ndarray) -> np.ndarray:
    # Unit vectors: |a - b|^2 = 2 - 2 a.b, which needs no (faces x people x dims) array.
    return np.sqrt(np.clip(2.0 - 2.0 * (vectors @ centres.T), 0.0, None))


def merge_close_clusters(vectors: np.ndarray, labels: np.ndarray, max_distance: float) -> np.ndarray:
    """Join clusters whose centres lie within max_distance (average linkage between centres).

    Centres with no other centre within max_distance cannot take part in a merge (an average of
    distances all above it is above it too), so linkage runs only inside the groups of centres that
    are linked by such short distances: exact, and bounded in memory with tens of thousands of people.
    """
    clusters = np.unique(labels[labels >= 0])
    if max_distance <= 0 or len(clusters) < 2:
        return labels
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    centres = _centres(vectors, labels, clusters)
    rows, cols = [], []
    for start in range(0, len(centres), BLOCK):
        near = np.argwhere(_distances_to(centres[start:start + BLOCK], centres) <= max_distance)
        rows.append(near[:, 0] + start)
        cols.append(near[:, 1])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(centres), len(centres)))
    _, group = connected_components(graph, directed=False)
    merged = np.arange(len(clusters))
    for members in np.split(np.argsort(group, kind="stable"), np.flatnonzero(np.diff(np.sort(group))) + 1):
        if len(members) > 1:
            parts = fcluster(linkage(centres[members], method="average"), t=max_distance, criterion="distance")
            merged[members] = members[np.unique(parts, return_index=True)[1]][parts - 1]
    mapping = np.full(int(labels.max()) + 1, -1, dtype=np.int64)
    mapping[clusters] = clusters[merged]
    return np.where(labels >= 0, mapping[np.maximum(labels, 0)], -1)


def detach_strays(vectors: np.ndarray, labels: np.ndarray, max_distance: float) -> np.ndarray:
    """Take out of its cluster a face that is farther than max_distance from the cluster's centre and
    nearer to another cluster's centre; attach_leftovers then decides where it belongs.

    HDBSCAN counts as a member every face that hangs off a cluster before the cluster is selected,
    however long its edge; with the approximate neighbour graph of large libraries an odd face whose
    true neighbours were missed can hang off the wrong person that way.
    """
    clusters = np.unique(labels[labels >= 0])
    if max_distance <= 0 or len(clusters) < 2:
        return labels
    centres = _centres(vectors, labels, clusters)
    row = np.full(int(labels.max()) + 1, -1, dtype=np.int64)
    row[clusters] = np.arange(len(clusters))
    members = np.flatnonzero(labels >= 0)
    far = []
    for start in range(0, len(members), BLOCK):  # in blocks: no copy of all vectors or of their centres
        chunk = members[start:start + BLOCK]
        similarity = np.einsum("ij,ij->i", vectors[chunk], centres[row[labels[chunk]]])
        far.append(chunk[np.sqrt(np.clip(2.0 - 2.0 * similarity, 0.0, None)) > max_distance])
    far = np.concatenate(far)
    labels = labels.copy()
    for start in range(0, len(far), BLOCK):
        chunk = far[start:start + BLOCK]
        distances = _distances_to(vectors[chunk], centres)
        mine = distances[np.arange(len(chunk)), row[labels[chunk]]]
        labels[chunk[distances.min(axis=1) < mine]] = -1
    return labels


def attach_leftovers(vectors: np.ndarray, labels: np.ndarray, max_distance: float) -> np.ndarray:
    """Give each unclustered face to the nearest cluster centre if it is close and unambiguous."""
    labels = labels.copy()
    clusters = np.unique(labels[labels >= 0])
    leftovers = np.flatnonzero(labels < 0)
    if max_distance <= 0 or len(clusters) == 0 or len(leftovers) == 0:
        return labels
    centres = _centres(vectors, labels, clusters)
    for start in range(0, len(leftovers), BLOCK):
        chunk = leftovers[start:start + BLOCK]
        distances = _distances_to(vectors[chunk], centres)
        nearest = distances.argmin(axis=1)
        best = distances[np.arange(len(chunk)), nearest]
        if len(clusters) > 1:
            second = np.partition(distances, 1, axis=1)[:, 1]
        else:
            second = np.full(len(chunk), np.inf)
        accept = (best <= max_distance) & (second - best >= ATTACH_MARGIN)
        labels[chunk[accept]] = clusters[nearest[accept]]
    return labels


def order_by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters 0..k-1 from largest to smallest (ties: first face first); -1 stays."""
    labels = np.asarray(labels, dtype=np.int64)
    clusters, first, counts = np.unique(labels[labels >= 0], return_index=True, return_counts=True)
    if len(clusters) == 0:
        return labels.copy()
    # First occurrence within the clustered faces keeps the original tie order.
    rank = np.empty(len(clusters), dtype=np.int64)
    rank[np.lexsort((first, -counts))] = np.arange(len(clusters))
    mapping = np.full(int(clusters.max()) + 1, -1, dtype=np.int64)
    mapping[clusters] = rank
    return np.where(labels >= 0, mapping[np.maximum(labels, 0)], -1)
