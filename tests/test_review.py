"""The review web app over real HTTP: its guard (token, Host, Origin, interfaces, headers), and its answers
on a real scanned library agreeing with the Library API (edits journalled, thumbnails private, photos untouched)."""

from __future__ import annotations

import http.client
import json
import socket
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from clusterfaces import ClusterfacesError, Edit, Person
from clusterfaces.web.app import ReviewServer
from clusterfaces.web.security import cookie_name


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


def call(server: ReviewServer, method: str, path: str, body: object = None, headers: dict | None = None,
         host: str | None = None, cookie: bool = True) -> Answer:
    """One request to the server with http.client: Host, cookie and headers exactly as given."""
    sent = {"Host": host or f"127.0.0.1:{server.port}"}
    if cookie:
        sent["Cookie"] = f"{cookie_name(server.port)}={server.token}"
    if body is not None:
        sent["Content-Type"] = "application/json"
        sent["Origin"] = f"http://127.0.0.1:{server.port}"
    sent.update(headers or {})
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.request(method, path, body=None if body is None else json.dumps(body).encode(), headers=sent)
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


# --- the guard, on a stand-in library (no data needed) ----------------------------------------------------
class StandIn:
    """Just enough of a Library (its own records) for the guard's tests; records the edits that got through."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.edits: list[tuple] = []

    def people(self, include_ignored=True):
        return [Person(1, "Ann", False, 1, 1, 1), Person(2, None, False, 1, 1, 1)]

    def person(self, person_id):
        if person_id not in (1, 2):
            raise ClusterfacesError(f"there is no person {person_id}")
        return self.people()[person_id - 1]

    def scan_running(self):
        return False

    def name(self, person_id, name):
        self.edits.append(("name", person_id, name))
        return Edit(f"person {person_id} named {name}", person_id)


@pytest.fixture()
def guarded(tmp_path):
    library = StandIn(tmp_path / "library.db")
    with ReviewServer(library, cache=tmp_path / "cache") as server:
        yield server, library
    assert not server._thread.is_alive()  # stopped when the test ends


def test_the_token_opens_the_app_once_then_a_strict_cookie_carries_it(guarded):
    server, _ = guarded
    first = call(server, "GET", f"/?token={server.token}", cookie=False)
    assert first.status == 200 and b"/static/app.js" in first.body
    cookie = first.headers["set-cookie"]
    assert cookie.startswith(f"{cookie_name(server.port)}={server.token};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert call(server, "GET", "/api/people").json()[0]["label"] == "Ann"  # with the cookie alone
    assert call(server, "GET", "/static/app.js").status == 200


@pytest.mark.parametrize("path", ["/", "/api/people", "/static/app.js", "/api/faces/1/thumb", "/api/journal"])
def test_no_token_or_a_wrong_one_is_refused(guarded, path):
    server, _ = guarded
    assert call(server, "GET", path, cookie=False).status == 403
    assert call(server, "GET", f"{path}?token=wrong{server.token}", cookie=False).status == 403
    assert call(server, "GET", path, cookie=False,
                headers={"Cookie": f"{cookie_name(server.port)}={server.token[:-1]}"}).status == 403
    assert call(server, "GET", path, cookie=False,  # another review server's cookie is not this one's
                headers={"Cookie": f"{cookie_name(server.port + 1)}={server.token}"}).status == 403


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1:{other}", "127.0.0.1",
                                  "localhost.evil.example:{port}", "0.0.0.0:{port}", "[::1]:{port}"])
def test_a_foreign_host_header_is_refused_even_with_the_token(guarded, host):
    server, _ = guarded
    host = host.format(port=server.port, other=server.port + 1)
    assert call(server, "GET", f"/?token={server.token}", host=host).status == 403
    assert call(server, "GET", "/api/people", host=host).status == 403
    assert call(server, "GET", "/api/people", host=f"localhost:{server.port}").status == 200


@pytest.mark.parametrize("headers", [{"Origin": "http://evil.example"}, {"Origin": "null"},
                                     {"Origin": "http://127.0.0.1:1"}, {"Sec-Fetch-Site": "cross-site"},
                                     {"Content-Type": "application/x-www-form-urlencoded"},
                                     {"Content-Type": "text/plain"}])
def test_a_cross_site_post_is_refused_and_changes_nothing(guarded, headers):
    server, library = guarded
    refused = call(server, "POST", "/api/people/2/rename", {"name": "Bob"}, headers=headers)
    assert refused.status == 403 and library.edits == []
    accepted = call(server, "POST", "/api/people/2/rename", {"name": "Bob"})
    assert accepted.status == 200 and library.edits == [("name", 2, "Bob")]


def test_every_answer_says_only_the_app_itself_may_be_loaded(guarded):
    server, _ = guarded
    answers = call(server, "GET", "/"), call(server, "GET", "/api/people"), call(server, "GET", "/", cookie=False)
    for answer in answers:
        policy = answer.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "http" not in policy and "unsafe" not in policy
        assert answer.headers["referrer-policy"] == "no-referrer"
    page = call(server, "GET", "/").body.decode() + call(server, "GET", "/static/app.js").body.decode()
    assert "http://" not in page and "https://" not in page  # nothing from elsewhere: no CDN, no fonts


def test_a_user_error_is_one_line_and_a_bad_body_is_refused(guarded):
    server, _ = guarded
    missing = call(server, "GET", "/api/people/99")
    assert missing.status == 400 and missing.json() == {"error": "there is no person 99"}
    bad = call(server, "POST", "/api/people/2/rename", {"name": 7})
    assert bad.status == 400 and "name" in bad.json()["error"]


def _other_addresses() -> list[tuple[int, str]]:
    """Addresses of this machine other than 127.0.0.1: another loopback, its own names', IPv6 loopback."""
    found = {(socket.AF_INET, "127.0.0.2")}
    if socket.has_ipv6:
        found.add((socket.AF_INET6, "::1"))
    try:
        for family, _, _, _, address in socket.getaddrinfo(socket.gethostname(), None):
            if address[0] != "127.0.0.1" and family in (socket.AF_INET, socket.AF_INET6):
                found.add((family, address[0]))
    except OSError:
        pass
    return sorted(found)


def test_the_server_listens_on_127_0_0_1_only(guarded):
    server, _ = guarded
    assert server.socket.getsockname()[0] == "127.0.0.1"
    for family, address in _other_addresses():
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.settimeout(2)
            try:
                assert probe.connect_ex((address, server.port)) != 0, f"reachable on {address}"
            except OSError:
                pass  # the address cannot even be tried (no IPv6 here): not reachable either


def test_a_taken_port_is_a_one_line_error(guarded, tmp_path):
    server, library = guarded
    with pytest.raises(ClusterfacesError, match=f"cannot listen on 127.0.0.1:{server.port}"):
        ReviewServer(library, port=server.port, cache=tmp_path / "other")


# --- on a real scanned library ---------------------------------------------------------------------------
@pytest.fixture()
def served(library_copy, tmp_path):
    library, root, who = library_copy
    with ReviewServer(library, cache=tmp_path / "thumbs") as server:
        yield server, library, root, who


def test_people_and_faces_answer_what_the_library_says(served):
    server, library, _, who = served
    answered = call(server, "GET", "/api/people?ignored=1").json()
    assert [(p["id"], p["label"], p["faces"], p["photos"]) for p in answered] == \
        [(p.id, p.label, p.faces, p.photos) for p in library.people(include_ignored=True)]
    largest = max(library.people(), key=lambda p: p.faces)
    first = call(server, "GET", f"/api/people/{largest.id}/faces?offset=0&limit=2").json()
    rest = call(server, "GET", f"/api/people/{largest.id}/faces?offset=2").json()
    assert [f["id"] for f in first + rest] == [f.id for f in library.person_faces(largest.id)]
    assert len(first) == min(2, largest.faces)
    assert call(server, "GET", "/api/status").json()["scan_running"] is False


def test_thumbnails_are_cached_for_the_owner_only_and_photos_never_written(served, session_scan, tmp_path):
    from conftest import tree_state

    server, library, root, who = served
    before = tree_state(root)
    face = library.person_faces(who["obama"])[0]
    answer = call(server, "GET", f"/api/faces/{face.id}/thumb")
    assert answer.status == 200 and answer.headers["content-type"] == "image/jpeg"
    cache = tmp_path / "thumbs"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    files = list(cache.iterdir())
    assert len(files) == 1 and stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert files[0].read_bytes() == answer.body  # the second answer comes from the cache
    assert call(server, "GET", f"/api/faces/{face.id}/thumb").body == answer.body
    whole = call(server, "GET", f"/api/faces/{face.id}/photo")
    assert whole.status == 200 and max(Image.open(__import__("io").BytesIO(whole.body)).size) <= 1600
    assert len(list(cache.iterdir())) == 1  # whole photos are not cached
    assert call(server, "GET", "/api/faces/999999/thumb").status == 404
    assert tree_state(root) == before


def test_an_edit_over_http_is_the_library_edit_journalled_and_undoable(served):
    server, library, _, who = served
    named = call(server, "POST", f"/api/people/{who['rose']}/rename", {"name": "Rose Leslie"}).json()
    assert named["person"] == who["rose"] and "Rose Leslie" in named["summary"]
    assert library.person(who["rose"]).name == "Rose Leslie"
    journal = call(server, "GET", "/api/journal").json()
    assert journal[-1]["summary"] == named["summary"] == library.journal()[-1].summary
    undone = call(server, "POST", "/api/undo", {}).json()
    assert "Rose Leslie" in undone["summary"] and library.person(who["rose"]).name is None
    refused = call(server, "POST", "/api/faces/move", {"faces": [], "person": who["rose"]})
    assert refused.status == 400 and "\n" not in refused.json()["error"]


def test_ignore_and_split_over_http_are_the_library_edits(served):
    server, library, _, who = served
    ignored = call(server, "POST", f"/api/people/{who['alex']}/ignore", {"ignored": True}).json()
    assert library.person(who["alex"]).ignored and ignored["summary"] == library.journal()[-1].summary
    assert who["alex"] not in [p["id"] for p in call(server, "GET", "/api/people").json()]
    assert who["alex"] in [p["id"] for p in call(server, "GET", "/api/people?ignored=1").json()]
    assert not (library.output / library.person(who["alex"]).label).exists()  # no folder for the ignored
    call(server, "POST", f"/api/people/{who['alex']}/ignore", {"ignored": False})
    assert not library.person(who["alex"]).ignored
    before = library.person(who["obama"]).faces
    split = call(server, "POST", f"/api/people/{who['obama']}/split", {}).json()
    assert split["person"] == who["obama"] and split["groups"][0][0] == who["obama"]
    assert all(library.person(person).faces == faces for person, faces in split["groups"])
    assert sum(faces for _, faces in split["groups"]) <= before


def test_who_is_this_offers_named_people_for_faces(served):
    server, library, _, who = served
    call(server, "POST", f"/api/people/{who['obama']}/rename", {"name": "Barack Obama"})
    unassigned = call(server, "GET", "/api/who/unassigned").json()
    assert [e["face"]["id"] for e in unassigned] == [f.id for f in library.unassigned_faces(limit=48)]
    first = call(server, "GET", "/api/who/doubtful").json()
    people = library.people(include_ignored=False)
    assert {e["person"]["id"] for e in first["doubtful"]} <= {p.id for p in people[:6]}
    assert first["next"] == (6 if len(people) > 6 else None)
    shown = unassigned + first["doubtful"]
    assert shown, "the scanned photos have faces to ask about"
    for entry in first["doubtful"]:
        assert all(s["person"] != entry["person"]["id"] for s in entry["suggestions"])
    assert {s["name"] for e in shown for s in e["suggestions"]} == {"Barack Obama"}


def test_the_command_prints_the_link_serves_it_and_stops_on_ctrl_c(session_scan, tmp_path):
    import signal
    import subprocess
    import sys
    import urllib.request

    from conftest import copy_database

    database = copy_database(session_scan.database, tmp_path / "library.db")
    process = subprocess.Popen([sys.executable, "-m", "clusterfaces", "review", "--db", str(database), "--out",
                                str(tmp_path / "people"), "--no-browser"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        lines = [process.stdout.readline() for _ in range(2)]
        url = lines[1].strip()
        assert url.startswith("http://127.0.0.1:") and "/?token=" in url, lines
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=30) as answer:
            assert answer.status == 200 and b"/static/app.js" in answer.read()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "stopped: every edit is saved" in out and err == ""


def test_the_command_refuses_a_database_that_is_not_there(tmp_path):
    import subprocess
    import sys

    completed = subprocess.run([sys.executable, "-m", "clusterfaces", "review", "--db", str(tmp_path / "typo.db"),
                                "--no-browser"], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 1 and "clusterfaces scan" in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1 and not (tmp_path / "typo.db").exists()
