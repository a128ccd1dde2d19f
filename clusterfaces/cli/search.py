"""`clusterfaces who`, `find` and `same`: recognition, search and verification against a named library."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from clusterfaces.cli.common import DbOption, console, errors, user_facing
from clusterfaces.errors import ClusterfacesError
from clusterfaces.library import Library

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ModelOption = Annotated[str | None, typer.Option(help="Refuse unless this is the library's model (queries are "
                                                 "always embedded with the library's model).")]
OfflineOption = Annotated[bool, typer.Option(help="Never download model weights.")]
WhichOption = Annotated[int | None, typer.Option("--which", help="For a photo with several faces: which face, "
                                                 "numbered left to right \\[default: the largest].", min=1)]


def _open(db: Path | None, model: str | None):
    library = Library(db).search_index()
    library.check_model(model)
    return library


def _distance(value: float, verdict: str) -> str:
    colour = {"same person": "green", "maybe": "yellow"}.get(verdict, "dim")
    return f"[{colour}]{value:.3f}[/]"


def _dump(payload: object) -> None:
    print(json.dumps(payload, ensure_ascii=False, indent=1, default=str))


@user_facing
def who(
    photos: Annotated[list[Path], typer.Argument(help="Photos to ask about (they are not added to the library).",
                                                 show_default=False)],
    db: DbOption = None,
    people: Annotated[int, typer.Option(help="Known people to list per face, nearest first.", min=1)] = 3,
    model: ModelOption = None,
    offline: OfflineOption = False,
    as_json: JsonOption = False,
) -> None:
    """Name the faces in photos: the nearest named people, with distance and verdict (same person / maybe /
    unknown)."""
    from clusterfaces.people.query_faces import QueryEmbedder
    from clusterfaces.people.search import who as ask

    library = _open(db, model)
    embedder = QueryEmbedder(library, allow_download=not offline)
    answers, problems = [], []
    for photo in photos:
        try:
            faces = embedder.faces(photo)
            if not faces:
                raise ClusterfacesError(f"no face found in {photo}")
        except ClusterfacesError as error:
            if len(photos) == 1:
                raise
            problems.append(str(error))
            continue
        answers.append((photo, [ask(library, face, people) for face in faces]))
    if as_json:
        _dump({"model": library.model, "same_below": library.bounds[0], "maybe_below": library.bounds[1],
               "photos": [{"photo": str(photo), "faces": [
                   {"face": a.face.number, "box": list(a.face.box), "name": a.name, "verdict": a.verdict,
                    "distance": a.candidates[0].distance if a.candidates else None,
                    "candidates": [asdict(c) for c in a.candidates], "unnamed_person": a.unnamed_person}
                   for a in found]} for photo, found in answers],
               "problems": problems})
    else:
        _who_table(library, answers)
    for problem in problems:
        errors.print(f"[yellow]skipped:[/] {escape(problem)}", soft_wrap=True)
    if not answers:
        raise typer.Exit(1)


def _who_table(library, answers) -> None:
    same, maybe = library.bounds
    table = Table(title=f"who ({library.model}: same person below {same:.2f}, maybe below {maybe:.2f})",
                  caption="faces are numbered left to right")
    for column in ("photo", "face", "who", "verdict", "distance", "next nearest"):
        table.add_column(column, justify="right" if column in ("face", "distance") else "left")
    known = any(p.name and not p.ignored for p in library.people.values())
    for photo, found in answers:
        for answer in found:
            best = answer.candidates[0] if answer.candidates else None
            name = escape(answer.name) if answer.name else "[dim]unknown[/]"
            if answer.unnamed_person:
                name += f" [dim](like unnamed person {answer.unnamed_person})[/]"
            others = ", ".join(f"{escape(c.name)} {c.distance:.2f}" for c in answer.candidates[1:])
            table.add_row(escape(photo.name), str(answer.face.number), name, answer.verdict,
                          _distance(best.distance, best.verdict) if best else "", others)
    console.print(table)
    if not known:
        console.print("nobody is named yet: name people first (`clusterfaces name` or `clusterfaces people rename`)")


@user_facing
def find(
    photo: Annotated[Path | None, typer.Argument(help="A photo of the person (not added to the library).",
                                                 show_default=False)] = None,
    face: Annotated[int | None, typer.Option("--face", help="A face id of the library instead of a photo.")] = None,
    person: Annotated[str | None, typer.Option("--person", help="A person id or name instead of a photo.")] = None,
    which: WhichOption = None,
    limit: Annotated[int, typer.Option(help="Show at most this many faces (0: all).", min=0)] = 50,
    out: Annotated[Path | None, typer.Option("--out", help="Also write a folder of links to the photos found "
                                             "(a folder of its own: it holds the latest result only).")] = None,
    db: DbOption = None,
    model: ModelOption = None,
    offline: OfflineOption = False,
    as_json: JsonOption = False,
) -> None:
    """The library's faces of the same person as a photo, a face or a person, nearest first."""
    from clusterfaces.people import search

    given = [value for value in (photo, face, person) if value is not None]
    if len(given) != 1:
        raise ClusterfacesError("give one of: a PHOTO, --face ID or --person ID_OR_NAME")
    library = _open(db, model)
    if photo is not None:
        result = search.find_like_photo(library, search.QueryEmbedder(library, not offline), photo, which,
                                        limit or None)
    elif face is not None:
        result = search.find_like_face(library, face, limit or None)
    else:
        result = search.find_person(library, person or "", limit or None)
    if out is not None:
        _write_links(library, result, out)
    if as_json:
        _dump({"query": result.query, "model": library.model, "same_below": result.same_below,
               "maybe_below": result.maybe_below, "notes": result.notes,
               "matches": [asdict(match) for match in result.matches]})
        return
    for note in result.notes:
        console.print(f"[dim]note:[/] {escape(note)}", soft_wrap=True)
    table = Table(title=f"faces like {escape(result.query)} ({library.model}: same person below "
                        f"{result.same_below:.2f}, maybe below {result.maybe_below:.2f})")
    for column in ("distance", "verdict", "face", "person", "photo"):
        table.add_column(column, justify="right" if column in ("distance", "face") else "left")
    for match in result.matches:
        table.add_row(_distance(match.distance, match.verdict), match.verdict, str(match.face_id),
                      escape(match.person) if match.person else "[dim]nobody[/]", escape(str(match.photo)))
    console.print(table)
    if not result.matches:
        console.print("no face in the library is near enough")
    if out is not None:
        console.print(f"links to {len({m.photo for m in result.matches})} photos in {escape(str(out))}",
                      soft_wrap=True)


def _write_links(library, result, out: Path) -> None:
    """The photos found as a folder of links, written the way the people folders are."""
    from clusterfaces.locations import default_output
    from clusterfaces.outputs.file_names import safe_folder_name
    from clusterfaces.outputs.folders import PersonFolder, write_people_folders

    target = Path(os.path.abspath(out))
    for taken in [default_output(), *([library.output] if library.output else []), *library.roots]:
        taken = Path(os.path.abspath(taken))
        if target == taken or taken in target.parents:
            raise ClusterfacesError(f"{out} is inside {taken}: give --out a folder of its own (never a photo "
                                    "folder or the people folders)")
    photos = tuple(dict.fromkeys(match.photo for match in result.matches))
    folder = safe_folder_name(f"like {result.query}" if not result.query.startswith("face") else result.query)
    write_people_folders(target, [PersonFolder(folder, photos)], library.roots, library.link_mode)


def _query_faces(library, photos: list[Path], faces: list[int], offline: bool):
    from clusterfaces.people.query_faces import QueryEmbedder

    if len(photos) + len(faces) != 2:
        raise ClusterfacesError("give two faces: two photos, two --face ids, or a photo and a --face id")
    embedder = QueryEmbedder(library, not offline)
    chosen, notes = [], []
    for photo in photos:
        face, note = embedder.one_face(photo)
        chosen.append((f"face {face.number} of {photo}", face.vector))
        if note:
            notes.append(note)
    for face_id in faces:
        chosen.append((f"face {face_id}", library.vectors[library.face_row(face_id)]))
    return chosen, notes


@user_facing
def same(
    photos: Annotated[list[Path] | None, typer.Argument(help="Two photos (or one, with one --face).",
                                                        show_default=False)] = None,
    face: Annotated[list[int] | None, typer.Option("--face", help="A face id of the library (twice for two "
                                                   "faces).")] = None,
    db: DbOption = None,
    model: ModelOption = None,
    offline: OfflineOption = False,
    as_json: JsonOption = False,
) -> None:
    """Are two faces the same person: distance, threshold and verdict."""
    from clusterfaces.people import search

    library = _open(db, model)
    (first, second), notes = _query_faces(library, list(photos or []), list(face or []), offline)
    answer = search.same(library, first, second, notes)
    if as_json:
        _dump({**asdict(answer), "model": library.model})
        return
    for note in answer.notes:
        console.print(f"[dim]note:[/] {escape(note)}", soft_wrap=True)
    console.print(f"{escape(answer.first)} and {escape(answer.second)}: distance "
                  f"{_distance(answer.distance, answer.verdict)} ({library.model}: same person below "
                  f"{answer.same_below:.2f}, maybe below {answer.maybe_below:.2f}) -> [bold]{answer.verdict}[/]",
                  soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add who, find and same to the main app."""
    app.command("who")(who)
    app.command("find")(find)
    app.command("same")(same)
