"""The review web app's pages on a generated library of 100,000 faces and 2,000 people, timed over HTTP.

Usage:
  nice -n 10 python benchmarks/review_pages.py            # generates once under --work, then times

generate: a library database as a finished Dlib scan leaves it, written straight into the store's schema
(Store creates it, rows go in with executemany): 40,000 photos (the files do not exist: the timed pages
never open a photo), 100,000 faces (random unit 128-d float32 embeddings), 90 % of them held by 2,000
people of a Zipf-like size with the largest holding 20,000 faces, the 200 largest after it named, 30 ignored.

time: serves the library with the review app (ReviewServer, 127.0.0.1, the token as a cookie) and asks
what the browser asks, REPEATS times each, one request after another: the people page (the HTML, script,
style and scan status, then /api/people: every person with their cover face and counts) and the 20,000-face
person's page (the same files, /api/people/ID and the first page of 200 faces; thumbnails come after, one per
face in view, and are not counted), and the last page of that person's faces. With Playwright and Debian's
Chromium at hand, also the seconds from loading each page in the browser to its first cards (of 1,970) or
first 200 faces drawn (thumbnails left out), and one thumbnail cut from a 4,000 x 3,000 JPEG, then from the cache.
Writes medians and every sample to benchmarks/results/review_pages.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from clusterfaces import Library  # noqa: E402
from clusterfaces.store import Store  # noqa: E402 - generating the rows only; the app reads through Library
from clusterfaces.web.app import ReviewServer  # noqa: E402
from clusterfaces.web.security import cookie_name  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "review_pages.json"
WORK = Path("/tmp/cf-bench/review-100k")
PHOTOS, FACES, PEOPLE, LARGEST, DIM = 40_000, 100_000, 2_000, 20_000, 128
ASSIGNED, NAMED, IGNORED = 0.9, 200, 30
MODEL, DETECTOR = "Dlib", "dlib"
REPEATS = 7


def generate(work: Path) -> dict:
    """Write the library database under work (once) and return what it holds."""
    facts = work / "library.json"
    if facts.is_file():
        return json.loads(facts.read_text())
    work.mkdir(parents=True, exist_ok=True)
    database, root = work / "library.db", work / "photos"
    root.mkdir(exist_ok=True)
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    with Store(database):  # the schema, exactly as migrations make it
        pass
    db = sqlite3.connect(database, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")
    ranks = 1 / np.arange(1, PEOPLE)
    rest = rng.multinomial(int(FACES * ASSIGNED) - LARGEST, ranks / ranks.sum())
    sizes = np.concatenate([[LARGEST], np.sort(np.maximum(rest, 2))[::-1]])
    person = np.zeros(FACES, dtype=np.int64)
    chosen = rng.permutation(FACES)[: int(sizes.sum())]
    person[chosen] = np.repeat(np.arange(1, PEOPLE + 1), sizes)
    face_photo = np.sort(rng.integers(1, PHOTOS + 1, FACES))
    now = time.time()
    settings = {"max_side": 2048, "batch_size": 32, "clustering": {}, "link_mode": "symlink", "unavailable": []}
    db.execute("BEGIN")
    db.execute("INSERT INTO runs (id, started_at, finished_at, status, roots, model, detector, settings, summary,"
               " reclustered, clustered_faces) VALUES (1, ?, ?, 'finished', ?, ?, ?, ?, '{}', 1, ?)",
               (now - 3600, now, json.dumps([str(root)]), MODEL, DETECTOR, json.dumps(settings), FACES))
    db.executemany("INSERT INTO people (id, name, ignored, model, created_run) VALUES (?, ?, ?, ?, 1)",
                   ((i, f"Named person {i}" if 1 < i <= NAMED + 1 else None, int(i > PEOPLE - IGNORED), MODEL)
                    for i in range(1, PEOPLE + 1)))
    db.executemany("INSERT INTO photos (id, path, size, mtime_ns, content_hash, status, width, height, model, "
                   "detector, processed_run, seen_run) VALUES (?, ?, ?, ?, ?, 'done', 4000, 3000, ?, ?, 1, 1)",
                   ((i, os.fsencode(root / f"{i // 500:03d}" / f"IMG_{i:05d}.jpg"), 2_000_000 + i, 10**18 + i,
                     f"px:{i:032x}", MODEL, DETECTOR) for i in range(1, PHOTOS + 1)))
    vectors = rng.standard_normal((FACES, DIM), dtype=np.float32)
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype("<f4")
    xs, ys, side = rng.integers(0, 3000, FACES), rng.integers(0, 2000, FACES), rng.integers(40, 400, FACES)
    db.executemany(
        "INSERT INTO faces (id, photo_id, x, y, w, h, landmarks, score, model, detector, embedding, person_id,"
        " created_run, confirmed) VALUES (?, ?, ?, ?, ?, ?, '[]', 0.99, ?, ?, ?, ?, 1, ?)",
        ((f + 1, int(face_photo[f]), int(xs[f]), int(ys[f]), int(side[f]), int(side[f]), MODEL, DETECTOR,
          vectors[f].tobytes(), int(person[f]) or None, int(1 < person[f] <= NAMED + 1)) for f in range(FACES)))
    db.execute("COMMIT")
    db.close()
    stats = {"photos": PHOTOS, "faces": FACES, "dim": DIM, "model": MODEL, "people": PEOPLE,
             "faces_assigned": int((person > 0).sum()), "largest_person": 1, "largest_person_faces": int(sizes[0]),
             "named": NAMED, "ignored": IGNORED, "database_mb": round(database.stat().st_size / 1e6),
             "generate_s": round(time.perf_counter() - started, 1)}
    facts.write_text(json.dumps(stats, indent=1))
    return stats


def _get(server: ReviewServer, path: str) -> tuple[float, int]:
    """Seconds to answer one GET completely, and the bytes answered."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    started = time.perf_counter()
    connection.request("GET", path, headers={"Host": f"127.0.0.1:{server.port}",
                                             "Cookie": f"{cookie_name(server.port)}={server.token}"})
    response = connection.getresponse()
    body = response.read()
    seconds = time.perf_counter() - started
    connection.close()
    if response.status != 200:
        raise SystemExit(f"{path}: {response.status} {body[:200]!r}")
    return seconds, len(body)


def _page(server: ReviewServer, paths: list[str]) -> dict:
    samples, sizes = [], {}
    for _ in range(REPEATS):
        total = 0.0
        for path in paths:
            seconds, size = _get(server, path)
            total += seconds
            sizes[path] = size
        samples.append(total)
    return {"requests": paths, "median_s": round(statistics.median(samples), 3), "max_s": round(max(samples), 3),
            "samples_s": [round(s, 3) for s in samples], "bytes": sizes}


def _thumbnail(server: ReviewServer, library: Library, person: int, work: Path) -> dict:
    """A face thumbnail cut from a real 4000x3000 JPEG (written for the one photo of this face), first
    from the photo and then from the cache (median of REPEATS each)."""
    from PIL import Image

    face = library.person_faces(person, limit=1)[0]
    face.photo.parent.mkdir(parents=True, exist_ok=True)
    gradient = Image.linear_gradient("L").resize((4000, 3000))
    Image.merge("RGB", (gradient, gradient.rotate(90).resize((4000, 3000)), gradient)).save(face.photo, quality=90)
    path, cache = f"/api/faces/{face.id}/thumb", work / "thumbs"
    first, cached = [], []
    for _ in range(REPEATS):
        for old in cache.glob("*.jpg"):
            old.unlink()
        first.append(_get(server, path)[0])
        cached.append(_get(server, path)[0])
    return {"photo": "4000x3000 JPEG", "first_s": round(statistics.median(first), 3),
            "cached_s": round(statistics.median(cached), 4)}


def _in_chromium(server: ReviewServer, largest: int) -> dict | None:
    """Seconds from opening each page in headless Chromium to its cards or first faces drawn, thumbnails
    left out (they are timed by _thumbnail: this generated library's photos do not exist)."""
    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        return None
    if chromium is None:
        return None
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.route("**/thumb", lambda route: route.abort())  # timed above; the photos here are not there
        page.goto(server.url)  # the token becomes the cookie
        expect(page.locator("#people-count")).to_have_text(f"{PEOPLE - IGNORED} of {PEOPLE} people")
        people, person = [], []
        for _ in range(3):
            page.goto(f"{server.base}/#/people")
            started = time.perf_counter()
            page.reload()
            expect(page.locator("#people-count")).to_have_text(f"{PEOPLE - IGNORED} of {PEOPLE} people",
                                                               timeout=60_000)
            expect(page.locator("#people .card").first).to_be_visible()
            people.append(time.perf_counter() - started)
            started = time.perf_counter()
            page.click(f"#people .card[data-id='{largest}']")
            expect(page.locator("#faces .face")).to_have_count(200, timeout=60_000)
            person.append(time.perf_counter() - started)
        browser.close()
    return {"people_page_cards_s": round(statistics.median(people), 3),
            "person_page_first_200_faces_s": round(statistics.median(person), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=WORK)
    args = parser.parse_args()
    facts = generate(args.work)
    library = Library.open(args.work / "library.db", args.work / "people")
    with ReviewServer(library, cache=args.work / "thumbs") as server:
        _get(server, "/api/people?ignored=1")  # one warm-up: the first read opens the database
        files = ["/", "/static/app.css", "/static/app.js", "/api/status"]
        people = _page(server, [*files, "/api/people?ignored=1"])
        largest = facts["largest_person"]
        person = _page(server, [*files, f"/api/people/{largest}", f"/api/people/{largest}/faces?offset=0&limit=200"])
        deep = _page(server, [f"/api/people/{largest}/faces?offset=19800&limit=200"])
        thumbnail = _thumbnail(server, library, largest, args.work)
        browser = _in_chromium(server, largest)
    result = {"date": date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)",
              "load_average": [round(x, 2) for x in os.getloadavg()], "library": facts,
              "people_page": people, "person_page_20000_faces": person, "person_page_last_faces": deep,
              "thumbnail": thumbnail, "in_chromium": browser,
              "command": "nice -n 10 python benchmarks/review_pages.py"}
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v["median_s"] for k, v in result.items() if isinstance(v, dict) and "median_s" in v}))


if __name__ == "__main__":
    main()
