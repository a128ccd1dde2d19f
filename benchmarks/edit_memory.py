"""One edit (`people rename`) on a generated library of a million 512-d faces: peak memory, time, bytes read.

Usage:
  nice -n 10 python benchmarks/edit_memory.py generate                 # once; cached under --work
  nice -n 10 python benchmarks/edit_memory.py time before --code /tmp/cf-bench/before-worktree
  nice -n 10 python benchmarks/edit_memory.py time after --code .
  nice -n 10 python benchmarks/edit_memory.py time after-covering-index --code . --sql "CREATE INDEX ..."

generate: a library database as a finished scan leaves it, written straight into the store's schema
(Store creates it, rows go in with executemany): 400,000 photos in 300 folders of a long-tailed size
under a root folder that exists (the photo files do not: symlink people folders never open them),
1,000,000 Facenet512 faces (random unit 512-d float32 embeddings, boxes from 20 to 1,000 pixels),
85 % of them held by 5,000 people of a Zipf-like size (the largest ~93,000 faces, the smallest ~20),
the 150 largest named, 50 small ones ignored, and one finished run (roots, model, detector, settings).

time: copies the generated database (so every code version starts from the same rows), writes the
people folders once with a first rename (setup, reported but not counted), then runs
`python -m clusterfaces people rename PERSON "Name N" --db DB --out OUT` as a child process three
times, with the code of --code first on PYTHONPATH and a neutral working directory. Each run: wall
time, the child's peak RSS (os.wait4), and what it read (/proc/self/io at exit: rchar counts every
byte read from files, SQLite pages included, whether the disk or the page cache served them). Writes
the label's medians and runs into benchmarks/results/edit_memory.json, next to the other labels.
--sql runs one statement on the copy before any of that (an experiment, such as an index).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from clusterfaces.people.clustering import ClusterSettings  # noqa: E402
from clusterfaces.store import Store  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "edit_memory.json"
WORK = Path("/tmp/cf-bench/edit-1m")
PHOTOS, FACES, PEOPLE, FOLDERS, DIM = 400_000, 1_000_000, 5_000, 300, 512
ASSIGNED, NAMED, IGNORED = 0.85, 150, 50
MODEL, DETECTOR = "Facenet512", "dlib"
TARGET_RANK = NAMED + 1  # the person renamed: the largest unnamed one (ids follow size rank)
REPEATS = 3
CHUNK = 50_000
# The child: `python -m clusterfaces ARGS`, reporting its /proc/self/io on the way out.
CHILD = ("import atexit, runpy, sys\n"
         "atexit.register(lambda: sys.stderr.write('\\n@io ' + open('/proc/self/io').read().replace('\\n', ';')))\n"
         "sys.argv = ['clusterfaces', *sys.argv[1:]]\n"
         "runpy.run_module('clusterfaces', run_name='__main__', alter_sys=True)\n")


def generate(work: Path) -> dict:
    """Write the library database under work (once) and return what it holds."""
    facts = work / "library.json"
    if facts.is_file():
        return json.loads(facts.read_text())
    work.mkdir(parents=True, exist_ok=True)
    database, root = work / "library.db", work / "photos"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    with Store(database):  # the schema, exactly as migrations make it
        pass
    db = sqlite3.connect(database, isolation_level=None)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")

    folders = _folders(rng, root)
    for folder in folders:
        (root / folder).mkdir(parents=True, exist_ok=True)
    weights = rng.lognormal(0, 1.0, FOLDERS)
    photo_folder = np.sort(rng.choice(FOLDERS, PHOTOS, p=weights / weights.sum()))
    usable = ClusterSettings()
    settings = {"max_side": 2048, "batch_size": 32, "clustering": asdict(usable), "link_mode": "symlink",
                "unavailable": []}

    face_photo = np.sort(rng.integers(1, PHOTOS + 1, FACES))
    ranks = 1 / np.arange(1, PEOPLE + 1)
    sizes = rng.multinomial(int(FACES * ASSIGNED), ranks / ranks.sum())
    sizes = np.sort(np.maximum(sizes, 2))[::-1]
    person = np.zeros(FACES, dtype=np.int64)
    chosen = rng.permutation(FACES)[: int(sizes.sum())]
    person[chosen] = np.repeat(np.arange(1, PEOPLE + 1), sizes)
    side = np.clip(rng.lognormal(np.log(120), 0.6, FACES), 20, 1000).astype(np.int64)

    db.execute("BEGIN")
    now = time.time()
    db.execute("INSERT INTO runs (id, started_at, finished_at, status, roots, model, detector, settings, summary,"
               " reclustered, clustered_faces) VALUES (1, ?, ?, 'finished', ?, ?, ?, ?, ?, 1, ?)",
               (now - 36_000, now, json.dumps([str(root)]), MODEL, DETECTOR, json.dumps(settings),
                json.dumps({"photos_seen": PHOTOS, "faces": FACES, "people": PEOPLE}),
                int((side >= usable.min_face_size).sum())))
    db.executemany("INSERT INTO people (id, name, ignored, model, created_run) VALUES (?, ?, ?, ?, 1)",
                   ((i, f"Named person {i}" if i <= NAMED else None, int(i > PEOPLE - IGNORED), MODEL)
                    for i in range(1, PEOPLE + 1)))
    numbers = np.zeros(FOLDERS, dtype=np.int64)
    rows = []
    for photo_id, folder in enumerate(photo_folder.tolist(), 1):
        numbers[folder] += 1
        path = os.fsencode(root / folders[folder] / f"IMG_{numbers[folder]:05d}.jpg")
        rows.append((photo_id, path, 2_000_000 + photo_id % 6_000_000, 1_500_000_000_000_000_000 + photo_id,
                     f"px:{photo_id:032x}", "done", 4000, 3000, MODEL, DETECTOR))
    db.executemany("INSERT INTO photos (id, path, size, mtime_ns, content_hash, status, width, height, model, "
                   "detector, processed_run, seen_run) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 1)", rows)
    db.execute("COMMIT")
    for start in range(0, FACES, CHUNK):
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO faces (id, photo_id, x, y, w, h, landmarks, score, model, detector, embedding, person_id,"
            " created_run, confirmed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
            _face_rows(rng, start, face_photo, person, side))
        db.execute("COMMIT")
        print(f"faces {start + CHUNK:,}", flush=True)
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    target = TARGET_RANK
    stats = {"photos": PHOTOS, "folders": FOLDERS, "faces": FACES, "dim": DIM, "model": MODEL, "people": PEOPLE,
             "faces_assigned": int((person > 0).sum()), "largest_person_faces": int(sizes[0]),
             "smallest_person_faces": int(sizes[-1]), "named": NAMED, "ignored": IGNORED,
             "faces_below_min_size": int((side < usable.min_face_size).sum()),
             "renamed_person": target, "renamed_person_faces": int(sizes[target - 1]),
             "database_gb": round(database.stat().st_size / 1e9, 2),
             "generate_s": round(time.perf_counter() - started)}
    facts.write_text(json.dumps(stats, indent=1))
    return stats


def _folders(rng: np.random.Generator, root: Path) -> list[str]:
    events = ["Birthday", "Holiday", "Garden", "Wedding", "School", "Christmas", "Beach", "Visit", "Hike", "Party"]
    names = []
    for index in range(FOLDERS):
        year, month, day = 2005 + index // 15, 1 + int(rng.integers(12)), 1 + int(rng.integers(28))
        names.append(f"{year}/{year}-{month:02d}-{day:02d} {events[index % len(events)]} {index}")
    return names


def _face_rows(rng: np.random.Generator, start: int, face_photo: np.ndarray, person: np.ndarray,
               side: np.ndarray) -> list[tuple]:
    stop = min(start + CHUNK, FACES)
    vectors = rng.standard_normal((stop - start, DIM), dtype=np.float32)
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype("<f4")
    xs, ys = rng.integers(0, 3000, stop - start), rng.integers(0, 2000, stop - start)
    scores = rng.uniform(0.8, 1.0, stop - start)
    rows = []
    for offset, face in enumerate(range(start, stop)):
        x, y, s, owner = int(xs[offset]), int(ys[offset]), int(side[face]), int(person[face])
        marks = json.dumps([[x + s * 3 // 10, y + s * 4 // 10], [x + s * 7 // 10, y + s * 4 // 10],
                            [x + s // 2, y + s * 6 // 10], [x + s * 3 // 10, y + s * 8 // 10],
                            [x + s * 7 // 10, y + s * 8 // 10]])
        rows.append((face + 1, int(face_photo[face]), x, y, s, s, marks, round(float(scores[offset]), 4), MODEL,
                     DETECTOR, vectors[offset].tobytes(), owner or None, int(0 < owner <= NAMED)))
    return rows


def _child(code: Path, work: Path, args: list[str]) -> dict:
    """Run `python -m clusterfaces ARGS` with code first on the path; its wall time, peak RSS and reads."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    log = work / "child.log"
    load = os.getloadavg()
    with open(log, "wb") as output:
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-c", CHILD, *args], cwd=work, env=env, stdout=output,
                                   stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(errors="replace")
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({process.returncode}):\n{text[-3000:]}")
    io = dict(item.split(": ") for item in text.rsplit("@io ", 1)[1].split(";") if ": " in item) \
        if "@io " in text else {}
    return {"wall_s": round(seconds, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024),
            "read_mb": round(int(io["rchar"]) / 1e6) if "rchar" in io else None,
            "user_s": round(usage.ru_utime, 1), "system_s": round(usage.ru_stime, 1),
            "load_before": [round(x, 2) for x in load], "output": text.split("@io ")[0].strip()[-200:]}


def _commit(code: Path) -> dict:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(code), *args], capture_output=True, text=True).stdout.strip()

    changed = git("status", "--porcelain", "--", "clusterfaces")
    return {"commit": git("rev-parse", "--short", "HEAD"), "subject": git("log", "-1", "--format=%s")[:120],
            "uncommitted_changes_in_clusterfaces": bool(changed)}


def time_edits(label: str, code: Path, work: Path, repeats: int, sql: str | None = None) -> None:
    facts = generate(work)
    code = code.resolve()
    database, out = work / f"{label}.db", work / f"{label}-people"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(out, ignore_errors=True)
    shutil.copyfile(work / "library.db", database)
    if sql:  # an experiment on the copy (say, an index), not counted in the timings
        started = time.perf_counter()
        with contextlib.closing(sqlite3.connect(database, isolation_level=None)) as db:
            db.execute(sql)
        print(f"{label}: {sql} took {time.perf_counter() - started:.0f} s", flush=True)
    person = str(facts["renamed_person"])
    common = ["--db", str(database), "--out", str(out)]
    setup = _child(code, work, ["people", "rename", person, "Setup name", *common])
    print(f"{label} setup (first folders): {json.dumps(setup)}", flush=True)
    runs = []
    for index in range(1, repeats + 1):
        runs.append(_child(code, work, ["people", "rename", person, f"Name {index}", *common]))
        print(f"{label} run {index}: {json.dumps(runs[-1])}", flush=True)
    links = sum(len(files) for _, _, files in os.walk(out))
    entry = {**_commit(code), "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
             "command": f'PYTHONPATH={code} {sys.executable} -m clusterfaces people rename {person} "Name N" '
                        f"--db {database} --out {out}",
             "median_wall_s": statistics.median(r["wall_s"] for r in runs),
             "median_peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
             "median_cpu_s": statistics.median(round(r["user_s"] + r["system_s"], 1) for r in runs),
             "median_read_mb": statistics.median(r["read_mb"] for r in runs if r["read_mb"] is not None)
             if all(r["read_mb"] is not None for r in runs) else None,
             "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
             "links_in_output": links, "setup_first_write": setup, "runs": runs}
    if sql:
        entry["sql_applied_to_the_copy_first"] = sql
    payload = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    payload.update({"date": str(date.today()), "machine": f"{platform.machine()}, {os.cpu_count()} cores, no GPU",
                    "note": "shared machine: other jobs ran at the same time (load before each run is recorded); "
                            "run under nice -n 10; read_mb is rchar (bytes read from files, page cache included)",
                    "library": facts})
    payload.setdefault("labels", {})[label] = entry
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"written to {RESULTS}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=WORK, help="where the generated library is cached")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("generate")
    timing = commands.add_parser("time")
    timing.add_argument("label", help="the name of this measurement, e.g. before or after")
    timing.add_argument("--code", type=Path, required=True, help="the checkout whose clusterfaces runs the edit")
    timing.add_argument("--repeats", type=int, default=REPEATS)
    timing.add_argument("--sql", help="a statement run on the copied database first (an experiment, e.g. an index)")
    args = parser.parse_args()
    if args.command == "generate":
        print(json.dumps(generate(args.work), indent=1))
    else:
        time_edits(args.label, args.code, args.work, args.repeats, args.sql)


if __name__ == "__main__":
    main()
