"""`clusterfaces people ...`: list, name and merge people."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from clusterfaces.cli_common import DbOption, OutOption, console, user_facing
from clusterfaces.errors import ClusterfacesError
from clusterfaces.library import Library

people_app = typer.Typer(help="List people, and name or merge them (each edit is kept through every re-run).",
                         no_args_is_help=False)


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
    import json

    from rich.table import Table

    from clusterfaces.edits import list_people
    from clusterfaces.store import Store

    with Store(Library(db).database) as store:
        rows = list_people(store)
    if as_json:
        print(json.dumps([row.__dict__ for row in rows], ensure_ascii=False, indent=1))
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
def people_rename(person_id: int, name: str, db: DbOption = None, out: OutOption = None) -> None:
    """Name a person (their faces are then kept together through every re-clustering)."""
    from clusterfaces.edits import rename_person
    from clusterfaces.store import Store

    library = Library(db, out)
    with Store(library.database) as store:
        confirmed = rename_person(store, person_id, name)
    library.refresh_folders()
    console.print(f"person {person_id} is now {escape(' '.join(name.split()))} ({confirmed} faces)")


@people_app.command("merge")
@user_facing
def people_merge(person_ids: list[int], db: DbOption = None, out: OutOption = None) -> None:
    """Merge people into the first one given (the merge is kept through every re-clustering)."""
    from clusterfaces.edits import merge_people
    from clusterfaces.store import Store

    if len(person_ids) < 2:
        raise ClusterfacesError("give at least two person ids: the first keeps the others' faces")
    library = Library(db, out)
    with Store(library.database) as store:
        moved = merge_people(store, person_ids[0], person_ids[1:])
    library.refresh_folders()
    console.print(f"merged into person {person_ids[0]} ({moved} faces moved)")


def register(app: typer.Typer) -> None:
    """Add the people commands to the main app."""
    app.add_typer(people_app, name="people")
