"""Grouping face embeddings into people: average linkage over the k-NN graph, precision first."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from clusterfaces.people.cluster_centres import (
    attach_leftovers,
    detach_strays,
    merge_close_clusters,
    order_by_size,
)
from clusterfaces.scan.faces import same_person_threshold

if TYPE_CHECKING:
    from clusterfaces.people.calibration import Calibration

# Distances are Euclidean between L2-normalised embeddings.
#
# The default method (algorithm "auto", see linkage_clusters): faces are linked by average linkage
# inside the groups of faces that the k-nearest-neighbour graph joins by short edges; two faces in
# one photo are never one person (cannot-link); two small groups join only when they are very close
# (link_distance), two large groups may join a little farther (group_distance: the average of many
# distances wanders less); and a small group whose faces have another face almost as near as each
# other is taken apart (DOUBT_RATIO). Tuned with benchmarks/tune_clustering.py on three data sets at once
# (LFW's development half, faces/dev, photos; README, Clustering); the distances for each library
# come from clusterfaces/calibration.py (its own same-photo pairs, else the tuned Dlib values
# scaled by DeepFace's threshold for the model).
#
# The former method (algorithm "hdbscan": HDBSCAN, then merge of close centres, detach strays and
# attach leftovers) stays selectable; at the scale of thousands of people its merge and attach
# steps glued strangers (README, Quality).
GROWTH = 0.5  # a join of groups of n faces (the smaller) may reach group - (group - link) / n ** GROWTH
DOUBT_RATIO = 0.9  # a group of up to DOUBT_SIZE faces stays only if its faces are this much nearer each
DOUBT_SIZE = 4  # other than to any other face (split_doubtful_groups)
ATTACH_MIN_SIZE = 5  # a face left alone may join a group of at least this many faces (attach_to_groups)
# ... and only within this x the distance from the group's centre to its own farthest face: on LFW's
# development half 26 of 133 attachments went to somebody else, 24 of them beyond 1.15 x that reach,
# against 44 of 107 right ones (README, Clustering).
ATTACH_REACH = 1.2
# Large groups with centres within this x link_distance are merged (merge_large_groups): on LFW 0.2
# (0.57 x) changed nothing and 0.3 glued people, so it only mends what the k-NN graph cannot see.
LARGE_MERGE_OF_LINK = 0.6
LINK_NEIGHBOURS = 15  # k of the k-NN graph that bounds which faces can be linked (10, 15, 30: same people on LFW)
EXACT_LINKAGE_LIMIT = 6_000  # faces of one graph component linked exactly (m^2/2 distances, 144 MB); above: pieces
# The HDBSCAN method's post-processing ratios (tuned on faces/dev and photos, 2026-11-24).
MERGE_RATIO = 0.75
ATTACH_RATIO = 0.95
# HDBSCAN method: exact HDBSCAN up to this many faces; above, HDBSCAN over a k-nearest-neighbour
# graph (knn_hdbscan.py): exact takes ~15 s at 10,000 faces and grows near-quadratically in 128-512 dims.
EXACT_HDBSCAN_LIMIT = 5_000
SAME_PHOTO_DISTANCE = 2.0  # the largest distance between unit vectors: what two faces of one photo are given


@dataclass(frozen=True)
class ClusterSettings:
    """The clustering parameters that matter; None means 'chosen from the data'."""

    min_cluster_size: int | None = None  # smallest group reported as a person (HDBSCAN: its min_cluster_size)
    min_samples: int | None = 1  # HDBSCAN only
    selection_method: str = "eom"  # HDBSCAN only
    selection_epsilon: float = 0.0  # HDBSCAN only
    algorithm: str = "auto"  # "auto": linkage (default); "hdbscan" ("exact" or "knn" to force its variant)
    attach_distance: float | None = None  # a new face joins a person between re-clusterings (and HDBSCAN's)
    merge_distance: float | None = None  # HDBSCAN only: clusters with centres this close are merged
    link_distance: float | None = None  # linkage: two small groups join below this average distance
    group_distance: float | None = None  # linkage: two large groups join below this
    doubt_ratio: float = DOUBT_RATIO  # linkage: a small group's faces must be this much nearer each other (0: off)
    doubt_size: int = DOUBT_SIZE  # than to anyone else; groups up to this size are checked
    attach_reach: float = ATTACH_REACH  # linkage: a face joins a group only this far out (x its farthest face; 0: off)
    distances_from: str = "model threshold"  # where the distances came from (clusterfaces.people.calibration)
    min_face_size: int = 30  # faces smaller than this (shorter box side, pixels) are not clustered
    min_score: float = 0.0  # nor faces the detector was less sure of

    def clusterable(self, sizes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Which faces are big and certain enough to be grouped (the others are stored only)."""
        return (np.asarray(sizes) >= self.min_face_size) & (np.asarray(scores) >= self.min_score)

    def resolved(self, face_count: int, model: str, calibration: Calibration | None = None) -> ClusterSettings:
        """Fill in data-dependent values: sizes from library size, distances from the calibration given
        (clusterfaces.people.calibration; linkage only), else from the model's threshold."""
        values = asdict(self)
        hdbscan = self.algorithm != "auto"
        distances = calibration.distances() if calibration is not None and not hdbscan else {}
        if distances and self.link_distance is None:
            values["distances_from"] = calibration.source  # type: ignore[union-attr]
        if self.min_cluster_size is None:
            values["min_cluster_size"] = adaptive_min_cluster_size(face_count) if hdbscan else 2
        threshold = same_person_threshold(model)
        if not hdbscan and not distances:
            from clusterfaces.people.calibration import from_threshold

            known = from_threshold(model, face_count)
            distances = known.distances() if known is not None else {}
        fallback = {"link_distance": 0.0, "group_distance": 0.0, "attach_distance": ATTACH_RATIO * threshold,
                    "merge_distance": MERGE_RATIO * threshold}
        for name, value in fallback.items():
            if values[name] is None:
                values[name] = round(distances.get(name, value), 3)
        return ClusterSettings(**values)


def adaptive_min_cluster_size(face_count: int) -> int:
    """HDBSCAN: small libraries need tiny clusters (a person in two photos); bigger ones need more evidence.

    On ../shared/photos (23 faces) size 3 glued two people together and 2 was exact; on faces/dev
    (513 faces) size 2 left 20 fragments and 3 gave BCubed F1 0.98.
    """
    if face_count < 200:
        return 2
    if face_count < 20000:
        return 3
    return 5


def cluster_embeddings(vectors: np.ndarray, settings: ClusterSettings, model: str,
                       photo_ids: np.ndarray | None = None) -> np.ndarray:
    """Cluster L2-normalised vectors: labels 0..k-1, largest cluster first, -1 for faces left alone.
    photo_ids (one per vector), where given, keep two faces of one photo apart."""
    count = len(vectors)
    if settings.link_distance is None and settings.algorithm == "auto":
        from clusterfaces.people.calibration import calibrate

        settings = settings.resolved(count, model, calibrate(vectors, photo_ids, model))
    settings = settings.resolved(count, model)
    if count < max(2, settings.min_cluster_size):
        return np.full(count, -1, dtype=np.int64)
    if settings.algorithm == "auto":
        from clusterfaces.people.knn_hdbscan import knn_graph

        graph = knn_graph(vectors, LINK_NEIGHBOURS)
        labels = linkage_clusters(vectors, photo_ids, settings.link_distance or 0.0, settings.group_distance or 0.0,
                                  graph=graph)
        labels = split_doubtful_groups(vectors, labels, settings.doubt_ratio, settings.doubt_size, graph)
        labels = merge_large_groups(vectors, labels, LARGE_MERGE_OF_LINK * (settings.link_distance or 0.0),
                                    ATTACH_MIN_SIZE)
        labels = attach_to_groups(vectors, labels, settings.attach_distance or 0.0, ATTACH_MIN_SIZE, photo_ids,
                                  settings.attach_reach)
        return order_by_size(drop_small(labels, settings.min_cluster_size))
    if settings.algorithm == "exact" or (settings.algorithm == "hdbscan" and count <= EXACT_HDBSCAN_LIMIT):
        labels = _exact_hdbscan(vectors, settings)
    else:
        from clusterfaces.people.knn_hdbscan import knn_hdbscan

        labels = knn_hdbscan(vectors, settings.min_cluster_size, settings.min_samples or 1,
                             settings.selection_method, settings.selection_epsilon)
    labels = merge_close_clusters(vectors, labels, settings.merge_distance or 0.0)
    labels = detach_strays(vectors, labels, same_person_threshold(model))
    labels = attach_leftovers(vectors, labels, settings.attach_distance or 0.0)
    return order_by_size(labels)


def linkage_clusters(vectors: np.ndarray, photo_ids: np.ndarray | None, link_distance: float,
                     group_distance: float, growth: float = GROWTH,
                     graph: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Average-linkage clusters (labels, -1 for faces alone), never two faces of one photo together.

    Average linkage joins two groups only if some pair across them is at most as far as the join, so
    the k-NN graph's edges up to group_distance split the faces into components that no join crosses;
    each is linked exactly (pairwise distances of its faces only). A component too large for that (in
    a large library short edges chain many people together) is cut, by single linkage at ever shorter
    edges, into pieces that are linked exactly; groups of one person split by a cut can meet again in
    merge_large_groups and attach_to_groups. Memory stays bounded at any library size.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from clusterfaces.people.knn_hdbscan import knn_graph

    count = len(vectors)
    labels = np.full(count, -1, dtype=np.int64)
    if count < 2 or group_distance <= 0:
        return labels
    photos = np.arange(count) if photo_ids is None else np.asarray(photo_ids)
    indices, distances = graph if graph is not None else knn_graph(vectors, LINK_NEIGHBOURS)
    rows = np.repeat(np.arange(count), indices.shape[1])
    cols, lengths = indices.ravel(), distances.ravel()
    keep = (cols >= 0) & (lengths <= group_distance)
    keep[keep] = photos[rows[keep]] != photos[cols[keep]]
    rows, cols, lengths = rows[keep], cols[keep], lengths[keep]
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(count, count))
    _, component = connected_components(graph, directed=False)
    order = np.argsort(component, kind="stable")
    next_label = 0
    for members in np.split(order, np.flatnonzero(np.diff(component[order])) + 1):
        if len(members) < 2:
            continue
        if len(members) <= EXACT_LINKAGE_LIMIT:
            parts = _average_linkage(vectors[members], photos[members], link_distance, group_distance, growth)
        else:
            parts = np.full(len(members), -1, dtype=np.int64)
            ranked = np.argsort(members)
            for piece in _capped_pieces(members, rows, cols, lengths, EXACT_LINKAGE_LIMIT):
                if len(piece) < 2:
                    continue
                inner = _average_linkage(vectors[piece], photos[piece], link_distance, group_distance, growth)
                where = ranked[np.searchsorted(members[ranked], piece)]
                parts[where] = np.where(inner >= 0, inner + parts.max() + 1, -1)
        found = parts >= 0
        labels[members[found]] = parts[found] + next_label
        next_label = int(labels.max()) + 1
    return labels


def _average_linkage(vectors: np.ndarray, photos: np.ndarray, link_distance: float, group_distance: float,
                     growth: float) -> np.ndarray:
    """Exact average linkage of a few thousand faces, cut where a join is farther than the size of its
    smaller side allows (link_distance for one face, towards group_distance for many) or would put two
    faces of one photo together. Labels 0.. for groups of two or more, -1 for faces alone."""
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import pdist

    count = len(vectors)
    if count == 2:
        tree = np.array([[0, 1, float(np.linalg.norm(vectors[0] - vectors[1])), 2]])
    else:
        condensed = pdist(vectors.astype(np.float64))
        first, second = np.triu_indices(count, 1)
        same = photos[first] == photos[second]
        condensed[same] = SAME_PHOTO_DISTANCE  # a same-photo pair pulls every join it is part of apart
        tree = linkage(condensed, method="average")
    size = np.ones(2 * count - 1, dtype=np.int64)
    kept = np.ones(2 * count - 1, dtype=bool)
    parent = np.full(2 * count - 1, -1, dtype=np.int64)
    seen: list[set | None] = [{photo} for photo in photos.tolist()] + [None] * (count - 1)
    for row, (left, right, height, _) in enumerate(tree):
        left, right, node = int(left), int(right), count + row
        parent[left] = parent[right] = node
        size[node] = size[left] + size[right]
        smaller = min(size[left], size[right])
        allowed = group_distance - (group_distance - link_distance) / smaller ** growth
        kept[node] = bool(kept[left] and kept[right] and height <= allowed
                          and not (seen[left] & seen[right]))  # type: ignore[operator]
        if kept[node]:
            seen[node] = seen[left] | seen[right]  # type: ignore[operator]
    group = np.full(2 * count - 1, -1, dtype=np.int64)
    groups = 0
    for node in range(2 * count - 2, -1, -1):  # top down: each kept node joins its kept parent's group
        if kept[node]:
            if parent[node] >= 0 and kept[parent[node]]:
                group[node] = group[parent[node]]
            else:
                group[node], groups = groups, groups + 1
    labels = group[:count]
    return np.where(np.bincount(labels)[labels] > 1, labels, -1)


def _capped_pieces(members: np.ndarray, rows: np.ndarray, cols: np.ndarray, lengths: np.ndarray,
                   limit: int) -> list[np.ndarray]:
    """Split a component into pieces of at most `limit` faces by single linkage at ever shorter edges:
    a piece still too large at one length is split again at the next (a last one is cut into slices)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    inside = np.isin(rows, members)  # edges leave a component only within it: one end inside is enough
    rows, cols, lengths = rows[inside], cols[inside], lengths[inside]
    pending, pieces = [members], []
    for length in np.quantile(lengths, np.linspace(0.9, 0.0, 10)) if len(lengths) else []:
        still = []
        for part in pending:
            local = np.full(int(max(rows.max(), cols.max())) + 1, -1, dtype=np.int64)
            local[part] = np.arange(len(part))
            keep = (local[rows] >= 0) & (local[cols] >= 0) & (lengths <= length)
            graph = coo_matrix((np.ones(int(keep.sum())), (local[rows[keep]], local[cols[keep]])),
                               shape=(len(part), len(part)))
            _, piece_of = connected_components(graph, directed=False)
            order = np.argsort(piece_of, kind="stable")
            for piece in np.split(part[order], np.flatnonzero(np.diff(piece_of[order])) + 1):
                (pieces if len(piece) <= limit else still).append(piece)
        pending = still
        if not pending:
            break
    for part in pending:  # faces all nearer each other than the shortest length: slices will do
        pieces.extend(np.array_split(part, -(-len(part) // limit)))
    return pieces


def split_doubtful_groups(vectors: np.ndarray, labels: np.ndarray, ratio: float, max_size: int = 2,
                          neighbours: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Take apart each group of at most max_size faces that has another face nearly as close as its own.

    Two people seen once each, who happen to look alike, are a group of two just as a person seen
    twice is; what tells them apart is the company: in a crowd of similar faces the nearest is barely
    nearer than the next (Lowe's ratio test, for groups). A small group stays when the average distance
    between its faces is at most `ratio` x the distance from any of them to the nearest face outside it
    (from the k-NN graph `neighbours`); otherwise its faces are left alone.
    """
    if ratio <= 0:
        return labels
    clusters, counts = np.unique(labels[labels >= 0], return_counts=True)
    small = clusters[counts <= max_size]
    if len(small) == 0:
        return labels
    from clusterfaces.people.knn_hdbscan import knn_graph

    indices, distances = neighbours if neighbours is not None else knn_graph(vectors, max_size + 1)
    labels = labels.copy()
    members = np.flatnonzero(np.isin(labels, small))
    members = members[np.argsort(labels[members], kind="stable")]
    for group in np.split(members, np.flatnonzero(np.diff(labels[members])) + 1):
        inner = np.sqrt(np.clip(2.0 - 2.0 * (vectors[group] @ vectors[group].T), 0.0, None))
        average = inner[np.triu_indices(len(group), 1)].mean()
        outside = (indices[group] >= 0) & ~np.isin(indices[group], group)
        nearest = np.where(outside, distances[group], np.inf).min()
        if average > ratio * nearest:
            labels[group] = -1
    return labels


def merge_large_groups(vectors: np.ndarray, labels: np.ndarray, max_distance: float, min_size: int) -> np.ndarray:
    """Merge groups of at least min_size faces whose centres lie within max_distance (average linkage
    of centres): the halves of a person with many photos whose faces were never each other's k nearest
    neighbours (so in different components of the graph) still meet here."""
    found = labels >= 0
    if max_distance <= 0 or not found.any():
        return labels
    sizes = np.bincount(labels[found])
    large = found & (sizes[np.maximum(labels, 0)] >= min_size)
    merged = merge_close_clusters(vectors, np.where(large, labels, -1), max_distance)
    return np.where(large, merged, labels)


def attach_to_groups(vectors: np.ndarray, labels: np.ndarray, max_distance: float, min_size: int,
                     photo_ids: np.ndarray | None = None, reach: float = 0.0) -> np.ndarray:
    """Give a face left alone to the group of at least min_size faces whose centre is nearest, when
    within max_distance and clearly nearer than the next group's (attach_leftovers), unless that group
    already holds a face of its photo. A large group's centre is a steady estimate of the person: a
    face of theirs that average linkage left out (its average distance to the group counts the
    group's own spread) is within reach of the centre, a stranger rarely is."""
    found = labels >= 0
    if max_distance <= 0 or not found.any():
        return labels
    sizes = np.bincount(labels[found])
    large = np.where(found & (sizes[np.maximum(labels, 0)] >= min_size), labels, -1)
    attached = attach_leftovers(vectors, large, max_distance, reach)
    joined = np.flatnonzero(~found & (attached >= 0))
    if photo_ids is not None and len(joined):
        from collections import Counter

        photo_ids = np.asarray(photo_ids)
        taken = set(zip(labels[found].tolist(), photo_ids[found].tolist()))
        wanted = list(zip(attached[joined].tolist(), photo_ids[joined].tolist()))
        taken |= {pair for pair, count in Counter(wanted).items() if count > 1}  # two faces of a photo: neither
        joined = np.array([face for face, pair in zip(joined.tolist(), wanted) if pair not in taken], dtype=np.int64)
    labels = labels.copy()
    labels[joined] = attached[joined]
    return labels


def drop_small(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Groups smaller than min_size become faces alone."""
    found = labels >= 0
    if min_size <= 2 or not found.any():
        return labels
    sizes = np.bincount(labels[found])
    return np.where(found & (sizes[np.maximum(labels, 0)] >= min_size), labels, -1)


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
