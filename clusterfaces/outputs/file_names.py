"""File and folder names that are safe on every file system: person folders and photo links."""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

MAX_CHARS, MAX_BYTES = 100, 200  # folder names: both limits; link names: the byte limit
HASH_LENGTHS = (8, 16, 40)
_MAX_EXT_BYTES = 16
# Path separators, characters Windows forbids, control characters, line separators, lone surrogates.
_FORBIDDEN = re.compile('[/\\\\<>:"|?*\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]')
_EDGES = re.compile(r"^[\s.]+|[\s.]+$")
_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{d}" for p in ("COM", "LPT") for d in "123456789¹²³"}


def clean(text: str) -> str:
    """Drop forbidden characters, normalise to NFC and strip spaces and dots at both ends."""
    return _EDGES.sub("", unicodedata.normalize("NFC", _FORBIDDEN.sub("", text)))


def fit(text: str, max_chars: int, max_bytes: int) -> str:
    """Shorten to the limits on whole characters and drop the spaces and dots this leaves at the end."""
    if len(text) <= max_chars and len(text.encode()) <= max_bytes:
        return text
    cut = text[:max_chars].encode()[:max_bytes].decode("utf-8", "ignore")
    return _EDGES.sub("", cut)


def _unreserved(name: str) -> str:
    """Append "_" to the stem of a Windows device name (CON, con.txt, LPT1...)."""
    stem, dot, rest = name.partition(".")
    return f"{stem}_{dot}{rest}" if stem.rstrip(" ").upper() in _RESERVED else name


def safe_folder_name(name: str, fallback: str = "Unnamed") -> str:
    """Make `name` usable as one folder name on Linux, macOS and Windows, keeping its Unicode."""
    cleaned = fit(clean(name), MAX_CHARS, MAX_BYTES)
    if not cleaned:
        return safe_folder_name(fallback) if fallback != "Unnamed" else "Unnamed"
    return fit(_unreserved(cleaned), MAX_CHARS, MAX_BYTES)


def split_ext(file_name: str) -> tuple[str, str]:
    """Split off a short extension, cleaned, with its dot ("" if there is none)."""
    stem, ext = os.path.splitext(file_name)
    ext = clean(ext[1:])
    return (stem, "." + ext) if ext and len(ext.encode()) <= _MAX_EXT_BYTES else (file_name, "")


def hashed(stem: str, ext: str, digest: str) -> str:
    """`stem__<digest>.ext`, the stem shortened so that the name fits in MAX_BYTES."""
    room = MAX_BYTES - len(digest) - 3 - len(ext.encode())  # 3: "__", and "_" if the stem is reserved
    stem = fit(stem, room, room)
    return _unreserved(f"{stem}__{digest}{ext}" if stem else digest + ext)


def path_digest(path: str) -> str:
    """A stable digest of a path, to make clashing link names unique."""
    return hashlib.sha1(os.fsencode(path)).hexdigest()


def _readable_name(photo: str, roots: list[str], prefix: bool) -> tuple[str, str]:
    """The photo's path below its (deepest) root, parts joined with "__", as (stem, extension)."""
    for root in roots:
        start = root if root.endswith(os.sep) else root + os.sep
        if photo.startswith(start):
            parts = ([os.path.basename(root)] if prefix else []) + photo[len(start):].split(os.sep)
            break
    else:
        parts = [os.path.basename(photo)]
    stem, ext = split_ext(parts[-1])
    return "__".join(c for c in map(clean, [*parts[:-1], stem]) if c) or "photo", ext


def link_names(photos: Sequence[Path], roots: Sequence[Path]) -> dict[Path, str]:
    """A readable, unique, deterministic link file name for each photo (independent of input order)."""
    root_list = sorted({os.path.abspath(r) for r in roots}, key=len, reverse=True)
    absolute = {p: os.path.abspath(p) for p in photos}
    info = {a: _readable_name(a, root_list, len(root_list) > 1) for a in absolute.values()}
    plain = {a: _unreserved(s + e) for a, (s, e) in info.items()}
    level = {a: int(len(name.encode()) > MAX_BYTES) for a, name in plain.items()}
    while True:  # hash the names that clash (case-insensitively) until none do; at most 4 rounds
        names = {a: hashed(*info[a], path_digest(a)[: HASH_LENGTHS[level[a] - 1]]) if level[a] else plain[a]
                 for a in info}
        by_key: dict[str, list[str]] = {}
        for a, name in names.items():
            by_key.setdefault(name.casefold(), []).append(a)
        clashing = [a for group in by_key.values() if len(group) > 1
                    for a in group if level[a] < len(HASH_LENGTHS)]
        if not clashing:
            return {p: names[a] for p, a in absolute.items()}
        for a in clashing:
            level[a] += 1
