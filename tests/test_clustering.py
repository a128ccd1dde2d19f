"""Clustering on generated unit vectors: the post-processing rules, ordering and edge cases."""

import numpy as np
import pytest

from clusterfaces.people.cluster_centres import attach_leftovers, merge_close_clusters, order_by_size
from clusterfaces.people.clustering import (
    ClusterSettings,
    adaptive_min_cluster_size,
    cluster_embeddings,
    same_person_threshold,
)
from clusterfaces.scan.faces import l2_normalise


def people(counts, spread=0.05, dim=128, seed=0):
    rng = np.random.default_rng(seed)
    centres = l2_normalise(rng.normal(size=(len(counts), dim)))
    vectors, truth = [], []
    for person, count in enumerate(counts):
        vectors.append(centres[person] + rng.normal(scale=spread / np.sqrt(dim), size=(count, dim)))
        truth += [person] * count
    return l2_normalise(np.vstack(vectors)), np.asarray(truth)


def test_well_separated_people_are_found_largest_first():
    vectors, truth = people([30, 12, 5, 2])
    labels = cluster_embeddings(vectors, ClusterSettings(), "Dlib")
    assert labels.max() == 3
    for person in range(4):
        assert len(set(labels[truth == person])) == 1  # each person in one cluster
    assert (labels[truth == 0] == 0).all() and (labels[truth == 3] == 3).all()  # largest is 0


def test_tiny_inputs_are_left_unclustered():
    assert cluster_embeddings(np.zeros((0, 128), np.float32), ClusterSettings(), "Dlib").shape == (0,)
    single = l2_normalise(np.ones((1, 128)))
    assert cluster_embeddings(single, ClusterSettings(), "Dlib").tolist() == [-1]


def test_order_by_size_keeps_noise():
    assert order_by_size(np.array([5, 5, -1, 2, 2, 2])).tolist() == [1, 1, -1, 0, 0, 0]


def test_attach_only_close_and_unambiguous_leftovers():
    a, b = np.eye(4)[0], np.eye(4)[1]
    vectors = l2_normalise(np.vstack([a, a, b, b, a + 0.05 * b, a + b, -a]))
    labels = np.array([0, 0, 1, 1, -1, -1, -1])
    attached = attach_leftovers(vectors, labels, max_distance=0.3)
    assert attached[4] == 0  # close to a
    assert attached[5] == -1  # halfway between a and b: ambiguous
    assert attached[6] == -1  # far from everyone
    assert attach_leftovers(vectors, labels, 0.0).tolist() == labels.tolist()  # 0 turns it off


def test_merge_joins_only_clusters_with_close_centres():
    a, b = np.eye(4)[0], np.eye(4)[1]
    vectors = l2_normalise(np.vstack([a, a + 0.02 * b, a + 0.04 * b, b, b]))
    labels = np.array([0, 0, 1, 2, 2])
    merged = merge_close_clusters(vectors, labels, max_distance=0.2)
    assert merged[0] == merged[2]
    assert merged[3] != merged[0]


def test_settings_resolve_from_library_size_and_model():
    assert adaptive_min_cluster_size(50) == 2
    assert adaptive_min_cluster_size(5000) == 3
    assert adaptive_min_cluster_size(50000) == 5
    resolved = ClusterSettings(algorithm="hdbscan").resolved(100, "Dlib")
    assert resolved.min_cluster_size == 2
    assert resolved.attach_distance == pytest.approx(0.95 * 0.40)
    assert resolved.merge_distance == pytest.approx(0.75 * 0.40)
    from clusterfaces.people.calibration import from_threshold

    linkage = ClusterSettings().resolved(50000, "Dlib")  # without a calibration: what the model's threshold implies
    assert linkage.min_cluster_size == 2
    assert linkage.link_distance == from_threshold("Dlib", 50000).link_distance
    assert linkage.group_distance == from_threshold("Dlib", 50000).group_distance
    assert 0.25 < linkage.link_distance < linkage.group_distance < 0.40
    from clusterfaces.people.calibration import Calibration

    measured = Calibration(0.3, 0.35, 0.31, "same-photo pairs", 500, 0.52, 0.07)
    calibrated = ClusterSettings().resolved(100, "Dlib", measured)
    assert (calibrated.link_distance, calibrated.group_distance, calibrated.attach_distance) == (0.3, 0.35, 0.31)
    assert calibrated.distances_from == "same-photo pairs"
    assert ClusterSettings(link_distance=0.2).resolved(100, "Dlib", measured).link_distance == 0.2
    assert ClusterSettings(algorithm="hdbscan").resolved(100, "Dlib", measured).attach_distance == pytest.approx(0.38)
    assert same_person_threshold("Facenet512") > 0
    assert ClusterSettings(min_cluster_size=7, attach_distance=0.1).resolved(100, "Dlib").min_cluster_size == 7


def test_a_person_appears_once_per_photo():
    from clusterfaces.people.continuity import one_face_per_photo

    centre = l2_normalise(np.eye(4)[:1])
    vectors = l2_normalise(np.vstack([centre, centre + 0.01, centre + 0.3 * np.eye(4)[1], centre + 0.2]))
    people = np.array([5, 5, 5, 5])
    photos = np.array([1, 2, 2, 3])
    kept = one_face_per_photo(vectors, people, photos, np.zeros(4, bool))
    assert kept.tolist() == [5, 5, 0, 5]  # the farther of the two faces in photo 2 is let go
    confirmed = np.array([False, False, True, False])
    assert one_face_per_photo(vectors, people, photos, confirmed).tolist() == [5, 0, 5, 5]  # the user's word wins


def _with_strangers(counts, strangers, seed=0, dim=128, noise=0.25):
    """People of realistic spread (pairwise ~0.35; noise 0.18: ~0.25, Dlib's median on LFW) among one-off
    strangers (~0.85 from anyone)."""
    rng = np.random.default_rng(seed)
    base = l2_normalise(rng.normal(size=(1, dim)))
    centres = l2_normalise(base + 0.66 * rng.normal(size=(len(counts) + strangers, dim)) / np.sqrt(dim))
    owners = np.concatenate([np.repeat(np.arange(len(counts)), counts), len(counts) + np.arange(strangers)])
    vectors = l2_normalise(centres[owners] + rng.normal(scale=noise / np.sqrt(dim), size=(len(owners), dim)))
    return vectors.astype(np.float32), np.where(owners < len(counts), owners, -1)


def test_graph_hdbscan_finds_the_same_people_as_exact_hdbscan():
    from sklearn.metrics import adjusted_rand_score

    vectors, truth = _with_strangers([60, 40, 25, 25, 12, 8, 5, 3], strangers=40)
    people_only = truth >= 0
    results = {}
    for algorithm in ("exact", "knn"):
        labels = cluster_embeddings(vectors, ClusterSettings(algorithm=algorithm), "Dlib")
        results[algorithm] = labels
        assert adjusted_rand_score(truth[people_only], labels[people_only]) == 1.0
        # No person shares a cluster with a stranger's face... or another person.
        for cluster in set(labels[people_only].tolist()):
            assert len(set(truth[labels == cluster].tolist()) - {-1}) == 1
    assert (results["knn"][people_only] >= 0).all()


def test_graph_hdbscan_handles_duplicates_and_disconnected_pieces():
    from clusterfaces.people.knn_hdbscan import knn_graph, knn_hdbscan

    vectors, truth = _with_strangers([30, 30, 30], strangers=0)
    vectors = np.vstack([vectors, vectors[:5]])  # exact duplicates: distance 0 must still be an edge
    indices, distances = knn_graph(vectors, 15)
    assert indices.shape == (95, 15) and (indices != np.arange(95)[:, None]).all()
    labels = knn_hdbscan(vectors, 3, 1, "eom", 0.0)
    truth = np.concatenate([truth, truth[:5]])
    assert len(set(labels.tolist())) == 3 and (labels >= 0).all()
    for person in range(3):  # each person is a piece of the 15-NN graph of its own
        assert len(set(labels[truth == person].tolist())) == 1


def test_merge_is_average_linkage_within_groups_of_close_centres():
    from scipy.cluster.hierarchy import fcluster, linkage

    from clusterfaces.people.cluster_centres import centres_of

    rng = np.random.default_rng(3)
    vectors = l2_normalise(rng.normal(size=(400, 8)))
    labels = rng.integers(0, 120, 400)
    merged = merge_close_clusters(vectors, labels, max_distance=0.6)
    clusters = np.unique(labels)
    reference = fcluster(linkage(centres_of(vectors, labels, clusters), method="average"), t=0.6, criterion="distance")
    ours = {int(c): int(m) for c, m in zip(labels, merged)}
    # The same partition of clusters as plain average linkage over all centres.
    pairs = [(i, j) for i in range(len(clusters)) for j in range(i + 1, len(clusters))]
    assert all((reference[i] == reference[j]) == (ours[clusters[i]] == ours[clusters[j]]) for i, j in pairs)
    assert len(set(ours.values())) < len(clusters)  # the case has merges to get right


def test_graph_index_path_finds_the_people(monkeypatch):
    """The large-library path (HNSW graph index) on a small case, by lowering the size at which it starts."""
    from sklearn.metrics import adjusted_rand_score

    from clusterfaces.people import knn_hdbscan

    monkeypatch.setattr(knn_hdbscan, "EXACT_SEARCH_LIMIT", 10)
    vectors, truth = _with_strangers([50, 40, 30, 20, 10], strangers=30)
    indices, distances = knn_hdbscan.knn_graph(vectors, 15)
    exact = np.sqrt(((vectors[:, None, :] - vectors[None, :, :]) ** 2).sum(axis=2))
    np.testing.assert_allclose(distances, np.take_along_axis(exact, indices, 1), atol=1e-5)
    assert (np.diff(distances, axis=1) >= -1e-6).all()  # nearest first
    true_nearest = np.argsort(exact, axis=1)[:, 1:16]
    recall = np.mean([len(set(a) & set(b)) / 15 for a, b in zip(indices.tolist(), true_nearest.tolist())])
    assert recall > 0.9
    labels = cluster_embeddings(vectors, ClusterSettings(algorithm="knn"), "Dlib")
    people_only = truth >= 0
    assert adjusted_rand_score(truth[people_only], labels[people_only]) == 1.0


def test_a_face_hanging_off_the_wrong_person_is_detached_and_attached_to_its_own():
    from clusterfaces.people.cluster_centres import detach_strays

    vectors, truth = _with_strangers([20, 20], strangers=0)
    labels = truth.copy()
    labels[5] = 1  # one of person 0's faces was put with person 1
    labels[30] = -1  # and one of person 1's faces was left out
    detached = detach_strays(vectors, labels, max_distance=0.40)
    assert detached[5] == -1  # far from person 1's centre and nearer to person 0's
    assert (detached[np.arange(40) != 5] == labels[np.arange(40) != 5]).all()  # nobody else moves
    assert attach_leftovers(vectors, detached, 0.38)[5] == 0
    assert detach_strays(vectors, labels, 0.0).tolist() == labels.tolist()  # 0 turns it off


def test_two_faces_of_one_photo_are_never_one_person():
    vectors, truth = _with_strangers([10, 10], strangers=0, noise=0.18)
    vectors[3] = vectors[2]  # two identical faces...
    photos = np.arange(20)
    photos[3] = photos[2]  # ...in one photo: a twin, a mirror, a poster; still two people
    labels = cluster_embeddings(vectors, ClusterSettings(doubt_ratio=0), "Dlib", photos)
    assert labels[2] != labels[3] or labels[2] == -1
    assert (labels >= 0).all() and not set(labels[truth == 0]) & set(labels[truth == 1])  # the rest is grouped
    assert cluster_embeddings(vectors, ClusterSettings(), "Dlib")[2] == cluster_embeddings(
        vectors, ClusterSettings(), "Dlib")[3]  # without photo ids they are put together


def test_large_groups_join_farther_than_single_faces():
    from clusterfaces.people.clustering import linkage_clusters, merge_large_groups
    from clusterfaces.people.knn_hdbscan import knn_graph

    rng = np.random.default_rng(1)
    dim = 128
    a, b = l2_normalise(rng.normal(size=(2, dim)))[:, None, :]
    near_a = l2_normalise(a)  # two halves of one person, centres some way apart
    near_b = l2_normalise(a + 0.25 * (b - a))
    halves = [l2_normalise(c + rng.normal(scale=0.2 / np.sqrt(dim), size=(20, dim))) for c in (near_a, near_b)]
    vectors = np.vstack(halves).astype(np.float32)
    spread = np.linalg.norm(vectors[:20, None] - vectors[None, 20:], axis=2).mean()
    # A join of two single faces at that distance is refused, one of two groups of 20 allowed.
    labels = linkage_clusters(vectors, None, link_distance=spread - 0.05, group_distance=spread + 0.02,
                              graph=knn_graph(vectors, 30))  # enough neighbours to see the other half
    assert len(set(labels.tolist())) == 1 and labels[0] >= 0
    separate = linkage_clusters(vectors, None, link_distance=spread - 0.05, group_distance=spread - 0.05)
    assert len(set(separate.tolist()) - {-1}) >= 2
    # With 15 neighbours each half only sees itself; the merge of large groups by their centres joins them.
    apart = linkage_clusters(vectors, None, link_distance=spread - 0.05, group_distance=spread + 0.02)
    assert len(set(apart.tolist()) - {-1}) == 2
    centres = np.linalg.norm(vectors[:20].mean(0) / np.linalg.norm(vectors[:20].mean(0))
                             - vectors[20:].mean(0) / np.linalg.norm(vectors[20:].mean(0)))
    assert len(set(merge_large_groups(vectors, apart, centres + 0.01, 5).tolist())) == 1
    assert len(set(merge_large_groups(vectors, apart, centres - 0.01, 5).tolist())) == 2
    assert len(set(merge_large_groups(vectors, apart, centres + 0.01, 21).tolist())) == 2  # too small to merge


def test_a_pair_in_a_crowd_of_look_alikes_is_taken_apart():
    from clusterfaces.people.clustering import split_doubtful_groups

    rng = np.random.default_rng(2)
    dim = 64
    base = l2_normalise(rng.normal(size=(1, dim)))
    crowd = l2_normalise(base + 0.35 * rng.normal(size=(12, dim)) / np.sqrt(dim))  # strangers, all alike
    twin = l2_normalise(rng.normal(size=(1, dim)))  # a person seen twice, alone in that part of the space
    pair = l2_normalise(twin + 0.3 * rng.normal(size=(2, dim)) / np.sqrt(dim))
    vectors = np.vstack([crowd, pair]).astype(np.float32)
    labels = np.full(14, -1)
    nearest = np.argsort(np.linalg.norm(crowd[0] - crowd, axis=1))[1]
    labels[[0, nearest]] = 0  # two strangers of the crowd put together
    labels[[12, 13]] = 1
    split = split_doubtful_groups(vectors, labels, 0.9)
    assert (split[[0, nearest]] == -1).all()
    assert (split[[12, 13]] == 1).all()
    assert split_doubtful_groups(vectors, labels, 0.0).tolist() == labels.tolist()  # 0 turns it off


def test_a_component_too_large_for_exact_linkage_is_linked_in_pieces(monkeypatch):
    from sklearn.metrics import adjusted_rand_score

    from clusterfaces.people import clustering

    vectors, truth = _with_strangers([60, 40, 25, 25, 12, 8, 5, 3], strangers=40, noise=0.18)
    exact = cluster_embeddings(vectors, ClusterSettings(), "Dlib")
    monkeypatch.setattr(clustering, "EXACT_LINKAGE_LIMIT", 50)
    pieces = cluster_embeddings(vectors, ClusterSettings(), "Dlib")
    people_only = truth >= 0
    assert adjusted_rand_score(truth[people_only], pieces[people_only]) == 1.0
    assert adjusted_rand_score(exact, pieces) == 1.0


def test_min_cluster_size_drops_smaller_groups():
    from clusterfaces.people.clustering import drop_small

    labels = np.array([0, 0, 0, 1, 1, -1, 2, 2, 2, 2])
    assert drop_small(labels, 3).tolist() == [0, 0, 0, -1, -1, -1, 2, 2, 2, 2]
    assert drop_small(labels, 2).tolist() == labels.tolist()


def test_linkage_finds_the_people_among_strangers():
    from sklearn.metrics import adjusted_rand_score

    vectors, truth = _with_strangers([60, 40, 25, 25, 12, 8, 5, 3], strangers=40, noise=0.18)
    labels = cluster_embeddings(vectors, ClusterSettings(), "Dlib")
    people_only = truth >= 0
    assert adjusted_rand_score(truth[people_only], labels[people_only]) == 1.0
    assert (labels[~people_only] == -1).all()  # every stranger is left alone


def test_attach_in_small_blocks_gives_the_same_answer(monkeypatch):
    """attach_leftovers bounds its faces x centres block by the number of centres; blocks change no answer."""
    from clusterfaces.people import cluster_centres

    vectors, truth = _with_strangers([12] * 40, strangers=200, noise=0.3)
    labels = np.where(np.random.default_rng(1).random(len(truth)) < 0.2, -1, truth)
    whole = attach_leftovers(vectors, labels, 0.5)
    monkeypatch.setattr(cluster_centres, "BLOCK_CELLS", 40)  # 64 faces (the smallest block) at a time
    assert attach_leftovers(vectors, labels, 0.5).tolist() == whole.tolist()
    assert (whole[labels < 0] >= 0).sum() > 64  # the case spans several blocks of attached faces


def test_a_leftover_joins_only_within_the_groups_own_reach():
    """reach: a face beyond 1.2 x the distance from a group's centre to its farthest face stays alone,
    however close that is in absolute terms; 0 turns the rule off."""
    rng = np.random.default_rng(3)
    a, b = np.eye(16)[0], np.eye(16)[1]
    tight = l2_normalise(a + 0.02 * rng.normal(size=(8, 16)))  # one person photographed alike: radius ~0.05
    centre = l2_normalise(tight.mean(axis=0, keepdims=True))[0]
    radius = np.linalg.norm(tight - centre, axis=1).max()
    inside = l2_normalise((centre + 1.0 * radius * b)[None])  # about one radius from the centre
    beyond = l2_normalise((centre + 2.5 * radius * b)[None])  # 2.5 radii out, still well within max_distance
    vectors = np.vstack([tight, inside, beyond])
    labels = np.array([0] * 8 + [-1, -1])
    assert np.linalg.norm(vectors[9] - centre) < 0.3
    assert attach_leftovers(vectors, labels, 0.3, reach=1.2)[8:].tolist() == [0, -1]
    assert attach_leftovers(vectors, labels, 0.3)[8:].tolist() == [0, 0]  # reach 0: distance alone decides
