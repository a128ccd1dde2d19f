"""The one public entry point: a Library, its scans, its people and its edits."""
