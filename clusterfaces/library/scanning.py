"""One scan, start to end: crawl the roots, process what is new, settle missing photos, group, write folders."""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from clusterfaces.library.options import ScanOptions, ScanResult
from clusterfaces.library.people_folders import describe_people, write_folders
from clusterfaces.outputs import folders
from clusterfaces.people.calibration import calibrate
from clusterfaces.people.cluster_centres import attach_leftovers
from clusterfaces.people.clustering import cluster_embeddings
from clusterfaces.people.continuity import one_face_per_photo, people_from_clusters
from clusterfaces.people.identities import PersonSummary, carry_over_people, store_people
from clusterfaces.progress import ScanObserver
from clusterfaces.scan import crawl, processing
from clusterfaces.scan.faces import DEFAULT_DETECTOR, DEFAULT_MODEL, MIRRORED_MODELS, l2_normalise, load_embedder
from clusterfaces.store import PhotoRecord, Store

# Between full re-clusterings new faces only join the people they clearly match; a full
# re-clustering runs when this many faces wait unassigned (at least RECLUSTER_MIN_NEW, and at
# least RECLUSTER_SHARE of the faces the last re-clustering saw), or on `scan --recluster`.
RECLUSTER_MIN_NEW = 20
RECLUSTER_SHARE = 0.25
# A root that lost more than this share of its photos since the last scan, and more than
# LOST_ROOT_MIN_PHOTOS of them, is taken for a drive that is not (fully) there: left as it is.
LOST_ROOT_SHARE = 0.5
LOST_ROOT_MIN_PHOTOS = 20


class ScanRun:
    """The state of one scan of an open, locked database: each step reads and adds to it in turn, and the
    result it builds is what the summary shows."""

    def __init__(self, store: Store, options: ScanOptions, output: Path, roots: list[Path],
                 absent: list[tuple[Path, str]], observer: ScanObserver) -> None:
        self.store = store
        self.options = options
        self.output = output
        self.roots = roots
        self.observer = observer
        last = store.last_run()
        self.previous = (last.model, last.detector) if last else None
        self.model = options.model or (last.model if last else DEFAULT_MODEL)
        self.detector = options.detector or (last.detector if last else DEFAULT_DETECTOR)
        self.result = ScanResult(model=options.model or DEFAULT_MODEL, detector=options.detector or DEFAULT_DETECTOR,
                                 database=store.path, output=output, unavailable_roots=list(absent))
        self.result.warnings += [reason for _, reason in absent]  # the summary shows them, one line each
        self.found: list[crawl.FoundFile] = []
        self.known: dict[str, PhotoRecord] = {}
        self.run_id = 0

    def run(self) -> ScanResult:
        """Every step, in order; an interrupted run is recorded as such and the error goes on up."""
        store, result = self.store, self.result
        clock = time.perf_counter()
        self.observer.start("crawl", None)
        self.found, result.skipped = self._crawl()
        result.photos_seen = len(self.found)
        self.known = store.photos_under(self.roots)
        result.seconds["crawl"] = time.perf_counter() - clock

        all_roots = self.roots + [root for root, _ in result.unavailable_roots]
        self.run_id = store.start_run(all_roots, self.model, self.detector, self.options.recorded())
        try:
            with store.transaction():
                store.set_setting("output", os.path.abspath(self.output))
            self._process()
            self._settle_missing()
            left_alone = {root for root, _ in result.unavailable_roots}
            available = [root for root in self.roots if root not in left_alone]
            store.set_run_settings(self.run_id, {**self.options.recorded(), "unavailable": [
                os.fsdecode(root) for root, _ in result.unavailable_roots]})
            if available:
                clock = time.perf_counter()
                self.observer.start("cluster", None)
                self._cluster(available)
                result.seconds["cluster"] = time.perf_counter() - clock

                clock = time.perf_counter()
                self.observer.start("report", None)
                describe_people(store, self.model, available, self.options.clustering, result)
                write_folders(self.output, available, self.options.link_mode, result)
                result.unreadable = store.unreadable_photos(available)
                result.seconds["report"] = time.perf_counter() - clock
            result.missing_people = [PersonSummary(p.id, p.name, p.ignored, ())
                                     for p in store.people_only_missing(self.model)]
        except BaseException:
            store.finish_run(self.run_id, {}, status="interrupted")
            raise
        store.finish_run(self.run_id, result.summary())
        return result

    # --- crawl ------------------------------------------------------------------------------
    def _crawl(self) -> tuple[list[crawl.FoundFile], list[crawl.SkippedPath]]:
        return crawl_photos(self.roots, self.output, self.observer)

    # --- process ----------------------------------------------------------------------------
    def _process(self) -> None:
        """Detect and embed what is new or changed (self.model becomes the model actually used, after any
        offline fallback)."""
        store, options, result, known = self.store, self.options, self.result, self.known
        failure = processing.failure_key(processing.DetectionSettings(self.detector, self.model, options.max_side))
        todo = processing.files_to_process(self.found, known, self.model, self.detector, failure)
        if not todo:
            result.model, result.detector = self.model, self.detector
            return
        self.observer.start("model", None)
        embedder, warning = load_embedder(self.model, options.model is not None, not options.offline)
        if warning:
            self._warn(warning)
            self.model = embedder.model_name
            store.set_run_model(self.run_id, self.model)
            todo = processing.files_to_process(self.found, known, self.model, self.detector, failure)
        result.model, result.detector = self.model, self.detector
        with store.transaction():
            embedder.mirrored = store.choose_embedding(self.model, options.mirror and self.model in MIRRORED_MODELS)
        carried = []
        if self.previous and self.previous != (self.model, self.detector):
            switched = sum(1 for f in todo if f.location in known and known[f.location].status == "done")
            if switched:
                carried = store.marked_faces(self.previous[0])
                self._warn(f"this library's faces come from {self.previous[0]} with the {self.previous[1]} "
                           f"detector; {switched} photos are processed again with {self.model} and {self.detector}. "
                           "Names, merges and ignored people are carried over to the new faces by photo and box.")
        settings = processing.DetectionSettings(self.detector, self.model, options.max_side, not options.offline)
        started = time.perf_counter()
        present = {file.location for file in self.found}
        movable = {record.id for location, record in known.items()
                   if location not in present or record.missing_since is not None}
        stats = processing.process_photos(todo, store, embedder, settings, self.run_id,
                                          batch_size=options.batch_size, workers=options.workers,
                                          observer=self.observer, known=known, movable=movable, dask=options.dask)
        result.seconds.update({k: v for k, v in stats.seconds.items() if v})
        result.seconds["processing (wall)"] = time.perf_counter() - started
        result.photos_processed = stats.photos
        result.photos_reused = stats.reused_photos
        result.photos_retagged = stats.retagged_photos
        result.photos_redone = stats.redone_photos
        result.faces_new = stats.faces
        if carried:
            carry_over_people(store, carried, self.model, self.run_id)

    def _warn(self, message: str) -> None:
        self.result.warnings.append(message)
        self.observer.warn(message)

    # --- missing photos ---------------------------------------------------------------------
    def _settle_missing(self) -> None:
        """Photos not found are kept as missing (or forgotten, when asked); a root that is empty or lost
        most of its photos since the last scan is left as it is; missing photos found again are back."""
        store, result, known, roots = self.store, self.result, self.known, self.roots
        forget = self.options.forget_missing
        present = {file.location for file in self.found}
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
            elif len(lost) > max(LOST_ROOT_MIN_PHOTOS, LOST_ROOT_SHARE * had) and not forget:
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
                if forget:
                    result.photos_removed += store.remove_photos(lost + missing)
                    forgotten.update(lost + missing)
                else:
                    store.mark_missing(lost, self.run_id)
        with store.transaction():
            store.mark_found(back, self.run_id)
        missing_after = set(store.missing_photos(roots))
        result.photos_missing = len(missing_after)
        result.photos_returned = len(missing_before - missing_after - forgotten)

    # --- grouping ---------------------------------------------------------------------------
    def _cluster(self, roots: list[Path]) -> None:
        """Re-cluster everything when due (or asked), else attach new faces to the people they match."""
        store, settings, result, model = self.store, self.options.clustering, self.result, self.model
        faces = store.load_faces(model, roots)
        usable = settings.clusterable(faces.sizes, faces.scores)
        vectors = l2_normalise(faces.embeddings)
        resolved = settings.resolved(int(usable.sum()), model,
                                     calibrate(vectors[usable], faces.photo_ids[usable], model))
        last = store.last_recluster(model)
        waiting = usable & (faces.person_ids == 0) & (faces.created_runs > (last.run_id if last else 0))
        due = last is None or waiting.sum() >= max(RECLUSTER_MIN_NEW, RECLUSTER_SHARE * last.faces)
        result.reclustered = self.options.recluster or due
        if result.reclustered:
            labels = np.full(len(faces.ids), -1, dtype=np.int64)
            if usable.any():
                labels[usable] = cluster_embeddings(vectors[usable], resolved, model, faces.photo_ids[usable])
            people, _ = people_from_clusters(vectors, labels, faces.person_ids, faces.confirmed)
            store.mark_reclustered(self.run_id, int(usable.sum()))
        else:
            people = faces.person_ids.copy()
            labels = np.where(people[usable] > 0, people[usable], -1)  # person ids as cluster labels, -1: nobody
            reach = resolved.attach_reach if resolved.algorithm == "auto" else 0.0
            people[usable] = attach_leftovers(vectors[usable], labels, resolved.attach_distance or 0.0,
                                              reach).clip(min=0)
        people = one_face_per_photo(vectors, people, faces.photo_ids, faces.confirmed)
        store_people(store, model, faces.ids, people, self.run_id)
        result.faces_total = len(faces.ids)
        result.faces_filtered = int((~usable).sum())
        result.settings["clustering"] = asdict(resolved)


def crawl_photos(roots: list[Path], output: Path,
                 observer: ScanObserver) -> tuple[list[crawl.FoundFile], list[crawl.SkippedPath]]:
    """The photos below the roots, and what was skipped: people folders (this library's output, and any
    folder whose manifest says the tool made it) are not walked, unless they hold photos of the user's."""
    found, skipped = [], []
    output = Path(os.path.abspath(output))
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
