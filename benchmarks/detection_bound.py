"""Faces found by dlib's HOG detector per image bound, decode filter and colour, against today's scan detection.

Usage: python benchmarks/detection_bound.py DATA [--runs rgb-lanczos@800 rgb-bilinear@1600 gray-bilinear@1200 ...]
           [--sample 100 --seed 0] [--pad 3] [--bystanders] [--out FILE]
DATA holds a labels.json (clusterfaces.outputs.demo libraries and lfw-dev: each face's box; ../shared/photos:
the people in each photo). The reference is what a scan detected before this benchmark's changes: the photo
decoded with Lanczos at the 1600-px bound, dlib's detector on its colours (`rgb-lanczos` at 1600). For every
variant and bound it counts the labelled faces found (IoU >= 0.3, as benchmarks/detectors.py) and the faces
the reference found that the variant lost (no detection overlapping it with IoU >= 0.3, the criterion for
a labelled face) or moved (its best overlap under 0.5: the same face boxed at another pyramid level, which
changes its landmarks and embedding a little), and times decode + detect.
A run is COLOUR-FILTER@BOUND: COLOUR rgb (what DeepFace feeds dlib) or gray, FILTER the resize after JPEG
draft decoding (lanczos, bilinear). Runs are interleaved photo by photo, so the machine's load falls on all
alike; a run whose pixels equal an earlier run's (a photo within both bounds) reuses its detections, so
s_per_photo compares runs only on photos larger than every bound (the 12-MP set). --pad 3 puts each photo
in the middle of a canvas 3x its size (faces as small a share of the photo as in a group shot).
Writes --out (benchmarks/results/detection_bound.json) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.detectors import box_overlap, match, padded  # noqa: E402
from clusterfaces.images import DEFAULT_MAX_SIDE, DecodedImage, decode_image  # noqa: E402
from clusterfaces.scan.detectors import DlibHogDetector  # noqa: E402

FILTERS = {"lanczos": Image.Resampling.LANCZOS, "bilinear": Image.Resampling.BILINEAR, "box": Image.Resampling.BOX}
REFERENCE = ("rgb-lanczos", DEFAULT_MAX_SIDE)
FOUND_IOU, SAME_BOX_IOU = 0.3, 0.5


def decoded(path: Path, side: int, resample: Image.Resampling, pad: float) -> tuple[DecodedImage, int, int]:
    if pad > 1:
        image, (dx, dy) = padded(path, pad, None)
        picture = Image.fromarray(image.pixels)
        if max(picture.size) > side:
            picture.thumbnail((side, side), resample, reducing_gap=2.0)
        return DecodedImage(np.ascontiguousarray(np.asarray(picture)), image.original_size, "JPEG"), dx, dy
    return decode_image(path, side, resample), 0, 0


def detect(hog: DlibHogDetector, image: DecodedImage, colour: str) -> list[tuple[int, int, int, int]]:
    pixels = image.pixels
    if colour == "gray":
        pixels = np.ascontiguousarray((pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).astype(np.uint8))
    scale_x, scale_y = image.scale
    return [(round(r.x * scale_x), round(r.y * scale_y), max(1, round(r.w * scale_x)), max(1, round(r.h * scale_y)))
            for r in hog.detect_faces(pixels) if r.w >= 2 and r.h >= 2]


def lost(reference: list[tuple[int, ...]], found: list[tuple[int, ...]], iou: float) -> int:
    return sum(not any(box_overlap(box, other) >= iou for other in found) for box in reference)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("photos", type=Path)
    parser.add_argument("--runs", nargs="+", default=["rgb-lanczos@800", "rgb-lanczos@1000", "rgb-lanczos@1200",
                                                      "rgb-lanczos@1600", "rgb-bilinear@1600", "rgb-box@1600",
                                                      "gray-box@1600", "gray-box@1200"])
    parser.add_argument("--sample", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pad", type=float, default=1.0)
    parser.add_argument("--bystanders", action="store_true", help="photos hold unlabelled faces (lfw-dev)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "detection_bound.json")
    args = parser.parse_args()
    labels = json.loads((args.photos / "labels.json").read_text())
    photos = sorted(labels["photos"])
    if args.sample and args.sample < len(photos):
        photos = sorted(random.Random(args.seed).sample(photos, args.sample))
    boxed = "faces" in labels
    hog = DlibHogDetector()
    runs = [(run.split("@")[0], int(run.split("@")[1])) for run in args.runs]
    if REFERENCE not in runs:
        runs.insert(0, REFERENCE)
    totals = {run: {"found": 0, "lost": 0, "moved": 0, "detections": 0, "seconds": 0.0, "missed": [], "lost_in": [],
                    "moved_in": []} for run in runs}
    labelled = 0
    load = [os.getloadavg()]
    for rel in photos:
        detected, seen = {}, {}
        for variant, side in runs:
            colour, filter_name = variant.split("-")
            start = time.perf_counter()
            image, dx, dy = decoded(args.photos / rel, side, FILTERS[filter_name], args.pad)
            resized = image.pixels.shape[:2] != image.original_size[::-1]
            key = (colour, image.pixels.shape, filter_name if resized else None)
            if key not in seen:
                seen[key] = [(x - dx, y - dy, w, h) for x, y, w, h in detect(hog, image, colour)]
            totals[(variant, side)]["seconds"] += time.perf_counter() - start
            detected[(variant, side)] = seen[key]
        if boxed:
            truth = [entry["box"] for entry in labels["faces"][rel]]
        labelled += len(truth) if boxed else len(labels["photos"][rel])
        for run, boxes in detected.items():
            total = totals[run]
            total["detections"] += len(boxes)
            if boxed:
                given = match(truth, boxes)
                total["found"] += sum(g is not None for g in given)
                total["missed"] += [rel for g in given if g is None]
            else:
                total["found"] += min(len(boxes), len(labels["photos"][rel]))
            missing = lost(detected[REFERENCE], boxes, FOUND_IOU)
            moved = lost(detected[REFERENCE], boxes, SAME_BOX_IOU) - missing
            total["lost"] += missing
            total["lost_in"] += [rel] * missing
            total["moved"] += moved
            total["moved_in"] += [rel] * moved
    load.append(os.getloadavg())
    rows = [{"variant": variant, "max_side": side, "photos": len(photos), "labelled": labelled,
             "found": t["found"], "lost_vs_today": t["lost"], "moved_vs_today": t["moved"],
             "detections": t["detections"],
             "false_faces": None if args.bystanders or not boxed else t["detections"] - t["found"],
             "s_per_photo": round(t["seconds"] / len(photos), 4), "lost_in": t["lost_in"], "moved_in": t["moved_in"],
             "missed": t["missed"]}
            for (variant, side), t in totals.items()]
    table = Table(title=f"dlib HOG on {args.photos}{f', pad {args.pad:g}' if args.pad > 1 else ''}: reference "
                        f"{REFERENCE[0]} at {REFERENCE[1]} px (load average {load[0][0]:.1f} -> {load[1][0]:.1f})")
    for column in ("variant", "max_side", "found", "lost_vs_today", "moved_vs_today", "detections", "false_faces",
                   "s_per_photo"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["variant"], str(row["max_side"]), f"{row['found']}/{labelled}", str(row["lost_vs_today"]),
                      str(row["moved_vs_today"]), str(row["detections"]), str(row["false_faces"]),
                      str(row["s_per_photo"]))
    Console(width=160).print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "date": str(date.today()), "machine": platform.machine(), "cpus": os.cpu_count(),
        "load_average_start_end": load, "command": "python benchmarks/detection_bound.py " + " ".join(sys.argv[1:]),
        "reference": {"variant": REFERENCE[0], "max_side": REFERENCE[1]}, "sample": args.sample,
        "seed": args.seed if args.sample else None, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
