"""Steps on cluster centres that both grouping methods share: merge close clusters, take out strays, attach
leftovers, number clusters by size. Each works in bounded blocks, never on all pairs of faces."""

from __future__ import annotations

import numpy as np

# A leftover joins a person only if the second-nearest person is this much farther away.
ATTACH_MARGIN = 0.05
BLOCK = 4096  # rows of a distance matrix computed at once: bounds memory with many people
BLOCK_CELLS = 8_000_000  # attach_leftovers: faces x centres distances held at once (64 MB in float64)


def centres_of(vectors: np.ndarray, labels: np.ndarray, clusters: np.ndarray) -> np.ndarray:
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

    centres = centres_of(vectors, labels, clusters)
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
    centres = centres_of(vectors, labels, clusters)
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


def cluster_radii(vectors: np.ndarray, labels: np.ndarray, clusters: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Distance from each cluster's centre to its farthest member, in the order of `clusters` (in blocks)."""
    row = np.full(int(labels.max()) + 1, -1, dtype=np.int64)
    row[clusters] = np.arange(len(clusters))
    members = np.flatnonzero(labels >= 0)
    members = members[row[labels[members]] >= 0]
    radii = np.zeros(len(clusters), dtype=np.float64)
    for start in range(0, len(members), BLOCK):
        chunk = members[start:start + BLOCK]
        similarity = np.einsum("ij,ij->i", vectors[chunk], centres[row[labels[chunk]]])
        np.maximum.at(radii, row[labels[chunk]], np.sqrt(np.clip(2.0 - 2.0 * similarity, 0.0, None)))
    return radii


def attach_leftovers(vectors: np.ndarray, labels: np.ndarray, max_distance: float, reach: float = 0.0) -> np.ndarray:
    """Give each unclustered face to the nearest cluster centre if it is close and unambiguous.

    With `reach` > 0 the face must also lie within `reach` x the distance from that centre to the
    cluster's own farthest face: a person's face that linkage left out sits among their faces, a
    look-alike stranger beyond them (LFW: README Clustering)."""
    labels = labels.copy()
    clusters = np.unique(labels[labels >= 0])
    leftovers = np.flatnonzero(labels < 0)
    if max_distance <= 0 or len(clusters) == 0 or len(leftovers) == 0:
        return labels
    # In the vectors' own precision (float32 for embeddings): with tens of thousands of people these
    # faces x centres distances were a quarter of clustering a million faces, and float64 doubled them.
    centres = centres_of(vectors, labels, clusters).astype(vectors.dtype)
    limits = np.full(len(clusters), max_distance, dtype=np.float64)
    if reach > 0:
        limits = np.minimum(limits, reach * cluster_radii(vectors, labels, clusters, centres))
    block = max(64, BLOCK_CELLS // len(clusters))  # with tens of thousands of people, fewer faces at once
    for start in range(0, len(leftovers), block):
        chunk = leftovers[start:start + block]
        distances = _distances_to(vectors[chunk], centres)
        nearest = distances.argmin(axis=1)
        best = distances[np.arange(len(chunk)), nearest]
        if len(clusters) > 1:
            second = np.partition(distances, 1, axis=1)[:, 1]
        else:
            second = np.full(len(chunk), np.inf)
        accept = (best <= limits[nearest]) & (second - best >= ATTACH_MARGIN)
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
