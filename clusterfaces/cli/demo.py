"""`clusterfaces demo` and `clusterfaces gallery`: see the tool work, and look at the people."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from clusterfaces.cli.common import DbOption, console, user_facing
from clusterfaces.library import Library, ScanOptions
from clusterfaces.locations import data_home


@user_facing
def demo(
    source: Annotated[Path | None, typer.Option("--from", help="Folder of identity sub-folders of face photos "
                                                "\\[default: download LFW with scikit-learn].")] = None,
    out: Annotated[Path | None, typer.Option(help="Where to build the demo \\[default: 'demo' in the user data "
                                             "folder].")] = None,
    model: Annotated[str | None, typer.Option(help="Recognition model (as for scan).")] = None,
) -> None:
    """Build a small demo library from labelled faces, scan it, and say where to look."""
    from clusterfaces.cli.report import RichObserver, print_summary
    from clusterfaces.outputs.demo import build_demo_library, download_lfw_faces

    out = out or data_home() / "demo"
    if source is None:
        console.print("No --from folder: downloading a few people from LFW with scikit-learn...")
        source = download_lfw_faces(out)
    photos = out / "photos"
    labels = build_demo_library(source, photos)
    faces = sum(len(people) for people in labels["photos"].values())
    console.print(f"Built {len(labels['photos'])} demo photos with {faces} faces of "
                  f"{len({p for ps in labels['photos'].values() for p in ps})} people in {escape(str(photos))}")
    library = Library(out / "library.db", out / "people")
    with RichObserver(console) as observer:
        result = library.scan(ScanOptions(roots=[photos], model=model), observer)
    print_summary(console, result)
    console.print(f"\nWho is really where: {escape(str(photos / 'labels.json'))}", soft_wrap=True)
    # One command per line, never wrapped by the console: they are meant to be copied.
    console.print("Next, look at the people, or name them:")
    for command in ("gallery", "name"):
        console.print(f"  clusterfaces {command} --db {escape(str(library.database))}", soft_wrap=True)


@user_facing
def gallery(
    db: DbOption = None,
    out: Annotated[Path | None, typer.Option(help="Folder for the page and its thumbnails \\[default: 'gallery' "
                                             "next to the database].")] = None,
) -> None:
    """Write a static HTML page of the people (opens from file://, no server, no network)."""
    library = Library(db)
    stats = library.write_gallery(out or library.database.parent / "gallery")
    link = stats.page.absolute().as_uri()  # --db may be relative; a file:// link never is
    console.print(f"{stats.people} people, {stats.thumbnails} face thumbnails: open {escape(link)}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the demo and gallery commands to the main app."""
    app.command()(demo)
    app.command()(gallery)
