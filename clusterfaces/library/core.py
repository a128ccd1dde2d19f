"""The Library: one database, its photo roots and its people folders; the one entry point of every front end."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from PIL import Image

from clusterfaces.errors import ClusterfacesError, OutputError
from clusterfaces.images import decode_image
from clusterfaces.library.options import ScanOptions, ScanResult
from clusterfaces.library.people_folders import describe_people, write_folders
from clusterfaces.library.records import Doubt, Edit, Face, Person
from clusterfaces.library.scanning import ScanRun
from clusterfaces.locations import default_database, default_output
from clusterfaces.outputs import folders
from clusterfaces.outputs.crops import face_crops
from clusterfaces.people import edits
from clusterfaces.people.clustering import ClusterSettings
from clusterfaces.people.suggestions import NamedCentres, Suggestion, centre, nearest_named_person
from clusterfaces.progress import NullObserver, ScanObserver
from clusterfaces.store import JournalEntry, LastScan, Store
from clusterfaces.store.database import running_scan_roots

if TYPE_CHECKING:
    from clusterfaces.outputs.export import LibraryState
    from clusterfaces.outputs.gallery import GalleryStats
    from clusterfaces.outputs.importing import ImportReport
    from clusterfaces.people.search import SearchLibrary

Result = TypeVar("Result")


class Library:
    """One database and the output folder its people are written to.

    Reads open the database for their own question and take no lock; edits wait for the database lock
    (one scan or edit at a time), are journalled, and make the people folders follow."""

    def __init__(self, database: Path | None = None, output: Path | None = None) -> None:
        self.database = Path(database) if database else default_database()
        self._output = Path(output) if output else None
        self._centres: tuple[tuple, NamedCentres] | None = None

    @classmethod
    def open(cls, database: Path | None = None, output: Path | None = None) -> Library:
        """The library at this database (default: the user's), writing its people folders to output
        (default: where its last scan wrote them). Opens nothing yet."""
        return cls(database, output)

    @property
    def output(self) -> Path:
        """The people folders: as given, else the folder the library's last scan wrote, else the default."""
        if self._output is None:
            self._output = self._remembered_output() or default_output()
        return self._output

    def _remembered_output(self) -> Path | None:
        if not self.database.is_file():
            return None
        try:
            with Store(self.database) as store:
                remembered = store.setting("output")
        except ClusterfacesError:
            return None
        return Path(remembered) if remembered else None

    # --- access -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def reading(self) -> Iterator[Store]:
        """The database for reading, in one consistent snapshot (a scan may commit meanwhile). A library
        that does not exist yet is a one-line error: reading never creates the database."""
        if not self.database.exists():
            raise ClusterfacesError(f"there is no library at {self.database} yet: run `clusterfaces scan` first")
        with Store(self.database) as store, store.reading():
            yield store

    @contextlib.contextmanager
    def editing(self) -> Iterator[Store]:
        """The database, open for edits while no scan or other edit runs on it."""
        with self.exclusive(), Store(self.database) as store:
            yield store

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """One scan or edit at a time per database: a second one waits for the first, saying so."""
        from clusterfaces.store.locking import database_lock

        with database_lock(self.database):
            yield

    @contextlib.contextmanager
    def _scanned(self) -> Iterator[tuple[Store | None, LastScan | None]]:
        """(the database for reading, its last scan), or (None, None) for a library never scanned or not
        there: lists are then empty, not an error."""
        if not self.database.exists():
            yield None, None
            return
        with self.reading() as store:
            yield store, store.last_run()

    def current(self) -> LastScan:
        """The library as its last scan left it; a one-line error when it was never scanned."""
        with self.reading() as store:
            return _last_scan(store)

    def scan_running(self) -> bool:
        """Whether a scan is running on this database now."""
        return self.database.is_file() and running_scan_roots(self.database) is not None

    # --- scan -------------------------------------------------------------------------------
    def scan(self, options: ScanOptions, observer: ScanObserver = NullObserver()) -> ScanResult:
        """Crawl, process what is new, cluster, and write the people folders."""
        options.check()
        with self.exclusive(), Store(self.database) as store:
            roots, absent = self._checked_roots(options.roots, store)
            self._check_output(roots + [root for root, _ in absent])
            return ScanRun(store, options, self.output, roots, absent, observer).run()

    def _checked_roots(self, roots: list[Path], store: Store) -> tuple[list[Path], list[tuple[Path, str]]]:
        """The roots to walk, and those that are not there although the library holds photos below
        them (a drive not mounted, a folder renamed away): those are left alone, with the reason."""
        if not roots:
            raise ClusterfacesError("give at least one folder of photos to scan")
        checked, absent = [], []
        for root in roots:
            path = Path(os.path.abspath(os.path.expanduser(root)))
            if not path.is_dir():
                if not path.exists():
                    held = store.photos_under([path])
                    if held:
                        absent.append((path, f"{path} is not there (a drive not mounted, a folder renamed?): its "
                                             f"{len(held)} photos are left as they are; scan again when it is back"))
                        continue
                raise ClusterfacesError(f"{root} is not a folder (give the folder that holds your photos)")
            checked.append(path)
        # A root inside another root would be walked twice: keep the outermost.
        return [p for p in dict.fromkeys(checked) if not any(o in p.parents for o in checked)], absent

    def _check_output(self, roots: list[Path]) -> None:
        """Refuse an output folder inside a photo root, around one, or holding photos the tool did not put
        there: its links would be scanned as photos, or it would hide them."""
        output = Path(os.path.abspath(self.output))
        for root in roots:
            if root == output or output in root.parents:
                raise OutputError(
                    f"the output folder {output} contains the photo folder {root}: choose another --out")
            if root in output.parents:
                raise OutputError(
                    f"the output folder {output} is inside the photo folder {root}: the people folders would be "
                    "scanned as photos; choose an --out outside your photo folders")
        photo = folders.foreign_photo(output)
        if photo is not None:
            raise OutputError(
                f"the output folder {output} holds photos clusterfaces did not put there ({photo}): choose an empty "
                "or new folder for --out")

    def refresh_folders(self) -> ScanResult:
        """Rewrite the people folders from the database as the last scan left it (after an edit). Reads no
        embedding."""
        with self.reading() as store:
            last = _last_scan(store)
            unavailable = set(last.settings.get("unavailable", []))
            roots = [root for root in last.roots if os.fsdecode(root) not in unavailable]
            if not roots:
                raise OutputError("the photo folders were not there at the last scan")
            self._check_output(roots)
            clustering = ClusterSettings(**last.settings.get("clustering", {}))
            result = ScanResult(model=last.model, detector=last.detector, database=self.database, output=self.output)
            describe_people(store, last.model, roots, clustering, result)
        write_folders(self.output, roots, last.settings.get("link_mode", "symlink"), result)
        return result

    # --- reads ------------------------------------------------------------------------------
    def people(self, include_ignored: bool = True) -> list[Person]:
        """Every person with faces, largest first (none before the first scan)."""
        with self._scanned() as (store, last):
            if last is None:
                return []
            counts = store.person_counts(last.model)
            covers = store.cover_faces(last.model)
            found = [Person(p.id, p.name, p.ignored, counts[p.id].faces, counts[p.id].photos, covers.get(p.id))
                     for p in store.people(last.model) if p.id in counts and (include_ignored or not p.ignored)]
        return sorted(found, key=lambda person: (-person.faces, person.id))

    def person(self, person_id: int) -> Person:
        """One person; a one-line error when there is no such person."""
        with self.reading() as store:
            record = edits.existing_person(store, person_id)
            counts = store.person_summary(person_id)
        return Person(record.id, record.name, record.ignored, counts.faces, counts.photos, counts.cover_face)

    def person_faces(self, person_id: int, offset: int = 0, limit: int | None = None) -> list[Face]:
        """A person's faces by id, a page at a time."""
        with self.reading() as store:
            edits.existing_person(store, person_id)
            return store.person_face_listings(person_id, max(0, offset), limit)

    def faces(self, face_ids: Sequence[int]) -> list[Face]:
        """The given faces that exist, in the order given."""
        with self.reading() as store:
            return store.face_listings(face_ids)

    def unassigned_faces(self, limit: int = 200) -> list[Face]:
        """Faces big and sure enough to be grouped that are with nobody, the largest first."""
        with self._scanned() as (store, last):
            if last is None:
                return []
            settings = ClusterSettings(**last.settings.get("clustering", {}))
            return store.unassigned_face_listings(last.model, last.roots, settings.min_face_size,
                                                  settings.min_score, limit)

    def doubtful_faces(self, person_id: int, limit: int = 20) -> list[Doubt]:
        """The person's faces farthest from the centre of their faces: the least sure members first. Reads
        this person's embeddings only."""
        with self.reading() as store:
            edits.existing_person(store, person_id)
            listings = store.person_face_listings(person_id)
            vectors = store.face_embeddings([face.id for face in listings])
        listings = [face for face in listings if face.id in vectors]
        if len(listings) < 2:
            return []
        matrix = np.vstack([vectors[face.id] for face in listings]).astype(np.float64)
        unit = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        distances = np.linalg.norm(unit - centre(matrix), axis=1)
        order = np.argsort(-distances, kind="stable")[:limit]
        return [Doubt(listings[i], float(distances[i])) for i in order]

    def suggest_people(self, face_id: int, k: int = 3) -> list[Suggestion]:
        """The named people nearest to a face, nearest first (its own person aside)."""
        with self.reading() as store:
            face = edits.existing_face(store, face_id)
            vector = store.face_embeddings([face_id])[face_id].astype(np.float64)
            centres = self._named_centres(store, face.model)
        return centres.nearest(vector / (np.linalg.norm(vector) or 1.0), k, besides=face.person_id or 0)

    def suggest_for_person(self, person_id: int) -> Suggestion | None:
        """The named person this one looks like, if near enough to be the same person."""
        with self.reading() as store:
            person = edits.existing_person(store, person_id)
            return nearest_named_person(store, self._named_centres(store, person.model), person_id)

    def _named_centres(self, store: Store, model: str) -> NamedCentres:
        """The named people's centres, kept until the library changes (a scan, an edit or an undo)."""
        key = (model, store.change_marker())
        if self._centres is None or self._centres[0] != key:
            self._centres = (key, NamedCentres(store, model))
        return self._centres[1]

    def search_index(self) -> SearchLibrary:
        """The library's faces loaded for who/find/same questions (reads every embedding once)."""
        from clusterfaces.people.search import SearchLibrary

        return SearchLibrary(self.database, self.reading)

    def journal(self, limit: int = 50) -> list[JournalEntry]:
        """The latest edits, oldest first."""
        if not self.database.is_file():
            return []
        with self.reading() as store:
            return edits.journal(store, limit)

    def face_crops(self, face_ids: Sequence[int], size: int = 160) -> dict[int, Image.Image]:
        """Square thumbnails of the faces, cut from their photos (read, never written); faces whose photo
        cannot be read are left out."""
        with self.reading() as store:
            places = store.face_boxes(face_ids)
        return dict(face_crops(((face, place.photo, place.box) for face, place in places.items()), size=size))

    def face_crop(self, face_id: int, size: int = 160) -> Image.Image:
        """One face's thumbnail; a one-line error when its photo cannot be read."""
        crops = self.face_crops([face_id], size)
        if face_id not in crops:
            raise ClusterfacesError(f"face {face_id}'s photo cannot be read right now")
        return crops[face_id]

    def photo_image(self, face_id: int, max_side: int = 1600) -> Image.Image:
        """The whole photo a face is in, upright and at most max_side pixels."""
        with self.reading() as store:
            places = store.face_boxes([face_id])
        if face_id not in places:
            raise ClusterfacesError(f"there is no face {face_id}")
        return Image.fromarray(decode_image(places[face_id].photo, max_side).pixels)

    def person_crops(self, person_id: int, count: int) -> list[tuple[int, Image.Image]]:
        """(face id, crop) for up to count of the person's surest, largest faces (contact sheets)."""
        from clusterfaces.outputs.sheets import person_crops

        with self.reading() as store:
            return person_crops(store, person_id, count)

    # --- edits ------------------------------------------------------------------------------
    def _edit(self, change: Callable[[Store], Result]) -> tuple[Result, str, str | None]:
        """Apply one edit under the lock; then make the people folders follow. Returns what the edit
        returned, its journal line, and a warning when the folders could not follow."""
        with self.editing() as store:
            value = change(store)
            entries = store.journal_entries(1)
            summary = entries[-1].summary if entries else ""
        try:
            self.refresh_folders()
        except OutputError as error:
            return value, summary, (f"the edit is saved, but the people folders could not be updated ({error}); "
                                    "they catch up at the next edit or scan that can write them")
        return value, summary, None

    def rename(self, person_id: int, name: str) -> Edit:
        """Name a person; their faces become confirmed (Edit.faces)."""
        confirmed, summary, warning = self._edit(lambda store: edits.rename_person(store, person_id, name))
        return Edit(summary, person_id, confirmed, folders_warning=warning)

    def name(self, person_id: int, name: str) -> Edit:
        """Name a person as the naming session does: a name another person has merges the two (into that
        person, Edit.person_id)."""
        (target, _merged), summary, warning = self._edit(lambda store: edits.name_person(store, person_id, name))
        return Edit(summary, target, folders_warning=warning)

    def merge(self, target_id: int, other_ids: Sequence[int]) -> Edit:
        """Merge people into the first (Edit.faces: faces moved)."""
        moved, summary, warning = self._edit(lambda store: edits.merge_people(store, target_id, list(other_ids)))
        return Edit(summary, target_id, moved, folders_warning=warning)

    def ignore(self, person_id: int, ignored: bool = True) -> Edit:
        """Ignore a person (no folder, not offered for naming), or stop ignoring them."""
        _, summary, warning = self._edit(lambda store: edits.ignore_person(store, person_id, ignored))
        return Edit(summary, person_id, folders_warning=warning)

    def split(self, person_id: int) -> Edit:
        """Re-cluster one person's faces into sub-groups (Edit.groups; one group: nothing changed)."""
        groups, summary, warning = self._edit(lambda store: edits.split_person(store, person_id))
        if len(groups) == 1:
            summary = f"person {person_id}'s {groups[0][1]} faces form one group: nothing to split"
        return Edit(summary, person_id, groups=tuple(groups), folders_warning=warning)

    def move_faces(self, face_ids: Sequence[int], person_id: int) -> Edit:
        """Put faces with a person (confirmed), in one edit."""
        _, summary, warning = self._edit(lambda store: edits.move_faces(store, face_ids, person_id))
        return Edit(summary, person_id, len(set(face_ids)), folders_warning=warning)

    def reject_faces(self, face_ids: Sequence[int], person_id: int) -> Edit:
        """Say faces are not this person (Edit.faces: how many left them), in one edit."""
        left, summary, warning = self._edit(lambda store: edits.reject_faces(store, face_ids, person_id))
        return Edit(summary, person_id, left, folders_warning=warning)

    def new_person(self, face_ids: Sequence[int]) -> Edit:
        """Make the faces a new person of their own (Edit.person_id), in one edit."""
        new_id, summary, warning = self._edit(lambda store: edits.new_person_from_faces(store, face_ids))
        return Edit(summary, new_id, len(set(face_ids)), folders_warning=warning)

    def undo(self) -> Edit:
        """Undo the latest edit not undone yet (Edit.summary says what it was)."""
        summary, _, warning = self._edit(edits.undo_last)
        return Edit(summary, folders_warning=warning)

    def import_map(self, data: dict, source: str = "identity map") -> ImportReport:
        """Restore an identity map's names, merges, ignores and corrections, as one edit."""
        from clusterfaces.outputs.importing import import_identity_map

        report, _, warning = self._edit(lambda store: import_identity_map(store, data, source))
        report.folders_warning = warning
        return report

    # --- outputs ----------------------------------------------------------------------------
    def identity_map_state(self, embeddings: bool = False) -> LibraryState:
        """Everything the identity map and the XMP sidecars say, in one consistent snapshot."""
        from clusterfaces.outputs.export import read_library

        with Store(self.database) as store:
            return read_library(store, embeddings)

    def write_gallery(self, out: Path) -> GalleryStats:
        """The static HTML gallery of the people, written to out."""
        from clusterfaces.outputs.gallery import write_gallery

        with self.reading() as store:
            return write_gallery(store, out)


def _last_scan(store: Store) -> LastScan:
    last = store.last_run()
    if last is None:
        raise ClusterfacesError(f"{store.path} has no finished scan yet: run `clusterfaces scan` first")
    return last

