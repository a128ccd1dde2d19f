"""Classic face clustering methods, each over a range of thresholds, for benchmarks/quality.py.

Every function takes L2-normalised vectors and returns labels (-1 for a face left alone) for each
threshold asked, so one costly step (a linkage tree, a neighbour list) serves the whole sweep:
- agglomerative clustering (scipy linkage: average, complete, single) cut at a distance;
- Chinese whispers over the graph of pairs closer than the threshold (dlib, as in its example);
- DBSCAN (scikit-learn) with eps = threshold;
- Approximate Rank-Order clustering (Otto, Wang and Jain, "Clustering millions of faces by identity",
  TPAMI 2018), written here from the paper's description (see approximate_rank_order).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np


def singletons_out(labels: np.ndarray) -> np.ndarray:
    """Clusters of one face become -1, as HDBSCAN's noise does (scores count both as people alone)."""
    labels = np.asarray(labels, dtype=np.int64)
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    return np.where((counts[inverse] > 1) & (labels >= 0), labels, -1)


def agglomerative(vectors: np.ndarray, method: str, thresholds: Iterable[float]) -> Iterator[tuple[float, np.ndarray]]:
    """Hierarchical clustering with the given linkage, cut at each distance threshold."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    tree = linkage(pdist(vectors.astype(np.float64)), method=method)
    for threshold in thresholds:
        yield threshold, singletons_out(fcluster(tree, t=threshold, criterion="distance"))


def _pairs_within(vectors: np.ndarray, threshold: float, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = [], []
    for start in range(0, len(vectors), block):
        similarity = vectors[start:start + block] @ vectors.T
        near = np.argwhere(np.sqrt(np.clip(2.0 - 2.0 * similarity, 0.0, None)) < threshold)
        near = near[near[:, 0] + start < near[:, 1]]
        rows.append(near[:, 0] + start)
        cols.append(near[:, 1])
    return np.concatenate(rows), np.concatenate(cols)


def chinese_whispers(vectors: np.ndarray, thresholds: Iterable[float]) -> Iterator[tuple[float, np.ndarray]]:
    """dlib's chinese_whispers: an edge joins faces closer than the threshold."""
    import dlib

    for threshold in thresholds:
        rows, cols = _pairs_within(vectors, threshold)
        edges = list(zip(rows.tolist(), cols.tolist())) + [(i, i) for i in range(len(vectors))]
        labels = np.asarray(dlib.chinese_whispers(edges), dtype=np.int64)
        yield threshold, singletons_out(labels)


def dbscan(vectors: np.ndarray, thresholds: Iterable[float],
           min_samples: int = 2) -> Iterator[tuple[float, np.ndarray]]:
    from sklearn.cluster import DBSCAN

    for threshold in thresholds:
        yield threshold, DBSCAN(eps=threshold, min_samples=min_samples).fit_predict(vectors)


def hdbscan_alone(vectors: np.ndarray, sizes: Iterable[int]) -> Iterator[tuple[float, np.ndarray]]:
    """HDBSCAN (min_samples 1, excess of mass) with no post-processing, for each min_cluster_size."""
    import warnings

    import hdbscan

    for size in sizes:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield size, hdbscan.HDBSCAN(min_cluster_size=size, min_samples=1).fit_predict(vectors.astype(np.float64))


def rank_order_distances(neighbours: np.ndarray) -> np.ndarray:
    """Approximate rank-order distance between each face and each of its k nearest neighbours.

    neighbours[a] lists a's k nearest faces, a itself first (rank 0). For b = neighbours[a, j] (O_a(b) = j),
    d(a, b) counts the faces among a's first j + 1 neighbours that are not in b's list at all (the
    approximation: presence in the top k, not the exact rank), and the distance is
        D(a, b) = (d(a, b) + d(b, a)) / min(O_a(b), O_b(a)),
    where O_b(a) = k and d(b, a) counts all of b's list outside a's list when a is not in b's list.
    Returns (n, k) distances aligned with `neighbours` (column 0, the face itself, is 0).
    """
    from scipy.sparse import csr_matrix

    count, k = neighbours.shape
    listed = csr_matrix((np.ones(count * k, dtype=bool), (np.repeat(np.arange(count), k), neighbours.ravel())),
                        shape=(count, count))
    dense = listed.toarray() if count <= 20_000 else None  # a k x k block per face, by plain indexing
    prefix = np.zeros((count, k), dtype=np.int64)  # d(a, neighbours[a, j])
    outside = np.zeros((count, k), dtype=np.int64)  # a's list outside b's list: k - shared
    for a in range(count):
        mine = neighbours[a]
        member = dense[np.ix_(mine, mine)] if dense is not None else listed[mine][:, mine].toarray()
        missing = np.cumsum(~member, axis=1)  # row j: a's first i neighbours missing from neighbour j's list
        prefix[a] = missing[np.arange(k), np.arange(k)]
        outside[a] = missing[:, -1]
    # O_b(a): where a sits in b's list (k when absent), read from a sparse (face, neighbour) -> rank + 1.
    ranks = csr_matrix((np.tile(np.arange(1, k + 1), count), (np.repeat(np.arange(count), k), neighbours.ravel())),
                       shape=(count, count))
    rows = np.repeat(np.arange(count), k)
    back = np.asarray(ranks[neighbours.ravel(), rows]).ravel().reshape(count, k) - 1
    back[back < 0] = k
    there = np.where(back < k, prefix[neighbours, np.minimum(back, k - 1)], outside)
    low = np.maximum(1, np.minimum(np.arange(k)[None, :], back))
    distances = (prefix + there) / low
    distances[:, 0] = 0.0
    return distances


def approximate_rank_order(vectors: np.ndarray, thresholds: Iterable[float],
                           k: int = 200) -> Iterator[tuple[float, np.ndarray]]:
    """Link each face to those of its k nearest neighbours within the rank-order distance threshold, and
    take the linked groups transitively (connected components), as the paper does."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from clusterfaces.people.knn_hdbscan import knn_graph

    count = len(vectors)
    k = min(k, count - 1)
    indices, _ = knn_graph(vectors, k)
    neighbours = np.column_stack([np.arange(count), indices])
    distances = rank_order_distances(neighbours)
    for threshold in thresholds:
        rows, cols = np.nonzero(distances[:, 1:] <= threshold)
        graph = coo_matrix((np.ones(len(rows)), (rows, neighbours[rows, cols + 1])), shape=(count, count))
        _, labels = connected_components(graph, directed=False)
        yield threshold, singletons_out(labels)
