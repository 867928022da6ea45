"""Book files in the library, end to end with the real binary on both
backends: `carrel library add` over every book file of ../shared/corpus
(broken ones included), the incremental rescan, downloads and covers over
HTTP, and "add to library" of an upload through the JSON API."""
import hashlib
import json
import os
import subprocess
import time

import pytest
import requests

from conftest import BACKENDS, BIN, Server, put

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "corpus")
BOOK_DIRS = ["epub", "pdf", "mobi", "fb2", "comics"]


def library_add(srv, *args, check=True, timeout=900):
    cmd = [BIN, "library", "add", "--data", srv.data]
    if srv.database:
        cmd += ["--database", srv.database]
    r = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout)
    if check:
        assert r.returncode == 0, r.stderr[-3000:] + r.stdout[-3000:]
    return r


def results(stdout):
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module", params=BACKENDS)
def shelf(request, postgres_ok):
    """One data directory per backend with the whole corpus added (shared by
    this module's tests: adding 340 files takes a while in a debug build)."""
    if request.param == "postgres" and not postgres_ok:
        pytest.skip("SKIPPING PostgreSQL: no server at 127.0.0.1:5432 (allowed only outside CI)")
    srv = Server(request.param)
    srv.stop()
    r = library_add(srv, "--json", *[os.path.join(SHARED, d) for d in BOOK_DIRS])
    srv.first = results(r.stdout)
    srv.start()
    yield srv
    srv.close()


def test_every_corpus_book_is_read_or_refused_clearly(shelf):
    rows = shelf.first
    assert len(rows) > 300, len(rows)
    ok = [r for r in rows if r["ok"]]
    bad = [r for r in rows if not r["ok"]]
    # Every refusal names its reason with a stable code; none is an internal error.
    for r in bad:
        assert r["error"]["code"] == "not_a_book", r
        assert r["error"]["message"], r
    names = {os.path.basename(r["path"]) for r in bad}
    assert {"test_empty.epub", "test_corrupted.epub", "sopds-badfile.fb2"} <= names, names
    assert len(ok) >= 0.95 * len(rows), (len(ok), len(rows))
    formats = {r["result"]["format"] for r in ok}
    assert formats >= {"epub", "pdf", "mobi", "fb2", "cbz"}, formats
    # Duplicated bytes in the corpus are one file.
    outcomes = [r["result"]["outcome"] for r in ok]
    assert set(outcomes) <= {"added", "present"}
    assert len({r["result"]["file_id"] for r in ok}) == outcomes.count("added")


def test_a_rescan_skips_unchanged_files_and_notices_a_change(shelf, tmp_path):
    shelf.stop()
    r = library_add(shelf, "--json", *[os.path.join(SHARED, d) for d in BOOK_DIRS])
    rows = [x for x in results(r.stdout) if x["ok"]]
    assert rows and {x["result"]["outcome"] for x in rows} <= {"unchanged", "present"}
    # A changed copy of a book is new bytes: a new file.
    src = os.path.join(SHARED, "epub", "standard-ebooks")
    epub = next(os.path.join(src, f) for f in sorted(os.listdir(src)) if f.endswith(".epub"))
    copy = tmp_path / "copy.epub"
    copy.write_bytes(open(epub, "rb").read())
    first = results(library_add(shelf, "--json", str(copy)).stdout)[0]
    assert first["result"]["outcome"] == "present"  # same bytes as the corpus file
    with open(copy, "ab") as f:
        f.write(b"\0" * 10)  # a trailing junk byte run: still a readable zip
    again = results(library_add(shelf, "--json", str(copy)).stdout)[0]
    assert again["ok"] and again["result"]["outcome"] == "added", again
    assert again["result"]["file_id"] != first["result"]["file_id"]
    shelf.start()


def test_library_files_download_and_have_covers(shelf):
    ok = [r for r in shelf.first if r["ok"] and r["result"]["outcome"] == "added"]
    epub = next(r for r in ok if r["result"]["format"] == "epub" and "standard-ebooks" in r["path"])
    url = f"{shelf.url}/library/files/{epub['result']['file_id']}"
    body = requests.get(url, timeout=30)
    assert body.status_code == 200
    assert body.headers["Content-Type"] == "application/epub+zip"
    assert body.headers["Content-Disposition"].startswith("attachment")
    assert hashlib.sha256(body.content).digest() == hashlib.sha256(open(epub["path"], "rb").read()).digest()
    part = requests.get(url, headers={"Range": "bytes=0-3"}, timeout=30)
    assert part.status_code == 206 and part.content == b"PK\x03\x04"
    # The edition carries the format and its cover.
    e = requests.get(f"{shelf.url}/api/library/editions/{epub['result']['edition_id']}", timeout=10).json()
    assert "epub" in e["formats"], e
    covered = 0
    for r in ok:
        c = requests.get(f"{shelf.url}/library/covers/{r['result']['edition_id']}/small.jpg", timeout=10)
        if c.status_code == 200:
            assert c.headers["Content-Type"] == "image/jpeg" and c.content[:3] == b"\xff\xd8\xff"
            covered += 1
        else:
            assert c.status_code == 404
    assert covered >= 20, covered
    # Searchable, with the has-file filter.
    title = epub["result"]["title"]
    s = requests.get(f"{shelf.url}/api/library/search", params={"q": title, "has_file": "true"}, timeout=10).json()
    assert any(x["edition_id"] == epub["result"]["edition_id"] for x in s["results"]), s
    # Unknown and malformed ids are 404s.
    for bad in ["nope", "0" * 26, "../../etc/passwd"]:
        assert requests.get(f"{shelf.url}/library/files/{bad}", timeout=10).status_code == 404
    assert requests.get(f"{shelf.url}/library/covers/999999999/small.jpg", timeout=10).status_code == 404
    assert requests.get(f"{shelf.url}/library/covers/-1/large.jpg", timeout=10).status_code == 404


def test_an_upload_is_added_to_the_library_with_its_token(server):
    src = os.path.join(SHARED, "epub", "standard-ebooks")
    epub = next(os.path.join(src, f) for f in sorted(os.listdir(src)) if f.endswith(".epub"))
    _, up = put(server, "a book.epub", open(epub, "rb").read())
    url = f"{server.url}/api/library/files/{up['file_id']}"
    # Without the file's management token: refused.
    assert requests.post(url, timeout=30).status_code == 401
    r = requests.post(url, headers={"Authorization": "Bearer wrong"}, timeout=30)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    auth = {"Authorization": f"Bearer {up['manage_token']}"}
    r = requests.post(url, headers=auth, timeout=60)
    assert r.status_code == 201, r.text
    added = r.json()
    assert added["format"] == "epub" and added["outcome"] == "added" and added["title"]
    # Searchable within a second of the answer (the commit loop runs every 500 ms).
    deadline = time.time() + 1.0
    found = False
    while time.time() < deadline and not found:
        s = requests.get(f"{server.url}/api/library/search", params={"q": added["title"]}, timeout=5).json()
        found = any(x["edition_id"] == added["edition_id"] for x in s["results"])
        if not found:
            time.sleep(0.05)
    assert found, "an added file must be searchable within a second"
    # Again: already there.
    again = requests.post(url, headers=auth, timeout=60)
    assert again.status_code == 200 and again.json()["outcome"] == "present"
    # The same bytes uploaded again are the same library file.
    _, up2 = put(server, "same.epub", open(epub, "rb").read())
    r2 = requests.post(f"{server.url}/api/library/files/{up2['file_id']}",
                       headers={"Authorization": f"Bearer {up2['manage_token']}"}, timeout=60)
    assert r2.status_code == 200 and r2.json()["file_id"] == added["file_id"]


def test_non_books_and_hostile_files_are_refused_clearly(server, tmp_path):
    cases = {
        "notes.txt": b"plain text, not a book",
        "truncated.epub": open(os.path.join(SHARED, "epub", "standard-ebooks",
                                            sorted(f for f in os.listdir(os.path.join(SHARED, "epub", "standard-ebooks"))
                                                   if f.endswith(".epub"))[0]), "rb").read()[:5000],
        "fake.pdf": b"%PDF-1.7\n" + b"\xff" * 5000,
        "random.cbz": os.urandom(20000),
    }
    for name, data in cases.items():
        _, up = put(server, name, data)
        r = requests.post(f"{server.url}/api/library/files/{up['file_id']}",
                          headers={"Authorization": f"Bearer {up['manage_token']}"}, timeout=60)
        if r.status_code in (200, 201):
            # Readable in part: kept, with its problems recorded.
            assert r.json()["problems"], (name, r.json())
        else:
            assert r.status_code == 422, (name, r.status_code, r.text)
            assert r.json()["error"]["code"] == "not_a_book", r.text
    # The server is still healthy.
    assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
    # Unknown files and malformed ids.
    for bad in ["nope", "0" * 26]:
        assert requests.post(f"{server.url}/api/library/files/{bad}", timeout=5).status_code == 404


def test_the_upload_page_adds_a_book_to_the_library(server, backend):
    """Chromium: tick "add books to the library", pick an EPUB, follow the
    page's link to the work page (tests/js/upload_to_library.mjs)."""
    from conftest import ARTIFACTS, ROOT
    src = os.path.join(SHARED, "epub", "standard-ebooks")
    epub = next(os.path.join(src, f) for f in sorted(os.listdir(src)) if f.endswith(".epub"))
    out = os.path.join(ARTIFACTS, f"library-{backend}")
    r = subprocess.run(["node", os.path.join(ROOT, "tests", "js", "upload_to_library.mjs"), server.url, epub, out],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout)
    assert res["note"].startswith("In the library:"), res
    assert res["href"].startswith("/library/works/"), res
    assert res["workTitle"] and res["workTitle"] in res["note"], res
    assert res["formats"] == ["EPUB"], res
    for shot in ["upload-to-library.png", "work-page-with-file.png"]:
        assert os.path.getsize(os.path.join(out, shot)) > 10_000
