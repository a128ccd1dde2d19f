"""The identity-continuity rules on generated vectors (no model, no scan): one rule a test, each on the
smallest library that shows it."""

import numpy as np

from clusterfaces.people.clustering import same_person_threshold
from clusterfaces.people.continuity import (
    drop_rejected,
    match_clusters_to_people,
    one_face_per_photo,
    people_from_clusters,
)
from clusterfaces.scan.edited_photos import match_faces
from clusterfaces.scan.faces import l2_normalise


def faces(count, dim=32, seed=0):
    """`count` unit vectors that are all alike: who is who comes from the labels the tests give."""
    rng = np.random.default_rng(seed)
    centre = l2_normalise(rng.normal(size=(1, dim)))
    return l2_normalise(centre + rng.normal(scale=0.01, size=(count, dim)))


def at_distance(vector, distance, seed=0):
    """A unit vector exactly `distance` (L2) from the unit `vector`."""
    rng = np.random.default_rng(seed)
    other = rng.normal(size=vector.shape)
    other = l2_normalise((other - (other @ vector) * vector)[None])[0]  # orthogonal to vector
    angle = 2 * np.arcsin(distance / 2)
    return np.cos(angle) * vector + np.sin(angle) * other


def test_a_cluster_continues_the_person_who_held_most_of_its_faces():
    # Cluster 0: three faces of person 20, one of person 10; cluster 1: two faces of 10, one of 20.
    labels = np.array([0, 0, 0, 0, 1, 1, 1])
    previous = np.array([20, 20, 20, 10, 10, 10, 20])
    assert match_clusters_to_people(labels, previous) == {0: 20, 1: 10}
    people, new = people_from_clusters(faces(7), labels, previous, np.zeros(7, bool))
    assert people.tolist() == [20, 20, 20, 20, 10, 10, 10]  # unconfirmed faces follow their cluster
    assert new == []


def test_each_person_continues_at_most_one_cluster_and_taken_people_none():
    labels = np.array([0, 0, 0, 1, 1])
    previous = np.array([10, 10, 10, 10, 10])  # one person the clustering now sees as two
    assert match_clusters_to_people(labels, previous) == {0: 10}
    assert match_clusters_to_people(labels, previous, taken={10}) == {}


def test_confirmed_faces_keep_their_person_wherever_the_clustering_puts_them():
    labels = np.array([0, 0, 0, 1, 1, 1, -1])
    previous = np.array([10, 10, 20, 20, 20, 10, 10])
    confirmed = np.array([False, False, True, False, False, True, True])
    people, new = people_from_clusters(faces(7), labels, previous, confirmed)
    assert people[[2, 5, 6]].tolist() == [20, 10, 10]  # in 10's cluster, in 20's cluster, in no cluster
    assert people[[0, 1, 3, 4]].tolist() == [10, 10, 20, 20] and new == []


def test_a_confirmed_face_pulls_in_its_own_persons_faces_and_new_ones_never_another_persons():
    # Cluster 1 continues person 30 (three faces) and holds a confirmed face of 10, an old face of 10,
    # a face of 20 (who continues in cluster 2) and a new face: only 10's own old face follows the confirmed one.
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2])
    previous = np.array([10, 10, 10, 30, 30, 30, 10, 10, 20, 0, 20, 20, 20])
    confirmed = np.zeros(13, bool)
    confirmed[6] = True
    people, new = people_from_clusters(faces(13), labels, previous, confirmed)
    assert people[[6, 7]].tolist() == [10, 10]  # the confirmed face and the face that was already 10's
    assert people[[8, 9]].tolist() == [30, 30]  # 20's face and the new face go with the cluster, not to 10
    # Cluster 2 continues nobody (10, 20 and 30 continue clusters 0, 1 and 3): the confirmed face of 30 takes
    # the new face, and leaves 20's face to 20.
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])
    previous = np.array([10, 10, 10, 20, 20, 20, 30, 0, 20, 30, 30, 30])
    confirmed = np.zeros(12, bool)
    confirmed[6] = True
    people, new = people_from_clusters(faces(12), labels, previous, confirmed)
    assert people[6:9].tolist() == [30, 30, 20] and new == []


def test_a_part_split_off_an_unconfirmed_person_becomes_a_new_person():
    labels = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    previous = np.array([10, 10, 10, 10, 10, 10, 10, 10])  # two or three people once glued together
    people, new = people_from_clusters(faces(8), labels, previous, np.zeros(8, bool))
    assert people.tolist() == [10, 10, 10, 10, -1, -1, -2, -2]  # the larger part keeps the id
    assert new == [1, 2]


def test_a_cluster_of_new_faces_is_a_new_person_and_noise_is_nobody():
    labels = np.array([0, 0, 1, 1, -1])
    previous = np.array([10, 10, 0, 0, 10])
    people, new = people_from_clusters(faces(5), labels, previous, np.zeros(5, bool))
    assert people.tolist() == [10, 10, -1, -1, 0] and new == [1]


def test_a_person_appears_at_most_once_in_a_photo():
    vectors = l2_normalise(np.array([[1, 0, 0], [1, 0.05, 0], [1, 0.6, 0], [1, 0, 0.01], [0, 1, 0]]))
    people = np.array([5, 5, 5, 5, 6])
    photos = np.array([1, 2, 2, 3, 2])  # faces 1 and 2 of person 5 share photo 2; person 6 is there too
    unconfirmed = np.zeros(5, bool)
    assert one_face_per_photo(vectors, people, photos, unconfirmed).tolist() == [5, 5, 0, 5, 6]  # the nearer stays
    confirmed = np.array([False, False, True, False, False])
    assert one_face_per_photo(vectors, people, photos, confirmed).tolist() == [5, 0, 5, 5, 6]  # the user's word wins
    assert people.tolist() == [5, 5, 5, 5, 6]  # the input is left as it was


def test_a_rejected_face_joins_nobody_even_when_its_cluster_says_otherwise():
    labels = np.array([0, 0, 0, 1, 1])
    previous = np.array([10, 10, 0, 20, 20])  # face 102 was rejected from 10: it has nobody now
    face_ids = np.array([100, 101, 102, 103, 104])
    people, _ = people_from_clusters(faces(5), labels, previous, np.zeros(5, bool))
    assert people[2] == 10  # the clustering puts it back with 10 ...
    rejected = {(102, 10), (100, 20)}  # ... the rejection is the user's word; a pair for another person is moot
    assert drop_rejected(face_ids, people, rejected).tolist() == [10, 10, 0, 20, 20]
    assert drop_rejected(face_ids, people, set()).tolist() == people.tolist()


def test_match_faces_keeps_a_face_within_the_distance_and_overlap_rule():
    threshold = same_person_threshold("Dlib")
    old_vector = l2_normalise(np.random.default_rng(3).normal(size=(1, 64)))[0]
    box = (100, 100, 50, 50)
    overlapping = (110, 100, 50, 50)  # IoU 0.67
    moved = (180, 100, 50, 50)  # IoU 0: a crop moved every box
    old = [(7, box, old_vector)]

    def matched(new_box, distance):
        return match_faces(old, [(new_box, at_distance(old_vector, distance))], "Dlib") == {0: 7}

    assert matched(overlapping, 0.9 * threshold)  # close enough, same place
    assert not matched(overlapping, 1.1 * threshold)  # same place, another person
    assert not matched(moved, 0.6 * threshold)  # moved: only a much closer face is the same face
    assert matched(moved, 0.4 * threshold)
    # Unknown model (no threshold): boxes alone decide.
    assert match_faces(old, [(overlapping, at_distance(old_vector, 1.5))], "no-such-model") == {0: 7}
    assert match_faces(old, [(moved, old_vector)], "no-such-model") == {}


def test_match_faces_pairs_closest_first_each_face_once():
    threshold = same_person_threshold("Dlib")
    a = l2_normalise(np.random.default_rng(4).normal(size=(1, 64)))[0]
    box = (100, 100, 50, 50)
    old = [(1, box, at_distance(a, 0.3 * threshold, seed=1)), (2, box, at_distance(a, 0.1 * threshold, seed=2))]
    new = [(box, a), (box, a)]  # two new faces both near both old ones: the closer old face goes to the first
    assert match_faces(old, new, "Dlib") == {0: 2, 1: 1}
    assert match_faces(old, new[:1], "Dlib") == {0: 2}
