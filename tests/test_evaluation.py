from clusterfaces.evaluation import bcubed, pairwise, true_identity


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
