"""Queries about faces: loading them for clustering, and listing them for front ends and edits."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from clusterfaces.store._library import _in_chunks, _under
from clusterfaces.store.records import (
    FaceAssignments,
    FaceListing,
    FacePlace,
    PersonCounts,
    StoredFaces,
    path_key,
)

_LISTING = ("SELECT f.id, f.person_id, p.path, f.x, f.y, f.w, f.h, f.score, f.confirmed, p.missing_since IS NOT NULL"
            " FROM faces f JOIN photos p ON p.id = f.photo_id")


def _listing(row: tuple) -> FaceListing:
    return FaceListing(row[0], row[1], Path(os.fsdecode(row[2])), (row[3], row[4], row[5], row[6]), row[7],
                       bool(row[8]), bool(row[9]))


class FaceQueries:
    db: sqlite3.Connection

    # --- faces ------------------------------------------------------------------------------
    def load_faces(self, model: str, roots: Iterable[Path], include_missing: bool = False) -> StoredFaces:
        """Every face embedded with `model` in photos below the roots (on disk at the last scan, unless
        include_missing)."""
        present = "" if include_missing else " AND p.missing_since IS NULL"
        ids, vectors, scores, sizes, people, confirmed, created, photos = [], [], [], [], [], [], [], []
        for root in roots:
            prefix = path_key(root).rstrip(b"/") + b"/"
            rows = self.db.execute(
                "SELECT f.id, f.embedding, f.score, min(f.w, f.h), coalesce(f.person_id, 0), f.confirmed,"
                " coalesce(f.created_run, 0), f.photo_id FROM faces f JOIN photos p ON p.id = f.photo_id"
                f" WHERE f.model = ? AND substr(p.path, 1, ?) = ?{present} ORDER BY f.id",
                (model, len(prefix), prefix),
            )
            for face_id, blob, score, size, person, sure, run, photo in rows:
                ids.append(face_id)
                vectors.append(np.frombuffer(blob, dtype="<f4"))
                scores.append(score)
                sizes.append(size)
                people.append(person)
                confirmed.append(bool(sure))
                created.append(run)
                photos.append(photo)
        dim = len(vectors[0]) if vectors else 0
        return StoredFaces(
            ids=np.asarray(ids, dtype=np.int64),
            embeddings=np.vstack(vectors).astype(np.float32) if vectors else np.zeros((0, dim), np.float32),
            scores=np.asarray(scores, dtype=np.float32),
            sizes=np.asarray(sizes, dtype=np.int64),
            person_ids=np.asarray(people, dtype=np.int64),
            confirmed=np.asarray(confirmed, dtype=bool),
            created_runs=np.asarray(created, dtype=np.int64),
            photo_ids=np.asarray(photos, dtype=np.int64),
        )

    def face_assignments(self, model: str, roots: Iterable[Path]) -> FaceAssignments:
        """The faces `load_faces` gives (on disk at the last scan), without their vectors: describing people
        and writing their folders needs ids, people, photos, scores and sizes only."""
        rows = []
        for length, prefix in _under(roots):
            rows += self.db.execute(
                "SELECT f.id, coalesce(f.person_id, 0), f.photo_id, f.score, min(f.w, f.h) FROM faces f"
                " JOIN photos p ON p.id = f.photo_id WHERE f.model = ? AND substr(p.path, 1, ?) = ?"
                " AND p.missing_since IS NULL", (model, length, prefix)).fetchall()
        rows.sort()
        columns = list(zip(*rows)) if rows else [(), (), (), (), ()]
        return FaceAssignments(ids=np.asarray(columns[0], dtype=np.int64),
                               person_ids=np.asarray(columns[1], dtype=np.int64),
                               photo_ids=np.asarray(columns[2], dtype=np.int64),
                               scores=np.asarray(columns[3], dtype=np.float32),
                               sizes=np.asarray(columns[4], dtype=np.int64))

    def photo_paths(self, photo_ids: Iterable[int]) -> dict[int, Path]:
        """Photo id -> path, for the given photos."""
        paths = {}
        for chunk, marks in _in_chunks(photo_ids):
            paths.update((photo, Path(os.fsdecode(path))) for photo, path in self.db.execute(
                f"SELECT id, path FROM photos WHERE id IN ({marks})", chunk))
        return paths

    def face_listings(self, face_ids: Iterable[int]) -> list[FaceListing]:
        """The given faces that exist, in the order given."""
        ids = list(face_ids)
        found = {}
        for chunk, marks in _in_chunks(ids):
            found.update((row[0], _listing(row)) for row in self.db.execute(f"{_LISTING} WHERE f.id IN ({marks})",
                                                                            chunk))
        return [found[face] for face in ids if face in found]

    def person_face_listings(self, person_id: int, offset: int = 0, limit: int | None = None) -> list[FaceListing]:
        """A person's faces by id, a page at a time."""
        return [_listing(row) for row in self.db.execute(
            f"{_LISTING} WHERE f.person_id = ? ORDER BY f.id LIMIT ? OFFSET ?",
            (person_id, -1 if limit is None else limit, offset))]

    def unassigned_face_listings(self, model: str, roots: Iterable[Path], min_size: int, min_score: float,
                                 limit: int) -> list[FaceListing]:
        """Faces below the roots, on disk, big and sure enough to be grouped, that are with nobody: the
        largest first."""
        found = []
        for length, prefix in _under(roots):
            found += [_listing(row) for row in self.db.execute(
                f"{_LISTING} WHERE f.model = ? AND f.person_id IS NULL AND substr(p.path, 1, ?) = ?"
                " AND p.missing_since IS NULL AND min(f.w, f.h) >= ? AND f.score >= ?"
                " ORDER BY min(f.w, f.h) DESC, f.id LIMIT ?", (model, length, prefix, min_size, min_score, limit))]
        return sorted(found, key=lambda face: (-min(face.box[2:]), face.id))[:limit]

    def person_summary(self, person_id: int) -> PersonCounts:
        """One person's counts and cover face (see cover_faces), from their faces only."""
        faces, photos = self.db.execute("SELECT count(*), count(DISTINCT photo_id) FROM faces WHERE person_id = ?",
                                        (person_id,)).fetchone()
        cover = self.db.execute("SELECT id FROM faces WHERE person_id = ? ORDER BY score * min(w, h, 160) DESC, id"
                                " LIMIT 1", (person_id,)).fetchone()
        return PersonCounts(faces, photos, cover[0] if cover else None)

    def cover_faces(self, model: str) -> dict[int, int]:
        """Person id -> the face that shows them best (the detector's surest, among the larger ones)."""
        return dict(self.db.execute(
            "SELECT person_id, id FROM (SELECT person_id, id, row_number() OVER (PARTITION BY person_id"
            " ORDER BY score * min(w, h, 160) DESC, id) AS rank FROM faces WHERE model = ?"
            " AND person_id IS NOT NULL) WHERE rank = 1", (model,)).fetchall())

    def face_embeddings(self, face_ids: Iterable[int]) -> dict[int, np.ndarray]:
        """Face id -> its embedding as stored, for the given faces only."""
        found = {}
        for chunk, marks in _in_chunks(face_ids):
            found.update((face, np.frombuffer(blob, dtype="<f4")) for face, blob in self.db.execute(
                f"SELECT id, embedding FROM faces WHERE id IN ({marks})", chunk))
        return found

    def person_embeddings(self, person_ids: Iterable[int]) -> dict[int, np.ndarray]:
        """Person id -> the embeddings of their faces (n, d), for the given people only."""
        found = {}
        for person in person_ids:
            blobs = [row[0] for row in self.db.execute("SELECT embedding FROM faces WHERE person_id = ? ORDER BY id",
                                                       (person,))]
            if blobs:
                found[person] = np.vstack([np.frombuffer(blob, dtype="<f4") for blob in blobs])
        return found

    def face_photos(self, face_ids: Iterable[int]) -> dict[int, Path]:
        """Face id -> its photo's path, for the given faces."""
        return {face: place.photo for face, place in self.face_boxes(face_ids).items()}

    def face_boxes(self, face_ids: Iterable[int]) -> dict[int, FacePlace]:
        """Face id -> its photo and box, for the given faces."""
        boxes = {}
        for chunk, marks in _in_chunks(face_ids):
            for face_id, path, x, y, w, h in self.db.execute(
                f"SELECT f.id, p.path, f.x, f.y, f.w, f.h FROM faces f JOIN photos p ON p.id = f.photo_id "
                f"WHERE f.id IN ({marks})", chunk
            ):
                boxes[face_id] = FacePlace(Path(os.fsdecode(path)), (x, y, w, h))
        return boxes

    def count_faces(self, roots: Iterable[Path]) -> int:
        total = 0
        for root in roots:
            prefix = path_key(root).rstrip(b"/") + b"/"
            total += self.db.execute(
                "SELECT count(*) FROM faces f JOIN photos p ON p.id = f.photo_id WHERE substr(p.path, 1, ?) = ?",
                (len(prefix), prefix),
            ).fetchone()[0]
        return total
