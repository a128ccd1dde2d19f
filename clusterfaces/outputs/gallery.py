"""A static, self-contained HTML page of the people in a library: no server, no network, file:// only."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path

from clusterfaces.atomic import write_atomically
from clusterfaces.errors import ClusterfacesError, OutputError
from clusterfaces.outputs.crops import face_crops
from clusterfaces.people.identities import people_with_faces
from clusterfaces.store import Store

THUMB_SIZE = 96
FACES_PER_PERSON = 12
UNCLUSTERED_SHOWN = 300
PEOPLE_OPEN = 60  # people after these are collapsed, so thousands of people stay light

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;background:#f6f6f4;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
.card{background:#fff;border-radius:8px;padding:.6rem .8rem;margin:.6rem 0;box-shadow:0 1px 3px #0002}
.card h3{margin:.2rem 0 .4rem;font-size:1rem}.meta{color:#666;font-weight:normal;font-size:.85rem}
.strip{display:flex;flex-wrap:wrap;gap:4px}.strip img{width:96px;height:96px;border-radius:4px;display:block}
.ignored{opacity:.55}details summary{cursor:pointer;margin:.6rem 0}table{border-collapse:collapse}
td{padding:.15rem .6rem;border-bottom:1px solid #ddd;font-size:.85rem}
"""


@dataclass(frozen=True)
class GalleryStats:
    people: int
    thumbnails: int
    page: Path


def write_gallery(store: Store, out: Path) -> GalleryStats:
    """Write out/index.html and out/thumbs/ from the database as the last scan left it (Library.write_gallery
    opens it). Reads no embedding."""
    last = store.last_run()
    if last is None:
        raise ClusterfacesError(f"{store.path} has no finished scan yet: run `clusterfaces scan` first")
    faces = store.face_assignments(last.model, last.roots)
    boxes = store.face_boxes(faces.ids.tolist())
    people = people_with_faces(store, last.model, faces.ids, faces.person_ids)
    unreadable = store.unreadable_photos(last.roots)
    score = dict(zip(faces.ids.tolist(), faces.scores.tolist()))
    shown = {p.id: sorted(p.face_ids, key=lambda f: -score[f])[:FACES_PER_PERSON] for p in people}
    unclustered = [int(f) for f, p in zip(faces.ids, faces.person_ids) if p == 0][:UNCLUSTERED_SHOWN]
    wanted = [f for ids in shown.values() for f in ids] + unclustered
    try:
        thumbs = out / "thumbs"
        thumbs.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(out, 0o700)  # face crops are personal data: the owner's only
        missing = [(f, boxes[f].photo, boxes[f].box) for f in wanted if not (thumbs / f"face-{f}.jpg").exists()]
        for face_id, crop in face_crops(missing, size=THUMB_SIZE):
            target = thumbs / f"face-{face_id}.jpg"
            crop.save(target, quality=85)
            os.chmod(target, 0o600)
        page = out / "index.html"
        available = {f for f in wanted if (thumbs / f"face-{f}.jpg").exists()}
        text = _page(people, shown, unclustered, unreadable, boxes, available)
        write_atomically(page, text, what=f"the gallery in {out}")
    except OSError as error:
        raise OutputError(f"cannot write the gallery in {out}: {error.strerror or error}") from None
    return GalleryStats(len(people), len(available), page)


def _face(face_id: int, boxes: dict, available: set[int]) -> str:
    if face_id not in available:
        return ""
    photo = boxes[face_id].photo
    title = html.escape(os.fsdecode(photo).encode("utf-8", "backslashreplace").decode(), quote=True)
    return (f'<a href="{html.escape(photo.as_uri(), quote=True)}" title="{title}">'
            f'<img loading="lazy" src="thumbs/face-{face_id}.jpg" width="{THUMB_SIZE}" height="{THUMB_SIZE}" '
            f'alt="face {face_id}"></a>')


def _page(people, shown, unclustered, unreadable, boxes, available) -> str:
    cards = []
    for index, person in enumerate(people):
        label = html.escape(person.label)
        photos = len({boxes[f].photo for f in person.face_ids})
        extra = len(person.face_ids) - len(shown[person.id])
        more = f'<span class="meta">and {extra} more</span>' if extra > 0 else ""
        card = (f'<section class="card person{" ignored" if person.ignored else ""}" id="person-{person.id}">'
                f'<h3>{label} <span class="meta">#{person.id} · {len(person.face_ids)} faces · {photos} photos'
                f'{" · ignored" if person.ignored else ""}</span></h3><div class="strip">'
                + "".join(_face(f, boxes, available) for f in shown[person.id]) + f"{more}</div></section>")
        cards.append(card if index < PEOPLE_OPEN else f"<details><summary>{label}</summary>{card}</details>")
    leftovers = "".join(_face(f, boxes, available) for f in unclustered)
    rows = "".join(f"<tr><td>{html.escape(os.fsdecode(u.path).encode('utf-8', 'backslashreplace').decode())}</td>"
                   f"<td>{html.escape(u.reason)}</td></tr>" for u in unreadable)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        "<title>clusterfaces: people</title>"
        # No network at all: nothing but this page and the thumbnails next to it may load.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src 'self' file:; "
        "style-src 'unsafe-inline'\">"
        f"<style>{STYLE}</style></head><body>"
        f"<h1>People <span class=\"meta\">{len(people)} people</span></h1>"
        + "".join(cards)
        + f'<h2 id="unclustered">Faces in no group <span class="meta">{len(unclustered)} shown</span></h2>'
        + f'<section class="card"><div class="strip">{leftovers}</div></section>'
        + f'<h2 id="unreadable">Unreadable files <span class="meta">{len(unreadable)}</span></h2>'
        + f'<section class="card"><table>{rows}</table></section></body></html>'
    )
