"""Clustering quality of the real pipeline against labelled data, next to classic baselines.

Usage:
  python benchmarks/quality.py ../shared/photos                 # a photos folder with labels.json
  python benchmarks/quality.py ../shared/faces/dev               # identity sub-folders: composed into photos first
  python benchmarks/quality.py SOURCE --model Dlib --out benchmarks/results/quality_dev.json

Runs `clusterfaces scan` (the library, real detection and embeddings) into a fresh database, then
scores the people it found (BCubed, pairwise, NMI, people found vs true, share unclustered) and the
classic baselines on the very same embeddings: Chinese whispers as in dlib's example, scikit-learn
DBSCAN, and agglomerative clustering with a distance threshold. Faces that cannot be matched to a
label (a detection where labels.json names nobody) are left out of every score.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from dataclasses import asdict
from datetime import date
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.cluster import DBSCAN, AgglomerativeClustering
from sklearn.metrics import normalized_mutual_info_score

from clusterfaces.clustering import ClusterSettings, cluster_embeddings, same_person_threshold
from clusterfaces.demo import build_demo_library
from clusterfaces.evaluation import bcubed, labelled_faces, load_labels, pairwise
from clusterfaces.library import Library, ScanOptions


def chinese_whispers(vectors: np.ndarray, threshold: float, iterations: int = 20, seed: int = 0) -> np.ndarray:
    """dlib's chinese_whispers clustering: an edge joins faces closer than threshold."""
    import dlib

    edges = [(i, j) for i in range(len(vectors)) for j in np.flatnonzero(
        np.linalg.norm(vectors[i + 1:] - vectors[i], axis=1) < threshold) + i + 1]
    labels = dlib.chinese_whispers(edges) if edges else list(range(len(vectors)))
    labels = np.asarray(labels if len(labels) == len(vectors) else list(range(len(vectors))))
    sizes = np.bincount(labels)
    return np.where(sizes[labels] > 1, labels, -1)  # singletons count as unclustered, as for HDBSCAN


def scores(truth: list[str], labels: np.ndarray) -> dict:
    singletons = [f"alone-{i}" if label < 0 else int(label) for i, label in enumerate(labels)]
    return {
        "bcubed": asdict(bcubed(truth, labels)),
        "pairwise": asdict(pairwise(truth, labels)),
        "nmi": normalized_mutual_info_score(truth, [str(s) for s in singletons]),
        "people_found": int(len(set(labels[labels >= 0].tolist()))),
        "people_true": len(set(truth)),
        "unclustered": float((labels < 0).mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("source", type=Path)
    parser.add_argument("--model", default="Dlib")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cf-quality-"))
    root = Path(os.path.abspath(args.source))
    if not (root / "labels.json").is_file():  # identity sub-folders: compose them into photos first
        build_demo_library(root, work / "photos")
        root = work / "photos"
    labels = load_labels(root / "labels.json")
    expected = sum(len(people) for people in labels["photos"].values())
    library = Library(work / "library.db", work / "people")
    started = time.perf_counter()
    result = library.scan(ScanOptions(roots=[root], model=args.model))
    seconds = time.perf_counter() - started
    truth, vectors, ours = labelled_faces(library.database, root, labels, result.model)
    threshold = same_person_threshold(result.model)
    rows = {"clusterfaces (defaults)": scores(truth, ours)}
    baselines = {
        # The two HDBSCAN variants the library switches between by size (with its post-processing),
        # each forced on these embeddings: is the large-library path as good as the exact one?
        "clusterfaces clustering, exact HDBSCAN": lambda: cluster_embeddings(
            vectors, ClusterSettings(algorithm="exact"), result.model),
        "clusterfaces clustering, kNN-graph HDBSCAN": lambda: cluster_embeddings(
            vectors, ClusterSettings(algorithm="knn"), result.model),
        f"Chinese whispers, threshold {threshold:.2f}": lambda: chinese_whispers(vectors, threshold),
        f"DBSCAN eps {0.75 * threshold:.2f}, min_samples 2": lambda: DBSCAN(eps=0.75 * threshold, min_samples=2)
        .fit_predict(vectors),
        f"Agglomerative average, threshold {threshold:.2f}": lambda: _singletons_out(AgglomerativeClustering(
            n_clusters=None, distance_threshold=threshold, linkage="average").fit_predict(vectors)),
    }
    for name, run in baselines.items():
        rows[name] = scores(truth, np.asarray(run()))
    report = {
        "date": str(date.today()), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "source": str(args.source), "model": result.model, "detector": result.detector,
        "faces_labelled": expected, "faces_detected": result.faces_total, "faces_matched": len(truth),
        "scan_seconds": round(seconds, 1), "settings": result.settings.get("clustering"), "methods": rows,
    }
    out = args.out or Path(__file__).parent / "results" / f"quality_{args.source.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    table = Table(title=f"Quality on {args.source} ({len(truth)} of {expected} labelled faces matched, "
                        f"model {result.model}, detector {result.detector})")
    for column in ("method", "people (true)", "unclustered", "BCubed P/R/F1", "pairwise P/R/F1", "NMI"):
        table.add_column(column)
    for name, row in rows.items():
        b, p = row["bcubed"], row["pairwise"]
        table.add_row(name, f"{row['people_found']} ({row['people_true']})", f"{row['unclustered']:.1%}",
                      f"{b['precision']:.3f} / {b['recall']:.3f} / {b['f1']:.3f}",
                      f"{p['precision']:.3f} / {p['recall']:.3f} / {p['f1']:.3f}", f"{row['nmi']:.3f}")
    Console(width=150).print(table)
    print(f"written to {out}")


def _singletons_out(labels: np.ndarray) -> np.ndarray:
    sizes = np.bincount(labels)
    return np.where(sizes[labels] > 1, labels, -1)


if __name__ == "__main__":
    main()
