"""Clustering quality of the real pipeline against labelled data, next to classic baselines.

Usage:
  python benchmarks/quality.py ../shared/datasets/lfw-dev       # a real library's shape (labels.json with boxes)
  python benchmarks/quality.py ../shared/photos                 # a photos folder with labels.json
  python benchmarks/quality.py ../shared/faces/dev               # identity sub-folders: composed into photos first
  python benchmarks/quality.py SOURCE --db PATH                  # reuse a database that already scanned SOURCE

Runs the library's scan (real detection and embeddings, model Dlib unless --model) into a fresh
database, or, with --db, re-clusters a copy of a database that already holds SOURCE's faces (the
photos are not read again; the copy's people are forgotten first), so the people scored are what the
current code makes of them, as in a fresh scan. Scores
end to end: a labelled face the detector missed counts as a person of its own. Reports BCubed and
pairwise P/R/F1, NMI, people found vs true, the share of people seen once put with somebody, and the
share of reported people holding more than one true person; then the baselines on the very same
embeddings (every face the pipeline clusters, bystanders included), each swept over its threshold,
at its best BCubed F1 and at its best F1 with BCubed precision >= 0.98.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import date
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import baselines  # noqa: E402
from clusterfaces import Library, ScanOptions  # noqa: E402
from clusterfaces.library.scoring import scored_library  # noqa: E402
from clusterfaces.outputs.demo import build_demo_library  # noqa: E402
from clusterfaces.people.evaluation import Quality, ScoredLibrary, load_labels, quality  # noqa: E402

PRECISION_TARGET = 0.98


def sweeps(vectors: np.ndarray) -> dict[str, Callable[[], Iterator[tuple[float, np.ndarray]]]]:
    """Each baseline as a generator of (threshold, labels) over its useful range (distances between unit vectors)."""

    def grid(low: float, high: float, step: float) -> list[float]:
        return [round(x, 3) for x in np.arange(low, high + step / 2, step)]

    return {
        "agglomerative average": lambda: baselines.agglomerative(vectors, "average", grid(0.26, 0.50, 0.02)),
        "agglomerative complete": lambda: baselines.agglomerative(vectors, "complete", grid(0.30, 0.70, 0.02)),
        "agglomerative single": lambda: baselines.agglomerative(vectors, "single", grid(0.20, 0.40, 0.02)),
        "Chinese whispers": lambda: baselines.chinese_whispers(vectors, grid(0.26, 0.50, 0.02)),
        "DBSCAN (min_samples 2)": lambda: baselines.dbscan(vectors, grid(0.20, 0.44, 0.02)),
        **{f"Approximate Rank-Order (k {k})": (lambda k=k: baselines.approximate_rank_order(
            vectors, grid(0.05, 2.0, 0.05), k)) for k in (10, 20, 50, 200)},
        "HDBSCAN alone (min_cluster_size)": lambda: baselines.hdbscan_alone(vectors, (2, 3, 5)),
    }


def perfect(truth: list[str | None]) -> np.ndarray:
    """Every labelled face with its own person, every other face alone: what the detector's misses leave."""
    names = sorted({name for name in truth if name is not None})
    return np.array([names.index(name) if name is not None else -1 for name in truth], dtype=np.int64)


def row(score: Quality, **extra) -> dict:
    return {**extra, **asdict(score)}


def baseline_rows(scored: ScoredLibrary) -> dict[str, dict]:
    """Every baseline on the faces the pipeline clusters, at its best BCubed F1 and its best with P >= target."""
    usable = np.flatnonzero(scored.usable)
    rows = {}
    for name, sweep in sweeps(scored.vectors[usable]).items():
        started = time.perf_counter()
        tried = []
        for threshold, labels in sweep():
            full = np.full(len(scored.vectors), -1, dtype=np.int64)
            full[usable] = labels
            tried.append(row(quality(scored.truth, full, scored.missed), threshold=threshold))
        best = max(tried, key=lambda r: r["bcubed"]["f1"])
        precise = [r for r in tried if r["bcubed"]["precision"] >= PRECISION_TARGET]
        rows[f"{name}, best F1 ({best['threshold']})"] = {**best, "sweep": tried,
                                                          "seconds": round(time.perf_counter() - started, 1)}
        if precise:
            top = max(precise, key=lambda r: r["bcubed"]["f1"])
            if top["threshold"] != best["threshold"]:
                rows[f"{name}, best with P >= {PRECISION_TARGET} ({top['threshold']})"] = top
    return rows


def scan(source: Path, database: Path | None, model: str, work: Path, detector: str | None = None
         ) -> tuple[Path, dict, dict]:
    """Scan SOURCE (or re-cluster a copy of DATABASE), returning the photos root, the labels and scan facts."""
    root = Path(os.path.abspath(source))
    if not (root / "labels.json").is_file():  # identity sub-folders: compose them into photos first
        root = Path(os.path.abspath(database)).parent / "photos" if database else work / "photos"
        if not (root / "labels.json").is_file():
            build_demo_library(Path(os.path.abspath(source)), root)
    labels = load_labels(root / "labels.json")
    target = work / "library.db"
    if database:  # a consistent copy, whatever is still in the source's write-ahead log
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as source, \
                contextlib.closing(sqlite3.connect(target)) as copy:
            source.backup(copy)
            # Forget who was who: re-clustering keeps an unedited face's person (identities.py), and the
            # people scored must be what the current code makes of these faces, as a fresh scan would.
            copy.execute("PRAGMA foreign_keys=ON")
            copy.execute("UPDATE faces SET person_id = NULL, confirmed = 0")
            copy.execute("DELETE FROM people")
            copy.commit()
    library = Library(target, work / "people")
    started = time.perf_counter()
    result = library.scan(ScanOptions(roots=[root], model=model, detector=detector, recluster=True))
    facts = {"model": result.model, "detector": result.detector, "faces_detected": result.faces_total,
             "seconds": round(time.perf_counter() - started, 1), "reused_database": str(database) if database else None,
             "clustering": result.settings.get("clustering")}
    return root, labels, facts


def print_table(title: str, rows: dict[str, dict]) -> None:
    table = Table(title=title)
    for column in ("method", "people (true)", "BCubed P / R / F1", "pairwise P / R / F1", "NMI",
                   "seen once, joined", "people mixed"):
        table.add_column(column)
    for name, r in rows.items():
        b, p = r["bcubed"], r["pairwise"]
        table.add_row(name, f"{r['people_found']} ({r['people_true']})",
                      f"{b['precision']:.3f} / {b['recall']:.3f} / {b['f1']:.3f}",
                      f"{p['precision']:.3f} / {p['recall']:.3f} / {p['f1']:.3f}", f"{r['nmi']:.3f}",
                      f"{r['seen_once_joined']:.1%} of {r['seen_once']}",
                      f"{r['mixed_people']} ({r['mixed_share']:.1%})")
    Console(width=170).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path)
    parser.add_argument("--model", default="Dlib")
    parser.add_argument("--db", type=Path, default=None, help="a database that already scanned SOURCE (copied)")
    parser.add_argument("--detector", default=None, help="the scan's detector (default: the scan's default)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the scanned database here")
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    name = {"dev": "dev", "lfw-dev": "lfw_dev"}.get(args.source.name, args.source.name)
    work = Path(tempfile.mkdtemp(prefix="cf-quality-"))
    try:
        root, labels, facts = scan(args.source, args.db, args.model, work, args.detector)
        scored = scored_library(work / "library.db", root, labels, facts["model"])
        ours = quality(scored.truth, scored.people, scored.missed)
        rows = {"clusterfaces (defaults, end to end)": row(ours),
                "same, over the detected faces only": row(quality(scored.truth, scored.people)),
                "ceiling: detected faces all grouped right": row(quality(scored.truth, perfect(scored.truth),
                                                                         scored.missed))}
        if not args.no_baselines:
            rows.update(baseline_rows(scored))
        if args.keep:
            args.keep.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.closing(sqlite3.connect(work / "library.db")) as db, \
                    contextlib.closing(sqlite3.connect(args.keep)) as kept:
                db.backup(kept)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    expected = sum(len(people) for people in labels["photos"].values())
    labelled = sum(t is not None for t in scored.truth)
    report = {
        "date": str(date.today()), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "command": "python benchmarks/quality.py " + " ".join(sys.argv[1:]),
        "source": str(args.source), **facts, "faces_labelled": expected, "faces_matched": labelled,
        "faces_missed": len(scored.missed), "faces_unlabelled": len(scored.truth) - labelled,
        "methods": {k: {key: value for key, value in v.items()} for k, v in rows.items()},
    }
    out = args.out or Path(__file__).parent / "results" / f"quality_{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print_table(f"Quality on {args.source}: {labelled} of {expected} labelled faces detected and matched "
                f"({len(scored.missed)} missed: people of their own), model {facts['model']}, detector "
                f"{facts['detector']}, scan {facts['seconds']} s", rows)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
