"""Scans through a real Dask LocalCluster (two worker processes over TCP): the same library as a local scan."""

import os
import shutil
import signal
import sqlite3

import numpy as np
import pytest

from clusterfaces import Library, ScanOptions
from clusterfaces.progress import NullObserver

distributed = pytest.importorskip("distributed", reason="Dask is an optional extra: pip install 'clusterfaces[dask]'")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None) as local, \
            distributed.Client(local, set_as_default=False) as client:  # the scan must not lean on it
        yield local.scheduler_address, client


def photos_copy(shared_photos, base):
    root = base / "photos"
    shutil.copytree(shared_photos, root, ignore=shutil.ignore_patterns("labels.json"))
    return root


def library_state(database, root):
    """Photos (status), faces (box, embedding) and people (sets of faces), by path relative to root."""
    with sqlite3.connect(database) as db:
        photos = {os.path.relpath(os.fsdecode(path), root): status
                  for path, status in db.execute("SELECT path, status FROM photos")}
        faces, people = {}, {}
        for path, x, y, w, h, blob, person in db.execute(
                "SELECT p.path, f.x, f.y, f.w, f.h, f.embedding, f.person_id FROM faces f JOIN photos p "
                "ON p.id = f.photo_id"):
            key = (os.path.relpath(os.fsdecode(path), root), (x, y, w, h))
            faces[key] = np.frombuffer(blob, dtype="<f4")
            if person is not None:
                people.setdefault(person, set()).add(key)
    return photos, faces, sorted(sorted(group) for group in people.values())


def assert_same_library(state, expected):
    photos, faces, people = state
    assert photos == expected[0]
    assert faces.keys() == expected[1].keys()  # the same boxes on the same photos
    for key, vector in faces.items():
        np.testing.assert_allclose(vector, expected[1][key], atol=1e-5)
    assert people == expected[2]


@pytest.fixture(scope="module")
def local_scan(shared_photos, tmp_path_factory):
    base = tmp_path_factory.mktemp("local")
    root = photos_copy(shared_photos, base)
    Library(base / "library.db", base / "people").scan(ScanOptions(roots=[root], model="Dlib"))
    state = library_state(base / "library.db", root)
    assert len(state[1]) > 20 and len(state[2]) > 3  # a real scan to compare with
    return state


def test_a_cluster_scan_stores_what_a_local_scan_stores_and_a_rescan_does_nothing(cluster, local_scan,
                                                                                     shared_photos, tmp_path):
    address, client = cluster
    root = photos_copy(shared_photos, tmp_path)
    library = Library(tmp_path / "library.db", tmp_path / "people")
    first = library.scan(ScanOptions(roots=[root], model="Dlib", dask=address))
    assert first.photos_processed == len(local_scan[0])
    assert_same_library(library_state(tmp_path / "library.db", root), local_scan)

    again = library.scan(ScanOptions(roots=[root], model="Dlib", dask=address))
    assert again.photos_processed == 0 and again.faces_new == 0
    assert_same_library(library_state(tmp_path / "library.db", root), local_scan)


class KillOneWorker(NullObserver):
    """Kills, with SIGKILL, the worker process with the most photos in hand when the first result is back."""

    def __init__(self, client):
        self.client = client
        self.killed: tuple[int, int] | None = None  # (pid, photos it was analysing)

    def advance(self, stage, amount=1):
        if stage == "detect" and self.killed is None:
            processing = self.client.processing()
            victim = max(processing, key=lambda worker: len(processing[worker]))
            pid = self.client.run(os.getpid, workers=[victim])[victim]
            os.kill(pid, signal.SIGKILL)
            self.killed = (pid, len(processing[victim]))


def test_a_worker_killed_mid_scan_loses_nothing(cluster, local_scan, shared_photos, tmp_path):
    address, client = cluster
    root = photos_copy(shared_photos, tmp_path)
    observer = KillOneWorker(client)
    result = Library(tmp_path / "library.db", tmp_path / "people").scan(
        ScanOptions(roots=[root], model="Dlib", dask=address), observer)
    assert observer.killed is not None and observer.killed[1] > 0  # it died holding photos
    assert result.photos_processed == len(local_scan[0])
    assert_same_library(library_state(tmp_path / "library.db", root), local_scan)
    client.wait_for_workers(2, timeout=60)  # the nanny started a new worker in its place
    assert observer.killed[0] not in client.run(os.getpid).values()


def test_an_unreachable_scheduler_is_a_one_line_error(shared_photos, tmp_path):
    from clusterfaces.errors import ClusterfacesError

    root = photos_copy(shared_photos, tmp_path)
    with pytest.raises(ClusterfacesError, match="cannot reach the Dask scheduler"):
        Library(tmp_path / "library.db", tmp_path / "people").scan(
            ScanOptions(roots=[root], model="Dlib", dask="tcp://127.0.0.1:1"))


KILLER = '''
import os
from clusterfaces.scan import dask_scan

_analyse = getattr(dask_scan, "unpatched_analyse_photo", dask_scan.analyse_photo)  # the preload may run twice
dask_scan.unpatched_analyse_photo = _analyse


def _dies_on_killers(file, *args, **kwargs):
    if file.path.name.startswith("killer"):
        os._exit(1)  # as a decoder that segfaults on one file would
    return _analyse(file, *args, **kwargs)


dask_scan.analyse_photo = _dies_on_killers
'''


def test_a_photo_that_kills_its_workers_is_recorded_unreadable_and_the_rest_is_scanned(shared_photos, tmp_path):
    """A photo whose task kills every worker that takes it (a crashing decoder) ends as unreadable, with the
    reason a local scan gives; the other photos are scanned and the workers come back."""
    import dask

    from clusterfaces.scan.dask_scan import CRASHED

    preload = tmp_path / "killer_preload.py"
    preload.write_text(KILLER)
    root = tmp_path / "photos"
    root.mkdir()
    shutil.copy(shared_photos / "2009-whitehouse" / "obama.jpg", root / "obama.jpg")
    shutil.copy(shared_photos / "2009-whitehouse" / "biden.jpg", root / "killer.jpg")
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), \
            distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                                     dashboard_address=None, preload=[str(preload)]) as local:
        library = Library(tmp_path / "library.db", tmp_path / "people")
        result = library.scan(ScanOptions(roots=[root], model="Dlib", dask=local.scheduler_address))
    assert [(photo.path.name, photo.reason) for photo in result.unreadable] == [("killer.jpg", CRASHED)]
    assert result.photos_processed == 2 and result.faces_new >= 1
    with sqlite3.connect(tmp_path / "library.db") as db:
        statuses = dict(db.execute("SELECT path, status FROM photos").fetchall())
    assert {os.path.basename(os.fsdecode(path)): status for path, status in statuses.items()} == {
        "obama.jpg": "done", "killer.jpg": "unreadable"}
