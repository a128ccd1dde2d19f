"""A Library is one database plus its photo roots; `scan` runs the whole pipeline end to end."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from clusterfaces.errors import ClusterfacesError, OutputError
from clusterfaces.images import DEFAULT_MAX_SIDE
from clusterfaces.locations import default_database, default_output
from clusterfaces.outputs import folders
from clusterfaces.people.calibration import calibrate
from clusterfaces.people.cluster_centres import attach_leftovers
from clusterfaces.people.clustering import ClusterSettings, cluster_embeddings
from clusterfaces.people.continuity import one_face_per_photo, people_from_clusters
from clusterfaces.people.identities import PersonSummary, carry_over_people, people_with_faces, store_people
from clusterfaces.progress import NullObserver, ScanObserver
from clusterfaces.scan import crawl, processing
from clusterfaces.scan.faces import DEFAULT_DETECTOR, DEFAULT_MODEL, l2_normalise, load_embedder
from clusterfaces.store import Store, StoredFaces

UNCLUSTERED_FOLDER = "Unclustered"
# Between full re-clusterings new faces only join the people they clearly match; a full
# re-clustering runs when this many faces wait unassigned (at least RECLUSTER_MIN_NEW, and at
# least RECLUSTER_SHARE of the faces the last re-clustering saw), or on `scan --recluster`.
RECLUSTER_MIN_NEW = 20
RECLUSTER_SHARE = 0.25
# A root that lost more than this share of its photos since the last scan, and more than
# LOST_ROOT_MIN_PHOTOS of them, is taken for a drive that is not (fully) there: left as it is.
LOST_ROOT_SHARE = 0.5
LOST_ROOT_MIN_PHOTOS = 20
# What the options may be (the CLI refuses anything else before a scan records a thing).
MAX_SIDE_RANGE = (320, 20_000)  # or 0/None: full size
BATCH_SIZE_RANGE = (1, 4096)
WORKERS_RANGE = (0, 64)
MIN_FACE_SIZE_RANGE = (0, 10_000)
DISTANCE_RANGE = (0.0, 2.0)  # between L2-normalised embeddings


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
    forget_missing: bool = False  # forget the photos not on disk now (else they are kept as missing)
    dask: str | None = None  # a Dask scheduler address (or "local"): detect on that cluster, not a local pool

    def check(self) -> None:
        """Refuse options out of range, before anything is recorded (one-line ClusterfacesError)."""
        low, high = MAX_SIDE_RANGE
        if self.max_side is not None and self.max_side != 0 and not low <= self.max_side <= high:
            raise ClusterfacesError(f"--max-side {self.max_side} is out of range: give 0 (full size) or "
                                    f"{low} to {high} pixels")
        distances = {"--attach-distance": self.clustering.attach_distance,
                     "--cluster-epsilon": self.clustering.selection_epsilon}
        for option, value, (low, high) in (
            ("--batch-size", self.batch_size, BATCH_SIZE_RANGE), ("--workers", self.workers, WORKERS_RANGE),
            ("--min-face-size", self.clustering.min_face_size, MIN_FACE_SIZE_RANGE),
            ("--min-score", self.clustering.min_score, (0.0, 1.0)),
            *((option, value, DISTANCE_RANGE) for option, value in distances.items()),
        ):
            if value is not None and not (isinstance(value, int | float) and low <= value <= high):
                raise ClusterfacesError(f"{option} {value} is out of range: give {low} to {high}")


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
    photos_retagged: int = 0  # same pixels, new tags or dates in the file: nothing recomputed
    photos_redone: int = 0  # new pixels at a known path: detected again, each face's marks carried over
    photos_removed: int = 0  # forgotten on purpose (--forget-missing)
    photos_missing: int = 0  # not on disk, kept with their faces and people
    photos_returned: int = 0  # missing before, back now (same path or moved)
    missing_people: list[PersonSummary] = field(default_factory=list)  # people seen only in missing photos
    unavailable_roots: list[tuple[Path, str]] = field(default_factory=list)  # left alone this scan, and why
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
        self._output = Path(output) if output else None

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

    def scan(self, options: ScanOptions, observer: ScanObserver = NullObserver()) -> ScanResult:
        """Crawl, process what is new, cluster, and write the people folders."""
        options.check()
        clock = time.perf_counter()
        with self.exclusive(), Store(self.database) as store:
            roots, absent = self._checked_roots(options.roots, store)
            self._check_output(roots + [root for root, _ in absent])
            result = ScanResult(model=options.model or DEFAULT_MODEL, detector=options.detector or DEFAULT_DETECTOR,
                                database=self.database, output=self.output, unavailable_roots=absent)
            result.warnings += [reason for _, reason in absent]  # the summary shows them, one line each
            previous = store.last_model()
            model = options.model or (previous[0] if previous else DEFAULT_MODEL)
            detector = options.detector or (previous[1] if previous else DEFAULT_DETECTOR)
            observer.start("crawl", None)
            found, result.skipped = self._crawl(roots, observer)
            result.photos_seen = len(found)
            known = store.photos_under(roots)
            result.seconds["crawl"] = time.perf_counter() - clock

            all_roots = roots + [root for root, _ in absent]
            run_id = store.start_run(all_roots, model, detector, self._settings(options))
            try:
                with store.transaction():
                    store.set_setting("output", os.path.abspath(self.output))
                present = {file.location for file in found}
                vanished = {r.id for location, r in known.items() if location not in present}
                model = self._process(store, found, known, model, detector, previous, options, run_id, result,
                                      observer, vanished)
                self._settle_missing(store, roots, found, known, options, run_id, result, observer)
                available = [root for root in roots if root not in {r for r, _ in result.unavailable_roots}]
                store.set_run_settings(run_id, {**self._settings(options), "unavailable": [
                    os.fsdecode(root) for root, _ in result.unavailable_roots]})

                if available:
                    clock = time.perf_counter()
                    observer.start("cluster", None)
                    self._cluster(store, model, available, options, run_id, result)
                    result.seconds["cluster"] = time.perf_counter() - clock

                    clock = time.perf_counter()
                    observer.start("report", None)
                    self._write_folders(store, available, options.link_mode, result)
                    result.unreadable = store.unreadable_photos(available)
                    result.seconds["report"] = time.perf_counter() - clock
                result.missing_people = [PersonSummary(pid, name, ignored, ()) for pid, name, ignored
                                         in store.people_only_missing(model)]
            except BaseException:
                store.finish_run(run_id, {}, status="interrupted")
                raise
            store.finish_run(run_id, self._summary(result))
        return result

    def _settle_missing(self, store: Store, roots: list[Path], found: list[crawl.FoundFile], known: dict,
                        options: ScanOptions, run_id: int, result: ScanResult, observer: ScanObserver) -> None:
        """Photos not found are kept as missing (or forgotten, when asked); a root that is empty or lost
        most of its photos since the last scan is left as it is; missing photos found again are back."""
        present = {file.location for file in found}
        missing_before = {r.id for r in known.values() if r.missing_since is not None}
        back = [r.id for location, r in known.items() if location in present and r.missing_since is not None]
        forgotten: set[int] = set()
        now = store.photos_under(roots) if any(location not in present for location in known) else known
        for root in roots:
            prefix = os.path.join(os.fsdecode(root), "")
            under = [r for location, r in known.items() if location.startswith(prefix)]
            had = sum(1 for r in under if r.missing_since is None)
            lost = [r.id for location, r in now.items() if location.startswith(prefix) and location not in present
                    and r.missing_since is None]
            missing = [r.id for location, r in now.items() if location.startswith(prefix)
                       and r.missing_since is not None]
            seen = sum(1 for location in present if location.startswith(prefix))
            if lost and seen == 0:
                reason = (f"{root} is empty (a drive not mounted?): its {had} photos are left as they are; "
                          "scan again when it is back")
            elif len(lost) > max(LOST_ROOT_MIN_PHOTOS, LOST_ROOT_SHARE * had) and not options.forget_missing:
                reason = (f"{root} lost {len(lost)} of its {had} photos since the last scan (a drive not fully "
                          "there?): they are left as they are; scan again when they are back, or add "
                          "--forget-missing if they are gone for good")
            else:
                reason = None
            if reason:
                result.unavailable_roots.append((root, reason))
                result.warnings.append(reason)
                continue
            with store.transaction():
                if options.forget_missing:
                    result.photos_removed += store.remove_photos(lost + missing)
                    forgotten.update(lost + missing)
                else:
                    store.mark_missing(lost, run_id)
        with store.transaction():
            store.mark_found(back, run_id)
        missing_after = set(store.missing_photos(roots))
        result.photos_missing = len(missing_after)
        result.photos_returned = len(missing_before - missing_after - forgotten)

    def _process(self, store: Store, found: list[crawl.FoundFile], known: dict, model: str, detector: str,
                 previous: tuple[str, str] | None, options: ScanOptions, run_id: int, result: ScanResult,
                 observer: ScanObserver, vanished: set[int]) -> str:
        """Detect and embed what is new or changed; returns the model actually used (after any fallback)."""
        failure = processing.failure_key(processing.DetectionSettings(detector, model, options.max_side))
        todo = processing.files_to_process(found, known, model, detector, failure)
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
            todo = processing.files_to_process(found, known, model, detector, failure)
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
        movable = vanished | {record.id for record in known.values() if record.missing_since is not None}
        stats = processing.process_photos(todo, store, embedder, settings, run_id, batch_size=options.batch_size,
                                          workers=options.workers, observer=observer, known=known, movable=movable,
                                          dask=options.dask)
        result.seconds.update({k: v for k, v in stats.seconds.items() if v})
        result.seconds["processing (wall)"] = time.perf_counter() - started
        result.photos_processed = stats.photos
        result.photos_reused = stats.reused_photos
        result.photos_retagged = stats.retagged_photos
        result.photos_redone = stats.redone_photos
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
        from clusterfaces.store.locking import database_lock

        with database_lock(self.database):
            yield

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

    def _crawl(self, roots: list[Path], observer: ScanObserver) -> tuple[list[crawl.FoundFile], list]:
        found, skipped = [], []
        output = Path(os.path.abspath(self.output))
        tool_files: set[str] = set()

        def skip_folder(folder: Path) -> bool:
            # An output folder (of this or another library) is skipped unless it holds photos of the user's
            # (a stale manifest never hides photos): then only the links and copies the tool made are skipped.
            if folder == output:
                return True
            made = folders.tool_files(folder)
            if made is None:
                return False
            if folders.foreign_photo(folder, made) is None:
                return True
            tool_files.update(made)
            return False

        for item in crawl.crawl(roots, skip_folder, tool_files.__contains__):
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
        resolved = settings.resolved(int(usable.sum()), model,
                                     calibrate(vectors[usable], faces.photo_ids[usable], model))
        last = store.last_recluster(model)
        waiting = usable & (faces.person_ids == 0) & (faces.created_runs > (last[0] if last else 0))
        due = last is None or waiting.sum() >= max(RECLUSTER_MIN_NEW, RECLUSTER_SHARE * last[1])
        result.reclustered = options.recluster or due
        if result.reclustered:
            labels = np.full(len(faces.ids), -1, dtype=np.int64)
            if usable.any():
                labels[usable] = cluster_embeddings(vectors[usable], resolved, model, faces.photo_ids[usable])
            people, _ = people_from_clusters(vectors, labels, faces.person_ids, faces.confirmed)
            store.mark_reclustered(run_id, int(usable.sum()))
        else:
            people = faces.person_ids.copy()
            labels = np.where(people[usable] > 0, people[usable], -1)  # person ids as cluster labels, -1: nobody
            people[usable] = attach_leftovers(vectors[usable], labels, resolved.attach_distance or 0.0).clip(min=0)
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
            unavailable = set(settings.get("unavailable", []))
            roots = [root for root in roots if os.fsdecode(root) not in unavailable]
            if not roots:
                raise OutputError("the photo folders were not there at the last scan")
            self._check_output(roots)
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
            "photos_reused": result.photos_reused, "photos_retagged": result.photos_retagged,
            "photos_redone": result.photos_redone, "photos_missing": result.photos_missing,
            "photos_returned": result.photos_returned,
            "photos_removed": result.photos_removed, "unreadable": len(result.unreadable),
            "faces": result.faces_total, "faces_new": result.faces_new, "people": len(result.people),
            "seconds": {k: round(v, 3) for k, v in result.seconds.items()},
        }
