"""clusterfaces: find the people in a photo library without being told who they are.

The public API is what this package exports (`__all__`): a `Library` and the records it hands out.
Front ends (the CLI in cli/, the review web app in web/) use nothing else.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "Library": "clusterfaces.library", "ScanOptions": "clusterfaces.library", "ScanResult": "clusterfaces.library",
    "PersonReport": "clusterfaces.library", "Person": "clusterfaces.library", "Face": "clusterfaces.library",
    "Doubt": "clusterfaces.library", "Edit": "clusterfaces.library", "UNCLUSTERED_FOLDER": "clusterfaces.library",
    "Suggestion": "clusterfaces.people.suggestions", "ClusterSettings": "clusterfaces.people.clustering",
    "JournalEntry": "clusterfaces.store", "LastScan": "clusterfaces.store",
    "ClusterfacesError": "clusterfaces.errors", "OutputError": "clusterfaces.errors",
    "NullObserver": "clusterfaces.progress", "ScanObserver": "clusterfaces.progress",
}
__all__ = [
    "UNCLUSTERED_FOLDER", "ClusterSettings", "ClusterfacesError", "Doubt", "Edit", "Face", "JournalEntry", "LastScan",
    "Library", "NullObserver", "OutputError", "Person", "PersonReport", "ScanObserver", "ScanOptions", "ScanResult",
    "Suggestion", "__version__",
]

if TYPE_CHECKING:
    from clusterfaces.errors import ClusterfacesError, OutputError
    from clusterfaces.library import (
        UNCLUSTERED_FOLDER,
        Doubt,
        Edit,
        Face,
        Library,
        Person,
        PersonReport,
        ScanOptions,
        ScanResult,
    )
    from clusterfaces.people.clustering import ClusterSettings
    from clusterfaces.people.suggestions import Suggestion
    from clusterfaces.progress import NullObserver, ScanObserver
    from clusterfaces.store import JournalEntry, LastScan


assert set(__all__) == {*_EXPORTS, "__version__"}


def __getattr__(name: str) -> object:
    """The public names, imported when first used (so `import clusterfaces` stays cheap)."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'clusterfaces' has no attribute {name!r}")
