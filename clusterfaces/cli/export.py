"""`clusterfaces export` and `clusterfaces import`: the identity map out and back in, and XMP sidecars."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from clusterfaces.cli.common import DbOption, OutOption, console, errors, user_facing
from clusterfaces.errors import ClusterfacesError
from clusterfaces.library import Library
from clusterfaces.outputs.export import LibraryState

DEFAULT_MAP = Path("identities.json")
SHOW_UNMATCHED = 10
SHOW_REASONS = 5  # lines about skipped sidecars, one per reason


@user_facing
def export(
    path: Annotated[Path | None, typer.Argument(help="Where to write the JSON map; - for standard output "
                                                "(default: identities.json in the current folder; with --xmp, "
                                                "no JSON unless a path is given).", show_default=False)] = None,
    db: DbOption = None,
    relative: Annotated[bool, typer.Option("--relative", help="Photo paths relative to their root instead of "
                                           "absolute.")] = False,
    with_embeddings: Annotated[bool, typer.Option("--with-embeddings", help="Include each face's embedding "
                                                  "(base64 little-endian float32; biometric data).")] = False,
    xmp: Annotated[bool, typer.Option("--xmp", help="Write the named people's face regions (MWG) into XMP "
                                      "sidecars beside the photos (photo.jpg.xmp); photos are never touched.")]
    = False,
    force: Annotated[bool, typer.Option("--force", help="Replace PATH even if it is not an identity map.")] = False,
) -> None:
    """Write the identity map as JSON (who is in which photo, names, merges, ignores), and/or XMP sidecars."""
    from clusterfaces.outputs.export import check_replaceable, identity_map, to_json, write_private

    target = path or DEFAULT_MAP
    if (path is not None or not xmp) and str(target) != "-" and not force:
        check_replaceable(target)  # before any work: `export photo.jpg` is a slip of the keyboard
    say = errors if str(path) == "-" else console  # standard output carries only the JSON then
    state = Library(db).identity_map_state(embeddings=with_embeddings)
    if path is not None or not xmp:
        text = to_json(identity_map(state, relative=relative, embeddings=with_embeddings))
        if str(path) == "-":
            sys.stdout.write(text)
        else:
            write_private(target, text)
            named = sum(1 for person in state.people if person.name)
            say.print(f"identity map: {len(state.people)} people ({named} named), {len(state.faces)} faces "
                         f"-> {escape(str(target))} (readable by you only)", soft_wrap=True)
    if xmp:
        _write_sidecars(state, say)


def _write_sidecars(state: LibraryState, say: Console) -> None:
    from clusterfaces.outputs.xmp import photo_regions, write_sidecars

    regions, others = photo_regions(state)
    stats = write_sidecars(regions, others)
    faces = sum(len(found.faces) for found in regions.values())
    parts = [f"{stats.written} written", f"{stats.unchanged} already up to date"]
    if stats.cleared:
        parts.append(f"{stats.cleared} cleared of names no longer given")
    say.print(f"XMP sidecars for {len(regions)} photos with {faces} named faces: {', '.join(parts)}",
                 soft_wrap=True)
    if not regions:
        say.print("nobody is named yet: name people first (`clusterfaces name` or `clusterfaces people rename`)")
    by_reason: dict[str, list[str]] = {}
    for location, reason in stats.skipped:
        by_reason.setdefault(reason, []).append(location)
    reasons = list(by_reason.items())
    for reason, locations in reasons[:SHOW_REASONS]:  # one line per reason
        count = len(locations)
        errors.print(f"[yellow]skipped {count} photo{'' if count == 1 else 's'}[/], e.g. {escape(locations[0])}: "
                     f"{escape(reason)}", soft_wrap=True)
    if len(reasons) > SHOW_REASONS:
        rest = sum(len(locations) for _, locations in reasons[SHOW_REASONS:])
        errors.print(f"[yellow]skipped {rest} more photos[/] for other reasons", soft_wrap=True)


@user_facing
def import_map(
    path: Annotated[Path, typer.Argument(help="An identity map written by `clusterfaces export`.",
                                         show_default=False)],
    db: DbOption = None,
    out: OutOption = None,
) -> None:
    """Restore names, merges, ignores and corrections from an identity map into a re-scanned library.

    Faces are matched by the photo's content and box, so moved photos still match; `clusterfaces undo`
    takes the import back.
    """
    from clusterfaces.outputs.importing import load_identity_map

    data = load_identity_map(path)
    report = Library(db, out).import_map(data, source=path.name)
    if report.folders_warning:
        raise ClusterfacesError(report.folders_warning)
    if report.other_model:
        console.print(f"note: the map's faces come from {escape(report.other_model)}; they were matched to this "
                      "library's faces by photo and box", soft_wrap=True)
    done = [f"{report.names} named", f"{report.ignored} ignored"]
    if report.merged:
        done.append(f"{report.merged} merged into others")
    if report.rejections:
        done.append(f"{report.rejections} \"not this person\" marks")
    if report.faces_moved:
        done.append(f"{report.faces_moved} faces moved to the person the map gives them")
    console.print(f"matched {report.faces_matched} of the map's {report.faces_in_map} faces; restored "
                  f"{report.people} people ({', '.join(done)})", soft_wrap=True)
    if report.faces_unknown_to_map:
        console.print(f"{report.faces_unknown_to_map} faces in the database are not in the map (photos added "
                      "since the export?): left as the scan grouped them", soft_wrap=True)
    for label in report.people_not_found:
        console.print(f"[yellow]not restored:[/] {escape(label)} (none of their faces is in this database)",
                      soft_wrap=True)
    if report.unmatched:
        console.print(f"[yellow]{len(report.unmatched)} named or confirmed faces were not found[/] (photo missing, "
                      "changed, or scanned with settings that no longer find the face):", soft_wrap=True)
        for face in report.unmatched[:SHOW_UNMATCHED]:
            console.print(f"  {escape(face.person)}: {escape(face.photo)} (box {' '.join(map(str, face.box))})",
                          soft_wrap=True)
        if len(report.unmatched) > SHOW_UNMATCHED:
            console.print(f"  ... and {len(report.unmatched) - SHOW_UNMATCHED} more", soft_wrap=True)
    console.print("the people folders are updated; `clusterfaces undo` takes the import back")


def register(app: typer.Typer) -> None:
    """Add the export and import commands to the main app."""
    app.command("export")(export)
    app.command("import")(import_map)
