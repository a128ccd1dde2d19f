"""Overhead of scan --dask (a running LocalCluster of 2 worker processes) against the local pool of 2 workers.

Usage:
  nice -n 10 python benchmarks/dask_overhead.py ../shared/photos ../shared/faces/dev [--repeats 2] [--per-identity 12]
A folder with labels.json is scanned as it is; a folder of identity sub-folders is composed into a demo library
first (at most --per-identity crops each). Runs alternate local, dask, local, dask (the machine may be shared),
each a fresh database with model Dlib; the cluster is started once and warmed up by one discarded scan, as a
long-running cluster would be. Writes benchmarks/results/dask_overhead.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def library_folder(source: Path, work: Path, per_identity: int) -> Path:
    from clusterfaces.outputs.demo import DemoSettings, build_demo_library

    if (source / "labels.json").is_file():
        return source
    target = work / f"demo-{source.name}"
    build_demo_library(source, target, DemoSettings(per_identity=per_identity))
    return target


def one_scan(root: Path, work: Path, dask: str | None) -> dict:
    from clusterfaces import Library, ScanOptions

    base = Path(tempfile.mkdtemp(dir=work))
    start = time.perf_counter()
    result = Library(base / "library.db", base / "people").scan(
        ScanOptions(roots=[root], model="Dlib", workers=2, dask=dask))
    wall = time.perf_counter() - start
    shutil.rmtree(base)
    return {"wall_s": wall, "processing_wall_s": result.seconds["processing (wall)"],
            "photos": result.photos_processed, "faces": result.faces_new,
            "stages_s": {k: round(v, 3) for k, v in result.seconds.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", type=Path, nargs="+")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--per-identity", type=int, default=12)
    args = parser.parse_args()
    from distributed import LocalCluster

    libraries = []
    with tempfile.TemporaryDirectory() as scratch, LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster:
        work = Path(scratch)
        address = cluster.scheduler_address
        roots = [library_folder(source, work, args.per_identity) for source in args.sources]
        one_scan(roots[0], work, address)  # warm-up: the workers load the detector once, as a running cluster has
        for source, root in zip(args.sources, roots):
            runs = {"local": [], "dask": []}
            for _ in range(args.repeats):
                for mode, dask in (("local", None), ("dask", address)):
                    runs[mode].append(one_scan(root, work, dask))
                    print(source.name, mode, f"{runs[mode][-1]['wall_s']:.1f} s", flush=True)
            medians = {mode: {key: statistics.median(run[key] for run in done)
                              for key in ("wall_s", "processing_wall_s")} for mode, done in runs.items()}
            libraries.append({
                "library": str(source), "photos": runs["local"][0]["photos"], "faces": runs["local"][0]["faces"],
                "median": medians,
                "overhead_wall": medians["dask"]["wall_s"] / medians["local"]["wall_s"] - 1,
                "overhead_processing": medians["dask"]["processing_wall_s"] / medians["local"]["processing_wall_s"] - 1,
                "runs": runs,
            })
            print(json.dumps({k: v for k, v in libraries[-1].items() if k != "runs"}, indent=1), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "date": str(date.today()), "machine": f"{platform.machine()}, {os.cpu_count()} cores, no GPU, "
        f"shared with other jobs (load average {os.getloadavg()[0]:.1f} at the end)",
        "command": "nice -n 10 python benchmarks/dask_overhead.py " + " ".join(map(str, args.sources))
        + f" --repeats {args.repeats} --per-identity {args.per_identity}",
        "setup": "local: --workers 2 process pool; dask: LocalCluster 2 processes x 1 thread over TCP on 127.0.0.1, "
                 "started once and warmed up; both embed on the scanning process; model Dlib, detector dlib; "
                 "runs interleaved local, dask, local, dask; each a fresh database",
        "libraries": libraries,
    }
    (RESULTS / "dask_overhead.json").write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
