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
SEARCH_DIMS = 128  # above EXACT_SEARCH_LIMIT, wider embeddings are searched in this many PCA dimensions
SEARCH_BLOCK = 65_536  # queries per search call: bounds the result arrays, not the index


def knn_graph(vectors: np.ndarray, neighbours: int = NEIGHBOURS) -> tuple[np.ndarray, np.ndarray]:
    """Nearest neighbours of each row, itself excluded: (indices, Euclidean distances); -1 where none."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    count, dim = vectors.shape
    k = min(neighbours + 1, count)
    searched = vectors
    if count <= EXACT_SEARCH_LIMIT:
        index = faiss.IndexFlatL2(dim)
    else:
        if dim > SEARCH_DIMS:
            # Candidates are found in the main principal components (a quarter of the memory and time
            # at 512-d); their distances are then measured in full below.
            pca = faiss.PCAMatrix(dim, SEARCH_DIMS)
            pca.train(vectors[np.random.default_rng(0).choice(count, min(count, 100_000), replace=False)])
            searched = pca.apply(vectors)
        # A graph index: unlike a k-means partition it copes with one person owning a tenth of the faces.
        index = faiss.IndexHNSWFlat(searched.shape[1], HNSW_LINKS)
        index.hnsw.efConstruction = 40
        index.hnsw.efSearch = max(48, 2 * k)
    index.add(searched)
    distances = np.empty((count, k), dtype=np.float32)
    indices = np.empty((count, k), dtype=np.int64)
    for start in range(0, count, SEARCH_BLOCK):
        block = slice(start, start + SEARCH_BLOCK)
        squared, indices[block] = index.search(searched[block], k)
        if searched is not vectors:
            squared = _full_squared_distances(vectors, start, indices[block])
        distances[block] = np.sqrt(np.clip(squared, 0.0, None))
    if searched is not vectors:
        order = np.argsort(distances, axis=1, kind="stable")
        indices, distances = np.take_along_axis(indices, order, 1), np.take_along_axis(distances, order, 1)
    # Drop each point's own entry (an exact duplicate may come first instead: same distance, 0).
    own = indices == np.arange(count)[:, None]
    keep = ~own
    keep[own.sum(axis=1) == 0, -1] = False
    return indices[keep].reshape(count, k - 1), distances[keep].reshape(count, k - 1)


def _full_squared_distances(vectors: np.ndarray, start: int, candidates: np.ndarray) -> np.ndarray:
    """Squared distances from rows start.. to their candidate rows, in all dimensions (inf where none)."""
    squared = np.full(candidates.shape, np.inf, dtype=np.float32)
    for offset in range(0, len(candidates), 4096):  # (4096 x k x dims) floats at a time
        rows = candidates[offset:offset + 4096]
        found = rows >= 0
        gathered = vectors[np.where(found, rows, 0)]
        queries = vectors[start + offset:start + offset + len(rows)]
        part = ((gathered - queries[:, None, :]) ** 2).sum(axis=2)
        squared[offset:offset + len(rows)] = np.where(found, part, np.inf)
    return squared


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
