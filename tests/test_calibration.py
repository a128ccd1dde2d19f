"""Calibration on generated libraries: distances from same-photo pairs, for any model, and the fallbacks."""

import numpy as np
import pytest

from clusterfaces.people.calibration import (
    LINK_SCALE,
    MEDIAN_PER_THRESHOLD,
    MIN_PAIRS,
    REFERENCE_FACES,
    SIZE_LIMIT,
    calibrate,
    same_photo_distances,
    size_adjustment,
)
from clusterfaces.people.clustering import ClusterSettings, cluster_embeddings, same_person_threshold
from clusterfaces.scan.faces import l2_normalise


def library(people=60, faces=6, dim=64, spread=0.2, separation=0.5, group_photos=80, seed=0):
    """A generated library like a face model's: `people` identities of `faces` each, their centres
    scattered `separation` around one face (different people ~0.7 apart for the defaults), each face
    `spread` from its centre (~0.3 from another face of the same person); some faces are put in group
    photos of 2-4 different people, the others are portraits. Returns (vectors, identity, photo id)."""
    rng = np.random.default_rng(seed)
    base = l2_normalise(rng.normal(size=(1, dim)))
    centres = l2_normalise(base + separation * rng.normal(size=(people, dim)) / np.sqrt(dim))
    identity = np.repeat(np.arange(people), faces)
    vectors = l2_normalise(centres[identity] + rng.normal(scale=spread / np.sqrt(dim), size=(len(identity), dim)))
    photo = np.arange(len(identity)) + 10_000  # portraits
    by_person = {p: list(np.flatnonzero(identity == p)) for p in range(people)}
    for number in range(group_photos):
        for person in rng.choice(people, size=rng.integers(2, 5), replace=False):
            if by_person[person]:
                photo[by_person[person].pop()] = number
    return vectors.astype(np.float32), identity, photo


def test_same_photo_pairs_are_every_two_faces_of_a_photo():
    vectors = l2_normalise(np.eye(4)[[0, 1, 2, 3, 0]].astype(np.float32))
    distances = same_photo_distances(vectors, np.array([7, 7, 7, 8, 9]))
    assert sorted(distances.tolist()) == pytest.approx([2 ** 0.5] * 3)  # (0,1), (0,2), (1,2) of photo 7


def test_calibration_comes_from_the_libraries_own_different_person_pairs():
    vectors, identity, photo = library()
    calibration = calibrate(vectors, photo, "SomeNewModel")
    assert calibration.source == "same-photo pairs" and calibration.pairs >= MIN_PAIRS
    assert 0 < calibration.link_distance <= calibration.group_distance < calibration.median
    # The joining distance sits below nearly every different-person distance and above most same-person ones.
    distances = np.sqrt(np.clip(2 - 2 * vectors @ vectors.T, 0, None))
    same = identity[:, None] == identity[None, :]
    upper = np.triu(np.ones_like(same), 1)
    assert (distances[~same & upper] < calibration.link_distance).mean() < 0.005
    assert (distances[same & upper] < calibration.group_distance).mean() > 0.8


def test_calibration_follows_the_scale_of_the_model():
    """A second 'model' whose faces of different people lie farther apart gets longer distances."""
    near = calibrate(*library()[::2], "ModelA")
    far = calibrate(*library(separation=0.9, spread=0.35)[::2], "ModelB")
    assert far.median > near.median + 0.1
    assert far.link_distance > near.link_distance + 0.05


def test_a_model_without_a_published_threshold_just_works():
    vectors, identity, photo = library()
    assert same_person_threshold("SomeNewModel") == 0
    labels = cluster_embeddings(vectors, ClusterSettings(), "SomeNewModel", photo)
    from clusterfaces.people.evaluation import bcubed

    scores = bcubed(identity.tolist(), labels.tolist())
    # Generated identities are sometimes closer than real ones: a person or two may be glued, no more.
    assert scores.precision >= 0.9 and scores.recall >= 0.95, scores
    for number in np.unique(photo[photo < 10_000]):  # faces of one photo are never one person
        found = labels[photo == number]
        assert len(set(found[found >= 0].tolist())) == int((found >= 0).sum())


@pytest.mark.parametrize("model, source", [("Dlib", "model threshold"), ("SomeNewModel", "random pairs")])
def test_fallbacks_when_a_library_has_few_same_photo_pairs(model, source):
    vectors, _, photo = library(group_photos=3)
    calibration = calibrate(vectors, photo, model)
    assert calibration.source == source
    if source == "random pairs":
        # Random pairs hold same-person pairs too: the distances come out no longer than the pairs' own.
        rich = calibrate(*library()[::2], model)
        assert 0 < calibration.link_distance <= rich.link_distance + 0.01
    else:
        implied = MEDIAN_PER_THRESHOLD * same_person_threshold("Dlib")
        assert calibration.median == pytest.approx(implied, abs=1e-4)
        scale = LINK_SCALE + size_adjustment(len(vectors))
        assert calibration.link_distance == pytest.approx(scale * implied, abs=1e-3)
    assert calibrate(vectors, None, model).source == source


def test_larger_libraries_join_at_shorter_distances():
    assert size_adjustment(REFERENCE_FACES) == 0
    assert size_adjustment(500) > size_adjustment(5_000) > 0 > size_adjustment(50_000) > size_adjustment(500_000)
    assert size_adjustment(1) == SIZE_LIMIT and size_adjustment(10**9) == -SIZE_LIMIT
    vectors, _, photo = library()
    small, large = calibrate(vectors[:200], photo[:200], "Dlib"), calibrate(vectors, photo, "Dlib")
    assert small.link_distance > large.link_distance
