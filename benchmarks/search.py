"""who / find / same: query latency on generated faces and recognition accuracy on labelled faces.

Usage:
  nice -n 10 python benchmarks/search.py latency                 # 100k and 1M faces, 128-d and 512-d
  nice -n 10 python benchmarks/search.py accuracy ../shared/faces/dev [--work DIR]

latency: generated unit vectors shaped like face embeddings (benchmarks/speed.py synthetic_faces), the
FaceIndex `who` and `find` use; per size and width: index build, the nearest-256 query `who` makes and
the range query `find` makes (median and 95th percentile of 50 queries near stored faces), against exact
search (faiss flat, and numpy) and its recall; with 1 and 2 faiss threads. Also the cost of loading the
faces from SQLite (`--load-sizes`).

accuracy: identity sub-folders are composed into photos (clusterfaces.outputs.demo, which records each face's box),
scanned with the real pipeline, and each labelled face is split: half the faces of every identity (every
other face, by face id) are named, `who` is asked about the other half. Reports top-1 accuracy, the share
named wrongly (another person with verdict "same person"), the verdict mix, and open-set answers: each
identity left unnamed in turn, what `who` says about its faces (they should be "unknown"). Also the
same/different pair distances the thresholds are measured on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.speed import synthetic_faces  # noqa: E402
from clusterfaces import Library  # noqa: E402
from clusterfaces.people import search  # noqa: E402
from clusterfaces.people.face_index import FaceIndex  # noqa: E402
from clusterfaces.people.search import Person, QueryFace, SearchLibrary, who  # noqa: E402

RESULTS = Path(__file__).parent / "results"
QUERIES = 50


def _write(name: str, payload: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"date": str(date.today()), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
               "note": "shared machine: other jobs ran at the same time", **payload}
    (RESULTS / f"search_{name}.json").write_text(json.dumps(payload, indent=1))
    print(f"written to {RESULTS / f'search_{name}.json'}")


def _ms(samples: list[float]) -> dict:
    values = np.asarray(samples) * 1000
    return {"median_ms": round(float(np.median(values)), 1), "p95_ms": round(float(np.percentile(values, 95)), 1)}


def _timed(call, queries: np.ndarray) -> tuple[dict, list]:
    samples, answers = [], []
    for query in queries:
        start = time.perf_counter()
        answers.append(call(query))
        samples.append(time.perf_counter() - start)
    return _ms(samples), answers


def latency(args: argparse.Namespace) -> None:
    radius = search.verdict_distances("Dlib")[1]
    rows = [_latency_cell(size, dim, radius) for size in args.sizes for dim in args.dims]
    loads = [_load_cost(size, dim) for size in args.load_sizes for dim in args.dims]
    # Cells measured now replace the same cells of an earlier run (a rerun of one size keeps the others).
    earlier = RESULTS / "search_latency.json"
    if earlier.is_file():
        old = json.loads(earlier.read_text())
        fresh = {(row["faces"], row["dim"]) for row in rows}
        rows = [row for row in old.get("rows", []) if (row["faces"], row["dim"]) not in fresh] + rows
        fresh = {(row["faces"], row["dim"]) for row in loads}
        loads = [row for row in old.get("loading", []) if (row["faces"], row["dim"]) not in fresh] + loads
    _write("latency", {"queries_per_cell": QUERIES, "find_radius": radius, "rows": sorted(rows, key=_cell),
                       "loading": sorted(loads, key=_cell)})


def _cell(row: dict) -> tuple[int, int]:
    return row["faces"], row["dim"]


def _latency_cell(size: int, dim: int, radius: float) -> dict:
    import faiss

    vectors, owners = synthetic_faces(size, dim)
    rng = np.random.default_rng(1)
    picks = vectors[rng.choice(size, QUERIES, replace=False)]
    queries = picks + rng.normal(scale=0.2 / np.sqrt(dim), size=picks.shape).astype(np.float32)
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    start = time.perf_counter()
    index = FaceIndex(vectors)
    row = {"faces": size, "dim": dim, "index": "exact flat" if index.exact else "8-bit quantised + exact "
           "re-ranking", "build_s": round(time.perf_counter() - start, 2)}
    exact = faiss.IndexFlatIP(dim)
    exact.add(vectors)
    for threads in (1, 2):
        faiss.omp_set_num_threads(threads)
        index.threads = threads
        row[f"who_nearest256_{threads}t"], found = _timed(lambda q: index.nearest(q, 256)[1], queries)
        row[f"quantised_range_{threads}t"], ranged = _timed(lambda q: index.within(q, radius)[1], queries)
        row[f"exact_flat_nearest256_{threads}t"], truth = _timed(
            lambda q: exact.search(q.reshape(1, -1), 256)[1][0], queries)
    index.threads = 1
    library = _synthetic_library(vectors, owners, index)
    start = time.perf_counter()
    library.person_centres()
    row["who_people"] = len(library.people)
    row["who_centres_build_s"] = round(time.perf_counter() - start, 2)
    row["who_end_to_end_1t"], _ = _timed(lambda q: who(library, QueryFace(Path("q"), 1, (0, 0, 1, 1), 1.0, q)),
                                         queries)
    start = time.perf_counter()
    library.within(queries[0], radius)
    row["find_first_query_s"] = round(time.perf_counter() - start, 2)
    row["find_end_to_end_1t"], found_by_find = _timed(lambda q: library.within(q, radius)[1], queries)
    row["numpy_matmul_nearest256"], _ = _timed(lambda q: np.argpartition(-(vectors @ q), 256)[:256], queries[:10])
    row["recall_at_256"] = round(float(np.mean([len(set(a.tolist()) & set(b.tolist())) / 256
                                                for a, b in zip(found, truth)])), 4)
    within = [np.flatnonzero(np.sqrt(np.clip(2 - 2 * (vectors @ q), 0, None)) < radius) for q in queries]
    row["range_recall"] = round(float(sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(ranged, within))
                                      / max(1, sum(len(b) for b in within))), 4)
    row["find_recall"] = round(float(sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(found_by_find, within))
                                     / max(1, sum(len(b) for b in within))), 4)
    row["range_hits_mean"] = round(float(np.mean([len(b) for b in within])), 1)
    print(json.dumps(row), flush=True)
    return row


def _synthetic_library(vectors: np.ndarray, owners: np.ndarray, index: FaceIndex) -> SearchLibrary:
    """A SearchLibrary over generated faces, every generated person named (strangers belong to nobody)."""
    library = SearchLibrary.__new__(SearchLibrary)
    library.model = "Dlib" if vectors.shape[1] == 128 else "Facenet512"
    library.bounds = search.verdict_distances(library.model)
    people = np.unique(owners[owners >= 0]) + 1
    library.people = {int(pid): Person(int(pid), f"person {pid}", False) for pid in people}
    library.ids = np.arange(1, len(vectors) + 1, dtype=np.int64)
    library.person_ids = np.where(owners >= 0, owners + 1, 0)
    library.vectors = vectors
    library._index = index
    library._named = library._centres = library._named_rows = None
    return library


def _load_cost(size: int, dim: int) -> dict:
    """Seconds to load `size` faces from SQLite the way `who` does (SearchLibrary), and the index build."""
    from clusterfaces.store import FaceRow, Store

    vectors, _ = synthetic_faces(size, dim, seed=3)
    work = Path(tempfile.mkdtemp(prefix="cf-search-load-"))
    with Store(work / "library.db") as store:
        run = store.start_run([work / "photos"], "Dlib" if dim == 128 else "Facenet512", "dlib", {})
        with store.transaction():
            for start in range(0, size, 10):
                rows = [FaceRow((0, 0, 100, 100), [], 1.0, v) for v in vectors[start:start + 10]]
                store.save_photo(work / "photos" / f"{start}.jpg", 1, 1, None, run, status="done",
                                 model="Dlib" if dim == 128 else "Facenet512", detector="dlib", faces=rows)
        store.finish_run(run, {})
    start = time.perf_counter()
    library = Library(work / "library.db").search_index()
    loaded = time.perf_counter() - start
    start = time.perf_counter()
    library.index  # noqa: B018 - built on first use
    built = time.perf_counter() - start
    row = {"faces": size, "dim": dim, "load_s": round(loaded, 1), "index_build_s": round(built, 1),
           "database_mb": round((work / "library.db").stat().st_size / 1e6)}
    print(json.dumps(row))
    shutil.rmtree(work)
    return row


def accuracy(args: argparse.Namespace) -> None:
    from clusterfaces import Library, ScanOptions
    from clusterfaces.library.scoring import labelled_faces
    from clusterfaces.outputs.demo import build_demo_library
    from clusterfaces.people.evaluation import load_labels

    source = Path(os.path.abspath(args.source))
    work = args.work or Path(tempfile.mkdtemp(prefix="cf-search-acc-"))
    root = source if (source / "labels.json").is_file() else work / "photos"  # else identity sub-folders
    if not (root / "labels.json").is_file():
        build_demo_library(source, root)
    database = work / "library.db"
    if not database.is_file():
        start = time.perf_counter()
        Library(database, work / "people").scan(ScanOptions(roots=[root], model=args.model))
        print(f"scanned in {time.perf_counter() - start:.0f} s")
    library = Library(database).search_index()
    truth, vectors, _ = labelled_faces(database, root, load_labels(root / "labels.json"), library.model)
    truth = np.asarray(truth)
    names = sorted(set(truth.tolist()))
    named = np.zeros(len(truth), dtype=bool)
    for name in names:
        named[np.flatnonzero(truth == name)[::2]] = True
    report = {"source": str(args.source), "model": library.model, "detector": library.detector,
              "faces_labelled": len(truth), "identities": len(names), "named_faces": int(named.sum()),
              "asked_faces": int((~named).sum()), "thresholds": dict(zip(("same_below", "maybe_below"),
                                                                             library.bounds))}
    for method in ("nearest", "centre"):
        closed = _closed_set(library, truth, vectors, named, names, method)
        opened = _open_set(library, truth, vectors, named, names, method)
        known, strangers = closed.pop("_answers"), opened.pop("_answers")
        report[f"closed_set_{method}"], report[f"open_set_{method}"] = closed, opened
        report[f"open_set_auc_{method}"] = _auc([a.candidates[0].distance for a, t in known if a.candidates[0].name
                                                 == t], [a.candidates[0].distance for a in strangers])
        report[f"verdict_grid_{method}"] = _grid(known, strangers)
    report["pairs"] = _pairs(truth, vectors)
    _write(f"accuracy_{args.source.name}", report)
    print(json.dumps({k: v for k, v in report.items() if k != "pairs" and "grid" not in k}, indent=1))
    for method in ("nearest", "centre"):
        for row in report[f"verdict_grid_{method}"]:
            print(method, json.dumps(row))


def _as_library(library: SearchLibrary, vectors: np.ndarray, owners: np.ndarray, names: list[str]) -> SearchLibrary:
    """The loaded library with its faces and people replaced by the labelled faces and who is named."""
    library.vectors = vectors.astype(np.float32)
    library.ids = np.arange(1, len(vectors) + 1, dtype=np.int64)
    library.person_ids = owners
    library.people = {i + 1: Person(i + 1, name, False) for i, name in enumerate(names)}
    library._index = library._named = library._centres = library._named_rows = None
    return library


def _ask(library: SearchLibrary, vectors: np.ndarray, method: str) -> list[search.FaceAnswer]:
    return [who(library, QueryFace(Path("query"), 1, (0, 0, 1, 1), 1.0, v), 3, method) for v in vectors]


def _closed_set(library, truth, vectors, named, names, method) -> dict:
    owners = np.where(named, np.searchsorted(names, truth) + 1, 0)
    answers = _ask(_as_library(library, vectors, owners, names), vectors[~named], method)
    expected = truth[~named]
    top1 = [a.candidates[0].name == t for a, t in zip(answers, expected)]
    verdicts = Counter((a.verdict, a.candidates[0].name == t) for a, t in zip(answers, expected))
    right = [a.candidates[0].distance for a, t in zip(answers, expected) if a.candidates[0].name == t]
    return {"top1_accuracy": round(float(np.mean(top1)), 4),
            "wrongly_named_same": round(verdicts[(search.SAME, False)] / len(expected), 4),
            "wrongly_named_same_or_maybe": round((verdicts[(search.SAME, False)] + verdicts[(search.MAYBE, False)])
                                                 / len(expected), 4),
            "named_right_same": round(verdicts[(search.SAME, True)] / len(expected), 4),
            "named_right_maybe": round(verdicts[(search.MAYBE, True)] / len(expected), 4),
            "unknown": round((verdicts[(search.UNKNOWN, True)] + verdicts[(search.UNKNOWN, False)]) / len(expected),
                             4),
            "right_person_distance_percentiles_50_90_95_99": _percentiles(right),
            "_answers": [(a, t) for a, t in zip(answers, expected)]}


def _open_set(library, truth, vectors, named, names, method) -> dict:
    """Each identity unnamed in turn: what `who` says about its asked faces (right answer: unknown)."""
    verdicts, nearest, answers = Counter(), [], []
    for left_out in names:
        owners = np.where(named & (truth != left_out), np.searchsorted(names, truth) + 1, 0)
        asked = ~named & (truth == left_out)
        for answer in _ask(_as_library(library, vectors, owners, names), vectors[asked], method):
            verdicts[answer.verdict] += 1
            nearest.append(answer.candidates[0].distance)
            answers.append(answer)
    total = sum(verdicts.values())
    return {"strangers_asked": total, "said_same": round(verdicts[search.SAME] / total, 4),
            "said_maybe": round(verdicts[search.MAYBE] / total, 4),
            "said_unknown": round(verdicts[search.UNKNOWN] / total, 4),
            "nearest_stranger_distance_percentiles_1_5_10_50": _percentiles(nearest, (1, 5, 10, 50)),
            "_answers": answers}


def _grid(known: list, strangers: list) -> list[dict]:
    """Share of asked faces called "same person" by a same-below distance and a margin over the second-nearest
    person: known faces named right, known faces named wrong, strangers named (should be none)."""

    def same(answer, bound, margin):
        first = answer.candidates[0]
        second = answer.candidates[1].distance if len(answer.candidates) > 1 else np.inf
        return first.distance < bound and second - first.distance >= margin

    rows = []
    for bound in (0.35, 0.375, 0.40, 0.425, 0.45):
        for margin in (0.0, 0.03, 0.05, 0.08):
            rows.append({"same_below": bound, "margin": margin,
                         "known_named_right": round(float(np.mean([same(a, bound, margin) and a.candidates[0].name
                                                                   == t for a, t in known])), 4),
                         "known_named_wrong": round(float(np.mean([same(a, bound, margin) and a.candidates[0].name
                                                                   != t for a, t in known])), 4),
                         "strangers_named": round(float(np.mean([same(a, bound, margin) for a in strangers])), 4)})
    return rows


def _auc(positives: list[float], negatives: list[float]) -> float:
    """Probability that a right person's distance is below a stranger's nearest distance."""
    pos, neg = np.asarray(positives), np.sort(np.asarray(negatives))
    return round(float(np.mean(len(neg) - np.searchsorted(neg, pos, side="right"))) / len(neg), 4)


def _percentiles(values, points=(50, 90, 95, 99)) -> list[float]:
    return [round(float(np.percentile(values, p)), 3) for p in points] if len(values) else []


def _pairs(truth: np.ndarray, vectors: np.ndarray) -> dict:
    """Same/different pair distances: accept rates at candidate thresholds (what the bounds are chosen on)."""
    distances = np.sqrt(np.clip(2 - 2 * vectors @ vectors.T, 0, None))
    upper = np.triu_indices(len(truth), 1)
    same = truth[upper[0]] == truth[upper[1]]
    values = distances[upper]
    rows = {}
    for threshold in np.arange(0.30, 0.66, 0.025):
        rows[f"{threshold:.3f}"] = {"same_pairs_accepted": round(float((values[same] < threshold).mean()), 4),
                                    "different_pairs_accepted": round(float((values[~same] < threshold).mean()), 5)}
    return {"same_pairs": int(same.sum()), "different_pairs": int((~same).sum()),
            "same_distance_percentiles_50_90_95_99": _percentiles(values[same]),
            "different_distance_percentiles_0.1_1_5": _percentiles(values[~same], (0.1, 1, 5)),
            "by_threshold": rows}


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    speed = sub.add_parser("latency")
    speed.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    speed.add_argument("--dims", type=int, nargs="+", default=[128, 512])
    speed.add_argument("--load-sizes", type=int, nargs="*", default=[100_000])
    quality = sub.add_parser("accuracy")
    quality.add_argument("source", type=Path)
    quality.add_argument("--model", default="Dlib")
    quality.add_argument("--work", type=Path, default=None, help="Keep the composed photos and database here "
                         "(reused when present).")
    args = parser.parse_args()
    latency(args) if args.command == "latency" else accuracy(args)


if __name__ == "__main__":
    main()
