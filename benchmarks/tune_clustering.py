"""Grid-search clustering settings on faces already stored by a scan, against a labels.json.

Usage: python benchmarks/tune_clustering.py DB LABELS ROOT [--model Dlib]
Prints BCubed and pairwise scores for each setting, best first, and writes
benchmarks/results/tune_clustering.json. Needs a database from `clusterfaces scan ROOT`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
from dataclasses import asdict
from pathlib import Path

from clusterfaces.clustering import ClusterSettings, cluster_embeddings
from clusterfaces.evaluation import bcubed, labelled_faces, load_labels, pairwise


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db", type=Path)
    parser.add_argument("labels", type=Path)
    parser.add_argument("root", type=Path)
    parser.add_argument("--model", default="Dlib")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "tune_clustering.json")
    args = parser.parse_args()
    truth, vectors, _ = labelled_faces(args.db, Path(os.path.abspath(args.root)), load_labels(args.labels),
                                       args.model)
    print(f"{len(truth)} labelled faces of {len(set(truth))} people")
    rows = []
    grid = itertools.product((2, 3, 5, 8), (1, 2, 3), (0.0, 0.2, 0.3), (0.0, 0.3, 0.34, 0.38), (0.0, 0.3, 0.35, 0.4))
    for size, samples, epsilon, attach, merge in grid:
        settings = ClusterSettings(min_cluster_size=size, min_samples=samples, selection_epsilon=epsilon,
                                   attach_distance=attach, merge_distance=merge)
        labels = cluster_embeddings(vectors, settings, args.model)
        b, p = bcubed(truth, labels), pairwise(truth, labels)
        rows.append({**asdict(settings), "people": int(labels.max() + 1), "unclustered": float((labels < 0).mean()),
                     "bcubed": asdict(b), "pairwise": asdict(p)})
    rows.sort(key=lambda r: -r["bcubed"]["f1"])
    for row in rows[:25]:
        print(f"mcs {row['min_cluster_size']} ms {row['min_samples']} eps {row['selection_epsilon']} "
              f"attach {row['attach_distance']} merge {row['merge_distance']}: people {row['people']} "
              f"noise {row['unclustered']:.2f} B3 P/R/F {row['bcubed']['precision']:.3f}/{row['bcubed']['recall']:.3f}/"
              f"{row['bcubed']['f1']:.3f} pairP {row['pairwise']['precision']:.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"faces": len(truth), "people": len(set(truth)), "rows": rows[:40]}, indent=1))


if __name__ == "__main__":
    main()
