"""The output: one folder of links per person, kept in step with a manifest of what the tool made."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import stat
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from clusterfaces.atomic import write_atomically
from clusterfaces.errors import OutputError
from clusterfaces.outputs.file_names import (
    HASH_LENGTHS,
    MAX_BYTES,
    MAX_CHARS,
    fit,
    hashed,
    link_names,
    path_digest,
    safe_folder_name,
    split_ext,
)

MANIFEST_NAME = ".clusterfaces-output.json"  # in the output folder; also tells the photo crawler to skip it
LINK_MODES = ("symlink", "hardlink", "copy")
_MANIFEST_VERSION = 1
_NO_LINKS_HERE = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}


@dataclass(frozen=True)
class PersonFolder:
    """One person's folder: its display name and the photos the person appears in."""

    folder_name: str  # e.g. "Person 001" or a user-given name; sanitised with safe_folder_name
    photos: tuple[Path, ...]  # absolute paths of source photos in which this person appears


@dataclass
class FolderStats:
    """What a write did."""

    folders: int  # person folders written
    links: int  # links present after the write
    created: int  # links created by this write
    removed: int  # stale links removed by this write


@dataclass
class _Entry:
    """A link the tool created, as recorded in the manifest."""

    path: str  # "<folder>/<link>", relative to the output folder
    target: str  # absolute path of the photo
    mode: str
    ino: int | None = None  # hardlink/copy: how to recognise the file later
    size: int | None = None
    mtime_ns: int | None = None


def is_output_folder(path: Path) -> bool:
    """True if `path` is an output folder of this tool (holds MANIFEST_NAME) holding no photos but the
    links and copies the tool made: a stale manifest in a folder of photos never hides them."""
    made = tool_files(path)
    return made is not None and foreign_photo(path, made) is None


def tool_files(path: Path) -> set[str] | None:
    """The paths of the links and copies the tool made in an output folder, or None if `path` holds no
    manifest (one that cannot be read names nothing: then every photo in the folder counts as the user's)."""
    if not os.path.isfile(os.path.join(path, MANIFEST_NAME)):
        return None
    try:
        entries, _ = _load_manifest(Path(path))
    except OutputError:
        return set()
    return {os.path.join(path, *rel.split("/")) for rel in entries}


def foreign_photo(path: Path, made: set[str] | None = None) -> str | None:
    """A photo below `path` that the tool did not make, if any (hidden files and folders aside)."""
    from clusterfaces.scan.crawl import looks_like_image

    if made is None:
        made = tool_files(path) or set()
    for folder, subfolders, files in os.walk(path):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        for name in files:
            full = os.path.join(folder, name)
            if not name.startswith(".") and full not in made and looks_like_image(full):
                return full
    return None


def _fail(message: str) -> OutputError:
    """An OutputError whose message stays on one line whatever the paths in it hold."""
    return OutputError(re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\x{ord(m.group()):02x}", message))


def _error(action: str, path: object, err: OSError, advice: str = "") -> OutputError:
    return _fail(f"cannot {action} {path}: {err.strerror or err}{advice}")


def _valid_component(name: object) -> bool:
    return isinstance(name, str) and name not in ("", ".", "..") and not set(name) & {"/", "\\", "\0"}


def _load_manifest(out: Path) -> tuple[dict[str, list[_Entry]], set[str]]:
    """The entries of the manifest grouped by path, and the folders the tool created."""
    path = out / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, set()
    except OSError as err:
        raise _error("read", path, err) from err
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("version") != _MANIFEST_VERSION:
        raise _fail(f"{path} is not a manifest this version understands; "
                    "move it away or choose another output folder")
    entries: dict[str, list[_Entry]] = {}
    for raw in data.get("entries", []):
        with contextlib.suppress(TypeError, ValueError, AttributeError):
            entry = _Entry(**raw)
            parts = entry.path.split("/")
            if len(parts) == 2 and all(map(_valid_component, parts)) and entry.mode in LINK_MODES:
                entries.setdefault(entry.path, []).append(entry)
    return entries, {f for f in data.get("folders", []) if _valid_component(f)}


def _save_manifest(out: Path, entries: Sequence[_Entry], folders: set[str]) -> None:
    """Replace the manifest atomically; it lists people and their photos, so it is private."""
    data = {"version": _MANIFEST_VERSION, "folders": sorted(folders), "entries": [vars(e) for e in entries]}
    write_atomically(out / MANIFEST_NAME, json.dumps(data, separators=(",", ":")), private=True)


def _listing(folder: Path) -> dict[str, os.DirEntry]:
    """The folder's entries by NFC name (macOS HFS+ hands back the NFD form of the names it stores)."""
    try:
        with os.scandir(folder) as it:
            return {unicodedata.normalize("NFC", e.name): e for e in it}
    except OSError as err:
        raise _error("list", folder, err) from err


def _same_file(st: os.stat_result, path: str) -> bool:
    try:
        other = os.stat(path)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (other.st_dev, other.st_ino)


def _recognise(full: str, st: os.stat_result, candidates: Sequence[_Entry]) -> _Entry | None:
    """The recorded entry that the file at `full` still is exactly, if any."""
    for e in candidates:
        if e.mode == "symlink":
            if stat.S_ISLNK(st.st_mode) and os.readlink(full) == e.target:
                return e
        elif stat.S_ISREG(st.st_mode):
            if e.ino in (None, st.st_ino) and (e.size, e.mtime_ns) == (st.st_size, st.st_mtime_ns):
                return e
            if e.mode == "hardlink" and st.st_nlink > 1 and _same_file(st, e.target):
                return e
    return None


def _removable(full: str, st: os.stat_result, entry: _Entry, photos: set[str]) -> bool:
    """Whether deleting the tool's file at `full` loses nothing: never a photo, never a photo's last copy."""
    if full in photos or full == entry.target:
        return False
    if entry.mode == "hardlink":
        return st.st_nlink > 1
    return entry.mode == "symlink" or os.path.isfile(entry.target)


def _remove(full: str, candidates: Sequence[_Entry], photos: set[str]) -> bool:
    """Delete the link at `full` if it is still exactly what the tool made and losing it loses nothing."""
    try:
        st = os.lstat(full)
    except FileNotFoundError:
        return False
    except OSError as err:
        raise _error("inspect", full, err) from err
    try:
        entry = _recognise(full, st, candidates)
        if entry is None or not _removable(full, st, entry, photos):
            return False
        os.unlink(full)
    except OSError as err:
        raise _error("remove", full, err) from err
    return True


def _create(full: str, entry: _Entry) -> None:
    """Make the link at `full` (which must not exist) and record how to recognise it."""
    src = entry.target
    try:
        if entry.mode == "symlink":
            os.symlink(src, full)
        elif entry.mode == "hardlink":
            os.link(src, full)
        else:  # copy2, but refusing to write over anything already at `full`
            with open(src, "rb") as source:
                fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
                try:
                    with os.fdopen(fd, "wb") as dest:
                        shutil.copyfileobj(source, dest, 1 << 20)
                    shutil.copystat(src, full)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(full)
                    raise
            st = os.lstat(full)
            entry.ino, entry.size, entry.mtime_ns = st.st_ino, st.st_size, st.st_mtime_ns
    except OSError as err:
        advice = "; use --link-mode copy" if entry.mode != "copy" and err.errno in _NO_LINKS_HERE else ""
        action = {"symlink": "symlink", "hardlink": "hard-link", "copy": "copy"}[entry.mode]
        raise _error(f"{action} {src} as", full, err, advice) from err


def _folder_names(folders: Sequence[PersonFolder], top: dict[str, os.DirEntry]) -> list[str]:
    """Sanitised, distinct folder names in input order; never a name held by a file or a symlink."""
    top_keys = {name.casefold(): name for name in top}
    taken: set[str] = set()
    result = []
    for pf in folders:
        base = name = safe_folder_name(pf.folder_name)
        n = 1
        while name.casefold() in taken or (name.casefold() in top_keys and not (
                top_keys[name.casefold()] == name and top[name].is_dir(follow_symlinks=False))):
            n += 1
            suffix = f" ({n})"
            name = fit(base, MAX_CHARS - len(suffix), MAX_BYTES - len(suffix)) + suffix
        taken.add(name.casefold())
        result.append(name)
    return result


class _Plan:
    """Decides, folder by folder, which links stay, which are created and which of ours are replaced."""

    def __init__(self, out: Path, old: dict[str, list[_Entry]], mode: str, photos: set[str]) -> None:
        self.out, self.old, self.mode, self.photos = out, old, mode, photos
        self.kept: list[_Entry] = []
        self.new: list[_Entry] = []
        self.replace: list[str] = []
        self.sources: dict[str, os.stat_result] = {}
        self.name, self.listing, self.keys, self.assigned = "", {}, set(), set()

    def source(self, src: str) -> os.stat_result:
        if src not in self.sources:
            try:
                self.sources[src] = os.stat(src)
            except OSError as err:
                raise _error("read photo", src, err) from err
        return self.sources[src]

    def folder(self, folder: str, listing: dict[str, os.DirEntry], wanted: dict[str, str]) -> None:
        """Plan the links of one folder: `wanted` maps photo path to link name."""
        self.name, self.listing, self.keys = folder, listing, {name.casefold() for name in listing}
        self.assigned = set()
        pending = []
        for src, name in sorted(wanted.items(), key=lambda item: item[1]):
            pending.append((src, name, self.judge(name, src)))
            if pending[-1][2] != "taken":
                self.assigned.add(name.casefold())
        for src, name, verdict in pending:
            if verdict == "taken":  # something the tool did not make is there: pick another name
                stem, ext = split_ext(name)
                candidates = [hashed(stem, ext, path_digest(src)[:n]) for n in HASH_LENGTHS]
                room = MAX_BYTES - 12 - len(ext.encode())
                short = fit(stem, room, room)
                candidates += [f"{short}~{i}{ext}" for i in range(2, len(self.keys) + len(wanted) + 3)]
                name, verdict = next((c, v) for c in candidates if (v := self.judge(c, src)) != "taken")
                self.assigned.add(name.casefold())
            rel = f"{folder}/{name}"
            if verdict == "replace":
                self.replace.append(rel)
            if verdict in ("replace", "create"):
                entry = _Entry(rel, src, self.mode)
                if self.mode != "symlink":  # what the file will look like, for the manifest written first
                    st = self.source(src)
                    entry.size, entry.mtime_ns = st.st_size, st.st_mtime_ns
                    entry.ino = st.st_ino if self.mode == "hardlink" else None
                self.new.append(entry)

    def judge(self, name: str, src: str) -> str:
        """"keep" (and record it), "replace" (our outdated link), "create" or "taken"."""
        rel, key = f"{self.name}/{name}", name.casefold()
        if key in self.assigned:
            return "taken"
        if key not in self.keys:
            return "create"
        if name not in self.listing or rel not in self.old:
            return "taken"
        full = os.path.join(self.out, self.name, name)
        try:
            st = os.lstat(full)
            mine = _recognise(full, st, self.old[rel])
        except OSError as err:
            raise _error("inspect", full, err) from err
        if mine is None or not _removable(full, st, mine, self.photos):
            return "taken"  # not ours, or ours but the last copy of a photo: leave it and pick another name
        if mine.target != src or mine.mode != self.mode:
            return "replace"
        if self.mode == "hardlink" and not _same_file(st, src):
            return "replace"  # the photo was replaced since: link the new file
        if self.mode == "copy" and (st.st_size != self.source(src).st_size or  # FAT keeps times to 2 s
                                    abs(st.st_mtime_ns - self.source(src).st_mtime_ns) >= 2_000_000_000):
            return "replace"
        self.kept.append(mine)
        return "keep"


def write_people_folders(out_dir: Path, folders: Sequence[PersonFolder], roots: Sequence[Path],
                         link_mode: str = "symlink") -> FolderStats:
    """Write one folder of links per person into `out_dir`, changing only what earlier writes made."""
    if link_mode not in LINK_MODES:
        raise ValueError(f"link_mode must be one of {', '.join(LINK_MODES)}, not {link_mode!r}")
    out = Path(os.path.abspath(out_dir))
    for root in map(os.path.abspath, roots):
        if Path(root).is_relative_to(out):
            raise _fail(f"the output folder {out} contains the photo folder {root}; choose one outside it")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _error("create folder", out, err) from err
    old, tool_folders = _load_manifest(out)
    top = _listing(out)
    names = _folder_names(folders, top)
    photo_names = link_names([p for pf in folders for p in pf.photos], roots)
    photos = {os.path.abspath(p) for p in photo_names}
    plan = _Plan(out, old, link_mode, photos)
    for folder, pf in zip(names, folders, strict=True):
        listing = _listing(out / folder) if folder in top else {}
        plan.folder(folder, listing, {os.path.abspath(p): photo_names[p] for p in pf.photos})

    # The manifest knows every link before it exists, and forgets a link only after it is gone.
    created_folders = {f for f in names if f not in top}
    everything = [e for group in old.values() for e in group] + plan.new
    _save_manifest(out, everything, tool_folders | created_folders)
    for folder in sorted(created_folders):
        try:
            (out / folder).mkdir()
        except OSError as err:
            raise _error("create folder", out / folder, err) from err
    removed = sum(_remove(os.path.join(out, *rel.split("/")), old[rel], photos) for rel in plan.replace)
    for entry in plan.new:
        _create(os.path.join(out, *entry.path.split("/")), entry)
    final = plan.kept + plan.new
    wanted_paths = {e.path for e in final}
    for rel, candidates in old.items():  # never reach through a folder the user replaced with a symlink
        folder = rel.split("/")[0]
        if rel not in wanted_paths and folder in top and top[folder].is_dir(follow_symlinks=False):
            removed += _remove(os.path.join(out, *rel.split("/")), candidates, photos)
    folders_left = (tool_folders & set(top)) | created_folders
    for folder in sorted(folders_left - set(names)):
        try:
            os.rmdir(out / folder)  # only if empty: a folder holding the user's files stays
            folders_left.discard(folder)
        except OSError as err:
            if err.errno in (errno.ENOENT, errno.ENOTDIR):
                folders_left.discard(folder)
            elif err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise _error("remove folder", out / folder, err) from err
    _save_manifest(out, final, folders_left)
    return FolderStats(folders=len(folders), links=len(final), created=len(plan.new), removed=removed)
