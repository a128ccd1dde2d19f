"""Queries about scans: runs and photos (faces are in _faces.py)."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from clusterfaces.store.records import (
    FaceBox,
    FaceRow,
    LastScan,
    PersonRecord,
    PhotoRecord,
    Recluster,
    UnreadablePhoto,
    path_key,
)

MIRROR_AVERAGE = "mirror-average"  # library_settings embedding:MODEL: crop and mirror image averaged


def _in_chunks(ids: Iterable[int], size: int = 500) -> Iterator[tuple[list[int], str]]:
    """The ids in chunks small enough for one `IN (...)` (SQLite caps a statement's parameters), each with
    its `?,?,...` placeholders."""
    ids = list(ids)
    for start in range(0, len(ids), size):
        chunk = ids[start:start + size]
        yield chunk, ",".join("?" * len(chunk))


def _under(roots: Iterable[Path]) -> Iterator[tuple[int, bytes]]:
    """(length, prefix) for a `substr(p.path, 1, ?) = ?` test per root."""
    for root in roots:
        prefix = path_key(root).rstrip(b"/") + b"/"
        yield len(prefix), prefix


class LibraryQueries:
    db: sqlite3.Connection

    # --- runs -------------------------------------------------------------------------------
    def start_run(self, roots: Iterable[Path], model: str, detector: str, settings: dict) -> int:
        # Runs that never finished were interrupted (Ctrl-C, kill, crash): say so in their row.
        self.db.execute("UPDATE runs SET status = 'interrupted' WHERE status = 'running'")
        cursor = self.db.execute(
            "INSERT INTO runs (started_at, roots, model, detector, settings) VALUES (?, ?, ?, ?, ?)",
            (time.time(), json.dumps([os.fsdecode(r) for r in roots]), model, detector, json.dumps(settings)),
        )
        return int(cursor.lastrowid)

    def last_recluster(self, model: str) -> Recluster | None:
        """The last finished run that re-clustered this model's faces."""
        row = self.db.execute(
            "SELECT id, coalesce(clustered_faces, 0) FROM runs WHERE status = 'finished' AND reclustered = 1"
            " AND model = ? ORDER BY id DESC LIMIT 1", (model,)).fetchone()
        return Recluster(row[0], row[1]) if row else None

    def mark_reclustered(self, run_id: int, face_count: int) -> None:
        self.db.execute("UPDATE runs SET reclustered = 1, clustered_faces = ? WHERE id = ?", (face_count, run_id))

    def set_run_settings(self, run_id: int, settings: dict) -> None:
        self.db.execute("UPDATE runs SET settings = ? WHERE id = ?", (json.dumps(settings), run_id))

    def set_run_model(self, run_id: int, model: str) -> None:
        self.db.execute("UPDATE runs SET model = ? WHERE id = ?", (model, run_id))

    def finish_run(self, run_id: int, summary: dict, status: str = "finished") -> None:
        self.db.execute(
            "UPDATE runs SET finished_at = ?, status = ?, summary = ? WHERE id = ?",
            (time.time(), status, json.dumps(summary), run_id),
        )

    def last_run(self) -> LastScan | None:
        """The last finished scan."""
        row = self.db.execute("SELECT roots, model, detector, settings FROM runs WHERE status = 'finished'"
                              " ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            return None
        return LastScan([Path(r) for r in json.loads(row[0])], row[1], row[2], json.loads(row[3]))

    # --- photos -----------------------------------------------------------------------------
    def photos_under(self, roots: Iterable[Path]) -> dict[str, PhotoRecord]:
        """Every photo the database holds below any of the roots, by path text."""
        records = {}
        for root in roots:
            prefix = path_key(root).rstrip(b"/") + b"/"
            rows = self.db.execute(
                "SELECT id, path, size, mtime_ns, content_hash, status, reason, model, detector, missing_since,"
                " failed_with FROM photos WHERE substr(path, 1, ?) = ?",
                (len(prefix), prefix),
            )
            for row in rows:
                location = os.fsdecode(row[1])
                records[location] = PhotoRecord(row[0], location, *row[2:])
        return records

    def save_photo(
        self, path: Path, size: int, mtime_ns: int, content_hash: str | None, run_id: int, *,
        status: str, reason: str | None = None, dimensions: tuple[int, int] | None = None,
        model: str | None = None, detector: str | None = None, faces: Iterable[FaceRow] = (),
        failed_with: str | None = None,
    ) -> int:
        """Record one processed photo and its faces, replacing what was stored for that path."""
        key = path_key(path)
        width, height = dimensions or (None, None)
        self.db.execute("DELETE FROM photos WHERE path = ?", (key,))
        photo_id = self.db.execute(
            "INSERT INTO photos (path, size, mtime_ns, content_hash, status, reason, width, height, model,"
            " detector, processed_run, seen_run, failed_with) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, size, mtime_ns, content_hash, status, reason, width, height, model, detector, run_id, run_id,
             failed_with),
        ).lastrowid
        self.db.executemany(
            "INSERT INTO faces (photo_id, x, y, w, h, landmarks, score, model, detector, embedding, created_run)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (photo_id, *face.box, json.dumps(face.landmarks), face.score, model, detector,
                 np.asarray(face.embedding, dtype="<f4").tobytes(), run_id)
                for face in faces
            ],
        )
        return int(photo_id)

    def redo_photo(
        self, photo_id: int, size: int, mtime_ns: int, content_hash: str | None, run_id: int, *,
        dimensions: tuple[int, int] | None, model: str, detector: str, faces: list[FaceRow],
        kept: dict[int, int],
    ) -> None:
        """Record new pixels for a known photo: face kept[i] (an old face id) takes the place of the new
        faces[i], keeping its id, person, confirmation and rejections; the other old faces go."""
        width, height = dimensions or (None, None)
        self.db.execute(
            "UPDATE photos SET size = ?, mtime_ns = ?, content_hash = ?, status = 'done', reason = NULL, width = ?,"
            " height = ?, model = ?, detector = ?, processed_run = ?, seen_run = ?, missing_since = NULL,"
            " failed_with = NULL WHERE id = ?",
            (size, mtime_ns, content_hash, width, height, model, detector, run_id, run_id, photo_id))
        old = [row[0] for row in self.db.execute("SELECT id FROM faces WHERE photo_id = ?", (photo_id,))]
        self.db.executemany("DELETE FROM faces WHERE id = ?", ((f,) for f in old if f not in kept.values()))
        for index, face in enumerate(faces):
            values = (*face.box, json.dumps(face.landmarks), face.score, model, detector,
                      np.asarray(face.embedding, dtype="<f4").tobytes(), run_id)
            if index in kept:
                self.db.execute("UPDATE faces SET x = ?, y = ?, w = ?, h = ?, landmarks = ?, score = ?, model = ?,"
                                " detector = ?, embedding = ?, created_run = ? WHERE id = ?", (*values, kept[index]))
            else:
                self.db.execute("INSERT INTO faces (x, y, w, h, landmarks, score, model, detector, embedding,"
                                " created_run, photo_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                (*values, photo_id))

    def photo_faces(self, photo_id: int) -> list[FaceBox]:
        """Each face of a photo, with its embedding and model, by id."""
        return [FaceBox(face, (x, y, w, h), np.frombuffer(blob, dtype="<f4"), model)
                for face, x, y, w, h, blob, model in
                self.db.execute("SELECT id, x, y, w, h, embedding, model FROM faces WHERE photo_id = ? ORDER BY id",
                                (photo_id,))]

    def mark_missing(self, photo_ids: Iterable[int], run_id: int) -> int:
        """Photos not on disk: kept, faces, people and edits included, as missing since this run."""
        return sum(self.db.execute("UPDATE photos SET missing_since = ? WHERE id = ? AND missing_since IS NULL",
                                   (run_id, i)).rowcount for i in photo_ids)

    def mark_found(self, photo_ids: Iterable[int], run_id: int) -> int:
        """Missing photos that are back where they were. Returns how many were missing."""
        return sum(self.db.execute("UPDATE photos SET missing_since = NULL, seen_run = ? WHERE id = ?"
                                   " AND missing_since IS NOT NULL", (run_id, i)).rowcount for i in photo_ids)

    def update_file(self, photo_id: int, size: int, mtime_ns: int, run_id: int) -> None:
        """The same photo (same pixels) with new file metadata: keep everything, note the new size and time."""
        self.db.execute("UPDATE photos SET size = ?, mtime_ns = ?, seen_run = ?, missing_since = NULL WHERE id = ?",
                        (size, mtime_ns, run_id, photo_id))

    def move_photo(self, photo_id: int, path: Path, size: int, mtime_ns: int, run_id: int,
                   fingerprint: str | None = None) -> int:
        """A photo found at another path (moved, renamed, back from a missing drive): the same row, so its
        faces keep their ids, people, confirmations and rejections. Returns its number of faces."""
        key = path_key(path)
        self.db.execute("DELETE FROM photos WHERE path = ? AND id != ?", (key, photo_id))
        self.db.execute("UPDATE photos SET path = ?, size = ?, mtime_ns = ?, seen_run = ?, missing_since = NULL,"
                        " content_hash = coalesce(?, content_hash) WHERE id = ?",
                        (key, size, mtime_ns, run_id, fingerprint, photo_id))
        return self.db.execute("SELECT count(*) FROM faces WHERE photo_id = ?", (photo_id,)).fetchone()[0]

    def missing_photos(self, roots: Iterable[Path]) -> list[int]:
        """Ids of the photos below the roots that are marked missing."""
        found = []
        for root in roots:
            prefix = path_key(root).rstrip(b"/") + b"/"
            found += [row[0] for row in self.db.execute(
                "SELECT id FROM photos WHERE missing_since IS NOT NULL AND substr(path, 1, ?) = ?",
                (len(prefix), prefix))]
        return found

    def people_only_missing(self, model: str) -> list[PersonRecord]:
        """People of the model whose every face is in a missing photo."""
        return [PersonRecord(pid, name, bool(ignored), model, run) for pid, name, ignored, run in self.db.execute(
            "SELECT pe.id, pe.name, pe.ignored, pe.created_run FROM people pe WHERE pe.model = ?"
            " AND EXISTS (SELECT 1 FROM faces f"
            " JOIN photos p ON p.id = f.photo_id WHERE f.person_id = pe.id AND p.missing_since IS NOT NULL)"
            " AND NOT EXISTS (SELECT 1 FROM faces f JOIN photos p ON p.id = f.photo_id WHERE f.person_id = pe.id"
            " AND p.missing_since IS NULL) ORDER BY pe.id", (model,))]

    def setting(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM library_settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_setting(self, key: str, value: str) -> None:
        self.db.execute("INSERT INTO library_settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE"
                        " SET value = excluded.value", (key, value))

    def mirrored_embeddings(self, model: str) -> bool:
        """Whether this library embeds the faces of `model` as the mean of the crop and its mirror image."""
        return self.setting(f"embedding:{model}") == MIRROR_AVERAGE

    def choose_embedding(self, model: str, mirror_new: bool) -> bool:
        """Fix, once per model, how this library embeds its faces: mirror-averaged when `mirror_new` and the
        library has no face of the model yet; plain for the faces of earlier versions, so that every face
        of a library is embedded one way. Returns whether it mirrors. Call inside a transaction."""
        if self.setting(f"embedding:{model}") is None:
            has_faces = self.db.execute("SELECT 1 FROM faces WHERE model = ? LIMIT 1", (model,)).fetchone()
            self.set_setting(f"embedding:{model}", MIRROR_AVERAGE if mirror_new and not has_faces else "plain")
        return self.mirrored_embeddings(model)

    def has_byte_hashes(self) -> bool:
        """Whether some photo still has the byte hash of versions before pixel fingerprints (no prefix)."""
        return self.db.execute("SELECT 1 FROM photos WHERE content_hash IS NOT NULL AND instr(content_hash, ':') = 0"
                               " LIMIT 1").fetchone() is not None

    def processed_sizes(self, model: str, detector: str) -> set[int]:
        """File sizes of the photos already processed with model and detector (to spot copies cheaply)."""
        return {row[0] for row in self.db.execute(
            "SELECT DISTINCT size FROM photos WHERE status = 'done' AND model = ? AND detector = ?",
            (model, detector))}

    def processed_photo_with_hash(self, content_hash: str, model: str, detector: str) -> int | None:
        """A photo with these pixels already processed with the model and detector, if any."""
        found = self.processed_photos_with_hash(content_hash, model, detector)
        return found[0] if found else None

    def processed_photos_with_hash(self, content_hash: str, model: str, detector: str) -> list[int]:
        """Every photo with these pixels processed with the model and detector, by id."""
        return [row[0] for row in self.db.execute(
            "SELECT id FROM photos WHERE content_hash = ? AND status = 'done' AND model = ? AND detector = ?"
            " ORDER BY id", (content_hash, model, detector))]

    def reuse_photo(self, source_id: int, path: Path, size: int, mtime_ns: int, run_id: int) -> int:
        """Record path as holding the same bytes as photo source_id: its faces (embeddings, people and
        all) are copied, not recomputed. Returns the number of faces copied."""
        key = path_key(path)
        source_path = self.db.execute("SELECT path FROM photos WHERE id = ?", (source_id,)).fetchone()[0]
        if source_path == key:  # same file, only its metadata changed (touched, copied back)
            self.db.execute("UPDATE photos SET size = ?, mtime_ns = ?, seen_run = ? WHERE id = ?",
                            (size, mtime_ns, run_id, source_id))
            return 0
        self.db.execute("DELETE FROM photos WHERE path = ?", (key,))
        photo_id = self.db.execute(
            "INSERT INTO photos (path, size, mtime_ns, content_hash, status, reason, width, height, model, detector,"
            " processed_run, seen_run) SELECT ?, ?, ?, content_hash, status, reason, width, height, model, detector,"
            " processed_run, ? FROM photos WHERE id = ?",
            (key, size, mtime_ns, run_id, source_id),
        ).lastrowid
        return self.db.execute(
            "INSERT INTO faces (photo_id, x, y, w, h, landmarks, score, model, detector, embedding, person_id,"
            " created_run, confirmed) SELECT ?, x, y, w, h, landmarks, score, model, detector, embedding, person_id,"
            " created_run, confirmed"
            " FROM faces WHERE photo_id = ? ORDER BY id",
            (photo_id, source_id),
        ).rowcount

    def remove_photos(self, photo_ids: Iterable[int]) -> int:
        """Forget photos for good (their faces, and the edits on them, go with them)."""
        ids = list(photo_ids)
        self.db.executemany("DELETE FROM photos WHERE id = ?", ((i,) for i in ids))
        return len(ids)

    def unreadable_photos(self, roots: Iterable[Path]) -> list[UnreadablePhoto]:
        found = []
        for root in roots:
            prefix = path_key(root).rstrip(b"/") + b"/"
            found += [UnreadablePhoto(Path(os.fsdecode(path)), reason or "unknown reason")
                      for path, reason in self.db.execute(
                "SELECT path, reason FROM photos WHERE status = 'unreadable' AND missing_since IS NULL"
                " AND substr(path, 1, ?) = ?",
                (len(prefix), prefix))]
        return sorted(found, key=lambda photo: photo.path)
