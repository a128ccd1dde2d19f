"""HDBSCAN for large face sets: the same hierarchy, built from an approximate k-nearest-neighbour graph.

Exact HDBSCAN needs the minimum spanning tree of all pairwise (mutual reachability) distances; for
128- or 512-d face embeddings its space trees degrade to nearly all pairs, which is minutes at
100,000 faces and hours at 1,000,000. Faces of one person sit close together, so the tree's short
edges - the only ones that shape clusters of people - are all between near neighbours. We therefore
find each face's k nearest neighbours with faiss (exact up to 20,000 faces, an HNSW graph index
above), take the spanning forest of that sparse graph, join its pieces all at once at its largest
edge (faces of different pieces were never each other's neighbours), and hand the result to
hdbscan's own condensing and cluster selection.
benchmarks/speed.py (subcommand `cluster`) compares the labels with exact HDBSCAN.
"""

from __future__ import annotations

import numpy as np

NEIGHBOURS = 15
EXACT_SEARCH_LIMIT = 20_000  # below this a brute-force search takes seconds and is exact
HNSW_LINKS = 16
SEARCH_BLOCK = 65_536  # queries per search call: bounds the result arrays, not the index


def knn_graph(vectors: np.ndarray, neighbours: int = NEIGHBOURS) -> tuple[np.ndarray, np.ndarray]:
    """Nearest neighbours of each row, itself excluded: (indices, Euclidean distances); -1 where none."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    count, dim = vectors.shape
    k = min(neighbours + 1, count)
    if count <= EXACT_SEARCH_LIMIT:
        index = faiss.IndexFlatL2(dim)
    else:
        # A graph index: unlike a k-means partition it copes with one person owning a tenth of the faces.
        # (Searching in fewer PCA dimensions was tried: 2x faster at 100,000 x 512 but it split and
        # glued more people, benchmarks/results/speed_cluster_pca_trial.json.)
        index = faiss.IndexHNSWFlat(dim, HNSW_LINKS)
        index.hnsw.efConstruction = 40
        index.hnsw.efSearch = max(48, 2 * k)
    index.add(vectors)
    distances = np.empty((count, k), dtype=np.float32)
    indices = np.empty((count, k), dtype=np.int64)
    for start in range(0, count, SEARCH_BLOCK):
        block = slice(start, start + SEARCH_BLOCK)
        squared, indices[block] = index.search(vectors[block], k)
        distances[block] = np.sqrt(np.clip(squared, 0.0, None))
    # Drop each point's own entry (an exact duplicate may come first instead: same distance, 0).
    own = indices == np.arange(count)[:, None]
    keep = ~own
    keep[own.sum(axis=1) == 0, -1] = False
    return indices[keep].reshape(count, k - 1), distances[keep].reshape(count, k - 1)


def spanning_tree(indices: np.ndarray, distances: np.ndarray, min_samples: int) -> np.ndarray:
    """Minimum spanning tree of the mutual reachability graph as hdbscan expects: rows (a, b, distance)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components, minimum_spanning_tree

    count = len(indices)
    valid = indices >= 0
    # hdbscan counts the point itself as its first neighbour: min_samples=1 means core distance 0.
    core = np.zeros(count) if min_samples <= 1 else distances[:, min(min_samples - 2, distances.shape[1] - 1)]
    rows = np.repeat(np.arange(count), indices.shape[1])[valid.ravel()]
    cols = indices[valid]
    weights = np.maximum(distances[valid], np.maximum(core[rows], core[cols]))
    # A zero weight would read as "no edge" to scipy; exact duplicates get a tiny one instead.
    weights = np.maximum(weights, 1e-9)
    graph = coo_matrix((weights, (rows, cols)), shape=(count, count)).tocsr()
    graph = graph.maximum(graph.T)  # mutual reachability is symmetric; keep edges found from either end
    forest = minimum_spanning_tree(graph).tocoo()
    edges = np.column_stack([forest.row, forest.col, forest.data]).astype(np.float64)
    pieces, piece_of = connected_components(forest, directed=False)
    if pieces > 1:
        firsts = np.unique(piece_of, return_index=True)[1]
        top = edges[:, 2].max() if len(edges) else 1.0
        joins = np.column_stack([firsts[:-1], firsts[1:], np.full(pieces - 1, top)])
        edges = np.vstack([edges, joins])
    return edges[np.argsort(edges[:, 2], kind="stable")]


def knn_hdbscan(vectors: np.ndarray, min_cluster_size: int, min_samples: int, selection_method: str,
                selection_epsilon: float) -> np.ndarray:
    """HDBSCAN labels (-1 for noise) computed over the approximate k-NN graph."""
    from hdbscan._hdbscan_linkage import label
    from hdbscan._hdbscan_tree import compute_stability, condense_tree, get_clusters

    indices, distances = knn_graph(vectors, max(NEIGHBOURS, min_samples))
    tree = label(spanning_tree(indices, distances, min_samples))
    condensed = condense_tree(tree, min_cluster_size)
    labels, _, _ = get_clusters(condensed, compute_stability(condensed), selection_method, False, False,
                                selection_epsilon, 0)
    return np.asarray(labels, dtype=np.int64)
