"""Queries for the identity map: consistent reads of everything below the roots."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from clusterfaces.store._transactions import Reading
from clusterfaces.store.records import ChangeMarker, ExportedFace, path_key


class ExportQueries:
    db: sqlite3.Connection

    # --- export and import ------------------------------------------------------------------
    def reading(self) -> Reading:
        """A read transaction: every query inside sees the same state, even while a scan commits."""
        return Reading(self.db)

    def last_activity(self) -> float | None:
        """When the library last changed: the later of the last finished scan and the last edit."""
        row = self.db.execute(
            "SELECT max(coalesce((SELECT max(finished_at) FROM runs WHERE status = 'finished'), 0),"
            " coalesce((SELECT max(at) FROM journal), 0))").fetchone()
        return row[0] or None

    def change_marker(self) -> ChangeMarker:
        """Changes whenever people or faces may have changed (for caches of what the faces say, such as
        the named people's centres)."""
        row = self.db.execute("SELECT coalesce((SELECT max(id) FROM runs), 0), coalesce((SELECT max(id) FROM"
                              " journal), 0), (SELECT count(*) FROM journal WHERE undone = 1)").fetchone()
        return ChangeMarker(int(row[0]), int(row[1]), int(row[2]))

    def export_faces(self, model: str, roots: Iterable[Path], embeddings: bool = False) -> list[ExportedFace]:
        """Every face of the model below the roots, by id (with its embedding's bytes when asked)."""
        faces = []
        for root in roots:
            prefix = path_key(root).rstrip(b"/") + b"/"
            rows = self.db.execute(
                "SELECT f.id, p.path, p.content_hash, f.x, f.y, f.w, f.h, f.score, f.person_id, f.confirmed,"
                f" p.width, p.height, {'f.embedding' if embeddings else 'NULL'} FROM faces f"
                " JOIN photos p ON p.id = f.photo_id WHERE f.model = ? AND substr(p.path, 1, ?) = ? ORDER BY f.id",
                (model, len(prefix), prefix))
            faces += [ExportedFace(face, os.fsdecode(path), digest, (x, y, w, h), score, person, bool(sure),
                                   (width, height), blob)
                      for face, path, digest, x, y, w, h, score, person, sure, width, height, blob in rows]
        return sorted(faces, key=lambda face: face.id)

    def photos_without_faces(self, roots: Iterable[Path]) -> int:
        """Readable photos below the roots in which no face was found."""
        total = 0
        for root in roots:
            prefix = path_key(root).rstrip(b"/") + b"/"
            total += self.db.execute(
                "SELECT count(*) FROM photos p WHERE p.status = 'done' AND substr(p.path, 1, ?) = ?"
                " AND NOT EXISTS (SELECT 1 FROM faces f WHERE f.photo_id = p.id)", (len(prefix), prefix)).fetchone()[0]
        return total
