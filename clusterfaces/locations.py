"""Default places for the database and the people folders (platformdirs; CLUSTERFACES_HOME overrides)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def data_home() -> Path:
    """Where clusterfaces keeps its state: $CLUSTERFACES_HOME, else the platform's user data folder."""
    override = os.environ.get("CLUSTERFACES_HOME")
    return Path(override).expanduser() if override else platformdirs.user_data_path("clusterfaces")


def default_database() -> Path:
    return data_home() / "library.db"


def default_output() -> Path:
    return data_home() / "people"
