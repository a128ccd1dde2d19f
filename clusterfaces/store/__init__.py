"""The SQLite database: schema, migrations and every query (the only package that writes SQL)."""

from clusterfaces.store.database import Store
from clusterfaces.store.records import FaceRow, PhotoRecord, StoredFaces, path_key
from clusterfaces.store.schema import MIGRATIONS, m001_initial, migration

__all__ = ["MIGRATIONS", "FaceRow", "PhotoRecord", "Store", "StoredFaces", "m001_initial", "migration", "path_key"]
