"""Tests for the per-person folders of links (clusterfaces.outputs.folders)."""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

import pytest

from clusterfaces.errors import OutputError
from clusterfaces.outputs import folders as folders_module
from clusterfaces.outputs.folders import (
    MANIFEST_NAME,
    FolderStats,
    PersonFolder,
    is_output_folder,
    link_names,
    safe_folder_name,
    write_people_folders,
)

MODES = ("symlink", "hardlink", "copy")
OLD_MTIME_NS = 1_262_304_000_123_456_789  # 2010-01-01, with nanoseconds to catch rounding


@pytest.fixture
def library(tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    """A photo root with the same file names in several albums; every photo has distinct bytes."""
    root = tmp_path / "photos"
    photos = {}
    for rel in ("2009-whitehouse/obama.jpg", "2010-trip/obama.jpg", "2010-trip/beach.JPG",
                "2010-trip/day 2/beach.JPG", "top.png", "got/jon.jpg"):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"fake photo {rel}".encode() * 10)
        os.utime(path, ns=(OLD_MTIME_NS, OLD_MTIME_NS))
        photos[rel] = path
    return root, photos


def snapshot(paths: list[Path]) -> dict[Path, tuple[bytes, int, int]]:
    return {p: (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode) for p in paths}


def link_files(folder: Path) -> dict[str, Path]:
    return {p.name: p for p in folder.iterdir()}


def assert_inside(path: Path, out: Path) -> None:
    assert path.resolve().parent == out.resolve()


# --- safe_folder_name ---------------------------------------------------------------------------

HOSTILE = ["../../etc", "/abs/path", "con", "CON.txt", "a/b", "a\\b", "", "..", ".", "x" * 10_000,
           "😀" * 10_000, "王" * 150, "line\nbreak", "nul\x00byte", "  . spaced .  ", 'wh<a>t:"|?*',
           "LPT1",
           "aux.tar.gz", "\u2028", "trailing dot.", "e\u0301" * 80]


@pytest.mark.parametrize("name", HOSTILE)
def test_safe_folder_name_is_one_valid_component(name: str) -> None:
    safe = safe_folder_name(name)
    assert safe not in ("", ".", "..")
    assert not set(safe) & set('/\\<>:"|?*')
    assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in safe)
    assert len(safe) <= 100 and len(safe.encode()) <= 200
    assert safe == safe.strip(" .")
    stem = safe.partition(".")[0].rstrip(" ").upper()
    assert not re.fullmatch(r"CON|PRN|AUX|NUL|COM[1-9]|LPT[1-9]", stem)
    assert safe_folder_name(safe) == safe  # idempotent


def test_safe_folder_name_examples() -> None:
    assert safe_folder_name("José") == "José"
    assert safe_folder_name("王芳") == "王芳"
    assert safe_folder_name("Anna 👩‍👧") == "Anna 👩‍👧"
    assert safe_folder_name("Jose\u0301") == "José"  # NFD in, NFC out
    assert safe_folder_name("con") == "con_"
    assert safe_folder_name("CON.txt") == "CON_.txt"
    assert safe_folder_name("a/b") == "ab"
    assert safe_folder_name("../../etc") == "etc"
    assert safe_folder_name("", "Person 007") == "Person 007"
    assert safe_folder_name("..", "") == "Unnamed"
    assert safe_folder_name("...", "../..") == "Unnamed"
    assert safe_folder_name("😀" * 100) == "😀" * 50  # 200 bytes, whole characters
    assert safe_folder_name("x" * 10_000) == "x" * 100
    assert safe_folder_name("a" * 99 + "é" * 5) == "a" * 99 + "é"


# --- link_names ---------------------------------------------------------------------------------

def test_link_names_readable_and_unique_across_albums(library: tuple[Path, dict[str, Path]]) -> None:
    root, photos = library
    names = link_names(list(photos.values()), [root])
    assert names[photos["2009-whitehouse/obama.jpg"]] == "2009-whitehouse__obama.jpg"
    assert names[photos["2010-trip/obama.jpg"]] == "2010-trip__obama.jpg"
    assert names[photos["2010-trip/day 2/beach.JPG"]] == "2010-trip__day 2__beach.JPG"
    assert names[photos["top.png"]] == "top.png"
    assert len({n.casefold() for n in names.values()}) == len(photos)


def test_link_names_deterministic_regardless_of_order(library: tuple[Path, dict[str, Path]]) -> None:
    root, photos = library
    extra = [root / "a__b" / "c.jpg", root / "a" / "b__c.jpg", root / "X.jpg", root / "x.jpg"]
    paths = list(photos.values()) + extra
    forward = link_names(paths, [root])
    backward = link_names(list(reversed(paths)) + paths[:2], [root])  # duplicates are harmless
    assert forward == backward
    assert len({n.casefold() for n in forward.values()}) == len(paths)


def test_link_names_clashes_get_a_stable_hash() -> None:
    root = Path("/photos")
    a, b = root / "a__b" / "c.jpg", root / "a" / "b__c.jpg"
    names = link_names([a, b], [root])
    for name in names.values():
        assert re.fullmatch(r"a__b__c__[0-9a-f]{8}\.jpg", name)
    assert names[a] != names[b]
    assert link_names([b, a, root / "other.jpg"], [root])[a] == names[a]
    # Case-insensitive filesystems (macOS, Windows) would merge these two.
    upper, lower = link_names([root / "IMG.jpg", root / "img.jpg"], [root]).values()
    assert upper.casefold() != lower.casefold()


def test_link_names_several_roots() -> None:
    roots = [Path("/home/ann/Pictures"), Path("/mnt/nas/Family")]
    photos = [roots[0] / "2020" / "x.jpg", roots[1] / "2020" / "x.jpg", Path("/elsewhere/y.jpg")]
    names = link_names(photos, roots)
    assert names[photos[0]] == "Pictures__2020__x.jpg"
    assert names[photos[1]] == "Family__2020__x.jpg"
    assert names[photos[2]] == "y.jpg"


def test_link_names_long_and_hostile_file_names() -> None:
    root = Path("/photos")
    long_one = root / ("ü" * 120) / ("é" * 120 + ".jpeg")
    odd = root / "con.jpg"
    weird = root / ".hidden" / "a\nb:c?.jpg"
    names = link_names([long_one, odd, weird], [root])
    assert len(names[long_one].encode()) <= 200 and names[long_one].endswith(".jpeg")
    assert re.search(r"__[0-9a-f]{8}\.jpeg$", names[long_one])
    assert names[odd] == "con_.jpg"
    assert names[weird] == "hidden__abc.jpg"
    for name in names.values():
        assert safe_folder_name(name[:100]) == name[:100]  # link names have no 100-character limit


# --- write_people_folders -----------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_links_work_in_every_mode(tmp_path: Path, library: tuple[Path, dict[str, Path]], mode: str) -> None:
    root, photos = library
    before = snapshot(list(photos.values()))
    out = tmp_path / "out" / "nested"
    people = [PersonFolder("Barack", (photos["2009-whitehouse/obama.jpg"], photos["2010-trip/obama.jpg"])),
              PersonFolder("Jon", (photos["got/jon.jpg"], photos["top.png"]))]
    stats = write_people_folders(out, people, [root], link_mode=mode)
    assert stats == FolderStats(folders=2, links=4, created=4, removed=0)
    barack = link_files(out / "Barack")
    assert set(barack) == {"2009-whitehouse__obama.jpg", "2010-trip__obama.jpg"}
    for person in people:
        for photo in person.photos:
            link = out / person.folder_name / link_names([photo], [root])[photo]
            assert link.read_bytes() == photo.read_bytes()
            if mode == "symlink":
                assert link.is_symlink() and os.readlink(link) == str(photo)
            elif mode == "hardlink":
                assert not link.is_symlink() and link.stat().st_ino == photo.stat().st_ino
            else:
                assert not link.is_symlink() and link.stat().st_ino != photo.stat().st_ino
                assert link.stat().st_mtime_ns == photo.stat().st_mtime_ns
    assert is_output_folder(out)
    assert not is_output_folder(root)
    manifest = json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert {e["path"] for e in manifest["entries"]} == {f"{p.name}/{n}" for p in out.iterdir()
                                                       if p.is_dir() for n in link_files(p)}
    assert all(e["mode"] == mode for e in manifest["entries"])
    if mode != "symlink":
        assert all(e["ino"] and e["size"] and e["mtime_ns"] for e in manifest["entries"])
    write_people_folders(out, [], [root], link_mode=mode)  # removing everything leaves the photos be
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST_NAME]
    assert snapshot(list(photos.values())) == before


@pytest.mark.parametrize("mode", MODES)
def test_rewrite_is_incremental_and_spares_user_files(
        tmp_path: Path, library: tuple[Path, dict[str, Path]], mode: str) -> None:
    root, photos = library
    before = snapshot(list(photos.values()))
    out = tmp_path / "out"
    a_photos = (photos["2009-whitehouse/obama.jpg"], photos["2010-trip/obama.jpg"], photos["top.png"])
    first = [PersonFolder("A", a_photos), PersonFolder("B", (photos["got/jon.jpg"],)),
             PersonFolder("C", (photos["2010-trip/beach.JPG"],))]
    write_people_folders(out, first, [root], link_mode=mode)
    kept = out / "A" / "2009-whitehouse__obama.jpg"
    kept_stat = os.lstat(kept)
    (out / "A" / "notes.txt").write_text("mine")  # the user adds a file
    replaced = out / "A" / "2010-trip__obama.jpg"  # ... and replaces a link with a file of their own
    replaced.unlink()
    replaced.write_text("my edit")
    (out / "C" / "keep me.txt").write_text("mine too")

    second = [PersonFolder("A", (a_photos[0], a_photos[1])), PersonFolder("D", (photos["top.png"],))]
    stats = write_people_folders(out, second, [root], link_mode=mode)

    after = os.lstat(kept)
    assert (after.st_ino, after.st_mtime_ns, after.st_ctime_ns) == (
        kept_stat.st_ino, kept_stat.st_mtime_ns, kept_stat.st_ctime_ns)  # not recreated
    assert replaced.read_text() == "my edit"  # never overwritten ...
    assert (out / "A" / "notes.txt").read_text() == "mine"
    a_links = link_files(out / "A")
    other = [n for n in a_links if re.fullmatch(r"2010-trip__obama__[0-9a-f]{8}\.jpg", n)]
    assert len(other) == 1  # ... the wanted link got another name instead
    assert a_links[other[0]].read_bytes() == a_photos[1].read_bytes()
    assert "top.png" not in a_links  # stale link removed
    assert not (out / "B").exists()  # emptied tool folder removed
    assert sorted(link_files(out / "C")) == ["keep me.txt"]  # folder with a user file stays
    assert (out / "D" / "top.png").read_bytes() == photos["top.png"].read_bytes()
    assert stats == FolderStats(folders=2, links=3, created=2, removed=3)

    third = write_people_folders(out, second, [root], link_mode=mode)  # nothing to do
    assert third == FolderStats(folders=2, links=3, created=0, removed=0)
    manifest = json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert sorted(e["path"] for e in manifest["entries"]) == sorted(
        ["A/2009-whitehouse__obama.jpg", f"A/{other[0]}", "D/top.png"])
    write_people_folders(out, [], [root], link_mode=mode)
    assert replaced.read_text() == "my edit"
    assert sorted(link_files(out / "A")) == ["2010-trip__obama.jpg", "notes.txt"]
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST_NAME, "A", "C"]
    assert snapshot(list(photos.values())) == before


def test_changing_mode_replaces_own_links(tmp_path: Path, library: tuple[Path, dict[str, Path]]) -> None:
    root, photos = library
    out = tmp_path / "out"
    people = [PersonFolder("P", (photos["top.png"], photos["got/jon.jpg"]))]
    write_people_folders(out, people, [root], link_mode="symlink")
    stats = write_people_folders(out, people, [root], link_mode="copy")
    assert stats == FolderStats(folders=1, links=2, created=2, removed=2)
    link = out / "P" / "top.png"
    assert not link.is_symlink() and link.read_bytes() == photos["top.png"].read_bytes()
    photos["top.png"].write_bytes(b"edited photo")  # a changed photo is copied again
    stats = write_people_folders(out, people, [root], link_mode="copy")
    assert (stats.created, stats.removed) == (1, 1)
    assert link.read_bytes() == b"edited photo"


def test_photo_saved_as_a_new_file_keeps_the_old_hard_link(
        tmp_path: Path, library: tuple[Path, dict[str, Path]]) -> None:
    root, photos = library
    out = tmp_path / "out"
    people = [PersonFolder("P", (photos["top.png"],))]
    write_people_folders(out, people, [root], link_mode="hardlink")
    old_bytes = photos["top.png"].read_bytes()
    edited = tmp_path / "edited.png"
    edited.write_bytes(b"edited and saved atomically")
    os.replace(edited, photos["top.png"])  # the old version now lives only in the output folder
    stats = write_people_folders(out, people, [root], link_mode="hardlink")
    assert (stats.created, stats.removed) == (1, 0)
    files = link_files(out / "P")
    assert files.pop("top.png").read_bytes() == old_bytes
    (new_link,) = files.values()
    assert new_link.stat().st_ino == photos["top.png"].stat().st_ino


def test_existing_user_file_at_link_path_is_left_alone(
        tmp_path: Path, library: tuple[Path, dict[str, Path]]) -> None:
    root, photos = library
    out = tmp_path / "out"
    (out / "P").mkdir(parents=True)
    (out / "P" / "top.png").write_bytes(b"user")
    (out / "P" / "JON.JPG").write_bytes(b"user, other case")
    people = [PersonFolder("P", (photos["top.png"], photos["got/jon.jpg"]))]
    write_people_folders(out, people, [root])
    files = link_files(out / "P")
    assert files["top.png"].read_bytes() == b"user"
    assert len(files) == 4
    write_people_folders(out, [], [root])
    assert sorted(link_files(out / "P")) == ["JON.JPG", "top.png"]  # user-made folder and files stay


def test_same_display_names_get_distinct_folders(
        tmp_path: Path, library: tuple[Path, dict[str, Path]]) -> None:
    root, photos = library
    out = tmp_path / "out"
    out.mkdir()
    (out / "Bob").write_text("a file where a folder would go")
    people = [PersonFolder("Alice", (photos["top.png"],)), PersonFolder("Alice", (photos["got/jon.jpg"],)),
              PersonFolder("alice", (photos["2010-trip/beach.JPG"],)),
              PersonFolder("Bob", (photos["top.png"],))]
    write_people_folders(out, people, [root])
    assert link_files(out / "Alice") == {"top.png": out / "Alice" / "top.png"}
    assert list(link_files(out / "Alice (2)")) == ["got__jon.jpg"]
    assert list(link_files(out / "alice (3)")) == ["2010-trip__beach.JPG"]
    assert list(link_files(out / "Bob (2)")) == ["top.png"]
    assert (out / "Bob").read_text() == "a file where a folder would go"


def test_hostile_folder_names_stay_inside(tmp_path: Path, library: tuple[Path, dict[str, Path]]) -> None:
    root, photos = library
    out = tmp_path / "deep" / "out"
    people = [PersonFolder(name, (photos["top.png"],)) for name in HOSTILE]
    stats = write_people_folders(out, people, [root])
    assert stats.folders == len(HOSTILE)
    made = [p for p in out.iterdir() if p.name != MANIFEST_NAME]
    assert len(made) == len(HOSTILE)
    for folder in made:
        assert folder.is_dir() and not folder.is_symlink()
        assert_inside(folder, out)
        assert (folder / "top.png").read_bytes() == photos["top.png"].read_bytes()
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["out"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "photos"]


def test_interrupted_write_leaves_nothing_unknown(
        tmp_path: Path, library: tuple[Path, dict[str, Path]], monkeypatch: pytest.MonkeyPatch) -> None:
    root, photos = library
    out = tmp_path / "out"
    real_create = folders_module._create
    calls = []

    def failing_create(full: str, entry: object) -> None:
        if len(calls) == 3:
            raise OutputError("disk full (simulated)")
        calls.append(full)
        real_create(full, entry)  # type: ignore[arg-type]

    monkeypatch.setattr(folders_module, "_create", failing_create)
    people = [PersonFolder("P", tuple(photos.values()))]
    with pytest.raises(OutputError):
        write_people_folders(out, people, [root], link_mode="copy")
    manifest = json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert {str(out / e["path"]) for e in manifest["entries"]} >= set(calls)
    monkeypatch.setattr(folders_module, "_create", real_create)
    write_people_folders(out, [], [root], link_mode="copy")
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST_NAME]


def test_never_deletes_through_a_symlinked_folder_or_a_last_copy(
        tmp_path: Path, library: tuple[Path, dict[str, Path]]) -> None:
    root, photos = library
    before = snapshot([photos["top.png"]])
    out = tmp_path / "out"
    write_people_folders(out, [PersonFolder("P", (photos["top.png"],))], [root], link_mode="hardlink")
    (out / "P").rename(tmp_path / "moved")  # the user moves the folder away ...
    (out / "P").symlink_to(root, target_is_directory=True)  # ... and puts a link to the photos there
    write_people_folders(out, [], [root], link_mode="hardlink")
    assert snapshot([photos["top.png"]]) == before
    (out / "P").unlink()
    (tmp_path / "moved").rename(out / "P")
    photos["top.png"].unlink()  # the photo is deleted: the hard link is now its only copy
    write_people_folders(out, [], [root], link_mode="hardlink")
    assert (out / "P" / "top.png").read_bytes() == before[photos["top.png"]][0]


def test_many_links_second_write_creates_nothing(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    photos = []
    for album in range(10):
        (root / f"album {album}").mkdir(parents=True)
        for i in range(60):
            photo = root / f"album {album}" / f"IMG_{i:04d}.jpg"
            photo.write_bytes(b"x")
            photos.append(photo)
    people = [PersonFolder(f"Person {n:03d}", tuple(photos[n::7])) for n in range(7)]
    out = tmp_path / "out"
    assert write_people_folders(out, people, [root]).created == 600
    assert write_people_folders(out, people, [root]) == FolderStats(7, 600, 0, 0)


def test_bad_mode_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="link_mode"):
        write_people_folders(tmp_path / "out", [], [], link_mode="move")
    assert not (tmp_path / "out").exists()


def test_output_folder_must_not_contain_the_photos(
        tmp_path: Path, library: tuple[Path, dict[str, Path]]) -> None:
    root, photos = library
    for out in (root, tmp_path):
        with pytest.raises(OutputError, match="choose one outside it"):
            write_people_folders(out, [PersonFolder("P", (photos["top.png"],))], [root])
    assert not is_output_folder(root) and not is_output_folder(tmp_path)


def test_unwritable_output_is_a_one_line_output_error(
        tmp_path: Path, library: tuple[Path, dict[str, Path]]) -> None:
    root, photos = library
    blocker = tmp_path / "not a\nfolder"  # a file where a folder should be; its name spans two lines
    blocker.write_text("file")
    with pytest.raises(OutputError) as caught:
        write_people_folders(blocker / "out", [PersonFolder("P", (photos["top.png"],))], [root])
    message = str(caught.value)
    assert "\n" not in message and "Not a directory" in message
    assert f"cannot create folder {tmp_path}/not a\\x0afolder/out:" in message


def test_read_only_output_is_an_output_error(
        tmp_path: Path, library: tuple[Path, dict[str, Path]], monkeypatch: pytest.MonkeyPatch) -> None:
    """An output folder the user may not write to. Root (CI too) may write anywhere, so the refusal is
    patched in where the folders are made."""
    root, photos = library
    out = tmp_path / "out"
    out.mkdir()
    mkdir = os.mkdir

    def read_only(path: object, *args: object, **kwargs: object) -> None:
        if Path(os.fsdecode(path)).parent == out:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(path))
        mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", read_only)
    with pytest.raises(OutputError, match="Permission denied") as caught:
        write_people_folders(out, [PersonFolder("P", (photos["top.png"],))], [root])
    assert "\n" not in str(caught.value) and str(out / "P") in str(caught.value)
    assert not (out / "P").exists()


def test_cross_device_hardlink_suggests_copy(
        tmp_path: Path, library: tuple[Path, dict[str, Path]], monkeypatch: pytest.MonkeyPatch) -> None:
    root, photos = library

    def no_link(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    monkeypatch.setattr(os, "link", no_link)
    with pytest.raises(OutputError, match="--link-mode copy") as caught:
        write_people_folders(tmp_path / "out", [PersonFolder("P", (photos["top.png"],))], [root],
                             link_mode="hardlink")
    assert "\n" not in str(caught.value) and "top.png" in str(caught.value)


def test_missing_photo_in_copy_mode_is_an_output_error(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    with pytest.raises(OutputError, match="cannot read photo"):
        write_people_folders(tmp_path / "out", [PersonFolder("P", (root / "gone.jpg",))], [root],
                             link_mode="copy")


def test_unreadable_manifest_is_an_output_error(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(OutputError, match="manifest"):
        write_people_folders(out, [], [])
    assert is_output_folder(out)
