"""Walking photo roots: which files are photos, what to skip, and each file's fingerprint."""

from __future__ import annotations

import hashlib
import io
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
    roots: Iterable[Path], skip_folder: Callable[[Path], bool] = lambda _: False,
    skip_file: Callable[[str], bool] = lambda _: False,
) -> Iterator[FoundFile | SkippedPath]:
    """Yield every photo candidate below the roots, and every folder or link skipped with a reason.

    Hidden files and folders are skipped, as are folders for which skip_folder is true (the tool's
    own output) and files for which skip_file is true (its links). Symbolic links to folders are
    followed once: a link back into a folder already walked (a loop, or a second way to the same
    folder) is skipped. Paths keep the form the roots give, so a photo's path is stable from run to run.
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
            if entry.name.startswith(".") or skip_file(entry.path):
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


# JPEG markers that carry metadata only (APP0-APP13, APP15: JFIF, EXIF, XMP, IPTC, ICC...; COM). APP14
# (Adobe) is kept: its transform flag changes how CMYK/YCCK pixels decode.
_JPEG_METADATA = frozenset(range(0xE0, 0xEE)) | {0xEF, 0xFE}
_JPEG_STANDALONE = frozenset(range(0xD0, 0xD8)) | {0x01, 0xD8}
# PNG chunks that carry text and dates only.
_PNG_METADATA = frozenset({b"tEXt", b"zTXt", b"iTXt", b"tIME", b"eXIf"})


def pixel_fingerprint(path: Path) -> str:
    """A digest of what the photo shows, not of its bytes: tags, ratings, keywords, XMP and dates written
    into the file leave it unchanged; any change to the image data or to the EXIF orientation changes it.

    JPEG: the markers and compressed data from the first table on, without APPn (except APP14) and COM
    segments, and nothing after EOI. PNG: every chunk except text, time and EXIF chunks. Other formats,
    and files these parsers cannot follow: the decoded pixels, else the bytes. Raises OSError if the
    file cannot be read. The prefix says which kind of digest it is.
    """
    with open(path, "rb") as handle:
        data = handle.read()
    digest = hashlib.blake2b(digest_size=16)
    if data.startswith(b"\xff\xd8") and _jpeg_image_data(data, digest):
        return "j1:" + digest.hexdigest() + _orientation_suffix(data)
    if data.startswith(b"\x89PNG\r\n\x1a\n") and _png_image_data(data, digest):
        return "p1:" + digest.hexdigest() + _orientation_suffix(data)
    pixels = _decoded_pixels(data)
    if pixels is not None:
        return "d1:" + hashlib.blake2b(pixels, digest_size=16).hexdigest()
    return "b1:" + hashlib.blake2b(data, digest_size=16).hexdigest()


def _jpeg_image_data(data: bytes, digest: hashlib.blake2b) -> bool:
    """Feed the JPEG's image segments and entropy-coded data to digest; False if the structure is broken."""
    position, end = 2, len(data)
    while position + 2 <= end:
        if data[position] != 0xFF:
            return False
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == 0xD9:  # EOI: whatever follows (camera trailers, appended bytes) is not the image
            digest.update(b"\xff\xd9")
            return True
        if marker in _JPEG_STANDALONE:
            digest.update(data[position:position + 2])
            position += 2
            continue
        length = int.from_bytes(data[position + 2:position + 4], "big")
        segment_end = position + 2 + length
        if length < 2 or segment_end > end or position + 4 > end:
            return False
        if marker not in _JPEG_METADATA:
            digest.update(data[position:segment_end])
        position = segment_end
        if marker == 0xDA:  # start of scan: entropy-coded data up to the next marker that is not RSTn or 0xFF00
            scan = position
            while True:
                found = data.find(b"\xff", scan)
                if found < 0 or found + 1 >= end:
                    digest.update(data[position:])
                    return True
                following = data[found + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
                    scan = found + 1 if following == 0xFF else found + 2
                    continue
                digest.update(data[position:found])
                position = found
                break
    return position >= end


def _png_image_data(data: bytes, digest: hashlib.blake2b) -> bool:
    position, end = 8, len(data)
    while position + 12 <= end:
        length = int.from_bytes(data[position:position + 4], "big")
        kind = data[position + 4:position + 8]
        chunk_end = position + 12 + length
        if chunk_end > end:
            return False
        if kind not in _PNG_METADATA:
            digest.update(data[position:chunk_end])
        position = chunk_end
        if kind == b"IEND":
            return True
    return False


def _orientation_suffix(data: bytes) -> str:
    """'' for upright photos, else ':o<n>' with the EXIF orientation (a rotation changes the boxes)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            orientation = int(image.getexif().get(0x0112, 1) or 1)
    except Exception:  # noqa: BLE001 - a header Pillow cannot read decodes as it is: no rotation
        return ""
    return "" if orientation == 1 else f":o{orientation}"


def _decoded_pixels(data: bytes) -> bytes | None:
    """The upright first frame's mode, size and pixels, or None if Pillow cannot decode it."""
    import warnings

    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                upright = ImageOps.exif_transpose(image) or image
                return f"{upright.mode}:{upright.size}:".encode() + upright.tobytes()
    except Exception:  # noqa: BLE001 - undecodable (or a decompression bomb): the bytes stand in
        return None
