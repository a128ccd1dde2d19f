"""Atomic file writes: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

from clusterfaces.errors import OutputError

PRIVATE_MODE = 0o600  # personal or biometric data: the owner's only
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")  # kept out of an error message, which stays on one line


class WriteFailed(OutputError):
    """A file could not be written (a full disk, no permission, ...); the file it was to replace is untouched."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def write_atomically(path: Path | str, content: str | bytes, *, private: bool = False, what: str | None = None,
                     durable: bool = True) -> None:
    """Replace `path` with `content` (str is written as UTF-8), the one way every output file is written.

    - The content goes to a temporary file beside `path` (tempfile.mkstemp in the same folder, named
      `.<name>.<random>.tmp`, so the photo crawler skips it), is flushed and fsynced, and is renamed over
      `path` with os.replace; the folder is then fsynced where the system allows it, so the rename survives
      a crash too.
    - Mode: a `private` file (identity maps, contact sheets, the output folder's manifest) is 0600, even when
      it replaces a file others could read. Any other file keeps the mode of the file it replaces, and a new
      one gets 0666 minus the umask (0644 with the usual umask 022), as open() would give it.
    - `durable=False` leaves out both fsyncs, for files that can be made again (a thumbnail cache): still
      all-or-nothing for a reader, but a crash may lose the newest ones.
    - On any failure, an exception included, the temporary file is removed and `path` is left as it was.
      An OSError becomes WriteFailed, an OutputError "cannot write <what>: <reason>" on one line (`what` is
      the path unless given), its `reason` the system's words ("No space left on device").
    """
    path = Path(path)
    temporary = None
    try:
        mode = PRIVATE_MODE if private else _mode_for(path)
        prefix = path.name if path.name.startswith(".") else f".{path.name}"
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f"{prefix}.", suffix=".tmp")
        binary = isinstance(content, bytes)
        with os.fdopen(descriptor, "wb" if binary else "w", encoding=None if binary else "utf-8") as file:
            file.write(content)
            file.flush()
            if durable:
                os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
        temporary = None
    except OSError as error:
        reason = error.strerror or str(error)
        message = f"cannot write {what or path}: {reason}"
        raise WriteFailed(_UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", message), reason) from None
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
    if durable:
        _sync_folder(path.parent)


def _mode_for(path: Path) -> int:
    """The mode of the file `path` names, or for a new file 0666 minus the umask."""
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _sync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable; systems that cannot open or sync a folder (Windows) skip it."""
    try:
        descriptor = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(descriptor)
    finally:
        os.close(descriptor)
