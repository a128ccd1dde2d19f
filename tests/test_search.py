"""who / find / same against a real Dlib scan of ../shared/photos with people named, and the face index."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from clusterfaces import Library, ScanOptions
from clusterfaces.cli.main import app
from clusterfaces.people import face_index, search
from clusterfaces.people.evaluation import load_labels
from clusterfaces.people.face_index import FaceIndex

LEFT_OUT = {"barack_obama": "2009-whitehouse/obama2.jpg", "joe_biden": "2009-whitehouse/biden2.jpg"}
# One photo of each person to find them by; Rose Leslie and Alex Lacamoire are never named.
NAMED = {"Barack Obama": "2009-whitehouse/obama.jpg", "Joe Biden": "2009-whitehouse/biden.jpg",
         "Kit Harington": "got/john1.jpeg"}
LABEL_OF = {"Barack Obama": "barack_obama", "Joe Biden": "joe_biden", "Kit Harington": "kit_harington"}
SCANNED = {}  # the clustering settings the fixture's scan resolved (its calibrated distances)


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def labels(shared_photos):
    return load_labels(shared_photos / "labels.json")


@pytest.fixture(scope="module")
def named(shared_photos, tmp_path_factory):
    """One Dlib scan with two photos left out, Obama, Biden and Kit named through the CLI:
    (database, photos root, folder of the left-out photos, person id by name)."""
    base = tmp_path_factory.mktemp("search")
    root, outside = base / "photos", base / "outside"
    shutil.copytree(shared_photos, root, ignore=shutil.ignore_patterns("labels.json"))
    outside.mkdir()
    for relative in LEFT_OUT.values():
        shutil.move(root / relative, outside / (root / relative).name)
    result = Library(base / "library.db", base / "people").scan(ScanOptions(roots=[root], model="Dlib"))
    SCANNED.update(result.settings["clustering"])
    people = {name: next(p.person.id for p in result.people if root / photo in p.photos)
              for name, photo in NAMED.items()}
    for name, person_id in people.items():
        renamed = cli("people", "rename", person_id, name, "--db", base / "library.db", "--out", base / "people")
        assert renamed.exit_code == 0, renamed.output
    return base / "library.db", root, outside, people


def who_json(database, *photos):
    result = cli("who", *photos, "--db", database, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_who_names_people_in_photos_not_in_the_library(named):
    database, _, outside, _ = named
    answer = who_json(database, outside / "obama2.jpg", outside / "biden2.jpg")
    found = [(photo["photo"].rsplit("/", 1)[1], [(f["name"], f["verdict"]) for f in photo["faces"]])
             for photo in answer["photos"]]
    assert found == [("obama2.jpg", [("Barack Obama", search.SAME)]), ("biden2.jpg", [("Joe Biden", search.SAME)])]
    # The verdict uses the distance the library's own clustering joined single faces at (calibrated).
    assert answer["same_below"] == SCANNED["link_distance"] > 0


def test_who_says_unknown_for_a_person_never_named(named):
    database, root, _, _ = named
    answer = who_json(database, root / "got/rose1.jpg", root / "theatre/alex_lacamoire1.jpg")
    for photo in answer["photos"]:
        (face,) = photo["faces"]
        assert face["name"] is None and face["verdict"] == search.UNKNOWN, face
        assert face["unnamed_person"] is not None  # the scan grouped them: the answer points at that person


def test_who_names_each_face_of_a_group_photo_left_to_right(named):
    database, root, _, _ = named
    (photo,) = who_json(database, root / "got/kit_with_rose.jpg")["photos"]
    names = [face["name"] for face in photo["faces"]]
    assert sorted(names, key=str) == sorted(["Kit Harington", None], key=str)
    assert [face["box"][0] for face in photo["faces"]] == sorted(face["box"][0] for face in photo["faces"])
    (photo,) = who_json(database, root / "2009-whitehouse/obama_and_biden.jpg")["photos"]
    assert {"Barack Obama", "Joe Biden"} <= {face["name"] for face in photo["faces"]}


def test_who_reports_bad_input_in_one_line(named, tmp_path):
    database, root, _, _ = named
    blank = tmp_path / "wall.jpg"
    Image.new("RGB", (640, 480), (120, 160, 200)).save(blank)
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo at all\n")
    for photo, message in ((blank, "no face found"), (text, "cannot be read"), (tmp_path / "gone.jpg", "no such")):
        result = cli("who", photo, "--db", database)
        assert result.exit_code == 1 and message in result.stderr, result.output
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    # Among several photos, a bad one is skipped with a note and the others are answered.
    result = cli("who", text, root / "got/john2.jpeg", "--db", database, "--json")
    assert result.exit_code == 0 and "skipped" in result.stderr
    assert json.loads(result.stdout)["photos"][0]["faces"][0]["name"] == "Kit Harington"


def test_queries_are_refused_with_another_model_or_no_library(named, tmp_path):
    database, root, _, _ = named
    result = cli("who", root / "got/john2.jpeg", "--db", database, "--model", "Facenet512")
    assert result.exit_code == 1 and "come from Dlib" in result.stderr
    result = cli("who", root / "got/john2.jpeg", "--db", tmp_path / "none.db")
    assert result.exit_code == 1 and "run `clusterfaces scan` first" in result.stderr
    assert not (tmp_path / "none.db").exists()
    for args, message in ((["find", "--face", 99999], "no face 99999"), (["find", "--person", "Nobody Here"],
                          "nobody in this library is named"), (["find", "--person", 999], "no person 999"),
                          (["same", "--face", 1, "--face", 99999], "no face 99999")):
        result = cli(*args, "--db", database)
        assert result.exit_code == 1 and message in result.stderr, result.output


def test_find_from_a_photo_lists_that_persons_other_photos_first(named, labels):
    database, root, outside, _ = named
    for photo, who in ((outside / "biden2.jpg", "joe_biden"), (root / "got/rose1.jpg", "rose_leslie")):
        result = cli("find", photo, "--db", database, "--json", "--limit", 0)
        assert result.exit_code == 0, result.output
        matches = json.loads(result.stdout)["matches"]
        photos = [m["photo"] for m in matches]
        assert str(photo) not in photos  # the query photo itself is not an answer
        theirs = {str(root / p) for p, people in labels["photos"].items()
                  if who in people and p not in LEFT_OUT.values()} - {str(photo)}
        found = list(dict.fromkeys(photos))
        assert set(found[:len(theirs)]) == theirs, (found, theirs)
        assert [m["distance"] for m in matches] == sorted(m["distance"] for m in matches)


def test_find_by_face_person_and_name_and_out_folder(named, labels, tmp_path):
    database, root, _, people = named
    by_id = json.loads(cli("find", "--person", people["Joe Biden"], "--db", database, "--json").stdout)
    by_name = json.loads(cli("find", "--person", "joe BIDEN", "--db", database, "--json").stdout)
    assert by_id["matches"] == by_name["matches"]
    biden = {str(root / p) for p, who in labels["photos"].items() if "joe_biden" in who} - {
        str(root / LEFT_OUT["joe_biden"])}
    assert {m["photo"] for m in by_id["matches"] if m["verdict"] == search.SAME} == biden
    first = by_id["matches"][0]
    like_face = json.loads(cli("find", "--face", first["face_id"], "--db", database, "--json").stdout)
    assert first["face_id"] not in [m["face_id"] for m in like_face["matches"]]
    assert like_face["matches"][0]["person"] == "Joe Biden"

    out = tmp_path / "found"
    result = cli("find", "--person", "Joe Biden", "--db", database, "--out", out)
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    assert {str(link.resolve()) for link in folder.iterdir()} == {m["photo"] for m in by_id["matches"]}
    refused = cli("find", "--person", "Joe Biden", "--db", database, "--out", root / "found")
    assert refused.exit_code == 1 and "folder of its own" in refused.stderr
    assert not (root / "found").exists()


def test_same_agrees_with_the_labels(named, labels):
    database, root, outside, _ = named
    single = {p: who[0] for p, who in labels["photos"].items() if len(who) == 1 and "partial" not in p
              and p not in LEFT_OUT.values()}
    pairs = [("2009-whitehouse/obama.jpg", "video-stills/obama-720p.jpg"), ("got/john1.jpeg", "got/john2.jpeg"),
             ("got/rose1.jpg", "got/rose2.jpg"), ("theatre/alex-lacamoire.png", "theatre/alex_lacamoire1.jpg"),
             ("2009-whitehouse/obama.jpg", "2009-whitehouse/biden.jpg"), ("got/john1.jpeg", "got/rose1.jpg"),
             ("theatre/alex_lacamoire1.jpg", "theatre/lin-manuel-miranda.png"),
             ("2009-whitehouse/biden.jpg", "got/rose2.jpg")]
    for a, b in pairs:
        result = cli("same", root / a, root / b, "--db", database, "--json")
        assert result.exit_code == 0, result.output
        answer = json.loads(result.stdout)
        expected_same = single[a] == single[b]
        assert (answer["verdict"] == search.SAME) == expected_same, (a, b, answer)
        if not expected_same:
            assert answer["verdict"] == search.UNKNOWN, (a, b, answer)
    # A group photo: the face used is named in a note.
    result = cli("same", outside / "biden2.jpg", root / "2009-whitehouse/two_people.jpg", "--db", database)
    assert result.exit_code == 0 and "has 2 faces: used face" in result.stdout
    # Face ids of the library, and a photo against a face id.
    faces = {name: [m["face_id"] for m in json.loads(cli("find", "--person", name, "--db", database,
                                                          "--json").stdout)["matches"] if m["person"] == name]
             for name in ("Joe Biden", "Barack Obama")}
    for args, expected in ((["--face", faces["Joe Biden"][0], "--face", faces["Joe Biden"][1]], search.SAME),
                           (["--face", faces["Joe Biden"][0], "--face", faces["Barack Obama"][0]], search.UNKNOWN),
                           ([outside / "obama2.jpg", "--face", faces["Barack Obama"][0]], search.SAME)):
        result = cli("same", *args, "--db", database, "--json")
        assert result.exit_code == 0 and json.loads(result.stdout)["verdict"] == expected, (args, result.output)


def test_who_by_nearest_face_and_by_centre_agree_here(named):
    database, _, outside, _ = named
    library = Library(database).search_index()
    face, note = search.QueryEmbedder(library).one_face(outside / "obama2.jpg")
    assert note is None
    for method in ("nearest", "centre"):
        assert search.who(library, face, method=method).name == "Barack Obama"


def test_quantised_index_finds_what_exact_search_finds(monkeypatch):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(300, 128))
    vectors = centres[rng.integers(0, 300, 6000)] + rng.normal(scale=0.35, size=(6000, 128))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    queries = vectors[:20] + rng.normal(scale=0.02, size=(20, 128)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    exact = FaceIndex(vectors)
    monkeypatch.setattr(face_index, "EXACT_LIMIT", 1000)
    quantised = FaceIndex(vectors)
    assert exact.exact and not quantised.exact
    for query in queries:
        truth = np.sqrt(np.clip(2 - 2 * vectors @ query, 0, None))
        distances, rows = quantised.nearest(query, 10)
        np.testing.assert_array_equal(rows, np.argsort(truth, kind="stable")[:10])
        np.testing.assert_allclose(distances, truth[rows], atol=1e-5)
        for count in (25, 600):  # 600: more than a quantised range query asks for at first
            radius = float(np.sort(truth)[count - 1:count + 1].mean())  # `count` rows lie closer than this
            for index in (exact, quantised):
                _, inside = index.within(query, radius)
                assert sorted(inside.tolist()) == sorted(np.flatnonzero(truth < radius).tolist())
