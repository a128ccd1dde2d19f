"""Which faces of an edited photo (new pixels at a known path) are faces it showed before."""

from __future__ import annotations

import numpy as np

from clusterfaces.boxes import box_overlap
from clusterfaces.scan.faces import same_person_threshold


def match_faces(old: list[tuple[int, tuple[int, int, int, int], np.ndarray]],
                new: list[tuple[tuple[int, int, int, int], np.ndarray]], model: str) -> dict[int, int]:
    """The faces of an edited photo (new pixels) that are faces it showed before: new index -> old face id.

    A pair matches when the embeddings are within the model's same-person distance and the boxes
    overlap (IoU >= 0.5), or, for a crop or a resize that moved every box, the embeddings are within half
    that distance. Closest pairs first, each face at most once.
    """
    if not old or not new:
        return {}
    threshold = same_person_threshold(model)
    unit = lambda v: np.asarray(v, dtype=np.float64) / (np.linalg.norm(v) or 1.0)  # noqa: E731
    pairs = []
    for index, (box, vector) in enumerate(new):
        for face, old_box, old_vector in old:
            distance = float(np.linalg.norm(unit(vector) - unit(old_vector)))
            overlap = box_overlap(box, old_box)
            if threshold <= 0:
                good = overlap >= 0.5
            else:
                good = distance <= threshold and (overlap >= 0.5 or distance <= threshold / 2)
            if good:
                pairs.append((distance, -overlap, index, face))
    kept: dict[int, int] = {}
    for _, _, index, face in sorted(pairs):
        if index not in kept and face not in kept.values():
            kept[index] = face
    return kept
