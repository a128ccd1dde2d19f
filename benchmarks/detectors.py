"""Compare face detectors and detection image sizes on a labelled photos folder: recall, false faces, time.

Usage: python benchmarks/detectors.py DATA [--detectors dlib mtcnn dlib-cnn blazeface-back] [--sides 800 1600 0]
           [--sample 600 --seed 0] [--bystanders] [--embeddings] [--pad 3] [--from-db LIBRARY.db] [--out FILE]
Writes benchmarks/results/detectors.json (or --out) and prints a table.

Where labels.json gives each face's box ("faces": lfw-dev, libraries built by clusterfaces.outputs.demo), a
labelled face is found when one detection overlaps it with IoU >= 0.3 (one detection per face), and
every detection matching no labelled face is a false face, unless --bystanders says the photos hold
unlabelled faces (lfw-dev): then detections per photo are reported instead. Without boxes (photos/),
faces are counted per photo against the number of people listed (detections beyond that are extra).
--embeddings also embeds the found faces with Dlib (5-point chip) and reports how well same-person and
different-person distances separate (ROC AUC): dlib's landmark model was trained on dlib's boxes.
--pad 3 puts each photo in the middle of a canvas 3x its size, so faces are as small a share of the
photo as in a group shot (BlazeFace sees the whole photo at 128-256 px). --from-db scores the boxes a
clusterfaces scan stored instead of detecting (no timing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from clusterfaces.boxes import box_overlap
from clusterfaces.images import DecodedImage, decode_image
from clusterfaces.scan.detectors import OFFLINE_DETECTORS, build_detector
from clusterfaces.scan.faces import FaceDetector

MATCH_IOU = 0.3


def make_detector(name: str) -> FaceDetector:
    """The detector as a scan uses it (Dlib model: dlib's 5-point chip on its boxes)."""
    try:
        return FaceDetector(name, "Dlib")
    except Exception:
        if name not in OFFLINE_DETECTORS:
            raise
    model = FaceDetector("dlib", "Dlib")  # faces.py without the offline detectors wired in
    model.detector_name, model._detector = name, build_detector(name)
    return model


def match(labelled: list[list[float]], detected: list[tuple[int, ...]]) -> list[int | None]:
    """For each labelled box, the index of the detection given to it (greedy by IoU >= 0.3), or None."""
    pairs = sorted(((box_overlap(box, found), i, j) for i, box in enumerate(labelled)
                    for j, found in enumerate(detected)), reverse=True)
    given: list[int | None] = [None] * len(labelled)
    used: set[int] = set()
    for overlap, i, j in pairs:
        if overlap < MATCH_IOU:
            break
        if given[i] is None and j not in used:
            given[i] = j
            used.add(j)
    return given


def separation(identities: list[str], vectors: np.ndarray) -> dict:
    """Same-person vs different-person distances of L2-normalised embeddings: ROC AUC and means."""
    from sklearn.metrics import roc_auc_score

    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    distances = np.sqrt(np.maximum(0.0, 2.0 - 2.0 * vectors @ vectors.T))
    names = np.asarray(identities)
    upper = np.triu_indices(len(names), 1)
    same = (names[:, None] == names[None, :])[upper]
    values = distances[upper]
    return {"faces": len(names), "roc_auc": round(float(roc_auc_score(same, -values)), 4),
            "same_mean": round(float(values[same].mean()), 4), "different_mean": round(float(values[~same].mean()), 4),
            "different_below_0.40": round(float((values[~same] < 0.40).mean()), 5),
            "same_above_0.40": round(float((values[same] >= 0.40).mean()), 4)}


def padded(path: Path, factor: float, max_side: int | None) -> tuple[DecodedImage, tuple[int, int]]:
    """The photo in the middle of a canvas `factor` times its size (its mean colour): its faces become
    as small a share of the photo as in a group shot. Returns the decoded canvas and the photo's offset."""
    from PIL import Image

    photo = decode_image(path, None)
    height, width = photo.pixels.shape[:2]
    canvas = np.empty((round(height * factor), round(width * factor), 3), dtype=np.uint8)
    canvas[:] = photo.pixels.reshape(-1, 3).mean(axis=0).astype(np.uint8)
    dx, dy = (canvas.shape[1] - width) // 2, (canvas.shape[0] - height) // 2
    canvas[dy:dy + height, dx:dx + width] = photo.pixels
    image = Image.fromarray(canvas)
    if max_side and max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=2.0)
    pixels = np.ascontiguousarray(np.asarray(image))
    return DecodedImage(pixels=pixels, original_size=(canvas.shape[1], canvas.shape[0]), format="JPEG"), (dx, dy)


def run_boxes(args: argparse.Namespace, labels: dict, photos: list[str]) -> list[dict]:
    """Box-matched recall, false faces (or detections per photo) and time per photo, per detector and side."""
    boxes = labels["faces"]
    rows = []
    embedder = None
    embedded: dict[tuple[str, int], dict[str, tuple[str, np.ndarray]]] = {}
    if args.embeddings:
        from clusterfaces.scan.faces import FaceEmbedder

        embedder = FaceEmbedder("Dlib")
    for name in args.detectors:
        model = make_detector(name)
        model.detect_faces(decode_image(args.photos / photos[0], 400))  # warm-up
        for side in args.sides:
            per_photo, times, missed, crops, identities, keys = {}, [], [], [], [], []
            decode_s = detect_s = 0.0
            for rel in photos:
                t0 = time.perf_counter()
                if args.pad > 1:
                    image, (dx, dy) = padded(args.photos / rel, args.pad, side or None)
                else:
                    image, dx, dy = decode_image(args.photos / rel, side or None), 0, 0
                t1 = time.perf_counter()
                faces = model.detect_faces(image)
                t2 = time.perf_counter()
                decode_s += t1 - t0
                detect_s += t2 - t1
                times.append(t2 - t0)
                given = match([[b[0] + dx, b[1] + dy, b[2], b[3]] for b in (entry["box"] for entry in boxes[rel])],
                              [face.box for face in faces])
                per_photo[rel] = [sum(g is not None for g in given), len(given), len(faces)]
                missed += [f"{rel}:{entry['identity']}" for entry, g in zip(boxes[rel], given) if g is None]
                if embedder is not None:
                    crops += [faces[g].crop for g in given if g is not None]
                    identities += [entry["identity"] for entry, g in zip(boxes[rel], given) if g is not None]
                    keys += [f"{rel}#{i}" for i, g in enumerate(given) if g is not None]
            rows.append(box_row(args, name, side, per_photo, missed, decode_s, detect_s, times))
            if embedder is not None and crops:
                vectors = np.concatenate([embedder.embed_faces(crops[i:i + 64]) for i in range(0, len(crops), 64)])
                rows[-1]["embeddings_Dlib"] = separation(identities, vectors)
                embedded[(name, side)] = dict(zip(keys, zip(identities, vectors)))
            print({k: v for k, v in rows[-1].items() if k not in ("missed", "per_photo")}, flush=True)
            save(args, rows)
    if len(embedded) > 1:  # the same faces through each detector's boxes: alignment quality alone
        common = sorted(set.intersection(*(set(faces) for faces in embedded.values())))
        for row in rows:
            faces = embedded.get((row["detector"], row["max_side"] if row["max_side"] != "full" else 0))
            if faces is not None:
                row["embeddings_Dlib_common_faces"] = separation(
                    [faces[key][0] for key in common], np.stack([faces[key][1] for key in common]))
                print(row["detector"], row["max_side"], "on the faces every detector found:",
                      row["embeddings_Dlib_common_faces"], flush=True)
        save(args, rows)
    return rows


def box_row(args: argparse.Namespace, name: str, side: int, per_photo: dict, missed: list[str],
            decode_s: float, detect_s: float, times: list[float]) -> dict:
    found = sum(v[0] for v in per_photo.values())
    labelled = sum(v[1] for v in per_photo.values())
    detections = sum(v[2] for v in per_photo.values())
    row = {
        "detector": name, "max_side": side or "full", **({"pad": args.pad} if args.pad > 1 else {}),
        "photos": len(per_photo), "labelled": labelled,
        "found": found, "recall": round(found / labelled, 4), "missed_count": len(missed),
        "detections": detections, "unmatched": detections - found,
        "false_faces": None if args.bystanders else detections - found,
        "detections_per_photo": round(detections / len(per_photo), 3),
        "photos_without_detection": sum(v[2] == 0 for v in per_photo.values()),
    }
    if times:
        row.update({"decode_s": round(decode_s, 2), "detect_s": round(detect_s, 2),
                    "s_per_photo": round((decode_s + detect_s) / len(times), 4),
                    "median_s_per_photo": round(statistics.median(times), 4),
                    "slowest_photo_s": round(max(times), 2)})
    row["missed"] = missed
    # relative path -> [found, labelled, detections], for the photos where something was missed or added
    row["per_photo"] = {rel: v for rel, v in per_photo.items() if not v[0] == v[1] == v[2]}
    return row


def run_from_db(args: argparse.Namespace, labels: dict, photos: list[str]) -> list[dict]:
    """Score the boxes a clusterfaces scan stored (its own detector and image bound), without detecting."""
    from clusterfaces import Library

    with Library(args.from_db).reading() as store:
        rows = store.db.execute("SELECT p.path, f.x, f.y, f.w, f.h, f.detector FROM faces f "
                                "JOIN photos p ON p.id = f.photo_id").fetchall()
    detected: dict[str, list[tuple[int, ...]]] = {}
    detectors = set()
    root = os.path.realpath(args.photos)
    for path, x, y, w, h, detector in rows:
        path = os.fsdecode(path) if isinstance(path, bytes) else path
        detected.setdefault(Path(os.path.relpath(os.path.realpath(path), root)).as_posix(), []).append((x, y, w, h))
        detectors.add(detector)
    per_photo, missed = {}, []
    for rel in photos:
        entries = labels["faces"][rel]
        given = match([entry["box"] for entry in entries], detected.get(rel, []))
        per_photo[rel] = [sum(g is not None for g in given), len(given), len(detected.get(rel, []))]
        missed += [f"{rel}:{entry['identity']}" for entry, g in zip(entries, given) if g is None]
    row = box_row(args, f"{'+'.join(sorted(detectors))} (scan {args.from_db})", 1600, per_photo, missed, 0, 0, [])
    print({k: v for k, v in row.items() if k not in ("missed", "per_photo")}, flush=True)
    return [row]


def run_counts(args: argparse.Namespace, labels: dict, photos: list[str]) -> list[dict]:
    """Faces found per photo against the number of people listed (labels without boxes)."""
    rows = []
    for detector in args.detectors:
        model = make_detector(detector)
        model.detect_faces(decode_image(args.photos / photos[0], 400))  # warm-up
        for side in args.sides:
            found = extra = expected = 0
            missed = []
            decode_s = detect_s = 0.0
            slowest = 0.0
            for rel in photos:
                people = labels["photos"][rel]
                t0 = time.perf_counter()
                image = decode_image(args.photos / rel, side or None)
                t1 = time.perf_counter()
                faces = model.detect_faces(image)
                t2 = time.perf_counter()
                decode_s += t1 - t0
                detect_s += t2 - t1
                slowest = max(slowest, t2 - t0)
                expected += len(people)
                found += min(len(faces), len(people))
                extra += max(0, len(faces) - len(people))
                if len(faces) < len(people):
                    missed.append(f"{rel} ({len(faces)}/{len(people)})")
            rows.append({
                "detector": detector, "max_side": side or "full", "expected": expected, "found": found,
                "extra": extra, "missed": missed, "decode_s": round(decode_s, 2), "detect_s": round(detect_s, 2),
                "photos": len(photos), "s_per_photo": round((decode_s + detect_s) / len(photos), 4),
                "slowest_photo_s": round(slowest, 2),
            })
            print(rows[-1], flush=True)
            save(args, rows)
    return rows


def print_table(args: argparse.Namespace, rows: list[dict], boxed: bool) -> None:
    table = Table(title=f"Detectors on {args.photos} ({platform.node()}, {date.today()})")
    if boxed:
        columns = ("detector", "max_side", "photos", "found", "recall", "false_faces", "detections_per_photo",
                   "s_per_photo", "slowest_photo_s")
    else:
        columns = ("detector", "max_side", "found", "extra", "decode_s", "detect_s", "s_per_photo", "slowest_photo_s")
    for column in columns:
        table.add_column(column)
    if boxed and any("embeddings_Dlib" in row for row in rows):
        table.add_column("Dlib AUC")
    for row in rows:
        cells = [str(row.get(c)) for c in columns]
        cells[columns.index("found")] = f"{row['found']}/{row.get('labelled', row.get('expected'))}"
        if len(table.columns) > len(columns):
            cells.append(str(row.get("embeddings_Dlib", {}).get("roc_auc", "")))
        table.add_row(*cells)
    Console(width=200).print(table)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("photos", type=Path)
    parser.add_argument("--detectors", nargs="+", default=["dlib", "mtcnn"],
                        help=f"DeepFace backends or clusterfaces' offline ones: {', '.join(OFFLINE_DETECTORS)}")
    parser.add_argument("--sides", nargs="+", type=int, default=[800, 1200, 1600, 2400, 0])
    parser.add_argument("--sample", type=int, help="score a fixed random subset of this many photos")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bystanders", action="store_true", help="photos hold unlabelled faces: no false faces")
    parser.add_argument("--embeddings", action="store_true",
                        help="Dlib embedding separation of the found faces, and of the faces every detector found")
    parser.add_argument("--pad", type=float, default=1.0,
                        help="put each photo in the middle of a canvas this many times its size (small faces)")
    parser.add_argument("--from-db", type=Path, help="score a scanned library's stored boxes instead")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "detectors.json")
    args = parser.parse_args()
    labels = json.loads((args.photos / "labels.json").read_text())
    photos = sorted(labels["photos"])
    if args.sample and args.sample < len(photos):
        photos = sorted(random.Random(args.seed).sample(photos, args.sample))
    boxed = "faces" in labels
    if args.from_db:
        rows = run_from_db(args, labels, photos)
    elif boxed:
        rows = run_boxes(args, labels, photos)
    else:
        rows = run_counts(args, labels, photos)
    print_table(args, rows, boxed)
    save(args, rows)


def save(args: argparse.Namespace, rows: list[dict]) -> None:
    """Write the results so far (after every row: a long run interrupted keeps what it measured)."""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "date": str(date.today()), "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(), "load_average": os.getloadavg(),
        "command": "python benchmarks/detectors.py " + " ".join(sys.argv[1:]),
        "sample": args.sample, "seed": args.seed if args.sample else None, "rows": rows,
    }, indent=1))


if __name__ == "__main__":
    main()
