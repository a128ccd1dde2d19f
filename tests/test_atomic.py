"""The one way output files are written: whole or not at all, with one policy for their mode."""

import errno
import os
import stat

import pytest

from clusterfaces import atomic
from clusterfaces.atomic import WriteFailed, write_atomically
from clusterfaces.errors import OutputError


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_gets_the_umask_mode_or_owner_only_when_private(tmp_path, umask_022):
    write_atomically(tmp_path / "page.html", "<p>José 王芳</p>\n")
    write_atomically(tmp_path / "map.json", b"{}", private=True)
    assert (tmp_path / "page.html").read_text(encoding="utf-8") == "<p>José 王芳</p>\n"
    assert (tmp_path / "map.json").read_bytes() == b"{}"
    assert mode(tmp_path / "page.html") == 0o644 and mode(tmp_path / "map.json") == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.json", "page.html"]  # no temporary file left


def test_a_replaced_file_keeps_its_mode_unless_private(tmp_path, umask_022):
    sidecar, private = tmp_path / "photo.xmp", tmp_path / "identities.json"
    for path in (sidecar, private):
        path.write_text("old")
    os.chmod(sidecar, 0o640)  # the user's choice
    os.chmod(private, 0o644)  # an older file readable by all: the new content is the owner's only
    write_atomically(sidecar, "new")
    write_atomically(private, "new", private=True)
    assert mode(sidecar) == 0o640 and mode(private) == 0o600
    assert sidecar.read_text() == private.read_text() == "new"


def test_the_file_and_then_its_folder_reach_the_disk(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def fsync(descriptor):
        synced.append("folder" if stat.S_ISDIR(os.fstat(descriptor).st_mode) else "file")
        real_fsync(descriptor)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    write_atomically(tmp_path / "photo.xmp", "<x/>")
    assert synced == (["file", "folder"] if os.name == "posix" else ["file"])


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_full_disk_leaves_the_old_file_and_no_temporary_one(tmp_path, monkeypatch, failing):
    target = tmp_path / "identities.json"
    target.write_text("the old map")

    def full(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, failing, full)
    with pytest.raises(WriteFailed) as raised:
        write_atomically(target, "the new map " * 1000, private=True)
    monkeypatch.undo()
    assert isinstance(raised.value, OutputError)  # the CLI prints it on one line
    assert str(raised.value) == f"cannot write {target}: No space left on device"
    assert raised.value.reason == "No space left on device"
    assert target.read_text() == "the old map"
    assert [p.name for p in tmp_path.iterdir()] == ["identities.json"]


def test_any_exception_midway_removes_the_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "index.html"
    target.write_text("the old page")

    def interrupted(descriptor):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):  # not an OSError: passed on as it is
        write_atomically(target, "the new page")
    monkeypatch.undo()
    with pytest.raises(UnicodeEncodeError):
        write_atomically(target, "half a character: \udc80")
    assert target.read_text() == "the old page"
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]


def test_the_message_says_what_could_not_be_written_on_one_line(tmp_path):
    missing = tmp_path / "no such folder" / "line\nbreak.json"
    with pytest.raises(WriteFailed) as raised:
        write_atomically(missing, "{}")
    assert str(raised.value) == f"cannot write {tmp_path}/no such folder/line\\x0abreak.json: No such file or directory"
    with pytest.raises(WriteFailed, match=r"^cannot write the gallery in /nowhere: No such file or directory$"):
        write_atomically(missing, "{}", what="the gallery in /nowhere")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a POSIX user that permissions bind")
def test_a_read_only_folder_is_a_clear_error(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    (folder / "page.html").write_text("old")
    os.chmod(folder, 0o500)
    try:
        with pytest.raises(WriteFailed, match=r"^cannot write .*page\.html: Permission denied$"):
            write_atomically(folder / "page.html", "new")
    finally:
        os.chmod(folder, 0o700)
    assert (folder / "page.html").read_text() == "old" and len(list(folder.iterdir())) == 1


def test_a_cache_file_skips_the_fsyncs_but_stays_all_or_nothing(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(os, "fsync", lambda descriptor: synced.append(descriptor))
    target = tmp_path / "thumb.jpg"
    write_atomically(target, b"old", private=True, durable=False)
    write_atomically(target, b"new", private=True, durable=False)
    assert target.read_bytes() == b"new" and synced == []
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thumb.jpg"]
    write_atomically(target, b"kept", private=True)
    assert len(synced) >= 1  # the default still reaches the disk
