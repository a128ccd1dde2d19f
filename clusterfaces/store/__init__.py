"""The SQLite database: schema, migrations and every query (the only package that writes SQL).

Code outside this package reaches the database through `clusterfaces.Library` (library/), which opens
the `Store`; every query hands out typed records (records.py), never bare tuples."""

from clusterfaces.store.database import Store
from clusterfaces.store.records import (
    ExportedFace,
    FaceAssignments,
    FaceBox,
    FaceListing,
    FacePlace,
    FaceQuality,
    FaceRecord,
    FaceRow,
    FaceState,
    JournalEntry,
    LastScan,
    MarkedFace,
    PersonCounts,
    PersonRecord,
    PhotoRecord,
    Recluster,
    Rejection,
    StoredFaces,
    UndoRecord,
    UnreadablePhoto,
    path_key,
)
from clusterfaces.store.schema import MIGRATIONS, m001_initial, migration

__all__ = [
    "MIGRATIONS", "ExportedFace", "FaceAssignments", "FaceBox", "FaceListing", "FacePlace", "FaceQuality",
    "FaceRecord", "FaceRow", "FaceState", "JournalEntry", "LastScan", "MarkedFace", "PersonCounts", "PersonRecord",
    "PhotoRecord", "Recluster", "Rejection", "Store", "StoredFaces", "UndoRecord", "UnreadablePhoto",
    "m001_initial", "migration", "path_key",
]
