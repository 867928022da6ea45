"""The library end to end: `carrel import` of real dumps from ../shared/corpus
into a data directory (SQLite or PostgreSQL), then the real server searching
them over HTTP. Both backends."""
import gzip
import json
import os
import re
import subprocess
import time

import pytest
import requests

from conftest import BIN, Server

CORPUS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "corpus", "meta")
GUTENBERG = os.path.join(CORPUS, "gutenberg")


def carrel_import(srv, *args, check=True):
    cmd = [BIN, "import", "--data", srv.data]
    if srv.database:
        cmd += ["--database", srv.database]
    r = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=600)
    if check:
        assert r.returncode == 0, r.stderr + r.stdout
    return r


def gutenberg_subset(tmp, rows=3000):
    """The first `rows` lines of the Gutenberg catalog, with the authors'
    aliases and the subjects files beside it (as the preset expects)."""
    d = os.path.join(tmp, "gutenberg")
    os.makedirs(d, exist_ok=True)
    with gzip.open(os.path.join(GUTENBERG, "gutenberg_metadata.csv.gz"), "rt", newline="") as src, \
            gzip.open(os.path.join(d, "gutenberg_metadata.csv.gz"), "wt", newline="") as dst:
        for i, line in enumerate(src):
            if i > rows and line[:1].isdigit():
                break
            dst.write(line)
    for f in ["gutenberg_authors.csv.gz", "gutenberg_subjects.csv.gz"]:
        os.symlink(os.path.abspath(os.path.join(GUTENBERG, f)), os.path.join(d, f))
    return os.path.join(d, "gutenberg_metadata.csv.gz")


@pytest.fixture
def library(backend, tmp_path):
    """A data directory with part of Gutenberg, goodbooks and arXiv imported,
    then a server on it."""
    srv = Server(backend)
    srv.stop()  # the index admits one writer: import with the server stopped
    path = gutenberg_subset(str(tmp_path))
    r = carrel_import(srv, "--json", path)
    rep = json.loads(r.stdout.strip().splitlines()[-1])
    assert rep["format"] == "gutenberg"
    assert rep["report"]["created"] > 2500
    carrel_import(srv, os.path.join(CORPUS, "goodbooks-10k.csv.gz"))
    carrel_import(srv, os.path.join(CORPUS, "arxiv-quant-ph", "arXiv-meta-1995.xml.gz"))
    srv.first_report = rep["report"]
    srv.gutenberg_path = path
    srv.start()
    yield srv
    srv.close()


def search(srv, q, **params):
    r = requests.get(srv.url + "/api/library/search", params=dict(q=q, **params), timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def top_titles(srv, q, n=5, **params):
    return [x["title"] for x in search(srv, q, **params)["results"][:n]]


def test_import_is_idempotent_and_resumable(library):
    library.stop()
    r = carrel_import(library, "--json", library.gutenberg_path)
    rep = json.loads(r.stdout.strip().splitlines()[-1])["report"]
    assert rep["created"] == 0, rep
    assert rep["updated"] == library.first_report["created"] + library.first_report["updated"]
    library.start()
    # One Gutenberg number, one edition.
    hits = search(library, "", identifier=None, limit=1)["total"]
    assert hits >= library.first_report["created"]


def test_index_optimize_merges_into_one_segment_and_finds_the_same(library):
    queries = ["pride prejudice", "sherlok holmes", "quantum", "twain"]
    before = [search(library, q) for q in queries]
    library.stop()
    cmd = [BIN, "index", "optimize", "--data", library.data]
    if library.database:
        cmd += ["--database", library.database]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr + r.stdout
    m = re.search(r"merged (\d+) segments into 1 in", r.stdout)
    assert m and int(m.group(1)) >= 2, r.stdout  # three imports left several
    meta = json.load(open(os.path.join(library.data, "library-index", "meta.json")))
    assert len(meta["segments"]) == 1, meta["segments"]
    library.start()
    after = [search(library, q) for q in queries]
    for q, b, a in zip(queries, before, after):
        assert a["total"] == b["total"] > 0, q
        assert [x["edition_id"] for x in a["results"]] == [x["edition_id"] for x in b["results"]], q


def test_import_refuses_while_a_server_writes_the_index(library):
    r = carrel_import(library, library.gutenberg_path, check=False)
    assert r.returncode != 0 and "stop it first" in r.stderr, r.stderr
    # A second server on the same data directory searches what the first indexed.
    second = Server(library.backend, data=library.data, database=library.database)
    try:
        assert "Pride and Prejudice" in top_titles(second, "pride and prejudice")
        assert "only searches" in second.read_log() or "cannot change the library" in second.read_log()
    finally:
        second.close()


def test_search_folds_typos_prefixes_and_aliases(library):
    assert "Les Misérables" in top_titles(library, "miserables")
    assert "Les Misérables" in top_titles(library, "LES MISERABLES hugo")
    assert "Pride and Prejudice" in top_titles(library, "pride and prejudis")
    assert "Pride and Prejudice" in top_titles(library, "pride and prej", prefix="true")
    # Gutenberg spells him Dostoyevsky; the alias Dostoevsky finds him too.
    assert "Crime and Punishment" in top_titles(library, "dostoevsky crime")
    top = search(library, "dostoievski")["results"][:5]
    assert len(top) == 5 and all("Fyodor Dostoyevsky" in x["authors"] for x in top), top
    top = search(library, "frankenstien")["results"][:5]
    assert any(x["title"].startswith("Frankenstein") and "Mary Wollstonecraft Shelley" in x["authors"] for x in top), top


def test_identifier_queries(library):
    # goodbooks writes this ISBN-13 as 9.78043902348e+12 and the ISBN-10 without its leading zero.
    for q in ["9780439023481", "978-0-439-02348-1", "0439023483", "ISBN 0-439-02348-3"]:
        res = search(library, q)
        assert [x["title"] for x in res["results"]] == ["The Hunger Games"], (q, res)
        assert "isbn:9780439023481" in res["results"][0]["identifiers"]
    res = search(library, "arXiv:quant-ph/9412012")
    assert res["total"] == 1 and res["results"][0]["kind"] == "article", res


def test_facets_filters_sorting_and_paging(library):
    assert search(library, "")["facets"] is None  # only on request
    res = search(library, "", facets="true")
    kinds = dict(res["facets"]["kind"])
    assert kinds["book"] > 12000 and kinds["article"] > 400, kinds
    fr = search(library, "", lang="fr", limit=50)
    assert fr["total"] > 10 and all(x["language"] == "fr" for x in fr["results"])
    arts = search(library, "quantum", kind="article", sort="year", limit=100)
    assert arts["total"] > 10 and all(x["kind"] == "article" for x in arts["results"])
    years = [x["year"] for x in arts["results"] if x["year"]]
    assert years == sorted(years)
    older = search(library, "", year_min=1800, year_max=1899, limit=100)
    assert older["total"] > 0 and all(1800 <= x["year"] <= 1899 for x in older["results"])
    # Pages do not overlap and add up.
    p1 = [x["edition_id"] for x in search(library, "love", limit=10)["results"]]
    p2 = [x["edition_id"] for x in search(library, "love", limit=10, offset=10)["results"]]
    assert len(p1) == 10 and not set(p1) & set(p2)


def test_bad_queries_get_clear_errors(library):
    for params in [dict(sort="sideways"), dict(kind="poem"), dict(limit=0), dict(limit=1000),
                   dict(q="x" * 5000), dict(offset=10_000_000)]:
        r = requests.get(library.url + "/api/library/search", params=params, timeout=10)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["error"]["code"], r.text
    for q in ['title:(', '"', '*', 'AND OR NOT', '\x00', '~~~', '😀' * 50]:
        assert requests.get(library.url + "/api/library/search", params={"q": q}, timeout=10).status_code == 200
    assert requests.get(library.url + "/api/library/works/999999999", timeout=10).status_code == 404
    assert requests.get(library.url + "/api/library/works/abc", timeout=10).status_code == 400


def test_pages(library):
    r = requests.get(library.url + "/library", params={"q": "pride prejudice"}, timeout=10)
    assert r.status_code == 200 and "Pride and Prejudice" in r.text
    work = search(library, "pride prejudice")["results"][0]
    r = requests.get(library.url + f"/library/works/{work['work_id']}", timeout=10)
    assert r.status_code == 200 and "Austen" in r.text and "gutenberg:1342" in r.text


def test_bad_records_are_reported_with_their_line(backend, tmp_path):
    srv = Server(backend)
    srv.stop()
    try:
        p = tmp_path / "bad.jsonl"
        p.write_text('{"DOI":"10.1/a","title":["Good"]}\n{broken\n\n{"DOI":"10.1/b"}\n' + "x" * 100 + "\n")
        r = carrel_import(srv, "--format", "jsonl", str(p))
        assert "1 records (1 new, 0 updated), 3 bad" in r.stdout, r.stdout
        assert "line 2:" in r.stdout and "line 4:" in r.stdout, r.stdout
        c = tmp_path / "m.csv"
        c.write_text('ID,T,A\n1,One,"Ann Author"\n2,,Nobody\n3,Three,"A; B"\n')
        r = carrel_import(srv, "--format", "csv", "--map", "id=ID", "--map", "title=T", "--map", "authors=A", str(c))
        assert "2 records" in r.stdout and "line 3:" in r.stdout, r.stdout
        r = carrel_import(srv, "--format", "csv", "--map", "title=Nope", str(c), check=False)
        assert r.returncode != 0 and 'no column "Nope"' in r.stderr, r.stderr
        r = carrel_import(srv, "--format", "xml", str(c), check=False)
        assert r.returncode != 0 and "unknown format" in r.stderr
        r = carrel_import(srv, str(tmp_path / "missing.csv"), check=False)
        assert r.returncode != 0 and "missing.csv" in r.stderr
        # A truncated gzip: the records before the cut are kept, the cut is reported.
        gz = tmp_path / "cut.jsonl.gz"
        data = gzip.compress("".join(f'{{"DOI":"10.9/{i}","title":["T{i}"]}}\n' for i in range(5000)).encode())
        gz.write_bytes(data[: len(data) // 2])
        r = carrel_import(srv, str(gz))
        assert "read error" in r.stdout or "bad" in r.stdout, r.stdout
    finally:
        srv.close()


def sql_scalar(srv, query):
    """One value from the server's database (SQLite file or PostgreSQL)."""
    if srv.database:
        r = subprocess.run(["psql", srv.database, "-tAc", query], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()
    import sqlite3
    db = sqlite3.connect(f"file:{os.path.join(srv.data, 'carrel.db')}?mode=ro", uri=True, timeout=30)
    try:
        row = db.execute(query).fetchone()
        return "" if row is None else str(row[0])
    finally:
        db.close()


def test_an_import_killed_midway_resumes_and_database_and_index_agree(backend, tmp_path):
    """kill -9 during a bulk import: what the index holds is in the
    database, the rerun resumes after the checkpoint, and the end has every
    record once, in both."""
    rows = 40_000
    path = os.path.join(str(tmp_path), "many.csv")
    with open(path, "w") as f:
        f.write("id,title,authors,year\n")
        for i in range(rows):
            f.write(f"{i},Volume {i} of the {['amber', 'cobalt', 'ochre'][i % 3]} chronicles,"
                    f"Author{i % 500} Surname{i % 37},{1900 + i % 120}\n")
    srv = Server(backend)
    srv.stop()
    cmd = [BIN, "import", "--data", srv.data, "--format", "csv", "--commit-every", "0.2",
           "--map", "id=id", "--map", "scheme=kill", "--map", "title=title",
           "--map", "authors=authors", "--map", "year=year", path]
    if srv.database:
        cmd[2:2] = ["--database", srv.database]
    checkpoint = "SELECT COALESCE(MAX(position), 0) FROM lib_checkpoints WHERE name LIKE 'import:csv:%'"
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and p.poll() is None:
            if int(sql_scalar(srv, checkpoint) or 0) >= 10_000:
                break
            time.sleep(0.05)
        assert p.poll() is None, "the import ended before it could be killed: " + p.stderr.read()
        p.kill()
    finally:
        p.wait()
    stored = int(sql_scalar(srv, "SELECT COUNT(*) FROM lib_editions"))
    resumed_at = int(sql_scalar(srv, checkpoint))
    assert 10_000 <= resumed_at <= stored < rows, (resumed_at, stored)

    srv.start()
    indexed = search(srv, "chronicles", limit=1)["total"]
    # The index commits after the database: it never holds what the
    # database lost; every hit is a stored edition.
    assert 0 < indexed <= stored, (indexed, stored)
    page = search(srv, "chronicles", limit=50, sort="title")["results"]
    assert len(page) == 50 and all(x["title"].startswith("Volume") for x in page)
    srv.stop()

    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr + r.stdout
    m = re.search(r"resumed after item (\d+)", r.stdout)
    assert m and int(m.group(1)) == resumed_at, r.stdout
    assert int(sql_scalar(srv, "SELECT COUNT(*) FROM lib_editions")) == rows
    assert int(sql_scalar(srv, "SELECT COUNT(*) FROM lib_sources WHERE source_key LIKE 'kill:%'")) == rows
    srv.start()
    try:
        assert search(srv, "chronicles", limit=1)["total"] == rows
        hit = search(srv, "Volume 39999 of the amber chronicles")["results"][0]
        assert hit["title"] == "Volume 39999 of the amber chronicles", hit
    finally:
        srv.close()
