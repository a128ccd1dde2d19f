"""The one public entry point: a Library, its scans, its people and its edits (front ends use nothing else)."""

from clusterfaces.library.core import Library
from clusterfaces.library.options import (
    BATCH_SIZE_RANGE,
    DISTANCE_RANGE,
    MAX_SIDE_RANGE,
    MIN_FACE_SIZE_RANGE,
    WORKERS_RANGE,
    PersonReport,
    ScanOptions,
    ScanResult,
    default_workers,
)
from clusterfaces.library.people_folders import UNCLUSTERED_FOLDER
from clusterfaces.library.records import Doubt, Edit, Face, Person

__all__ = [
    "BATCH_SIZE_RANGE", "DISTANCE_RANGE", "MAX_SIDE_RANGE", "MIN_FACE_SIZE_RANGE", "UNCLUSTERED_FOLDER",
    "WORKERS_RANGE", "Doubt", "Edit", "Face", "Library", "Person", "PersonReport", "ScanOptions", "ScanResult",
    "default_workers",
]
