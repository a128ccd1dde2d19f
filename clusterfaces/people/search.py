"""Who is this, where else are they, is it the same person: queries against a library's faces (no printing)."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clusterfaces.errors import ClusterfacesError
from clusterfaces.images import DEFAULT_MAX_SIDE
from clusterfaces.people.calibration import Calibration, calibrate, from_threshold
from clusterfaces.people.cluster_centres import ATTACH_MARGIN
from clusterfaces.people.clustering import ClusterSettings
from clusterfaces.people.face_index import FaceIndex, unit_distances
from clusterfaces.people.query_faces import QueryEmbedder, QueryFace
from clusterfaces.scan.faces import l2_normalise
from clusterfaces.store import FacePlace, Store

SAME, MAYBE, UNKNOWN = "same person", "maybe", "unknown"
# "maybe" reaches this much farther than the library's same-person distance (Dlib on faces/dev: the
# calibrated 0.384 -> 0.432; DeepFace's fixed 0.40 -> 0.45, where this ratio was chosen). Measured
# with benchmarks/search.py on ../shared/faces/dev, Dlib (README, "Who is this, where else, the same
# person?"): of 20,705 same-person pairs 82.5 % lie below 0.40 and 96.2 % below 0.45, of 110,623
# different-person pairs 0.14 % lie below 0.40, 2.2 % below 0.45 and 12.3 % below 0.50.
MAYBE_RATIO = 1.125
# `who` says "same person" only when the next known person is at least this much farther away (else
# "maybe"), as clustering attaches a leftover face: on faces/dev it cut the strangers named from 13.7 % to
# 3.5 % of them while 97 % of the known faces were still named.
WHO_MARGIN = ATTACH_MARGIN
# `who` ranks people by the distance to their centre (the unit mean of their faces): on faces/dev it was as
# accurate as the distance to their nearest face (top-1 100 % both, open-set ROC AUC 0.9987 vs 0.9985), does
# not drift closer to strangers as a person gains faces, and costs one vector per person.
WHO_METHOD = "centre"
WHO_FACES = 256  # nearest named faces a `who` query looks at to rank people by their nearest face


def verdictunit_distances(model: str, calibration: Calibration | None = None) -> tuple[float, float]:
    """(same below, maybe below): the distances under which two faces are the same person / maybe.

    The one place the verdict thresholds come from: "same" is the distance at which the clustering joins
    two single faces of this library (its calibrated link distance, clusterfaces.people.calibration: from the
    library's own same-photo pairs), or, without a library, what the model's published threshold implies.
    """
    if calibration is None:
        calibration = from_threshold(model)
    if calibration is None or calibration.link_distance <= 0:
        raise ClusterfacesError(f"no same-person distance is known for the model {model}")
    same = calibration.link_distance
    return same, round(same * MAYBE_RATIO, 3)


def verdict(distance: float, bounds: tuple[float, float]) -> str:
    """same person / maybe / unknown for a distance between two L2-normalised embeddings."""
    same, maybe = bounds
    return SAME if distance < same else MAYBE if distance < maybe else UNKNOWN


@dataclass(frozen=True)
class Person:
    """A person of the library as the database names them."""

    id: int
    name: str | None
    ignored: bool

    @property
    def label(self) -> str:
        return self.name or f"Person {self.id}"


class SearchLibrary:
    """A library's faces for one model, loaded for queries: ids, people, unit vectors. Read only."""

    def __init__(self, database: Path, reading: Callable[[], AbstractContextManager[Store]]) -> None:
        """Load the faces of the library at database; `reading` opens it for reading (Library.reading)."""
        self.database = Path(database)
        self._reading = reading
        if not self.database.is_file():
            raise ClusterfacesError(f"there is no library at {self.database} yet: run `clusterfaces scan` first")
        with reading() as store:
            last = store.last_run()
            if last is None:
                raise ClusterfacesError(f"{self.database} has no finished scan yet: run `clusterfaces scan` first")
            self.roots, self.model, self.detector, settings = last.roots, last.model, last.detector, last.settings
            self.mirrored = store.mirrored_embeddings(self.model)  # query faces are embedded as the library's
            faces = store.load_faces(self.model, self.roots)
            self.people = {p.id: Person(p.id, p.name, p.ignored) for p in store.people(self.model)}
            remembered = store.setting("output")  # the people folders this library writes to
        self.output = Path(remembered) if remembered else None
        self.max_side = settings.get("max_side", DEFAULT_MAX_SIDE)
        self.link_mode = settings.get("link_mode", "symlink")
        self.ids = faces.ids
        self.person_ids = faces.person_ids
        self.photo_ids = faces.photo_ids
        self.vectors = l2_normalise(faces.embeddings).astype(np.float32)
        self.row_of = {face_id: row for row, face_id in enumerate(self.ids.tolist())}
        # The distances the clustering of this library uses, from the faces it groups.
        usable = ClusterSettings(**{key: value for key, value in settings.get("clustering", {}).items()
                                    if key in ("min_face_size", "min_score")}).clusterable(faces.sizes,
                                                                                            faces.scores)
        self.bounds = verdictunit_distances(self.model, calibrate(self.vectors[usable], self.photo_ids[usable],
                                                              self.model))
        self._index: FaceIndex | None = None
        self._named: tuple[np.ndarray, FaceIndex] | None = None
        self._centres: tuple[np.ndarray, np.ndarray] | None = None
        self._named_rows: np.ndarray | None = None

    @property
    def index(self) -> FaceIndex:
        """Every face of the library."""
        if self._index is None:
            self._index = FaceIndex(self.vectors)
        return self._index

    def within(self, query: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
        """Every face closer than radius to a unit vector: (distances, rows), nearest first."""
        return self.index.within(query, radius)

    @property
    def named_rows(self) -> np.ndarray:
        """Rows of the faces of named, not ignored people: the people `who` can name."""
        if self._named_rows is None:
            known = np.array([pid for pid, p in self.people.items() if p.name and not p.ignored], dtype=np.int64)
            self._named_rows = np.flatnonzero(np.isin(self.person_ids, known))
        return self._named_rows

    @property
    def named(self) -> tuple[np.ndarray, FaceIndex]:
        """(rows, index) of the faces of named, not ignored people."""
        if self._named is None:
            self._named = self.named_rows, FaceIndex(self.vectors[self.named_rows])
        return self._named

    def check_model(self, model: str | None) -> None:
        """Refuse a query made with another model than the library's faces (distances would mean nothing)."""
        if model and model.casefold() != self.model.casefold():
            raise ClusterfacesError(f"this library's faces come from {self.model}: a query with {model} cannot be "
                                    "compared with them (leave out --model)")

    def face_row(self, face_id: int) -> int:
        """The row of a face id, or a one-line error when the library has no such face."""
        row = self.row_of.get(face_id)
        if row is None:
            with self._reading() as store:
                face = store.face(face_id)
            if face is None:
                raise ClusterfacesError(f"there is no face {face_id} in this library (`clusterfaces faces list "
                                        "PERSON` shows face ids)")
            raise ClusterfacesError(f"face {face_id} comes from {face.model}, not from this library's model "
                                    f"{self.model}")
        return row

    def people_called(self, query: str) -> list[Person]:
        """The people a --person query means: an id, or a name (case and accents as typed do not matter)."""
        if query.strip().isdigit():
            person = self.people.get(int(query))
            if person is None:
                raise ClusterfacesError(f"there is no person {int(query)} in this library (see `clusterfaces people`)")
            return [person]
        key = _name_key(query)
        found = [p for p in self.people.values() if p.name and _name_key(p.name) == key]
        if not found:
            raise ClusterfacesError(f"nobody in this library is named {query!r} (see `clusterfaces people`)")
        return found

    def centre(self, rows: np.ndarray) -> np.ndarray:
        """The unit mean of some faces' vectors."""
        return l2_normalise(self.vectors[rows].mean(axis=0, keepdims=True))[0]

    def person_centres(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(person ids, unit centres, named) of the people with faces who are not ignored."""
        if self._centres is None:
            self._centres = self._person_centres()
        return self._centres

    def _person_centres(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        shown = np.array([pid for pid, p in self.people.items() if not p.ignored], dtype=np.int64)
        rows = np.flatnonzero(np.isin(self.person_ids, shown))
        ids, inverse = np.unique(self.person_ids[rows], return_inverse=True)
        named = np.array([bool(self.people[int(pid)].name) for pid in ids], dtype=bool)
        if not len(ids):
            return ids, np.zeros((0, self.vectors.shape[1]), dtype=np.float32), named
        from scipy.sparse import csr_matrix

        # People x faces membership times the vectors: sums without copying the vectors.
        members = csr_matrix((np.ones(len(rows), np.float32), (inverse, rows)), shape=(len(ids), len(self.vectors)))
        return ids, l2_normalise(np.asarray(members @ self.vectors)).astype(np.float32), named

    def describe(self, rows: Sequence[int]) -> dict[int, FacePlace]:
        """Face id -> its photo and box, for some rows."""
        with self._reading() as store:
            return store.face_boxes(self.ids[list(rows)].tolist())


def _name_key(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


# --- who -------------------------------------------------------------------------------------------------

@dataclass
class Candidate:
    """A known person a query face may be, with the distance that ranks them."""

    person_id: int
    name: str
    distance: float
    verdict: str
    face_id: int | None = None  # their nearest face (None when measured to their centre)


@dataclass
class FaceAnswer:
    """Who one face of a query photo is."""

    face: QueryFace
    candidates: list[Candidate]
    unnamed_person: int | None = None  # an unnamed person of the library within the same-person distance

    @property
    def verdict(self) -> str:
        return self.candidates[0].verdict if self.candidates else UNKNOWN

    @property
    def name(self) -> str | None:
        """The answer: the nearest known person unless the verdict is unknown."""
        return self.candidates[0].name if self.candidates and self.verdict != UNKNOWN else None


def who(library: SearchLibrary, face: QueryFace, people: int = 3, method: str = WHO_METHOD,
        margin: float = WHO_MARGIN) -> FaceAnswer:
    """The known (named) people nearest a face: by the distance to their centre, or to their nearest face.

    "same person" needs the distance below the same-person bound and the next person `margin` farther.
    """
    unnamed = None  # the nearest unnamed person within the same-person distance, if any
    if method == "centre":
        ids, centres, named = library.person_centres()
        distances = unit_distances(centres @ face.vector) if len(ids) else np.zeros(0, np.float32)
        order = np.argsort(distances, kind="stable")
        ranked = [(int(ids[i]), float(distances[i]), None) for i in order[named[order]][:max(people, 2)]]
        others = order[~named[order]][:1]
        if len(others) and distances[others[0]] < library.bounds[0]:
            unnamed = int(ids[others[0]])
    elif method == "nearest":
        rows, index = library.named
        distances, found = index.nearest(face.vector, WHO_FACES)
        ranked, seen = [], set()
        for distance, row in zip(distances.tolist(), rows[found].tolist()):
            person = int(library.person_ids[row])
            if person not in seen:
                seen.add(person)
                ranked.append((person, distance, int(library.ids[row])))
        ranked = ranked[:max(people, 2)]
        distances, found = library.index.nearest(face.vector, 1)
        person = library.people.get(int(library.person_ids[found[0]])) if len(found) else None
        if person is not None and not person.name and not person.ignored and distances[0] < library.bounds[0]:
            unnamed = person.id
    else:
        raise ValueError(f"method must be nearest or centre, not {method!r}")
    candidates = [Candidate(pid, library.people[pid].label, round(d, 4), verdict(d, library.bounds), face_id)
                  for pid, d, face_id in ranked]
    if len(ranked) > 1 and candidates[0].verdict == SAME and ranked[1][1] - ranked[0][1] < margin:
        candidates[0].verdict = MAYBE  # two known people are about as near: do not pick one
    answer = FaceAnswer(face, candidates[:people])
    if answer.verdict != SAME:
        answer.unnamed_person = unnamed
    return answer


# --- find ------------------------------------------------------------------------------------------------

@dataclass
class Match:
    """A face of the library found by `find`."""

    face_id: int
    photo: Path
    box: tuple[int, int, int, int]
    person_id: int | None
    person: str | None
    distance: float
    verdict: str


@dataclass
class FindResult:
    """What `find` was asked and what it found, nearest first."""

    query: str
    matches: list[Match]
    same_below: float
    maybe_below: float
    notes: list[str] = field(default_factory=list)


def find(library: SearchLibrary, query: np.ndarray, label: str, *, limit: int | None = None,
         skip_faces: Sequence[int] = (), skip_photo: Path | None = None, always_rows: np.ndarray | None = None,
         notes: Sequence[str] = ()) -> FindResult:
    """The library's faces within the "maybe" distance of a unit query vector, nearest first.

    skip_faces / skip_photo leave out the query itself; always_rows (a person's own faces) are listed even
    when farther than the threshold.
    """
    distances, rows = library.within(query, library.bounds[1])
    if always_rows is not None and len(always_rows):
        extra = np.setdiff1d(always_rows, rows)
        distances = np.concatenate([distances, unit_distances(library.vectors[extra] @ query)])
        rows = np.concatenate([rows, extra])
        order = np.argsort(distances, kind="stable")
        distances, rows = distances[order], rows[order]
    skipped = set(skip_faces)
    keep = [i for i, row in enumerate(rows.tolist()) if int(library.ids[row]) not in skipped]
    distances, rows = distances[keep], rows[keep]
    where = library.describe(rows.tolist()) if len(rows) else {}
    skip_location = os.path.realpath(skip_photo) if skip_photo else None
    matches = []
    for distance, row in zip(distances.tolist(), rows.tolist()):
        face_id = int(library.ids[row])
        photo, box = where[face_id].photo, where[face_id].box
        if skip_location and os.path.realpath(photo) == skip_location:
            continue
        pid = int(library.person_ids[row]) or None
        person = library.people.get(pid) if pid else None
        matches.append(Match(face_id, photo, box, pid, person.label if person else None, round(distance, 4),
                             verdict(distance, library.bounds)))
        if limit and len(matches) >= limit:
            break
    return FindResult(label, matches, *library.bounds, notes=list(notes))


def find_like_face(library: SearchLibrary, face_id: int, limit: int | None = None) -> FindResult:
    """Faces like a face of the library (the face itself left out)."""
    row = library.face_row(face_id)
    return find(library, library.vectors[row], f"face {face_id}", limit=limit, skip_faces=[face_id])


def find_like_photo(library: SearchLibrary, embedder: QueryEmbedder, photo: Path, number: int | None = None,
                    limit: int | None = None) -> FindResult:
    """Faces like the face in a photo (the photo itself left out when it is in the library)."""
    face, note = embedder.one_face(photo, number)
    return find(library, face.vector, f"face {face.number} of {photo}", limit=limit, skip_photo=photo,
                notes=[note] if note else [])


def find_person(library: SearchLibrary, query: str, limit: int | None = None) -> FindResult:
    """A person's faces and the faces like them, by distance to the person's centre."""
    people = library.people_called(query)
    rows = np.flatnonzero(np.isin(library.person_ids, [p.id for p in people]))
    if not len(rows):
        raise ClusterfacesError(f"{people[0].label} has no faces from {library.model} in this library")
    label = " + ".join(p.label for p in people)
    return find(library, library.centre(rows), label, limit=limit, always_rows=rows,
                notes=["distances are to the centre of the person's faces; their own faces are always listed"])


# --- same ------------------------------------------------------------------------------------------------

@dataclass
class SameAnswer:
    """Are two faces the same person."""

    first: str
    second: str
    distance: float
    same_below: float
    maybe_below: float
    verdict: str
    notes: list[str] = field(default_factory=list)


def same(library: SearchLibrary, first: tuple[str, np.ndarray], second: tuple[str, np.ndarray],
         notes: Sequence[str] = ()) -> SameAnswer:
    """Distance, thresholds and verdict for two (label, unit vector) faces."""
    distance = float(unit_distances(np.array([first[1] @ second[1]]))[0])
    return SameAnswer(first[0], second[0], round(distance, 4), *library.bounds, verdict(distance, library.bounds),
                      list(notes))
