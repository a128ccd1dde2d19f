"""Nearest neighbours among a library's face vectors: exact, or 8-bit quantised with exact re-ranking."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

# Up to this many faces the search is exact (faiss flat inner product); above, an 8-bit scalar-quantised
# scan picks candidates (a quarter of the memory traffic) and their exact distances are recomputed.
EXACT_LIMIT = 200_000
RERANK_EXTRA = 64  # candidates beyond k that the quantised scan hands to the exact re-ranking
RANGE_SLACK = 0.02  # a quantised range query goes on until its farthest row is this much out of reach
RANGE_FIRST = 256  # rows a quantised range query asks for first (then 4x as many, while all are within reach)


def unit_distances(inner: np.ndarray) -> np.ndarray:
    """Euclidean distances between unit vectors from their inner products."""
    return np.sqrt(np.clip(2.0 - 2.0 * inner, 0.0, None)).astype(np.float32)


class FaceIndex:
    """Nearest neighbours among unit vectors: exact up to EXACT_LIMIT rows, above that an 8-bit quantised
    scan for candidates whose exact distances are recomputed. Built in memory from the database's vectors:
    it is never stored, so it cannot go stale."""

    threads = 1  # one query scans memory once: more threads only contend with the rest of the machine

    def __init__(self, vectors: np.ndarray) -> None:
        import faiss

        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        count, dim = self.vectors.shape
        self.exact = count <= EXACT_LIMIT
        if self.exact:
            self._index = faiss.IndexFlatIP(max(dim, 1))
        else:
            self._index = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
            sample = self.vectors[np.random.default_rng(0).choice(count, min(count, 100_000), replace=False)]
            self._index.train(sample)
        if count:
            self._index.add(self.vectors)

    def __len__(self) -> int:
        return len(self.vectors)

    def nearest(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest rows to one unit query vector: (distances, rows), nearest first."""
        k = min(k, len(self))
        if k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        wanted = k if self.exact else min(len(self), k + RERANK_EXTRA)
        with self._threads():
            _, rows = self._index.search(query, wanted)
        rows = rows[0][rows[0] >= 0]
        return self._ranked(query[0], rows, k)

    def within(self, query: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
        """Every row closer than radius to one unit query vector: (distances, rows), nearest first."""
        if not len(self):
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        if self.exact:
            with self._threads():
                _, _, rows = self._index.range_search(query, float(1.0 - radius * radius / 2.0))
            distances, rows = self._ranked(query[0], rows.astype(np.int64), len(rows))
        else:
            # The quantised index's range search visits rows one by one (1.5 s at 1M x 128): ask for more
            # nearest rows until the farthest is clearly out of reach.
            wanted = RANGE_FIRST
            while True:
                distances, rows = self.nearest(query[0], wanted)
                if len(rows) < wanted or distances[-1] >= radius + RANGE_SLACK:
                    break
                wanted *= 4
        keep = distances < radius
        return distances[keep], rows[keep]

    @contextlib.contextmanager
    def _threads(self) -> Iterator[None]:
        import faiss

        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(self.threads)
        try:
            yield
        finally:
            faiss.omp_set_num_threads(before)

    def _ranked(self, query: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        distances = unit_distances(self.vectors[rows] @ query)
        order = np.argsort(distances, kind="stable")[:k]
        return distances[order], rows[order]
