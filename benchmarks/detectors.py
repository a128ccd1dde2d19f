"""Compare DeepFace detectors and detection image sizes on a labelled photos folder.

Usage: python benchmarks/detectors.py ../shared/photos [--detectors dlib mtcnn] [--sides 800 1600 0]
Writes benchmarks/results/detectors.json and prints a table. A "found" face is counted per photo
against the number of people labels.json lists for it (detections beyond that count as extra).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

from clusterfaces.faces import FaceDetector
from clusterfaces.images import decode_image


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("photos", type=Path)
    parser.add_argument("--detectors", nargs="+", default=["dlib", "mtcnn"])
    parser.add_argument("--sides", nargs="+", type=int, default=[800, 1200, 1600, 2400, 0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "detectors.json")
    args = parser.parse_args()
    labels = json.loads((args.photos / "labels.json").read_text())["photos"]
    rows = []
    for detector in args.detectors:
        model = FaceDetector(detector, "Dlib")
        model.detect_faces(decode_image(args.photos / next(iter(labels)), 400))  # warm-up
        for side in args.sides:
            found = extra = expected = 0
            missed = []
            decode_s = detect_s = 0.0
            slowest = 0.0
            for rel, people in sorted(labels.items()):
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
                "photos": len(labels), "slowest_photo_s": round(slowest, 2),
            })
            print(rows[-1], flush=True)
    table = Table(title=f"Detectors on {args.photos} ({platform.node()}, {date.today()})")
    columns = ("detector", "max_side", "found", "extra", "decode_s", "detect_s", "slowest_photo_s")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c]) if c != "found" else f"{row['found']}/{row['expected']}" for c in columns))
    Console().print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"date": str(date.today()), "machine": platform.processor() or platform.machine(),
                                    "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
