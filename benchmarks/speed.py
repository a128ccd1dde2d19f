"""Speed of each stage, against the naive DeepFace loop, the pure model, and clustering at scale.

Usage:
  python benchmarks/speed.py pipeline ../shared/photos [--workers 0 1 2]   # scan vs naive loop, per stage, RSS
  python benchmarks/speed.py embed ../shared/photos                         # our embed stage vs pure batched forward
  python benchmarks/speed.py cluster --sizes 10000 100000 --dims 128 512    # generated faces, drawn like LFW's
                                                                            # (writes results/cluster_scale*.json)
  python benchmarks/speed.py facenet                                        # FaceNet512 architecture, untrained
  python benchmarks/speed.py big-jpegs /tmp/big --copies 5                  # ../shared/photos' JPEGs at 4000 px
  python benchmarks/speed.py scans /tmp/big --baseline-tree /tmp/base       # scans: this tree vs another, alternated
Each writes benchmarks/results/speed_<what>.json and prints a table. Same model and detector on
both sides of every comparison; the naive loop and the scan run in the same invocation.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).parent / "results"
MACHINE = f"{platform.machine()}, {os.cpu_count()} cores, no GPU"


def _write(name: str, payload: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"date": str(date.today()), "machine": MACHINE, **payload}
    (RESULTS / f"speed_{name}.json").write_text(json.dumps(payload, indent=1))


def _table(title: str, rows: list[dict]) -> None:
    table = Table(title=title)
    for column in rows[0]:
        table.add_column(str(column))
    for row in rows:
        table.add_row(*(f"{v:.3g}" if isinstance(v, float) else str(v) for v in row.values()))
    Console(width=160).print(table)


def photos_in(folder: Path) -> list[Path]:
    from clusterfaces.scan.crawl import FoundFile, crawl

    return [item.path for item in crawl([folder]) if isinstance(item, FoundFile)]


def naive_loop(photos: list[Path], model: str, detector: str) -> tuple[float, int]:
    """The baseline: DeepFace.represent(path) once per photo, as a user of DeepFace would write it."""
    from deepface import DeepFace

    DeepFace.represent(str(photos[0]), model_name=model, detector_backend=detector, enforce_detection=False)
    faces = 0
    start = time.perf_counter()
    for photo in photos:
        try:
            faces += len(DeepFace.represent(str(photo), model_name=model, detector_backend=detector,
                                            enforce_detection=False))
        except Exception:  # noqa: BLE001 - the naive loop skips what it cannot read
            pass
    return time.perf_counter() - start, faces


def scan_in_subprocess(folder: Path, model: str, detector: str, workers: int, max_side: int,
                       batch_size: int = 32, tree: Path | None = None) -> dict:
    """Run `clusterfaces scan` in a child process; time it and read its and its workers' peak RSS.
    The child imports clusterfaces from `tree` (a baseline), else from the tree this file is in."""
    work = Path(tempfile.mkdtemp(prefix="cf-speed-"))
    code = (
        "import json, os, resource, subprocess, sys, threading, time; from pathlib import Path\n"
        "try:\n    from clusterfaces import Library, ScanOptions\n"
        "except ImportError:  # a tree from before the public API\n"
        "    from clusterfaces.library.core import Library, ScanOptions\n"
        "from clusterfaces.scan.faces import FaceEmbedder, FaceDetector\n"
        f"FaceEmbedder({model!r}); FaceDetector({detector!r}, {model!r})  # loading is not scanning\n"
        # Workers' peak RSS, sampled: RUSAGE_CHILDREN would also count helpers forked from this big
        # process (a forked child's high-water mark starts at its parent's size).
        "workers = {}\n"
        "def watch():\n"
        "    while True:\n"
        "        out = subprocess.run(['ps', '-o', 'pid=,rss=,args=', '--ppid', str(os.getpid())],"
        " capture_output=True, text=True).stdout\n"
        "        for line in out.splitlines():\n"
        "            pid, rss, args = line.split(None, 2)\n"
        "            if 'spawn_main' in args: workers[pid] = max(workers.get(pid, 0), int(rss) / 1024)\n"
        "        time.sleep(0.2)\n"
        "threading.Thread(target=watch, daemon=True).start()\n"
        "t = time.perf_counter()\n"
        f"r = Library(Path({str(work / 'db')!r}), Path({str(work / 'out')!r})).scan(ScanOptions(roots=[Path("
        f"{str(folder)!r})], model={model!r}, detector={detector!r}, workers={workers}, max_side={max_side}, "
        f"batch_size={batch_size}))\n"
        "wall = time.perf_counter() - t\n"
        "print(json.dumps({'wall': wall, 'photos': r.photos_processed, 'faces': r.faces_new, 'seconds': r.seconds,"
        " 'rss_main_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,"
        " 'rss_worker_mb': max(workers.values(), default=0.0), 'rss_total_mb':"
        " resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 + sum(workers.values())}))\n"
    )
    if __name__ != "__main__":
        raise RuntimeError("run as a script")
    env = {**os.environ, "PYTHONPATH": str(tree or Path(__file__).resolve().parent.parent)}
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    shutil.rmtree(work, ignore_errors=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def untrained_facenet_home() -> Path:
    """A throw-away DeepFace home whose facenet512_weights.h5 holds UNTRAINED weights of DeepFace's own
    FaceNet512 definition, so both the naive loop and the scan can be timed with FaceNet512 offline.
    The embeddings are meaningless; the arithmetic, and so the speed, is the real model's."""
    home = Path(tempfile.mkdtemp(prefix="cf-facenet-home-"))
    os.environ["DEEPFACE_HOME"] = str(home)  # children (scan, workers) inherit it
    from deepface.models.facial_recognition.tf.Facenet import InceptionResNetV1

    from clusterfaces.scan.weights import stage_shipped_dlib_weights, weights_dir

    weights_dir().mkdir(parents=True, exist_ok=True)
    import h5py
    from keras.src.legacy.saving.legacy_h5_format import save_weights_to_hdf5_group

    # DeepFace loads this file as a legacy (Keras 2) HDF5 weights file, so write that format.
    with h5py.File(weights_dir() / "facenet512_weights.h5", "w") as handle:
        save_weights_to_hdf5_group(handle, InceptionResNetV1(dimension=512))
    stage_shipped_dlib_weights()  # the dlib detector's landmark model
    return home


def pipeline(args: argparse.Namespace) -> None:
    note = ""
    if args.untrained_facenet:
        args.model = "Facenet512"
        home = untrained_facenet_home()
        note = " [FaceNet512 with UNTRAINED weights: speed only]"
    photos = photos_in(args.folder)
    rows = []
    for workers, max_side, batch in [(w, m, b) for b in args.scan_batch_sizes for m in args.max_sides
                                     for w in args.workers]:
        load = os.getloadavg()[0]
        run = scan_in_subprocess(args.folder, args.model, args.detector, workers, max_side, batch)
        stage = run["seconds"]
        rows.append({
            "workers": workers, "max_side": max_side, "batch": batch, "photos": run["photos"], "faces": run["faces"],
            "wall_s": run["wall"],
            "photos_per_s": run["photos"] / run["wall"], "faces_per_s": run["faces"] / run["wall"],
            "decode_s": stage.get("decode", 0.0), "detect_s": stage.get("detect", 0.0),
            "embed_s": stage.get("embed", 0.0), "store_s": stage.get("store", 0.0),
            "cluster_s": stage.get("cluster", 0.0), "peak_rss_main_mb": run["rss_main_mb"],
            "peak_rss_worker_mb": run["rss_worker_mb"], "peak_rss_all_mb": run["rss_total_mb"],
            "load_average_before_after": [round(load, 2), round(os.getloadavg()[0], 2)],
        })
    load = os.getloadavg()[0]
    naive_seconds, naive_faces = naive_loop(photos[:args.naive_photos], args.model, args.detector)
    photos = photos[:args.naive_photos]
    naive = {"photos": len(photos), "faces": naive_faces, "wall_s": naive_seconds,
             "photos_per_s": len(photos) / naive_seconds,
             "load_average_before_after": [round(load, 2), round(os.getloadavg()[0], 2)]}
    for row in rows:
        row["speedup_vs_naive"] = row["photos_per_s"] / naive["photos_per_s"]
    _table(f"Scan of {args.folder} ({args.model}, {args.detector}){note}; naive DeepFace.represent loop: "
           f"{naive['photos_per_s']:.2f} photos/s", rows)
    _write(f"pipeline_{args.folder.name}{'_facenet512_untrained' if note else ''}",
           {"date": str(date.today()), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "folder": str(args.folder), "model": args.model, "detector": args.detector, "note": note.strip(" []"),
            "naive": naive, "scan": rows})
    if note:
        shutil.rmtree(home, ignore_errors=True)


def big_jpegs(args: argparse.Namespace) -> None:
    """The JPEGs of ../shared/photos with a long side of 640 px or more (20 of 23), upscaled to 4000 px as a
    12-MP camera's photos, each in `copies` versions (mirrored, other JPEG quality: other pixels, so a scan
    cannot take them for copies of each other), with a labels.json for benchmarks/detection_bound.py."""
    from PIL import Image

    labels = json.loads((args.source / "labels.json").read_text())["photos"]
    kept = {}
    for rel in sorted(labels):
        with Image.open(args.source / rel) as photo:
            if photo.format != "JPEG" or max(photo.size) < 640:
                continue
            ratio = 4000 / max(photo.size)
            big = photo.convert("RGB").resize((round(photo.width * ratio), round(photo.height * ratio)),
                                              Image.Resampling.BICUBIC)
        for copy in range(args.copies):
            name = Path(rel).with_name(f"{Path(rel).stem}{f'-{copy}' if copy else ''}.jpg").as_posix()
            (args.destination / name).parent.mkdir(parents=True, exist_ok=True)
            version = big.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if copy % 2 else big
            version.save(args.destination / name, quality=90 - 2 * copy)
            kept[name] = labels[rel]
    (args.destination / "labels.json").write_text(json.dumps({"about": "../shared/photos' JPEGs at 4000 px",
                                                              "photos": kept}, indent=1))
    print(f"{len(kept)} photos written to {args.destination}")


def scans(args: argparse.Namespace) -> None:
    """Default scans (Dlib, dlib) of each folder by a baseline tree and by this one, alternated `repeats`
    times so that the machine's load falls on both alike; the load average is recorded with every run."""
    rows = []
    for repeat in range(args.repeats):
        for folder in args.folders:
            for name, tree in (("baseline", args.baseline_tree), ("this tree", None)):
                load = os.getloadavg()[0]
                run = scan_in_subprocess(folder, args.model, args.detector, args.workers, args.max_side, tree=tree)
                stage = run["seconds"]
                rows.append({"folder": folder.name, "code": name, "repeat": repeat, "photos": run["photos"],
                             "faces": run["faces"], "wall_s": round(run["wall"], 2),
                             "photos_per_s": round(run["photos"] / run["wall"], 3),
                             **{f"{key}_s": round(stage.get(key, 0.0), 2) for key in
                                ("hash", "decode", "detect", "embed", "store", "cluster")},
                             "peak_rss_all_mb": round(run["rss_total_mb"]),
                             "load_average_before_after": [round(load, 2), round(os.getloadavg()[0], 2)]})
                print(rows[-1], flush=True)
    _table(f"Scans ({args.model}, {args.detector}, {args.workers} workers): baseline {args.baseline_tree} "
           "against this tree", rows)
    _write(f"scans_{args.name}", {"model": args.model, "detector": args.detector, "workers": args.workers,
                                  "max_side": args.max_side, "baseline_tree": str(args.baseline_tree),
                                  "command": "python benchmarks/speed.py " + " ".join(sys.argv[1:]), "rows": rows})


def embed(args: argparse.Namespace) -> None:
    from clusterfaces.images import DEFAULT_MAX_SIDE, decode_image
    from clusterfaces.scan.faces import FaceDetector, FaceEmbedder

    detector = FaceDetector(args.detector, args.model)
    crops = [face.crop for photo in photos_in(args.folder) for face in
             detector.detect_faces(decode_image(photo, DEFAULT_MAX_SIDE))]
    embedder = FaceEmbedder(args.model)
    rows = []
    for batch in args.batch_sizes:
        embedder.embed_faces(crops[:batch])  # warm-up
        start = time.perf_counter()
        for i in range(0, len(crops), batch):
            embedder.embed_faces(crops[i:i + batch])
        ours = time.perf_counter() - start
        embedder.mirrored = True  # what new libraries do: the crop and its mirror image, averaged
        start = time.perf_counter()
        for i in range(0, len(crops), batch):
            embedder.embed_faces(crops[i:i + batch])
        mirrored = time.perf_counter() - start
        embedder.mirrored = False
        if args.model == "Dlib":
            raw = embedder._recognizer.model.model  # the dlib network itself

            def forward(chunk, raw=raw):
                return raw.compute_face_descriptor(chunk)
            inputs = crops
        else:
            inputs = [embedder._model_input(crop) for crop in crops]

            def forward(chunk):
                return embedder._recognizer.model(np.stack(chunk), training=False)
        start = time.perf_counter()
        for i in range(0, len(inputs), batch):
            forward(inputs[i:i + batch])
        pure = time.perf_counter() - start
        rows.append({"batch": batch, "faces": len(crops), "ours_faces_per_s": len(crops) / ours,
                     "mirrored_faces_per_s": len(crops) / mirrored,
                     "pure_forward_faces_per_s": len(crops) / pure, "ratio": pure / ours})
    _table(f"Embedding {args.model}: clusterfaces embed_faces vs the bare model call on the same crops", rows)
    _write(f"embed_{args.model}", {"model": args.model, "rows": rows})


def synthetic_faces(size: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors shaped like face embeddings: people with ~40 faces each (pairwise distance ~0.35,
    people ~0.85 apart, as Dlib's are) and 20 % one-off strangers. Returns (vectors, person or -1)."""
    from clusterfaces.scan.faces import l2_normalise

    rng = np.random.default_rng(seed)
    strangers = size // 5
    people = max(10, (size - strangers) // 40)
    base = l2_normalise(rng.normal(size=(1, dim)))
    centres = l2_normalise(base + 0.66 * rng.normal(size=(people + strangers, dim)) / np.sqrt(dim)).astype(np.float32)
    owners = np.concatenate([rng.integers(0, people, size - strangers), people + np.arange(strangers)])
    vectors = np.empty((size, dim), dtype=np.float32)
    for start in range(0, size, 100_000):  # in slices: the benchmark itself must not dominate memory
        part = owners[start:start + 100_000]
        noise = rng.normal(scale=0.25 / np.sqrt(dim), size=(len(part), dim)).astype(np.float32)
        vectors[start:start + 100_000] = l2_normalise(centres[part] + noise)
    return vectors, np.where(owners < people, owners, -1)


FACE_MODEL = RESULTS / "cluster_face_model.json"


def fit_face_model(database: Path, root: Path) -> dict:
    """Statistics of real Dlib faces that decide how people cluster: the spectra of the within-person and
    between-person covariances, the length of the mean face, and how many faces each person has (LFW's
    development half: most people once). Written to benchmarks/results/cluster_face_model.json."""
    from clusterfaces.library.scoring import scored_library
    from clusterfaces.people.evaluation import load_labels

    scored = scored_library(database, root, load_labels(root / "labels.json"), "Dlib")
    return face_model_of(scored.vectors, scored.truth, f"{database} ({root}, Dlib)")


def face_model_of(vectors: np.ndarray, truth: list[str | None], source: str) -> dict:
    """fit_face_model's statistics of L2-normalised vectors and their identities (None: unknown)."""
    vectors = vectors.astype(np.float64)
    members: dict[str, list[int]] = {}
    for face, name in enumerate(truth):
        if name is not None:
            members.setdefault(name, []).append(face)
    groups = list(members.values())
    several = [g for g in groups if len(g) > 1]
    residuals = np.concatenate([vectors[g] - vectors[g].mean(axis=0) for g in several])
    within = residuals.T @ residuals / sum(len(g) - 1 for g in several)
    means = np.array([vectors[g].mean(axis=0) for g in groups])
    # The spread of person means, less what their few faces add to it: the spread of the people themselves.
    between = np.cov(means.T) - within * np.mean([1 / len(g) for g in groups])
    sizes = np.bincount([len(g) for g in groups])
    model = {"source": source, "dim": vectors.shape[1],
             "mean_length": float(np.linalg.norm(vectors.mean(axis=0))),
             "within_spectrum": np.clip(np.linalg.eigvalsh(within)[::-1], 0, None).round(7).tolist(),
             "between_spectrum": np.clip(np.linalg.eigvalsh(between)[::-1], 0, None).round(7).tolist(),
             "people_with_n_faces": {str(n): int(c) for n, c in enumerate(sizes) if c},
             "distance_quantiles": _distance_quantiles(vectors, _owner_numbers(truth))}
    FACE_MODEL.write_text(json.dumps(model, indent=1))
    return model


def _owner_numbers(truth: list[str | None]) -> np.ndarray:
    numbers: dict[str, int] = {}
    return np.array([-1 if name is None else numbers.setdefault(name, len(numbers)) for name in truth])


# Log-normal sigma of a person's distance from the mean face, of their looseness, of a photo's: chosen so that
# same- and different-person distance quantiles match LFW's (the 1 % quantiles within 0.03; 512-d needs a
# wider spread of people to have as many look-alikes: its distances concentrate more).
SPREADS = {128: (0.15, 0.1, 0.18), 512: (0.3, 0.1, 0.18)}
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def _distance_quantiles(vectors: np.ndarray, owners: np.ndarray, pairs: int = 200_000, seed: int = 0) -> dict:
    """Quantiles of same-person and different-person distances (random pairs; owner -1: unknown)."""
    rng = np.random.default_rng(seed)
    known = np.flatnonzero(owners != -1)
    order = known[np.argsort(owners[known], kind="stable")]
    starts = np.flatnonzero(np.r_[True, np.diff(owners[order]) != 0])
    same_a, same_b = [], []
    for begin, end in zip(starts, np.r_[starts[1:], len(order)]):
        if end - begin > 1:
            first, second = np.triu_indices(end - begin, 1)
            if len(first) > 2000:
                pick = rng.choice(len(first), 2000, replace=False)
                first, second = first[pick], second[pick]
            same_a.append(order[begin + first])
            same_b.append(order[begin + second])
    same_a, same_b = np.concatenate(same_a), np.concatenate(same_b)
    if len(same_a) > pairs:
        pick = rng.choice(len(same_a), pairs, replace=False)
        same_a, same_b = same_a[pick], same_b[pick]
    a, b = rng.choice(known, pairs), rng.choice(known, pairs)
    a, b = a[owners[a] != owners[b]], b[owners[a] != owners[b]]

    def spread(x: np.ndarray, y: np.ndarray) -> list[float]:
        return np.quantile(np.linalg.norm(vectors[x] - vectors[y], axis=1), QUANTILES).round(3).tolist()

    return {"quantiles": list(QUANTILES), "same_person": spread(same_a, same_b), "different": spread(a, b)}


def lfw_like_faces(size: int, dim: int, seed: int = 0,
                   spreads: tuple[float, float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors drawn like real Dlib faces (cluster_face_model.json): a person's centre from the
    between-person spread around the mean face, each face from the within-person spread around it, as
    many faces per person as LFW's people have. Other dimensions stretch the spectra to `dim` values
    (same total variance: the same distances). Returns (vectors float32, person of each face)."""
    from clusterfaces.scan.faces import l2_normalise

    model = json.loads(FACE_MODEL.read_text())
    rng = np.random.default_rng(seed)
    spreads = spreads or SPREADS.get(dim, SPREADS[128])

    def scales(spectrum: list[float]) -> np.ndarray:
        spectrum = np.asarray(spectrum)
        stretched = np.interp(np.linspace(0, len(spectrum) - 1, dim), np.arange(len(spectrum)), spectrum)
        return np.sqrt(stretched * spectrum.sum() / stretched.sum()).astype(np.float32)

    def basis() -> np.ndarray:
        return np.linalg.qr(rng.normal(size=(dim, dim)))[0].astype(np.float32)

    within, between = scales(model["within_spectrum"]), scales(model["between_spectrum"])
    within_basis, between_basis = basis(), basis()
    mean = (model["mean_length"] * l2_normalise(rng.normal(size=(1, dim)))).astype(np.float32)
    counts = np.array([int(n) for n, c in model["people_with_n_faces"].items() for _ in range(c)])
    sizes = rng.choice(counts, int(size / counts.mean() * 1.2) + 10)
    sizes = sizes[:np.searchsorted(np.cumsum(sizes), size) + 1]
    owners = rng.permutation(np.repeat(np.arange(len(sizes)), sizes)[:size])
    # People differ: some look like many others, some vary more from photo to photo; so do photos.
    person_far = rng.lognormal(0.0, spreads[0], (len(sizes), 1)).astype(np.float32)
    person_loose = rng.lognormal(0.0, spreads[1], len(sizes)).astype(np.float32)
    centres = mean + (rng.standard_normal((len(sizes), dim), dtype=np.float32) * between * person_far) @ between_basis.T
    vectors = np.empty((size, dim), dtype=np.float32)
    for start in range(0, size, 100_000):  # in slices: the benchmark itself must not dominate memory
        part = owners[start:start + 100_000]
        loose = (person_loose[part] * rng.lognormal(0.0, spreads[2], len(part)).astype(np.float32))[:, None]
        noise = (rng.standard_normal((len(part), dim), dtype=np.float32) * within * loose) @ within_basis.T
        vectors[start:start + 100_000] = l2_normalise(centres[part] + noise)
    return vectors, owners


def cluster_scores(truth: np.ndarray, labels: np.ndarray) -> dict:
    """BCubed precision/recall/F1 (faces left alone count as groups of their own), clusters holding more than
    one person, and the share of people seen once that were put with somebody; vectorised for millions."""
    from scipy.sparse import coo_matrix

    labels = np.where(labels >= 0, labels, labels.max() + 1 + np.arange(len(labels)))
    _, labels = np.unique(labels, return_inverse=True)
    table = coo_matrix((np.ones(len(truth)), (labels, truth))).tocsr()
    table.sum_duplicates()
    cluster_size, person_size = np.bincount(labels), np.bincount(truth)
    cells = table.tocoo()
    shared = cells.data ** 2
    precision = float((shared / cluster_size[cells.row]).sum() / len(truth))
    recall = float((shared / person_size[cells.col]).sum() / len(truth))
    people_in = np.bincount(cells.row, minlength=len(cluster_size))
    once = person_size[truth] == 1
    return {"bcubed_precision": round(precision, 4), "bcubed_recall": round(recall, 4),
            "bcubed_f1": round(2 * precision * recall / (precision + recall), 4),
            "groups": int((cluster_size > 1).sum()), "people": int((person_size > 0).sum()),
            "groups_mixed": int((people_in > 1).sum()),
            "mixed_share": round(float((people_in > 1).sum() / max(1, (cluster_size > 1).sum())), 4),
            "seen_once_joined": round(float((cluster_size[labels[once]] > 1).mean()), 4) if once.any() else 0.0}


CLUSTER_STAGES = {"knn_hdbscan": ("knn_graph",), "clustering": (
    "linkage_clusters", "split_doubtful_groups", "merge_large_groups", "attach_to_groups")}


def _cluster_child(size: int, dim: int, algorithm: str, people: str = "lfw", exact_knn: bool = False) -> None:
    """Cluster generated faces as the library does (default settings, model Dlib) and print one JSON line:
    time in all and per stage (k-NN graph, linkage, doubtful groups, large-group merge, attach), peak
    memory, and the scores against the generated people."""
    import importlib

    from sklearn.metrics import adjusted_rand_score

    from clusterfaces.people.clustering import ClusterSettings, cluster_embeddings

    vectors, truth = lfw_like_faces(size, dim) if people == "lfw" else synthetic_faces(size, dim)
    if exact_knn:  # brute force at any size: what the approximate graph costs in people found
        from clusterfaces.people import knn_hdbscan

        knn_hdbscan.EXACT_SEARCH_LIMIT = size
    stages: dict[str, float] = {}
    for module_name, names in CLUSTER_STAGES.items():  # time each stage where the clustering looks it up
        module = importlib.import_module(f"clusterfaces.people.{module_name}")
        for name in names:
            def timed(*args, _call=getattr(module, name), _name=name, **kwargs):
                begun = time.perf_counter()
                try:
                    return _call(*args, **kwargs)
                finally:
                    stages[_name] = stages.get(_name, 0.0) + time.perf_counter() - begun
            setattr(module, name, timed)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    labels = cluster_embeddings(vectors, ClusterSettings(algorithm=algorithm), "Dlib")
    seconds = time.perf_counter() - start
    if people == "lfw":
        scores = cluster_scores(truth, labels)
    else:
        known = truth >= 0
        glued = sum(len(set(truth[labels == c].tolist()) - {-1}) > 1 for c in range(int(labels.max()) + 1))
        scores = {"groups": int(labels.max() + 1), "people": int(truth.max() + 1),
                  "ari_people": round(adjusted_rand_score(truth[known], labels[known]), 4), "groups_mixed": int(glued)}
    print(json.dumps({"seconds": seconds, "stages_s": {k: round(v, 1) for k, v in stages.items()}, **scores,
                      "input_mb": vectors.nbytes / 2**20, "rss_before_mb": before,
                      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def cluster(args: argparse.Namespace) -> None:
    rows = []
    for dim in args.dims:
        for size in args.sizes:
            for algorithm in args.algorithms:
                code = (f"import sys; sys.argv=['x']; import benchmarks.speed as s; "
                        f"s._cluster_child({size}, {dim}, {algorithm!r}, {args.people!r}, {args.exact_knn})")
                load = os.getloadavg()[0]
                row = {"faces": size, "dim": dim, "algorithm": algorithm,
                       "knn": "exact" if args.exact_knn else "default"}
                try:
                    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                               timeout=args.timeout, cwd=Path(__file__).parent.parent, check=True)
                    result = json.loads(completed.stdout.strip().splitlines()[-1])
                    row.update({"seconds": round(result.pop("seconds"), 1), "input MB": round(result.pop("input_mb")),
                                "peak RSS MB": round(result.pop("rss_mb")), **result})
                    row.pop("rss_before_mb")
                    row.update({f"{stage} s": value for stage, value in row.pop("stages_s").items()})
                except subprocess.TimeoutExpired:
                    row.update({"seconds": f"> {args.timeout}"})
                row["load_before"], row["load_after"] = round(load, 2), round(os.getloadavg()[0], 2)
                rows.append(row)
                print(row, flush=True)
    _table(f"Clustering generated faces ({args.people}), default settings", rows)
    people = ("LFW-like: centres and spreads drawn from the Dlib statistics of LFW's development half "
              "(cluster_face_model.json), people sized as LFW's" if args.people == "lfw" else
              "loose: people of ~40 faces, 20 % one-off strangers")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    out = RESULTS / f"cluster_scale{'_' + args.name if args.name else ''}.json"
    out.write_text(json.dumps({"date": str(date.today()), "machine": MACHINE, "command": "python benchmarks/speed.py "
                               + " ".join(sys.argv[1:]), "people": people, "commit": commit, "rows": rows,
                               "timeout_s": args.timeout}, indent=1))


def facenet(args: argparse.Namespace) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from deepface.models.facial_recognition.tf.Facenet import InceptionResNetV1

    model = InceptionResNetV1(dimension=512)  # DeepFace's own definition; weights untrained: speed is the same
    rows = []
    for batch in args.batch_sizes:
        x = np.random.default_rng(0).random((batch, 160, 160, 3), dtype=np.float32)
        model(x, training=False)
        start = time.perf_counter()
        repeats = max(1, 64 // batch)
        for _ in range(repeats):
            model(x, training=False)
        seconds = time.perf_counter() - start
        rows.append({"batch": batch, "faces_per_s": batch * repeats / seconds})
    _table("FaceNet512 architecture (DeepFace's InceptionResNetV1, UNTRAINED weights: speed only)", rows)
    _write("facenet512", {"note": "untrained weights built from DeepFace's model definition; speed only",
                          "rows": rows})


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    for name in ("pipeline", "embed"):
        command = sub.add_parser(name)
        command.add_argument("folder", type=Path)
        command.add_argument("--model", default="Dlib")
        command.add_argument("--detector", default="dlib")
        command.add_argument("--workers", nargs="+", type=int, default=[0, 1, 2])
        command.add_argument("--max-sides", nargs="+", type=int, default=[1600])
        command.add_argument("--scan-batch-sizes", nargs="+", type=int, default=[32], help="scan --batch-size values")
        command.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8, 32, 64])
        command.add_argument("--naive-photos", type=int, default=None, help="time the naive loop on this many")
        command.add_argument("--untrained-facenet", action="store_true",
                             help="time FaceNet512 (untrained weights from DeepFace's definition; speed only)")
    command = sub.add_parser("cluster")
    command.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000])
    command.add_argument("--dims", nargs="+", type=int, default=[128, 512])
    command.add_argument("--algorithms", nargs="+", default=["auto"], help="auto, exact, knn")
    command.add_argument("--timeout", type=int, default=600)
    command.add_argument("--people", choices=["lfw", "loose"], default="lfw",
                         help="lfw: drawn like LFW's Dlib faces (cluster_face_model.json); loose: the older generator")
    command.add_argument("--exact-knn", action="store_true", help="brute-force k-NN graph at every size")
    command.add_argument("--name", default="", help="results go to benchmarks/results/cluster_scale_NAME.json")
    command.add_argument("--fit", nargs=2, type=Path, metavar=("DB", "ROOT"),
                         help="first fit cluster_face_model.json from a Dlib scan DB of ROOT (with labels.json)")
    command = sub.add_parser("big-jpegs")
    command.add_argument("destination", type=Path)
    command.add_argument("--source", type=Path, default=Path(__file__).parent.parent.parent / "shared" / "photos")
    command.add_argument("--copies", type=int, default=1)
    command = sub.add_parser("scans")
    command.add_argument("folders", type=Path, nargs="+")
    command.add_argument("--baseline-tree", type=Path, required=True,
                         help="a source tree to compare with, e.g. `git archive HEAD | tar -x -C DIR`")
    command.add_argument("--model", default="Dlib")
    command.add_argument("--detector", default="dlib")
    command.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    command.add_argument("--max-side", type=int, default=1600)
    command.add_argument("--repeats", type=int, default=2)
    command.add_argument("--name", default="12mp", help="results go to speed_scans_NAME.json")
    command = sub.add_parser("facenet")
    command.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 16, 64])
    args = parser.parse_args()
    if getattr(args, "fit", None):
        fit_face_model(*args.fit)
    {"pipeline": pipeline, "embed": embed, "cluster": cluster, "facenet": facenet, "big-jpegs": big_jpegs,
     "scans": scans}[args.what](args)


if __name__ == "__main__":
    main()
