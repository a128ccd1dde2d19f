"""Face thumbnails made on demand from the photos, cached in a folder only the owner can read."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import platformdirs

from clusterfaces.atomic import write_atomically

THUMB_SIZE = 160
PHOTO_SIDE = 1600


def cache_folder(database: Path) -> Path:
    """The thumbnail cache of one database: under $CLUSTERFACES_HOME/cache when set, else the user cache."""
    home = os.environ.get("CLUSTERFACES_HOME")
    base = Path(home).expanduser() / "cache" if home else platformdirs.user_cache_path("clusterfaces")
    key = hashlib.sha256(os.fsencode(os.path.abspath(database))).hexdigest()[:16]
    return base / "review" / key


def private_folder(path: Path) -> Path:
    """Create the folder (and its parents) readable by the owner only; tighten it if it exists."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o777 != 0o700:
        os.chmod(path, 0o700)
    return path


def jpeg(image) -> bytes:
    """A PIL image as JPEG bytes."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


class ThumbnailCache:
    """JPEG face crops by face, photo file state and box: a photo edited since is cropped again."""

    def __init__(self, folder: Path) -> None:
        self.folder = private_folder(Path(folder))

    def key(self, face, size: int) -> str:
        try:
            info = os.stat(face.photo)
            state = f"{info.st_size}:{info.st_mtime_ns}"
        except OSError:
            state = "absent"
        text = f"{face.id}|{os.fsdecode(face.photo)}|{tuple(face.box)}|{state}|{size}"
        return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()

    def get(self, key: str) -> bytes | None:
        try:
            return (self.folder / f"{key}.jpg").read_bytes()
        except OSError:
            return None

    def put(self, key: str, data: bytes) -> None:
        """Write atomically and 0600 (a reader sees the old file or the whole new one); no fsync: a thumbnail
        lost in a crash is cut again."""
        write_atomically(self.folder / f"{key}.jpg", data, private=True, what="a thumbnail", durable=False)
