"""`clusterfaces people ...`, `faces ...`, `name`, `undo` and `log`: everything a user says about people."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated

import typer
from rich.markup import escape

from clusterfaces.cli.common import DbOption, OutOption, console, user_facing
from clusterfaces.errors import ClusterfacesError
from clusterfaces.library import Edit, Library

people_app = typer.Typer(help="List people, and name, merge, ignore or split them (each edit is kept through "
                         "every re-run, and can be undone).", no_args_is_help=False)
faces_app = typer.Typer(help="Correct single faces: list a person's faces, move one, or say it is not them.",
                        no_args_is_help=True)
PersonId = Annotated[int, typer.Argument(help="Person id, as `clusterfaces people` lists them.", show_default=False)]
FaceId = Annotated[int, typer.Argument(help="Face id, as `clusterfaces faces list` and the contact sheets show "
                                       "them.", show_default=False)]


def _edit(db: DbOption, out: OutOption, change: Callable[[Library], Edit]) -> Edit:
    """Apply one edit through the library (it makes the people folders follow); a folders warning ends the
    command as an error, the edit itself being saved."""
    edit = change(Library(db, out))
    if edit.folders_warning:
        raise ClusterfacesError(edit.folders_warning)
    return edit


@people_app.callback(invoke_without_command=True)
@user_facing
def people(
    ctx: typer.Context,
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the people: id, name, faces and photos, largest first."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    rows = Library(db).people()
    if as_json:
        print(json.dumps([{"id": row.id, "name": row.name, "ignored": row.ignored, "faces": row.faces,
                           "photos": row.photos} for row in rows], ensure_ascii=False, indent=1))
        return
    table = Table()
    for column, justify in (("id", "right"), ("name", "left"), ("faces", "right"), ("photos", "right")):
        table.add_column(column, justify=justify)
    for row in rows:
        name = escape(row.name) if row.name else "[dim]unnamed[/]"
        table.add_row(str(row.id), name + (" [dim](ignored)[/]" if row.ignored else ""), str(row.faces),
                      str(row.photos))
    console.print(table)


@people_app.command("rename")
@user_facing
def people_rename(person_id: PersonId, name: str, db: DbOption = None, out: OutOption = None) -> None:
    """Name a person (their faces are then kept together through every re-clustering)."""
    from clusterfaces.people.edits import clean_name

    edit = _edit(db, out, lambda library: library.rename(person_id, name))
    console.print(f"person {person_id} is now {escape(clean_name(name))} ({edit.faces} faces)", soft_wrap=True)


@people_app.command("merge")
@user_facing
def people_merge(person_ids: Annotated[list[int], typer.Argument(help="Person ids: the first keeps the "
                                                                 "others' faces.", show_default=False)],
                 db: DbOption = None, out: OutOption = None) -> None:
    """Merge people into the first one given (the merge is kept through every re-clustering)."""
    if len(person_ids) < 2:
        raise ClusterfacesError("give at least two person ids: the first keeps the others' faces")
    edit = _edit(db, out, lambda library: library.merge(person_ids[0], person_ids[1:]))
    console.print(f"merged into person {person_ids[0]} ({edit.faces} faces moved)")


@people_app.command("ignore")
@user_facing
def people_ignore(person_id: PersonId, db: DbOption = None, out: OutOption = None) -> None:
    """Ignore a person: not someone you care about (no folder, never offered for naming)."""
    _edit(db, out, lambda library: library.ignore(person_id))
    console.print(f"person {person_id} is ignored: no folder, not offered by `clusterfaces name`")


@people_app.command("unignore")
@user_facing
def people_unignore(person_id: PersonId, db: DbOption = None, out: OutOption = None) -> None:
    """Stop ignoring a person."""
    _edit(db, out, lambda library: library.ignore(person_id, ignored=False))
    console.print(f"person {person_id} is no longer ignored")


@people_app.command("split")
@user_facing
def people_split(person_id: PersonId, db: DbOption = None, out: OutOption = None) -> None:
    """Re-cluster one person's faces into sub-groups: the largest keeps the id, the others become new
    unnamed people to review with `clusterfaces name`."""
    groups = _edit(db, out, lambda library: library.split(person_id)).groups
    if len(groups) == 1:
        console.print(f"person {person_id}'s {groups[0][1]} faces form one group: nothing to split")
        return
    parts = ", ".join(f"{pid} ({faces} faces)" for pid, faces in groups)
    console.print(f"person {person_id} split into {parts}; review the new people with `clusterfaces name`")


@faces_app.command("list")
@user_facing
def faces_list(person_id: PersonId, db: DbOption = None,
               as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
               ) -> None:
    """List a person's faces: face id, photo, box, and whether you confirmed it."""
    from rich.table import Table

    rows = [{"id": face.id, "photo": str(face.photo), "box": list(face.box), "confirmed": face.confirmed}
            for face in Library(db).person_faces(person_id)]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    table = Table()
    for column in ("face", "photo", "box (x, y, w, h)", "confirmed"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row["id"]), escape(row["photo"]), " ".join(map(str, row["box"])),
                      "yes" if row["confirmed"] else "")
    console.print(table)


@faces_app.command("move")
@user_facing
def faces_move(face_id: FaceId, person_id: PersonId, db: DbOption = None, out: OutOption = None) -> None:
    """Put a face with a person (kept through every re-clustering)."""
    _edit(db, out, lambda library: library.move_faces([face_id], person_id))
    console.print(f"face {face_id} is now with person {person_id}")


@faces_app.command("not")
@user_facing
def faces_not(face_id: FaceId, person_id: PersonId, db: DbOption = None, out: OutOption = None) -> None:
    """Say a face is not this person: it leaves them, and no clustering puts it with them again."""
    left = _edit(db, out, lambda library: library.reject_faces([face_id], person_id)).faces
    console.print(f"face {face_id} is not person {person_id}" + ("; it left them" if left else
                                                                 " (it was not with them; it never will be)"))


@user_facing
def name_people(db: DbOption = None, out: OutOption = None) -> None:
    """Name the unnamed people one by one, largest first (each answer is saved at once)."""
    from clusterfaces.cli.naming import NamingSession

    NamingSession(Library(db, out), console).run()


@user_facing
def undo(db: DbOption = None, out: OutOption = None) -> None:
    """Undo the last edit (names, merges, ignores, splits, face moves); repeat to go further back."""
    summary = _edit(db, out, lambda library: library.undo()).summary
    console.print(f"undone: {escape(summary)}", soft_wrap=True)


@user_facing
def log(
    db: DbOption = None,
    limit: Annotated[int, typer.Option(help="How many of the latest edits to show.", min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the edits, oldest first, and which were undone."""
    import time

    from rich.table import Table

    entries = Library(db).journal(min(limit, 2**31))  # SQLite's LIMIT is 64 bits
    if as_json:
        print(json.dumps([entry.__dict__ for entry in entries], ensure_ascii=False, indent=1))
        return
    if not entries:
        console.print("no edits yet")
        return
    table = Table()
    for column in ("#", "when", "edit", ""):
        table.add_column(column)
    for entry in entries:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.at))
        style = "dim" if entry.undone else ""
        table.add_row(str(entry.id), when, escape(entry.summary), "undone" if entry.undone else "", style=style)
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the people, faces, name, undo and log commands to the main app."""
    app.add_typer(people_app, name="people")
    app.add_typer(faces_app, name="faces")
    app.command("name")(name_people)
    app.command("undo")(undo)
    app.command("log")(log)
