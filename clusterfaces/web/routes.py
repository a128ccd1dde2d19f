"""The web app's answers: JSON reads and edits, thumbnails and photos, all through the public Library API."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from importlib import resources

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from clusterfaces import ClusterfacesError
from clusterfaces.web.thumbs import PHOTO_SIDE, THUMB_SIZE, jpeg

FACES_PAGE = 200  # faces per request on a person's page (it loads more as it scrolls)
WHO_UNASSIGNED = 48  # faces in no person shown by "Who is this?"
WHO_PEOPLE = 6  # people per request whose least certain members it shows (largest first)
WHO_DOUBTS = 3  # members per person
SUGGESTIONS = 3
STATIC = {"app.js": "text/javascript", "app.css": "text/css", "index.html": "text/html"}
_edit_lock = threading.Lock()  # one edit at a time from this server (the database lock orders it with others)


def person_json(person) -> dict:
    return {"id": person.id, "name": person.name, "label": person.label, "ignored": person.ignored,
            "faces": person.faces, "photos": person.photos, "cover": person.cover_face}


def face_json(face) -> dict:
    return {"id": face.id, "person": face.person_id, "photo": os.fsdecode(face.photo),
            "name": os.path.basename(os.fsdecode(face.photo)), "box": list(face.box), "score": round(face.score, 3),
            "confirmed": face.confirmed, "missing": face.missing}


def suggestions_json(library, face_id: int) -> list[dict]:
    return [{"person": s.person_id, "name": s.name, "distance": round(s.distance, 3)}
            for s in library.suggest_people(face_id, k=SUGGESTIONS)]


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ClusterfacesError(f"{what} must be a number")
    try:
        return int(value)
    except ValueError:
        raise ClusterfacesError(f"{what} must be a number") from None


def _ids(value: object, what: str = "faces") -> list[int]:
    if not isinstance(value, list) or not value:
        raise ClusterfacesError(f"choose at least one of the {what}")
    return [_int(item, what) for item in value]


def _library(request: Request):
    return request.app.state.library


def _answer(work: Callable[[], object]) -> Callable:
    """Run a blocking read or edit in a worker thread; a user error becomes a 400 with its one line."""

    async def run() -> Response:
        try:
            return JSONResponse(await run_in_threadpool(work))
        except ClusterfacesError as error:
            return JSONResponse({"error": str(error)}, status_code=400)

    return run()


# --- pages and files ------------------------------------------------------------------------------------
async def index(request: Request) -> Response:
    return _static_file("index.html")


async def favicon(request: Request) -> Response:
    return Response(status_code=204)


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC:
        return Response("not found", status_code=404)
    return _static_file(name)


def _static_file(name: str) -> Response:
    body = resources.files("clusterfaces.web").joinpath("static", name).read_bytes()
    return Response(body, media_type=STATIC[name], headers={"cache-control": "no-cache"})


async def thumbnail(request: Request) -> Response:
    library, cache = _library(request), request.app.state.thumbnails
    face_id = request.path_params["face_id"]

    def make() -> bytes | None:
        faces = library.faces([face_id])
        if not faces:
            return None
        key = cache.key(faces[0], THUMB_SIZE)
        data = cache.get(key)
        if data is None:
            data = jpeg(library.face_crop(face_id, size=THUMB_SIZE))
            cache.put(key, data)
        return data

    return await _image(make)


async def photo(request: Request) -> Response:
    library, face_id = _library(request), request.path_params["face_id"]
    return await _image(lambda: jpeg(library.photo_image(face_id, max_side=PHOTO_SIDE)))


async def _image(make: Callable[[], bytes | None]) -> Response:
    try:
        data = await run_in_threadpool(make)
    except (ClusterfacesError, OSError) as error:
        return Response(f"no image: {error}", status_code=404, media_type="text/plain")
    if data is None:
        return Response("no such face", status_code=404, media_type="text/plain")
    return Response(data, media_type="image/jpeg", headers={"cache-control": "private, max-age=600"})


# --- reads ----------------------------------------------------------------------------------------------
async def status(request: Request) -> Response:
    library = _library(request)
    return await _answer(lambda: {"scan_running": library.scan_running(), "database": os.fsdecode(library.database)})


async def people(request: Request) -> Response:
    library = _library(request)
    ignored = request.query_params.get("ignored") == "1"
    return await _answer(lambda: [person_json(p) for p in library.people(include_ignored=ignored)])


async def person(request: Request) -> Response:
    library, person_id = _library(request), request.path_params["person_id"]
    return await _answer(lambda: person_json(library.person(person_id)))


async def person_faces(request: Request) -> Response:
    library, person_id = _library(request), request.path_params["person_id"]
    offset = max(0, _int_param(request, "offset", 0))
    limit = min(FACES_PAGE, max(1, _int_param(request, "limit", FACES_PAGE)))
    return await _answer(lambda: [face_json(f) for f in library.person_faces(person_id, offset=offset, limit=limit)])


def _int_param(request: Request, name: str, default: int) -> int:
    try:
        return int(request.query_params.get(name, default))
    except ValueError:
        return default


async def who_unassigned(request: Request) -> Response:
    """Faces in no person, each with the nearest named people."""
    library = _library(request)
    return await _answer(lambda: [{"face": face_json(f), "suggestions": suggestions_json(library, f.id)}
                                  for f in library.unassigned_faces(limit=WHO_UNASSIGNED)])


async def who_doubtful(request: Request) -> Response:
    """The least certain members of WHO_PEOPLE people from offset (largest first), with other named people."""
    library, offset = _library(request), max(0, _int_param(request, "offset", 0))

    def gather() -> dict:
        everyone = library.people(include_ignored=False)
        doubtful = []
        for p in everyone[offset:offset + WHO_PEOPLE]:
            for doubt in library.doubtful_faces(p.id, limit=WHO_DOUBTS):
                suggestions = [s for s in suggestions_json(library, doubt.face.id) if s["person"] != p.id]
                doubtful.append({"face": face_json(doubt.face), "person": person_json(p),
                                 "distance": round(doubt.distance, 3), "suggestions": suggestions})
        return {"doubtful": doubtful, "next": offset + WHO_PEOPLE if offset + WHO_PEOPLE < len(everyone) else None}

    return await _answer(gather)


async def journal(request: Request) -> Response:
    library = _library(request)
    return await _answer(lambda: [{"id": e.id, "at": e.at, "action": e.action, "summary": e.summary,
                                   "undone": e.undone} for e in library.journal(limit=100)])


# --- edits ----------------------------------------------------------------------------------------------
def _edit(do: Callable[[object, dict, dict], object]) -> Callable:
    """An edit endpoint: JSON body in, the Edit (summary, person, folders warning) out, one at a time."""

    async def endpoint(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "the request body is not JSON"}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse({"error": "the request body must be a JSON object"}, status_code=400)
        library = _library(request)

        def work() -> dict:
            with _edit_lock:
                edit = do(library, request.path_params, body)
            return {"summary": edit.summary, "person": edit.person_id, "warning": edit.folders_warning,
                    "groups": [list(group) for group in edit.groups]}

        return await _answer(work)

    return endpoint


def _name(body: dict) -> str:
    name = body.get("name")
    if not isinstance(name, str):
        raise ClusterfacesError("give a name")
    return name


ROUTES = [
    Route("/", index),
    Route("/static/{name}", static),
    Route("/favicon.ico", favicon),
    Route("/api/status", status),
    Route("/api/people", people),
    Route("/api/people/{person_id:int}", person),
    Route("/api/people/{person_id:int}/faces", person_faces),
    Route("/api/faces/{face_id:int}/thumb", thumbnail),
    Route("/api/faces/{face_id:int}/photo", photo),
    Route("/api/who/unassigned", who_unassigned),
    Route("/api/who/doubtful", who_doubtful),
    Route("/api/journal", journal),
    Route("/api/people/{person_id:int}/rename", _edit(lambda lib, p, b: lib.name(p["person_id"], _name(b))),
          methods=["POST"]),
    Route("/api/people/{person_id:int}/merge",
          _edit(lambda lib, p, b: lib.merge(p["person_id"], _ids(b.get("others"), "people"))), methods=["POST"]),
    Route("/api/people/{person_id:int}/ignore",
          _edit(lambda lib, p, b: lib.ignore(p["person_id"], bool(b.get("ignored", True)))), methods=["POST"]),
    Route("/api/people/{person_id:int}/split", _edit(lambda lib, p, b: lib.split(p["person_id"])), methods=["POST"]),
    Route("/api/faces/move",
          _edit(lambda lib, p, b: lib.move_faces(_ids(b.get("faces")), _int(b.get("person"), "person"))),
          methods=["POST"]),
    Route("/api/faces/reject",
          _edit(lambda lib, p, b: lib.reject_faces(_ids(b.get("faces")), _int(b.get("person"), "person"))),
          methods=["POST"]),
    Route("/api/faces/new-person", _edit(lambda lib, p, b: lib.new_person(_ids(b.get("faces")))), methods=["POST"]),
    Route("/api/undo", _edit(lambda lib, p, b: lib.undo()), methods=["POST"]),
]
