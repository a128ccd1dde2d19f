"""Who a person or a face looks like: the nearest named people, from the centres of their faces."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clusterfaces.people.clustering import same_person_threshold
from clusterfaces.scan.faces import l2_normalise
from clusterfaces.store import Store


@dataclass(frozen=True)
class Suggestion:
    """A named person whose faces look like a face's or another person's."""

    person_id: int
    name: str
    distance: float  # between L2-normalised vectors: a face, or the centre of a person's faces
    likely: bool = False  # within the model's same-person distance


def centre(vectors: np.ndarray) -> np.ndarray:
    """The unit centre of a set of face vectors."""
    total = l2_normalise(np.asarray(vectors, dtype=np.float64)).sum(axis=0)
    return total / (np.linalg.norm(total) or 1.0)


class NamedCentres:
    """The unit centre of each named, not ignored person of a model. Reads the embeddings of those
    people's faces only; keep one for many questions (a naming session, a review page)."""

    def __init__(self, store: Store, model: str) -> None:
        self.model = model
        self.threshold = same_person_threshold(model)
        named = {p.id: p.name for p in store.people(model) if p.name and not p.ignored}
        embeddings = store.person_embeddings(named)
        self.ids = np.asarray(sorted(embeddings), dtype=np.int64)
        self.names = [named[int(pid)] for pid in self.ids]
        dim = next(iter(embeddings.values())).shape[1] if embeddings else 0
        self.centres = (np.vstack([centre(embeddings[int(pid)]) for pid in self.ids]) if embeddings
                        else np.zeros((0, dim)))

    def nearest(self, vector: np.ndarray, k: int = 3, besides: int = 0) -> list[Suggestion]:
        """The k named people nearest to a unit vector, nearest first (not the person `besides`)."""
        if not len(self.ids):
            return []
        distances = np.linalg.norm(self.centres - np.asarray(vector, dtype=np.float64), axis=1)
        order = [i for i in np.argsort(distances, kind="stable") if self.ids[i] != besides][:k]
        return [Suggestion(int(self.ids[i]), self.names[i], float(distances[i]),
                           bool(self.threshold and distances[i] < self.threshold)) for i in order]


def nearest_named_person(store: Store, centres: NamedCentres, person_id: int) -> Suggestion | None:
    """The named person nearest to this one, if nearer than the model's same-person distance."""
    vectors = store.person_embeddings([person_id]).get(person_id)
    if vectors is None:
        return None
    found = centres.nearest(centre(vectors), k=1, besides=person_id)
    return found[0] if found and found[0].distance < centres.threshold else None
