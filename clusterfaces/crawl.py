"""Walking photo roots: which files are photos, what to skip, and each file's fingerprint."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

IMAGE_EXTENSIONS = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".dib", ".tif", ".tiff", ".heic", ".heif",
    ".hif", ".gif",
})
# Files with these extensions are never photos; anything else unknown gets its first bytes checked.
NOT_IMAGE_EXTENSIONS = frozenset({
    ".mp4", ".mov", ".avi", ".mkv", ".m4v", ".3gp", ".mts", ".wmv", ".mpg", ".mpeg", ".webm",
    ".txt", ".json", ".xml", ".xmp", ".ini", ".db", ".pdf", ".html", ".htm", ".csv", ".md", ".zip",
    ".aae", ".thm", ".lrv", ".mp3", ".m4a", ".wav", ".aac", ".flac", ".py", ".sqlite", ".db-wal", ".db-shm",
    ".cr2", ".cr3", ".nef", ".arw", ".dng", ".orf", ".rw2", ".raf", ".psd", ".svg",
})
# Folders that photo software fills with thumbnails and metadata, never with photos of their own.
SKIPPED_FOLDER_NAMES = frozenset({"@eaDir", "#recycle", "$RECYCLE.BIN", "System Volume Information", "__MACOSX"})

_MAGIC = (
    (0, b"\xff\xd8\xff"), (0, b"\x89PNG\r\n\x1a\n"), (0, b"GIF87a"), (0, b"GIF89a"), (0, b"BM"),
    (0, b"II*\x00"), (0, b"MM\x00*"), (8, b"WEBP"), (4, b"ftypheic"), (4, b"ftypheix"), (4, b"ftypmif1"),
    (4, b"ftypmsf1"), (4, b"ftyphevc"), (4, b"ftypavif"),
)


@dataclass(frozen=True)
class FoundFile:
    """A photo candidate with the metadata that tells whether it changed since the last scan."""

    location: str  # the path as text: a re-scan compares 100,000s of these, and Path objects cost
    size: int
    mtime_ns: int

    @property
    def path(self) -> Path:
        return Path(self.location)


@dataclass(frozen=True)
class SkippedPath:
    """Something the crawl could not enter or chose not to follow, and why."""

    path: Path
    reason: str


def looks_like_image(path: Path | str) -> bool:
    """True for image extensions, and for unknown extensions whose first bytes are an image header."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix in IMAGE_EXTENSIONS:
        return True
    if suffix in NOT_IMAGE_EXTENSIONS:
        return False
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError:
        return False
    return any(head[offset:offset + len(magic)] == magic for offset, magic in _MAGIC)


def crawl(
    roots: Iterable[Path], skip_folder: Callable[[Path], bool] = lambda _: False
) -> Iterator[FoundFile | SkippedPath]:
    """Yield every photo candidate below the roots, and every folder or link skipped with a reason.

    Hidden files and folders are skipped, as are folders for which skip_folder is true (the tool's
    own output). Symbolic links to folders are followed once: a link back into a folder already
    walked (a loop, or a second way to the same folder) is skipped. Paths keep the form the roots
    give, so a photo's path is stable from run to run.
    """
    visited: set[tuple[int, int]] = set()
    stack = [Path(root) for root in reversed(list(roots))]
    while stack:
        folder = stack.pop()
        try:
            info = folder.stat()
        except OSError as error:
            yield SkippedPath(folder, f"cannot open folder: {error.strerror}")
            continue
        if (info.st_dev, info.st_ino) in visited:
            yield SkippedPath(folder, "folder already scanned through another path (symbolic link loop?)")
            continue
        visited.add((info.st_dev, info.st_ino))
        if skip_folder(folder):
            continue
        try:
            with os.scandir(folder) as entries:
                children = sorted(entries, key=lambda entry: entry.name)
        except OSError as error:
            yield SkippedPath(folder, f"cannot read folder: {error.strerror}")
            continue
        subfolders = []
        for entry in children:
            if entry.name.startswith("."):
                continue
            try:
                entry_stat = entry.stat(follow_symlinks=True)
            except OSError:
                if entry.is_symlink():
                    yield SkippedPath(Path(entry.path), "broken symbolic link")
                else:
                    yield SkippedPath(Path(entry.path), "cannot read file information")
                continue
            if stat.S_ISDIR(entry_stat.st_mode):
                if entry.name not in SKIPPED_FOLDER_NAMES:
                    subfolders.append(Path(entry.path))
            elif stat.S_ISREG(entry_stat.st_mode) and looks_like_image(entry.path):
                yield FoundFile(entry.path, entry_stat.st_size, entry_stat.st_mtime_ns)
        stack.extend(reversed(subfolders))


def content_hash(path: Path) -> str:
    """A short, collision-safe digest of the file's bytes (BLAKE2b, 128 bits)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, lambda: hashlib.blake2b(digest_size=16)).hexdigest()
