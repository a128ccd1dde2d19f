"""Errors a user can cause: each carries a one-line message that says what to do."""


class ClusterfacesError(Exception):
    """Base class: the CLI prints the message on one line and exits non-zero."""


class UnreadableImage(ClusterfacesError):
    """A file could not be decoded as a photo; the message is the reason stored for it."""


class ModelUnavailable(ClusterfacesError):
    """A recognition model or detector cannot be loaded (missing weights, missing package)."""


class DatabaseError(ClusterfacesError):
    """The database cannot be opened or used safely."""


class OutputError(ClusterfacesError):
    """The output folder cannot be written."""
