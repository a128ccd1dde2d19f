"""Time a re-scan in which nothing changed: the metadata-only path (walk, stat, compare, report).

Usage: python benchmarks/rescan.py 20000 100000 [--work DIR]
Generates N small files in nested folders (200 per folder), records them in a fresh database as
already processed (through the same Store.save_photo a scan uses, so the database looks exactly
like one after a scan of N faceless photos), then times `Library.scan` on the unchanged tree,
three times, best and median reported. Writes benchmarks/results/rescan.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from clusterfaces import Library, ScanOptions
from clusterfaces.scan.crawl import content_hash, crawl
from clusterfaces.store import Store

TINY_JPEG_HEADER = b"\xff\xd8\xff\xe0" + b"\x00" * 60


def build(root: Path, count: int, db: Path) -> None:
    for index in range(count):
        folder = root / f"{index // 20000:02d}" / f"{(index // 200) % 100:03d}"
        if index % 200 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"IMG_{index:06d}.jpg").write_bytes(TINY_JPEG_HEADER + index.to_bytes(4, "little"))
    with Store(db) as store:
        run = store.start_run([root], "Dlib", "dlib", {})
        with store.transaction():
            for file in crawl([root]):
                store.save_photo(file.path, file.size, file.mtime_ns, content_hash(file.path), run, status="done",
                                 dimensions=(1, 1), model="Dlib", detector="dlib")
        store.finish_run(run, {})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sizes", nargs="+", type=int)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "rescan.json")
    args = parser.parse_args()
    rows = []
    for count in args.sizes:
        work = Path(tempfile.mkdtemp(dir=args.work))
        try:
            build(work / "photos", count, work / "library.db")
            library = Library(work / "library.db", work / "people")
            times = []
            for _ in range(3):
                start = time.perf_counter()
                result = library.scan(ScanOptions(roots=[work / "photos"], model="Dlib"))
                times.append(time.perf_counter() - start)
                assert result.photos_seen == count and result.photos_processed == 0
            rows.append({"files": count, "best_s": round(min(times), 2), "median_s": round(statistics.median(times), 2),
                         "stages_s": {k: round(v, 2) for k, v in result.seconds.items()}})
            print(rows[-1], flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"date": str(date.today()), "machine": f"{platform.machine()}, 2 cores",
                                    "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
