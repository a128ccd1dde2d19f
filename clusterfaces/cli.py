"""The command line: parses options, calls the library, renders with rich. Nothing else."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from clusterfaces import __version__
from clusterfaces.clustering import ClusterSettings
from clusterfaces.errors import ClusterfacesError
from clusterfaces.faces import DETECTORS, RECOGNITION_MODELS
from clusterfaces.images import DEFAULT_MAX_SIDE
from clusterfaces.library import Library, ScanOptions, default_workers

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="Find the people in a photo library without being told who they are.",
)
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)


INTERRUPTED = 130


def user_facing(command: Callable[..., None]) -> Callable[..., None]:
    """User errors become one line and exit 1; Ctrl-C says what was kept and exits 130."""

    @functools.wraps(command)
    def wrapper(*args: object, **kwargs: object) -> None:
        try:
            command(*args, **kwargs)
        except ClusterfacesError as error:
            errors.print(f"[red]error:[/] {escape(str(error))}", soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            errors.print("interrupted: everything processed so far is saved; run the same command again to finish",
                         soft_wrap=True)
            raise typer.Exit(INTERRUPTED) from None

    return wrapper


def _version(value: bool) -> None:
    if value:
        console.print(f"clusterfaces {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool | None, typer.Option("--version", callback=_version, is_eager=True,
                                                    help="Print the version and exit.")] = None,
) -> None:
    """Find the people in a photo library without being told who they are."""


def _choice(value: str | None, allowed: tuple[str, ...], option: str) -> str | None:
    if value is None:
        return None
    for name in allowed:
        if name.lower() == value.lower():
            return name
    raise ClusterfacesError(f"{option} {value!r} is not one of: {', '.join(allowed)}")


@app.command()
@user_facing
def scan(
    roots: Annotated[list[Path], typer.Argument(help="Folders of photos to scan (recursively).", show_default=False)],
    db: Annotated[Path | None, typer.Option(help="Database file [default: in the user data folder].")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for the per-person folders "
                                                "[default: 'people' in the user data folder].")] = None,
    model: Annotated[str | None, typer.Option(help="DeepFace recognition model [default: Facenet512, or "
                                                 "the model this library already uses; Dlib when Facenet512's "
                                                 "weights cannot be had].")] = None,
    detector: Annotated[str | None, typer.Option(help="DeepFace face detector [default: dlib, or the detector "
                                                 "this library already uses].")] = None,
    max_side: Annotated[int, typer.Option(help="Longest image side for detection, pixels (0: full size).")]
    = DEFAULT_MAX_SIDE,
    batch_size: Annotated[int, typer.Option(help="Faces per recognition-model call.", min=1)] = 32,
    workers: Annotated[int, typer.Option(help="Decode/detect worker processes (0: in the main process).",
                                         min=0)] = default_workers(),
    min_cluster_size: Annotated[int | None, typer.Option(help="HDBSCAN min_cluster_size [default: 2 below "
                                                            "1,000 faces, 3 below 20,000, else 5].", min=2)] = None,
    min_samples: Annotated[int, typer.Option(help="HDBSCAN min_samples.", min=1)] = 1,
    cluster_selection: Annotated[str, typer.Option(help="HDBSCAN cluster_selection_method: eom or leaf.")] = "eom",
    cluster_epsilon: Annotated[float, typer.Option(help="HDBSCAN cluster_selection_epsilon.", min=0)] = 0.0,
    attach_distance: Annotated[float | None, typer.Option(help="Max distance at which a leftover face joins "
                                                             "the nearest person (0: off) [default: per model].",
                                                             min=0)] = None,
    min_face_size: Annotated[int, typer.Option(help="Faces smaller than this (pixels) are stored but not "
                                               "grouped.", min=0)] = ClusterSettings.min_face_size,
    min_score: Annotated[float, typer.Option(help="Faces with a lower detection score are stored but not "
                                             "grouped.", min=0, max=1)] = ClusterSettings.min_score,
    link_mode: Annotated[str, typer.Option(help="How person folders point at photos: symlink, hardlink or "
                                           "copy.")] = "symlink",
    offline: Annotated[bool, typer.Option(help="Never download model weights.")] = False,
    recluster: Annotated[bool, typer.Option(help="Re-cluster every face now instead of only matching new faces "
                                            "to known people (names and corrections are kept).")] = False,
) -> None:
    """Find faces in the photos, group them into people, and write one folder per person."""
    from clusterfaces.report import RichObserver, print_summary

    options = ScanOptions(
        roots=roots,
        model=_choice(model, RECOGNITION_MODELS, "--model"),
        detector=_choice(detector, DETECTORS, "--detector"),
        max_side=max_side or None,
        batch_size=batch_size,
        workers=workers,
        clustering=ClusterSettings(
            min_cluster_size=min_cluster_size, min_samples=min_samples,
            selection_method=_choice(cluster_selection, ("eom", "leaf"), "--cluster-selection") or "eom",
            selection_epsilon=cluster_epsilon, attach_distance=attach_distance,
            min_face_size=min_face_size, min_score=min_score,
        ),
        link_mode=_choice(link_mode, ("symlink", "hardlink", "copy"), "--link-mode") or "symlink",
        offline=offline,
        recluster=recluster,
    )
    library = Library(db, out)
    with RichObserver(console) as observer:
        result = library.scan(options, observer)
    print_summary(console, result)


people_app = typer.Typer(help="List people, and name or merge them (each edit is kept through every re-run).",
                         no_args_is_help=False)
app.add_typer(people_app, name="people")
DbOption = Annotated[Path | None, typer.Option(help="Database file [default: in the user data folder].")]
OutOption = Annotated[Path | None, typer.Option(help="People folders to update [default: 'people' in the "
                                                   "user data folder].")]


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


def run() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    run()
