"""The command line: parses options, calls the library, renders with rich. Nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from clusterfaces import __version__
from clusterfaces.cli import demo as cli_demo
from clusterfaces.cli import export as cli_export
from clusterfaces.cli import people as cli_people
from clusterfaces.cli import review as cli_review
from clusterfaces.cli import search as cli_search
from clusterfaces.cli.common import console, user_facing
from clusterfaces.errors import ClusterfacesError
from clusterfaces.images import DEFAULT_MAX_SIDE
from clusterfaces.library import (
    BATCH_SIZE_RANGE,
    DISTANCE_RANGE,
    MAX_SIDE_RANGE,
    MIN_FACE_SIZE_RANGE,
    WORKERS_RANGE,
    Library,
    ScanOptions,
    default_workers,
)
from clusterfaces.people.clustering import ClusterSettings
from clusterfaces.scan.faces import DETECTORS, RECOGNITION_MODELS

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="Find the people in a photo library without being told who they are.",
)


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


def _max_side(value: int) -> int:
    low, high = MAX_SIDE_RANGE
    if value != 0 and not low <= value <= high:
        raise typer.BadParameter(f"{value} is not 0 (full size) or in the range {low}<=x<={high}.")
    return value


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
    db: Annotated[Path | None, typer.Option(help="Database file \\[default: in the user data folder].")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for the per-person folders "
                                                "\\[default: 'people' in the user data folder].")] = None,
    model: Annotated[str | None, typer.Option(help="DeepFace recognition model \\[default: Facenet512, or "
                                                 "the model this library already uses; Dlib when Facenet512's "
                                                 "weights cannot be had].")] = None,
    detector: Annotated[str | None, typer.Option(help="DeepFace face detector \\[default: dlib, or the detector "
                                                 "this library already uses].")] = None,
    max_side: Annotated[int, typer.Option(help=f"Longest image side for detection, pixels: {MAX_SIDE_RANGE[0]} to "
                                          f"{MAX_SIDE_RANGE[1]}, or 0 for full size.", callback=_max_side)]
    = DEFAULT_MAX_SIDE,
    batch_size: Annotated[int, typer.Option(help="Faces per recognition-model call.", min=BATCH_SIZE_RANGE[0],
                                            max=BATCH_SIZE_RANGE[1])] = 32,
    workers: Annotated[int, typer.Option(help="Decode/detect worker processes (0: in the main process).",
                                         min=WORKERS_RANGE[0], max=WORKERS_RANGE[1])] = min(default_workers(), 64),
    clustering: Annotated[str, typer.Option(help="How faces are grouped: linkage (average linkage with "
                                            "distances calibrated on the library) or hdbscan (the former "
                                            "method; the --min-samples and --cluster-* options apply to it "
                                            "only).")] = "linkage",
    min_cluster_size: Annotated[int | None, typer.Option(help="Smallest group reported as a person \\[default: 2; "
                                                            "with hdbscan: 2 below 200 faces, 3 below 20,000, else "
                                                            "5].", min=2)] = None,
    min_samples: Annotated[int, typer.Option(help="HDBSCAN min_samples (--clustering hdbscan).", min=1)] = 1,
    cluster_selection: Annotated[str, typer.Option(help="HDBSCAN cluster_selection_method, eom or leaf "
                                                   "(--clustering hdbscan).")] = "eom",
    cluster_epsilon: Annotated[float, typer.Option(help="HDBSCAN cluster_selection_epsilon (--clustering hdbscan).",
                                                   min=DISTANCE_RANGE[0], max=DISTANCE_RANGE[1])] = 0.0,
    attach_distance: Annotated[float | None, typer.Option(help="Max distance at which a leftover face joins "
                                                             "the nearest person (0: off) \\[default: per model].",
                                                             min=DISTANCE_RANGE[0], max=DISTANCE_RANGE[1])] = None,
    min_face_size: Annotated[int, typer.Option(help="Faces smaller than this (pixels) are stored but not "
                                               "grouped.", min=MIN_FACE_SIZE_RANGE[0], max=MIN_FACE_SIZE_RANGE[1])]
    = ClusterSettings.min_face_size,
    min_score: Annotated[float, typer.Option(help="Faces with a lower detection score are stored but not "
                                             "grouped.", min=0, max=1)] = ClusterSettings.min_score,
    link_mode: Annotated[str, typer.Option(help="How person folders point at photos: symlink, hardlink or "
                                           "copy.")] = "symlink",
    offline: Annotated[bool, typer.Option(help="Never download model weights.")] = False,
    mirror: Annotated[bool, typer.Option(help="A new Dlib library embeds each face with its mirror image "
                                         "(more accurate, half the embedding speed); decided at a library's "
                                         "first scan, kept after.")] = True,
    recluster: Annotated[bool, typer.Option(help="Re-cluster every face now instead of only matching new faces "
                                            "to known people (names and corrections are kept).")] = False,
    forget_missing: Annotated[bool, typer.Option(help="Forget, with their faces and edits, the photos that are not "
                                                 "on disk now (else they are kept as missing until they are "
                                                 "back).")] = False,
    dask: Annotated[str | None, typer.Option(help="Detect faces on a running Dask cluster (its scheduler's "
                                             "address, e.g. tcp://scheduler:8786; workers see the photos at the "
                                             "same paths), or 'local' for one on this machine of --workers "
                                             "processes.", show_default=False)] = None,
) -> None:
    """Find faces in the photos, group them into people, and write one folder per person."""
    from clusterfaces.cli.report import RichObserver, print_summary

    options = ScanOptions(
        roots=roots,
        model=_choice(model, RECOGNITION_MODELS, "--model"),
        detector=_choice(detector, DETECTORS, "--detector"),
        max_side=max_side or None,
        batch_size=batch_size,
        workers=workers,
        clustering=ClusterSettings(
            algorithm={"linkage": "auto", "hdbscan": "hdbscan"}[
                _choice(clustering, ("linkage", "hdbscan"), "--clustering") or "linkage"],
            min_cluster_size=min_cluster_size, min_samples=min_samples,
            selection_method=_choice(cluster_selection, ("eom", "leaf"), "--cluster-selection") or "eom",
            selection_epsilon=cluster_epsilon, attach_distance=attach_distance,
            min_face_size=min_face_size, min_score=min_score,
        ),
        link_mode=_choice(link_mode, ("symlink", "hardlink", "copy"), "--link-mode") or "symlink",
        offline=offline,
        mirror=mirror,
        recluster=recluster,
        forget_missing=forget_missing,
        dask=dask,
    )
    library = Library(db, out)
    with RichObserver(console) as observer:
        result = library.scan(options, observer)
    print_summary(console, result)


def run() -> None:
    """Console entry point."""
    app()


cli_people.register(app)
cli_demo.register(app)
cli_export.register(app)
cli_search.register(app)
cli_review.register(app)


if __name__ == "__main__":
    run()
