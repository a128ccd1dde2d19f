"""Turning new photos into stored faces: hash, decode and detect in workers, embed in batches, commit."""

from __future__ import annotations

import json
import multiprocessing
import signal
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from clusterfaces.errors import UnreadableImage
from clusterfaces.images import DETECTION_RESAMPLE, decode_image
from clusterfaces.progress import NullObserver, ScanObserver
from clusterfaces.scan.crawl import FoundFile, content_hash, pixel_fingerprint
from clusterfaces.scan.faces import DetectedFace, FaceDetector, FaceEmbedder
from clusterfaces.scan.parent_watch import exit_with_parent
from clusterfaces.store import FaceRow, PhotoRecord, Store


@dataclass(frozen=True)
class DetectionSettings:
    """What a worker needs to turn a file into detected, aligned faces."""

    detector: str
    model: str
    max_side: int | None
    allow_download: bool = True


@dataclass
class PhotoResult:
    """One file after hashing, decoding and detection (crops not yet embedded)."""

    file: FoundFile
    content_hash: str | None
    faces: list[DetectedFace]
    dimensions: tuple[int, int] | None = None
    reason: str | None = None  # set when the photo is unreadable
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class ProcessingStats:
    """What processing did, for the summary."""

    photos: int = 0
    unreadable: int = 0
    faces: int = 0
    reused_photos: int = 0  # moved, renamed or duplicate photos whose faces were copied, not recomputed
    reused_faces: int = 0
    moved_photos: int = 0  # of the reused: a missing or vanished photo found at a new path (same faces, same ids)
    retagged_photos: int = 0  # same path, new bytes, same pixels (tags, rating, dates written into the file)
    redone_photos: int = 0  # same path, new pixels (an edit, a crop): detected again, marks carried by face
    seconds: dict[str, float] = field(default_factory=lambda: {"hash": 0.0, "decode": 0.0, "detect": 0.0,
                                                                "embed": 0.0, "store": 0.0})


_worker_detector: FaceDetector | None = None
_worker_settings: DetectionSettings | None = None


def _init_worker(settings: DetectionSettings) -> None:
    global _worker_detector, _worker_settings
    exit_with_parent()  # a scan killed with kill -9 takes its workers with it (no orphans holding memory)
    # Ctrl-C reaches the whole process group: the main process stops the pool, workers stay quiet.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_settings = settings
    _worker_detector = FaceDetector(settings.detector, settings.model, settings.allow_download)


def _analyse_in_worker(file: FoundFile, digest: str | None) -> PhotoResult:
    assert _worker_detector is not None and _worker_settings is not None
    return analyse_photo(file, _worker_detector, _worker_settings.max_side, digest)


def analyse_photo(file: FoundFile, detector: FaceDetector, max_side: int | None,
                  digest: str | None = None) -> PhotoResult:
    """Hash (unless already hashed), decode and detect one file; unreadable files get a reason, not an exception."""
    seconds = {}
    start = time.perf_counter()
    try:
        digest = digest or pixel_fingerprint(file.path)
    except OSError as error:
        reason = "permission denied" if isinstance(error, PermissionError) else f"cannot read file: {error.strerror}"
        return PhotoResult(file, None, [], reason=reason)
    seconds["hash"] = time.perf_counter() - start
    try:
        image = decode_image(file.path, max_side, DETECTION_RESAMPLE)
    except UnreadableImage as error:
        return PhotoResult(file, digest, [], reason=str(error), seconds=seconds)
    seconds["decode"] = time.perf_counter() - start - seconds["hash"]
    mark = time.perf_counter()
    faces = detector.detect_faces(image)
    seconds["detect"] = time.perf_counter() - mark
    return PhotoResult(file, digest, faces, dimensions=image.original_size, seconds=seconds)


def _analysed(files: Iterable[tuple[FoundFile, str | None]], settings: DetectionSettings,
              workers: int, backlog: int = 0) -> Iterator[PhotoResult]:
    """Results in input order, from worker processes when workers > 0, with a bounded backlog (photos
    handed to the workers and not yet taken back: at least 4 a worker)."""
    if workers <= 0:
        detector = None
        for file, digest in files:
            detector = detector or FaceDetector(settings.detector, settings.model, settings.allow_download)
            yield analyse_photo(file, detector, settings.max_side, digest)
        return
    # spawn, not fork: the parent may already hold TensorFlow threads, which fork would break.
    context = multiprocessing.get_context("spawn")
    # Bounds memory (at most this many photos' crops wait for the embedder) and keeps the workers busy while
    # the embedder runs a batch: they go on with the photos queued behind it.
    backlog = max(backlog, 4 * workers)

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(settings,))

    pool = new_pool()
    pending: deque[tuple[FoundFile, str | None, Future[PhotoResult]]] = deque()
    remaining = iter(files)
    try:
        while True:
            while len(pending) < backlog:
                item = next(remaining, None)
                if item is None:
                    break
                pending.append((*item, pool.submit(_analyse_in_worker, *item)))
            if not pending:
                return
            file, digest, future = pending.popleft()
            try:
                result = future.result()
            except BrokenProcessPool:
                # A worker died (the out-of-memory killer, or a crash inside a native library) and took
                # the pool with it. Start a new pool, run this photo alone to learn whether it is the
                # cause, and send the photos that were queued behind it again.
                pool.shutdown(wait=True, cancel_futures=True)
                pool = new_pool()
                try:
                    result = pool.submit(_analyse_in_worker, file, digest).result()
                except BrokenProcessPool:
                    pool.shutdown(wait=True, cancel_futures=True)
                    pool = new_pool()
                    result = PhotoResult(file, digest, [], reason="the face detector crashed on this file")
                pending = deque((f, d, pool.submit(_analyse_in_worker, f, d)) for f, d, _ in pending)
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def failure_key(settings: DetectionSettings) -> str:
    """The settings a photo was found unreadable with: other settings try it again."""
    return json.dumps({"max_side": settings.max_side, "detector": settings.detector}, sort_keys=True)


def process_photos(
    files: Iterable[FoundFile], store: Store, embedder: FaceEmbedder, settings: DetectionSettings,
    run_id: int, *, batch_size: int = 32, workers: int = 0, observer: ScanObserver = NullObserver(),
    known: dict[str, PhotoRecord] | None = None, movable: Iterable[int] = (), dask: str | None = None,
) -> ProcessingStats:
    """Detect, embed and store every file; each batch is committed as soon as it is embedded.

    `known` holds what the database knew about each path; `movable` the ids of photos not where they
    were (missing, or not found by this scan): a file with the pixels of one of them is that photo,
    moved. An interrupted run keeps every committed batch, and the next scan picks up the rest.
    With `dask` (a scheduler address, or "local") the files are analysed on that Dask cluster instead of
    a local pool; embedding and commits stay here, the same either way.
    """
    files = list(files)
    known = known or {}
    movable = set(movable)
    model = embedder.model_name
    stats = ProcessingStats()
    observer.start("detect", len(files))
    # A file can only be a copy of a photo already processed if some processed photo has its size:
    # only those, and known photos whose file changed, are fingerprinted here, to find moved, renamed,
    # duplicated and re-tagged photos before decoding them.
    known_sizes = store.processed_sizes(model, settings.detector)
    legacy = store.has_byte_hashes()  # photos recorded before pixel fingerprints: found by their bytes

    def same_photo(record: PhotoRecord | None) -> bool:
        return (record is not None and record.status == "done" and record.model == model
                and record.detector == settings.detector)

    def needing_analysis() -> Iterator[tuple[FoundFile, str | None]]:
        for file in files:
            digest = None
            record = known.get(file.location)
            # Photos not where they were may come back re-tagged as well as moved (another size): while
            # there are any, every new file is fingerprinted here (the workers then skip that step).
            if same_photo(record) or file.size in known_sizes or (movable and record is None):
                start = time.perf_counter()
                try:
                    digest = pixel_fingerprint(file.path)
                except OSError:
                    digest = None  # the worker records why it cannot be read
                stats.seconds["hash"] += time.perf_counter() - start
                if digest and same_photo(record) and digest == record.content_hash:
                    with store.transaction():  # only the file's metadata changed: the photo is the same
                        store.update_file(record.id, file.size, file.mtime_ns, run_id)
                    stats.photos += 1
                    stats.retagged_photos += 1
                    observer.advance("detect", 1)
                    continue
                sources = store.processed_photos_with_hash(digest, model, settings.detector) if digest else []
                if not sources and digest and legacy:
                    try:
                        sources = store.processed_photos_with_hash(content_hash(file.path), model, settings.detector)
                    except OSError:
                        sources = []
                if sources:
                    mover = next((source for source in sources if source in movable), None)
                    with store.transaction():
                        if mover is not None:
                            movable.discard(mover)
                            stats.reused_faces += store.move_photo(mover, file.path, file.size, file.mtime_ns,
                                                                   run_id, digest)
                            stats.moved_photos += 1
                        else:
                            stats.reused_faces += store.reuse_photo(sources[0], file.path, file.size,
                                                                    file.mtime_ns, run_id)
                    stats.photos += 1
                    stats.reused_photos += 1
                    observer.advance("detect", 1)
                    continue
            yield file, digest

    waiting: list[PhotoResult] = []
    waiting_faces = 0

    def flush() -> None:
        nonlocal waiting_faces
        crops = [face.crop for result in waiting for face in result.faces]
        start = time.perf_counter()
        vectors = embedder.embed_faces(crops)
        stats.seconds["embed"] += time.perf_counter() - start
        start = time.perf_counter()
        with store.transaction():
            position = 0
            for result in waiting:
                rows = []
                for face in result.faces:
                    rows.append(FaceRow(face.box, face.landmarks, face.score, vectors[position]))
                    position += 1
                record = known.get(result.file.location)
                stats.redone_photos += _save(store, result, rows, settings, model, run_id,
                                             record if same_photo(record) else None)
        stats.seconds["store"] += time.perf_counter() - start
        observer.advance("embed", len(crops))
        waiting.clear()
        waiting_faces = 0

    if dask is None:
        # While a batch of faces is embedded here, the workers go on detecting up to ~2 batches of photos ahead.
        results = _analysed(needing_analysis(), settings, workers, backlog=min(2 * batch_size, 128))
    else:
        from clusterfaces.scan import dask_scan  # imports Dask only when asked for

        results = dask_scan.analysed(needing_analysis(), settings, dask, workers)
    for result in results:
        for stage, seconds in result.seconds.items():
            stats.seconds[stage] += seconds
        stats.photos += 1
        stats.unreadable += result.reason is not None
        stats.faces += len(result.faces)
        waiting.append(result)
        waiting_faces += len(result.faces)
        observer.advance("detect", 1)
        if result.faces:
            observer.grow("embed", len(result.faces))
        if waiting_faces >= batch_size:
            flush()
    if waiting:
        flush()
    return stats


def _save(store: Store, result: PhotoResult, rows: list[FaceRow], settings: DetectionSettings,
          model: str, run_id: int, previous: PhotoRecord | None) -> bool:
    """Store one analysed photo. A known photo whose pixels changed keeps the faces it still shows
    (ids, people, confirmations, rejections); returns True for those."""
    from clusterfaces.scan.edited_photos import match_faces

    file = result.file
    if result.reason is not None:
        store.save_photo(file.path, file.size, file.mtime_ns, result.content_hash, run_id,
                         status="unreadable", reason=result.reason, failed_with=failure_key(settings))
        return False
    if previous is not None:
        old = store.photo_faces(previous.id)
        kept = match_faces([(face.id, face.box, face.embedding) for face in old],
                           [(row.box, row.embedding) for row in rows], model)
        store.redo_photo(previous.id, file.size, file.mtime_ns, result.content_hash, run_id,
                         dimensions=result.dimensions, model=model, detector=settings.detector, faces=rows, kept=kept)
        return True
    store.save_photo(file.path, file.size, file.mtime_ns, result.content_hash, run_id, status="done",
                     dimensions=result.dimensions, model=model, detector=settings.detector, faces=rows)
    return False


def files_to_process(found: Iterable[FoundFile], known: dict[str, PhotoRecord], model: str,
                     detector: str, failure: str | None = None) -> list[FoundFile]:
    """The files that are new, changed (size or mtime), were processed with another model or detector,
    or were found unreadable with other decoding settings than `failure` (see failure_key)."""
    todo = []
    for file in found:
        record = known.get(file.location)
        if (record is None or record.size != file.size or record.mtime_ns != file.mtime_ns
                or (record.status == "done" and (record.model != model or record.detector != detector))
                or (record.status == "unreadable" and failure is not None and record.failed_with != failure)):
            todo.append(file)
    return todo
