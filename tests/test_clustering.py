"""Clustering on generated unit vectors: the post-processing rules, ordering and edge cases."""

import numpy as np
import pytest

from clusterfaces.clustering import (
    ClusterSettings,
    adaptive_min_cluster_size,
    attach_leftovers,
    cluster_embeddings,
    merge_close_clusters,
    order_by_size,
    same_person_threshold,
)
from clusterfaces.faces import l2_normalise


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
    resolved = ClusterSettings().resolved(100, "Dlib")
    assert resolved.min_cluster_size == 2
    assert resolved.attach_distance == pytest.approx(0.95 * 0.40)
    assert resolved.merge_distance == pytest.approx(0.75 * 0.40)
    assert same_person_threshold("Facenet512") > 0
    assert ClusterSettings(min_cluster_size=7, attach_distance=0.1).resolved(100, "Dlib").min_cluster_size == 7


def test_a_person_appears_once_per_photo():
    from clusterfaces.identities import one_face_per_photo

    centre = l2_normalise(np.eye(4)[:1])
    vectors = l2_normalise(np.vstack([centre, centre + 0.01, centre + 0.3 * np.eye(4)[1], centre + 0.2]))
    people = np.array([5, 5, 5, 5])
    photos = np.array([1, 2, 2, 3])
    kept = one_face_per_photo(vectors, people, photos, np.zeros(4, bool))
    assert kept.tolist() == [5, 5, 0, 5]  # the farther of the two faces in photo 2 is let go
    confirmed = np.array([False, False, True, False])
    assert one_face_per_photo(vectors, people, photos, confirmed).tolist() == [5, 0, 5, 5]  # the user's word wins
