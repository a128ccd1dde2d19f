from clusterfaces.people.evaluation import bcubed, pairwise, true_identity
from clusterfaces.store import FacePlace


def test_perfect_clustering_scores_one():
    truth = ["a", "a", "b", "b", "b"]
    assert bcubed(truth, [0, 0, 1, 1, 1]).f1 == 1.0
    assert pairwise(truth, [0, 0, 1, 1, 1]).f1 == 1.0


def test_merging_two_people_costs_precision_not_recall():
    truth = ["a", "a", "b", "b"]
    scores = bcubed(truth, [0, 0, 0, 0])
    assert scores.recall == 1.0
    assert scores.precision == 0.5
    assert pairwise(truth, [0, 0, 0, 0]).precision == 2 / 6


def test_unclustered_faces_are_singletons():
    truth = ["a", "a", "a", "a"]
    scores = bcubed(truth, [-1, -1, -1, -1])
    assert scores.precision == 1.0
    assert scores.recall == 0.25
    assert pairwise(truth, [-1, -1, -1, -1]).recall == 0.0


def test_identity_by_box_overlap_or_single_person(tmp_path):
    labels = {"photos": {"a.jpg": ["x"], "g.jpg": ["x", "y"]},
              "faces": {"g.jpg": [{"identity": "x", "box": [0, 0, 10, 10]}, {"identity": "y", "box": [50, 0, 10, 10]}]}}
    assert true_identity(labels, tmp_path, tmp_path / "a.jpg", (1, 1, 5, 5), 1) == "x"
    assert true_identity(labels, tmp_path, tmp_path / "a.jpg", (1, 1, 5, 5), 2) is None
    assert true_identity(labels, tmp_path, tmp_path / "g.jpg", (51, 1, 9, 9), 2) == "y"
    assert true_identity(labels, tmp_path, tmp_path / "g.jpg", (200, 200, 9, 9), 2) is None


def test_labelled_boxes_go_to_one_face_each_and_missed_faces_are_listed(tmp_path):
    from clusterfaces.people.evaluation import match_labelled_faces

    labels = {"photos": {"a/1.jpg": ["x"], "a/2.jpg": ["y"], "b/3.jpg": ["z"], "b/4.jpg": ["w"], "g.jpg": ["x", "y"]},
              "faces": {"a/1.jpg": [{"identity": "x", "box": [10, 10, 50, 50]}],
                        "a/2.jpg": [{"identity": "y", "box": [10, 10, 50, 50]}]}}
    boxes = {1: FacePlace(tmp_path / "a/1.jpg", (12, 12, 50, 50)), 2: FacePlace(tmp_path / "a/1.jpg", (14, 14, 50, 50)),
             3: FacePlace(tmp_path / "a/2.jpg", (200, 200, 40, 40)), 4: FacePlace(tmp_path / "b/3.jpg", (0, 0, 30, 30)),
             5: FacePlace(tmp_path / "g.jpg", (0, 0, 30, 30)), 6: FacePlace(tmp_path / "g.jpg", (50, 0, 30, 30))}
    truth, missed = match_labelled_faces(labels, tmp_path, boxes, [1, 2, 3, 4, 5, 6])
    assert truth == ["x", None, None, "z", None, None]  # the better overlap only; far box; no boxes: one face
    assert missed == ["w", "y"]  # a photo with no face, a box no face overlaps; g.jpg cannot be told


def test_quality_counts_strangers_put_with_somebody_and_mixed_people():
    from clusterfaces.people.evaluation import quality

    truth = ["a", "a", "b", "c", None, "d", "e"]  # b, c, d, e seen once; None: a bystander
    labels = [0, 0, 0, 1, 1, 2, -1]  # b joins a's person; c put with the bystander; d alone in a group
    score = quality(truth, labels, missed=["a", "f"])
    assert score.seen_once == 5  # b, c, d, e and f (missed: a person of its own)
    assert score.seen_once_joined == 2 / 5  # b and c; d's group holds only d
    assert score.mixed_people == 1 and score.people_found == 3
    assert score.people_true == 6
    assert score.bcubed.precision < 1 and score.unclustered == 3 / 8  # e, and the two missed faces
