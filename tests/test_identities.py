"""Identity continuity on generated vectors (no model): who each face belongs to after a re-clustering,
and which faces of an edited photo are the faces it showed before."""

import numpy as np
import pytest

from clusterfaces.people.continuity import match_clusters_to_people, people_from_clusters
from clusterfaces.scan.edited_photos import match_faces
from clusterfaces.scan.faces import l2_normalise


def library(sizes, seed=0, dim=64):
    """Faces of well-separated people: vectors, cluster labels (0, 1, ...) and person ids (10, 20, ...)."""
    rng = np.random.default_rng(seed)
    centres = l2_normalise(rng.normal(size=(len(sizes), dim)))
    vectors = np.vstack([centres[i] + rng.normal(scale=0.02, size=(n, dim)) for i, n in enumerate(sizes)])
    labels = np.repeat(np.arange(len(sizes)), sizes)
    return l2_normalise(vectors), labels, (labels + 1) * 10


def test_biden_moved_to_obama_leaves_every_other_face_where_it_was():
    """The issue's example: one of unnamed Biden's faces moved to named Obama, one of Obama's faces
    rejected, then a full re-clustering that finds the same two clusters."""
    vectors, labels, previous = library([14, 4])
    obama, biden = 10, 20
    confirmed = labels == 0  # Obama is named: naming confirms his faces
    moved, rejected = 15, 3
    previous, confirmed = previous.copy(), confirmed.copy()
    previous[moved], confirmed[moved] = obama, True
    previous[rejected], confirmed[rejected] = 0, False
    people, new = people_from_clusters(vectors, labels, previous, confirmed)
    assert people[moved] == obama
    assert (people[[14, 16, 17]] == biden).all()  # Biden keeps his id and his other three faces
    assert (people[np.r_[0:3, 4:14]] == obama).all()  # Obama keeps his id and every face
    assert people[rejected] == obama  # the clustering's answer: the stored rejection then drops it
    assert new == []


@pytest.mark.parametrize("seed", range(20))
def test_any_minority_of_moves_changes_only_the_moved_faces(seed):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 16, size=rng.integers(2, 8)).tolist()
    vectors, labels, original = library(sizes, seed)
    previous, confirmed = original.copy(), rng.random(len(labels)) < 0.3  # some faces confirmed by naming
    moved = {}
    for label, size in enumerate(sizes):  # fewer than half of each cluster's faces go to someone else
        members = np.flatnonzero(labels == label)
        for face in rng.choice(members, size=(size - 1) // 2, replace=False):
            target = int(rng.choice([p for p in set(original.tolist()) if p != original[face]]))
            previous[face], confirmed[face] = target, True
            moved[int(face)] = target
    people, new = people_from_clusters(vectors, labels, previous, confirmed)
    for face in range(len(labels)):
        assert people[face] == moved.get(face, original[face]), f"face {face}"
    assert new == []


def test_no_edits_no_change_and_new_faces_join_their_cluster():
    vectors, labels, previous = library([5, 3, 2])
    previous = previous.copy()
    previous[[4, 7]] = 0  # two faces embedded since the last re-clustering
    people, new = people_from_clusters(vectors, labels, previous, np.zeros(len(labels), bool))
    assert people.tolist() == library([5, 3, 2])[2].tolist() and new == []


def test_a_confirmed_face_pulls_in_only_new_faces_and_its_own():
    vectors, _, _ = library([13])
    # Cluster 1 holds person 10's confirmed face 0, one old face of 10's, new faces 6 and 7, and two faces
    # of person 20, whose other three faces make cluster 2; 10's other four faces make cluster 0.
    labels = np.array([1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2])
    previous = np.array([10, 10, 10, 10, 10, 10, 0, 0, 20, 20, 20, 20, 20])
    confirmed = np.zeros(13, bool)
    confirmed[0] = True
    people, new = people_from_clusters(vectors, labels, previous, confirmed)
    assert people.tolist() == [10] * 8 + [20] * 5  # 20 keeps both faces cluster 1 holds
    assert new == []


def test_an_unclaimed_cluster_of_new_faces_joins_the_person_confirmed_in_it():
    vectors, labels, _ = library([3, 3])
    previous = np.array([10, 10, 10, 20, 0, 0])
    confirmed = np.array([False, False, False, True, False, False])
    people, new = people_from_clusters(vectors, labels, previous, confirmed)
    assert people.tolist() == [10, 10, 10, 20, 20, 20] and new == []


def test_a_split_cluster_keeps_the_id_on_its_larger_part_and_noise_loses_unconfirmed_faces():
    vectors, labels, previous = library([6])
    labels = np.array([0, 0, 0, 0, 1, -1])
    confirmed = np.zeros(6, bool)
    people, new = people_from_clusters(vectors, labels, previous, confirmed)
    # Two people once glued together: the part split off is a person of its own, the larger keeps the id.
    assert people.tolist() == [10, 10, 10, 10, -1, 0]
    assert new == [1]
    confirmed[4] = confirmed[5] = True
    people, new = people_from_clusters(vectors, labels, previous, confirmed)
    assert people.tolist() == [10] * 6 and new == []  # confirmed faces stay, wherever the clustering puts them


def test_equal_overlaps_go_to_the_person_for_whom_they_are_everything():
    # Cluster 0 holds two faces of person 1 (all they have) and two of person 2; cluster 1 two of person 2.
    labels = np.array([0, 0, 0, 0, 1, 1])
    previous = np.array([1, 1, 2, 2, 2, 2])
    assert match_clusters_to_people(labels, previous) == {0: 1, 1: 2}


def test_an_edited_photo_keeps_the_faces_it_still_shows():
    rng = np.random.default_rng(1)
    a, b, c = l2_normalise(rng.normal(size=(3, 128)))
    near = lambda v: l2_normalise((v + rng.normal(scale=0.01, size=128))[None])[0]  # noqa: E731
    old = [(101, (100, 100, 50, 50), a), (102, (300, 100, 50, 50), b)]
    # The same photo cropped by 80 px: boxes moved, embeddings nearly the same; face b was cropped out
    # and an unknown face c appears where b was.
    new = [((20, 100, 50, 50), near(a)), ((300, 100, 50, 50), c)]
    assert match_faces(old, new, "Dlib") == {0: 101}
    # Unchanged boxes, re-encoded pixels: both faces matched.
    assert match_faces(old, [((100, 100, 50, 50), near(a)), ((300, 101, 50, 50), near(b))], "Dlib") == {0: 101,
                                                                                                       1: 102}
    assert match_faces([], new, "Dlib") == {} and match_faces(old, [], "Dlib") == {}
