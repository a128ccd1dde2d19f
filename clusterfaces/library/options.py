"""What a scan can be told (ScanOptions, range-checked) and what it reports back (ScanResult)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from clusterfaces.errors import ClusterfacesError
from clusterfaces.images import DEFAULT_MAX_SIDE
from clusterfaces.people.clustering import ClusterSettings
from clusterfaces.people.identities import PersonSummary
from clusterfaces.scan.crawl import SkippedPath
from clusterfaces.store import UnreadablePhoto

# What the options may be (the CLI refuses anything else before a scan records a thing).
MAX_SIDE_RANGE = (320, 20_000)  # or 0/None: full size
BATCH_SIZE_RANGE = (1, 4096)
WORKERS_RANGE = (0, 64)
MIN_FACE_SIZE_RANGE = (0, 10_000)
DISTANCE_RANGE = (0.0, 2.0)  # between L2-normalised embeddings


def default_workers() -> int:
    """Decode/detect worker processes: one per core (the embedder runs alongside in the main process)."""
    return max(1, min(os.cpu_count() or 1, 8))


@dataclass
class ScanOptions:
    """Everything a scan can be told; the CLI fills it from its options."""

    roots: list[Path]
    model: str | None = None  # None: the library's model, or the default with its offline fallback
    detector: str | None = None  # None: the library's detector, or the default
    max_side: int | None = DEFAULT_MAX_SIDE
    batch_size: int = 32
    workers: int = field(default_factory=default_workers)
    clustering: ClusterSettings = field(default_factory=ClusterSettings)
    link_mode: str = "symlink"
    offline: bool = False
    mirror: bool = True  # a new library of a MIRRORED_MODELS model averages each face with its mirror image
    recluster: bool = False
    forget_missing: bool = False  # forget the photos not on disk now (else they are kept as missing)
    dask: str | None = None  # a Dask scheduler address (or "local"): detect on that cluster, not a local pool

    def check(self) -> None:
        """Refuse options out of range, before anything is recorded (one-line ClusterfacesError)."""
        low, high = MAX_SIDE_RANGE
        if self.max_side is not None and self.max_side != 0 and not low <= self.max_side <= high:
            raise ClusterfacesError(f"--max-side {self.max_side} is out of range: give 0 (full size) or "
                                    f"{low} to {high} pixels")
        distances = {"--attach-distance": self.clustering.attach_distance,
                     "--cluster-epsilon": self.clustering.selection_epsilon}
        for option, value, (low, high) in (
            ("--batch-size", self.batch_size, BATCH_SIZE_RANGE), ("--workers", self.workers, WORKERS_RANGE),
            ("--min-face-size", self.clustering.min_face_size, MIN_FACE_SIZE_RANGE),
            ("--min-score", self.clustering.min_score, (0.0, 1.0)),
            *((option, value, DISTANCE_RANGE) for option, value in distances.items()),
        ):
            if value is not None and not (isinstance(value, int | float) and low <= value <= high):
                raise ClusterfacesError(f"{option} {value} is out of range: give {low} to {high}")

    def recorded(self) -> dict:
        """The settings a run row keeps (and later edits and exports read back)."""
        return {"max_side": self.max_side, "batch_size": self.batch_size, "clustering": asdict(self.clustering),
                "link_mode": self.link_mode}


@dataclass
class PersonReport:
    """A person in the summary: who, how many faces and photos, and their folder."""

    person: PersonSummary
    photos: list[Path]


@dataclass
class ScanResult:
    """What a scan did, for the summary and for tests."""

    model: str
    detector: str
    database: Path
    output: Path
    warnings: list[str] = field(default_factory=list)
    photos_seen: int = 0
    photos_processed: int = 0
    photos_reused: int = 0  # moved, renamed or duplicated: faces copied, nothing recomputed
    photos_retagged: int = 0  # same pixels, new tags or dates in the file: nothing recomputed
    photos_redone: int = 0  # new pixels at a known path: detected again, each face's marks carried over
    photos_removed: int = 0  # forgotten on purpose (--forget-missing)
    photos_missing: int = 0  # not on disk, kept with their faces and people
    photos_returned: int = 0  # missing before, back now (same path or moved)
    missing_people: list[PersonSummary] = field(default_factory=list)  # people seen only in missing photos
    unavailable_roots: list[tuple[Path, str]] = field(default_factory=list)  # left alone this scan, and why
    unreadable: list[UnreadablePhoto] = field(default_factory=list)
    skipped: list[SkippedPath] = field(default_factory=list)
    faces_total: int = 0
    faces_new: int = 0
    faces_clustered: int = 0
    faces_filtered: int = 0  # too small or too uncertain to cluster
    people: list[PersonReport] = field(default_factory=list)
    unclustered_photos: list[Path] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    reclustered: bool = False

    def summary(self) -> dict:
        """What the run row keeps of this result."""
        return {
            "photos_seen": self.photos_seen, "photos_processed": self.photos_processed,
            "photos_reused": self.photos_reused, "photos_retagged": self.photos_retagged,
            "photos_redone": self.photos_redone, "photos_missing": self.photos_missing,
            "photos_returned": self.photos_returned,
            "photos_removed": self.photos_removed, "unreadable": len(self.unreadable),
            "faces": self.faces_total, "faces_new": self.faces_new, "people": len(self.people),
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }
