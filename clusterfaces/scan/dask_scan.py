"""Hash, decode and detect photos on a Dask distributed cluster; results stream back to the scanning machine."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

from clusterfaces.errors import ClusterfacesError
from clusterfaces.scan.crawl import FoundFile
from clusterfaces.scan.faces import FaceDetector
from clusterfaces.scan.processing import DetectionSettings, PhotoResult, analyse_photo

LOCAL = "local"  # --dask local: a cluster of worker processes on this machine, started and closed by the scan
RETRIES = 2  # a task that raises is tried again this often; a worker that dies is Dask's allowed-failures
CONNECT_SECONDS = 30
CRASHED = "the face detector crashed on this file"  # the reason the local pool gives, for the same thing

_detectors = threading.local()  # one detector per worker thread, reused for every photo it analyses


def analyse_on_worker(file: FoundFile, digest: str | None, settings: DetectionSettings) -> PhotoResult:
    """The task a Dask worker runs: the same analyse_photo as the local pool, with a cached detector."""
    cached = getattr(_detectors, "cached", None)
    if cached is None or cached[0] != settings:
        cached = _detectors.cached = (settings, FaceDetector(settings.detector, settings.model,
                                                             settings.allow_download))
    return analyse_photo(file, cached[1], settings.max_side, digest)


def analysed(files: Iterable[tuple[FoundFile, str | None]], settings: DetectionSettings, address: str,
             workers: int = 2) -> Iterator[PhotoResult]:
    """Results as they complete on the cluster at `address` (or a local one of `workers` processes), with a
    bounded number of photos in flight; a photo whose task killed workers repeatedly comes back unreadable."""
    try:
        from distributed import Client, KilledWorker, LocalCluster, as_completed
    except ImportError as error:
        raise ClusterfacesError("--dask needs Dask: pip install 'clusterfaces[dask]'") from error
    cluster = None
    try:
        if address == LOCAL:
            cluster = LocalCluster(n_workers=max(workers, 1), threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=None)
            address = cluster.scheduler_address
        client = Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
    except (OSError, TimeoutError) as error:
        if cluster is not None:
            cluster.close()
        raise ClusterfacesError(f"cannot reach the Dask scheduler at {address}: {error}") from None
    try:
        # Bounds memory here and on the cluster: at most this many photos' crops are out at once.
        backlog = 4 * max(sum(client.nthreads().values()), 1)
        remaining = iter(files)
        running = as_completed(loop=client.loop)  # this client's, not a default one (there is none)
        files_by_key = {}

        def submit_more() -> None:
            while running.count() < backlog:
                item = next(remaining, None)
                if item is None:
                    return
                future = client.submit(analyse_on_worker, *item, settings, retries=RETRIES, pure=False)
                files_by_key[future.key] = item
                running.add(future)

        submit_more()
        while not running.is_empty():
            future = next(running)
            file, digest = files_by_key.pop(future.key)
            try:
                result = future.result()
            except KilledWorker:
                result = PhotoResult(file, digest, [], reason=CRASHED)
            future.release()
            submit_more()
            yield result
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
