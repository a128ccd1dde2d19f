"""A Library is one database plus its photo roots; `scan` runs the whole pipeline end to end."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from clusterfaces import crawl, folders, processing
from clusterfaces.clustering import ClusterSettings, cluster_embeddings
from clusterfaces.errors import ClusterfacesError
from clusterfaces.faces import DEFAULT_DETECTOR, DEFAULT_MODEL, l2_normalise, load_embedder
from clusterfaces.identities import (
    PersonSummary,
    attach_to_people,
    carry_over_people,
    one_face_per_photo,
    people_from_clusters,
    people_with_faces,
    store_people,
)
from clusterfaces.images import DEFAULT_MAX_SIDE
from clusterfaces.locations import default_database, default_output
from clusterfaces.progress import NullObserver, ScanObserver
from clusterfaces.store import Store, StoredFaces

UNCLUSTERED_FOLDER = "Unclustered"
# Between full re-clusterings new faces only join the people they clearly match; a full
# re-clustering runs when this many faces wait unassigned (at least RECLUSTER_MIN_NEW, and at
# least RECLUSTER_SHARE of the faces the last re-clustering saw), or on `scan --recluster`.
RECLUSTER_MIN_NEW = 20
RECLUSTER_SHARE = 0.25


def usable_faces(faces: StoredFaces, settings: ClusterSettings) -> dict[int, bool]:
    """Face id -> whether it is big and certain enough to be grouped."""
    return dict(zip(faces.ids.tolist(), settings.clusterable(faces.sizes, faces.scores).tolist()))


def default_workers() -> int:
    """Decode/detect worker processes: one per core (the embedder runs alongside in the main process)."""
    return max(1, min(os.cpu_count() or 1, 8))


@dataclass
class ScanOptions:
    """Everything a scan can be told; the CLI fills it from its options."""

    roots: list[Path]
    model: str | None = None  # None: the library's model, or the default with its offline fallback
    detector: str | None = None  # None: the library's detector, or the default
    max_side: int | None = DEFAULT_MAX_SIDE
    batch_size: int = 32
    workers: int = field(default_factory=default_workers)
    clustering: ClusterSettings = field(default_factory=ClusterSettings)
    link_mode: str = "symlink"
    offline: bool = False
    recluster: bool = False


@dataclass
class PersonReport:
    """A person in the summary: who, how many faces and photos, and their folder."""

    person: PersonSummary
    photos: list[Path]


@dataclass
class ScanResult:
    """What a scan did, for the summary and for tests."""

    model: str
    detector: str
    database: Path
    output: Path
    warnings: list[str] = field(default_factory=list)
    photos_seen: int = 0
    photos_processed: int = 0
    photos_reused: int = 0  # moved, renamed or duplicated: faces copied, nothing recomputed
    photos_removed: int = 0
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[crawl.SkippedPath] = field(default_factory=list)
    faces_total: int = 0
    faces_new: int = 0
    faces_clustered: int = 0
    faces_filtered: int = 0  # too small or too uncertain to cluster
    people: list[PersonReport] = field(default_factory=list)
    unclustered_photos: list[Path] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    reclustered: bool = False


class Library:
    """One database and the output folder its people are written to."""

    def __init__(self, database: Path | None = None, output: Path | None = None) -> None:
        self.database = Path(database) if database else default_database()
        self.output = Path(output) if output else default_output()

    def scan(self, options: ScanOptions, observer: ScanObserver = NullObserver()) -> ScanResult:
        """Crawl, process what is new, cluster, and write the people folders."""
        roots = self._checked_roots(options.roots)
        result = ScanResult(model=options.model or DEFAULT_MODEL, detector=options.detector or DEFAULT_DETECTOR,
                            database=self.database, output=self.output)
        clock = time.perf_counter()
        with self.exclusive(), Store(self.database) as store:
            previous = store.last_model()
            model = options.model or (previous[0] if previous else DEFAULT_MODEL)
            detector = options.detector or (previous[1] if previous else DEFAULT_DETECTOR)
            observer.start("crawl", None)
            found, result.skipped = self._crawl(roots, observer)
            result.photos_seen = len(found)
            known = store.photos_under(roots)
            result.seconds["crawl"] = time.perf_counter() - clock

            run_id = store.start_run(roots, model, detector, self._settings(options))
            try:
                model = self._process(store, found, known, model, detector, previous, options, run_id, result,
                                      observer)
                present = {file.location for file in found}
                gone = [record.id for location, record in known.items() if location not in present]
                with store.transaction():
                    result.photos_removed = store.remove_photos(gone)

                clock = time.perf_counter()
                observer.start("cluster", None)
                self._cluster(store, model, roots, options, run_id, result)
                result.seconds["cluster"] = time.perf_counter() - clock

                clock = time.perf_counter()
                observer.start("report", None)
                self._write_folders(store, roots, options.link_mode, result)
                result.unreadable = store.unreadable_photos(roots)
                result.seconds["report"] = time.perf_counter() - clock
            except BaseException:
                store.finish_run(run_id, {}, status="interrupted")
                raise
            store.finish_run(run_id, self._summary(result))
        return result

    def _process(self, store: Store, found: list[crawl.FoundFile], known: dict, model: str, detector: str,
                 previous: tuple[str, str] | None, options: ScanOptions, run_id: int, result: ScanResult,
                 observer: ScanObserver) -> str:
        """Detect and embed what is new or changed; returns the model actually used (after any fallback)."""
        todo = processing.files_to_process(found, known, model, detector)
        if not todo:
            result.model, result.detector = model, detector
            return model
        observer.start("model", None)
        embedder, warning = load_embedder(model, options.model is not None, not options.offline)
        if warning:
            result.warnings.append(warning)
            observer.warn(warning)
            model = embedder.model_name
            store.set_run_model(run_id, model)
            todo = processing.files_to_process(found, known, model, detector)
        result.model, result.detector = model, detector
        carried = []
        if previous and previous != (model, detector):
            switched = sum(1 for f in todo if f.location in known and known[f.location].status == "done")
            if switched:
                carried = store.people_faces(previous[0])
                message = (f"this library's faces come from {previous[0]} with the {previous[1]} detector; "
                           f"{switched} photos are processed again with {model} and {detector}. Names, merges and "
                           "ignored people are carried over to the new faces by photo and box.")
                result.warnings.append(message)
                observer.warn(message)
        settings = processing.DetectionSettings(detector, model, options.max_side, not options.offline)
        started = time.perf_counter()
        stats = processing.process_photos(todo, store, embedder, settings, run_id, batch_size=options.batch_size,
                                          workers=options.workers, observer=observer)
        result.seconds.update({k: v for k, v in stats.seconds.items() if v})
        result.seconds["processing (wall)"] = time.perf_counter() - started
        result.photos_processed = stats.photos
        result.photos_reused = stats.reused_photos
        result.faces_new = stats.faces
        if carried:
            carry_over_people(store, carried, model, run_id)
        return model

    @contextlib.contextmanager
    def editing(self) -> Iterator[Store]:
        """The database, open for edits while no scan or other edit runs on it."""
        with self.exclusive(), Store(self.database) as store:
            yield store

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """One scan or edit at a time per database: a second one waits for the first, saying so (locking.py)."""
        from clusterfaces.locking import database_lock

        with database_lock(self.database):
            yield

    def _checked_roots(self, roots: list[Path]) -> list[Path]:
        if not roots:
            raise ClusterfacesError("give at least one folder of photos to scan")
        checked = []
        output = Path(os.path.abspath(self.output))
        for root in roots:
            path = Path(os.path.abspath(os.path.expanduser(root)))
            if not path.is_dir():
                raise ClusterfacesError(f"{root} is not a folder (give the folder that holds your photos)")
            if path == output or output in path.parents:
                raise ClusterfacesError(
                    f"the output folder {output} contains the photo folder {path}: choose another --out"
                )
            checked.append(path)
        # A root inside another root would be walked twice: keep the outermost.
        return [p for p in dict.fromkeys(checked) if not any(o in p.parents for o in checked)]

    def _crawl(self, roots: list[Path], observer: ScanObserver) -> tuple[list[crawl.FoundFile], list]:
        found, skipped = [], []
        output = Path(os.path.abspath(self.output))

        def skip_folder(folder: Path) -> bool:
            return folder == output or folders.is_output_folder(folder)

        for item in crawl.crawl(roots, skip_folder):
            if isinstance(item, crawl.FoundFile):
                found.append(item)
                observer.advance("crawl", 1)
            else:
                skipped.append(item)
        return found, skipped

    def _cluster(self, store: Store, model: str, roots: list[Path], options: ScanOptions, run_id: int,
                 result: ScanResult) -> None:
        """Re-cluster everything when due (or asked), else attach new faces to the people they match."""
        settings = options.clustering
        faces = store.load_faces(model, roots)
        usable = settings.clusterable(faces.sizes, faces.scores)
        vectors = l2_normalise(faces.embeddings)
        resolved = settings.resolved(int(usable.sum()), model)
        last = store.last_recluster(model)
        waiting = usable & (faces.person_ids == 0) & (faces.created_runs > (last[0] if last else 0))
        due = last is None or waiting.sum() >= max(RECLUSTER_MIN_NEW, RECLUSTER_SHARE * last[1])
        result.reclustered = options.recluster or due
        if result.reclustered:
            labels = np.full(len(faces.ids), -1, dtype=np.int64)
            if usable.any():
                labels[usable] = cluster_embeddings(vectors[usable], settings, model)
            people, _ = people_from_clusters(vectors, labels, faces.person_ids, faces.confirmed)
            store.mark_reclustered(run_id, int(usable.sum()))
        else:
            people = faces.person_ids.copy()
            people[usable] = attach_to_people(vectors[usable], people[usable], resolved.attach_distance or 0.0)
        people = one_face_per_photo(vectors, people, faces.photo_ids, faces.confirmed)
        store_people(store, model, faces.ids, people, run_id)
        result.faces_total = len(faces.ids)
        result.faces_filtered = int((~usable).sum())
        result.settings["clustering"] = asdict(resolved)

        self._describe_people(store, model, roots, usable_faces(faces, settings), result)

    @staticmethod
    def _describe_people(store: Store, model: str, roots: list[Path], usable: dict[int, bool],
                         result: ScanResult) -> None:
        """Fill the result's people (largest first) and photos with ungrouped faces, from the database."""
        stored = store.load_faces(model, roots)
        result.faces_clustered = int((stored.person_ids > 0).sum())
        photo_of_face = dict(store.face_photos(stored.ids.tolist()))
        result.people = [
            PersonReport(person, sorted({photo_of_face[f] for f in person.face_ids}))
            for person in people_with_faces(store, model, stored.ids, stored.person_ids)
        ]
        result.unclustered_photos = sorted({
            photo_of_face[face] for face, person in zip(stored.ids.tolist(), stored.person_ids.tolist())
            if person == 0 and usable.get(face, False)
        })

    def refresh_folders(self) -> ScanResult:
        """Rewrite the people folders from the database as the last scan left them (after an edit)."""
        with Store(self.database) as store:
            last = store.last_run()
            if last is None:
                raise ClusterfacesError(f"{self.database} has no finished scan yet: run `clusterfaces scan` first")
            roots, model, detector, settings = last
            clustering = ClusterSettings(**settings.get("clustering", {}))
            result = ScanResult(model=model, detector=detector, database=self.database, output=self.output)
            faces = store.load_faces(model, roots)
            self._describe_people(store, model, roots, usable_faces(faces, clustering), result)
            self._write_folders(store, roots, settings.get("link_mode", "symlink"), result)
        return result

    def _write_folders(self, store: Store, roots: list[Path], link_mode: str, result: ScanResult) -> None:
        wanted = [folders.PersonFolder(p.person.label, tuple(p.photos)) for p in result.people if not p.person.ignored]
        if result.unclustered_photos:
            wanted.append(folders.PersonFolder(UNCLUSTERED_FOLDER, tuple(result.unclustered_photos)))
        result.settings["folders"] = asdict(folders.write_people_folders(self.output, wanted, roots, link_mode))

    @staticmethod
    def _settings(options: ScanOptions) -> dict:
        return {"max_side": options.max_side, "batch_size": options.batch_size,
                "clustering": asdict(options.clustering), "link_mode": options.link_mode}

    @staticmethod
    def _summary(result: ScanResult) -> dict:
        return {
            "photos_seen": result.photos_seen, "photos_processed": result.photos_processed,
            "photos_reused": result.photos_reused,
            "photos_removed": result.photos_removed, "unreadable": len(result.unreadable),
            "faces": result.faces_total, "faces_new": result.faces_new, "people": len(result.people),
            "seconds": {k: round(v, 3) for k, v in result.seconds.items()},
        }
