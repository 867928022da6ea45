"""Search relevance over the whole Project Gutenberg catalog: the queries of
tests/relevance/gutenberg.tsv (misspellings, missing diacritics, author-only
queries, partial titles, title and author words, identifier forms) go through
`/api/library/search` of the real server, and hit@5 (the share of queries
with an expected book among the first five results) is reported per category
and overall, with hit@1 (an expected book first) for information.

SQLite only: importing the ~78,000 records takes about a minute in a debug
build, and ranking is the search index's job, not the database's (both
backends feed the same index; test_library.py checks search on both).

The expected books are checked against the catalog itself before any query
runs, so the set cannot drift from the data.
"""
import csv
import gzip
import os
import re
from collections import defaultdict

import pytest
import requests

from conftest import Server
from test_library import GUTENBERG, carrel_import

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUERIES = os.path.join(ROOT, "tests", "relevance", "gutenberg.tsv")
TARGET = 0.9
K = 5


def load_catalog():
    """Gutenberg number → (title, [authors as the catalog writes them])."""
    books = {}
    with gzip.open(os.path.join(GUTENBERG, "gutenberg_metadata.csv.gz"), "rt", newline="") as f:
        for row in csv.DictReader(f):
            n = int(row["gutenberg_id"])
            title, authors = books.setdefault(n, (row["title"], []))
            if row["author"]:
                authors.append(row["author"])
    return books


def load_queries(books):
    """[(query, category, expected ebook numbers)], every one checked against the catalog."""
    out = []
    with open(QUERIES, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            query, category, expected = line.split("\t")
            if expected.startswith("by:"):
                name = expected[3:]
                ids = {n for n, (_, authors) in books.items()
                       if any(a == name or a.startswith(name + ",") or a.startswith(name + " (") for a in authors)}
                assert ids, f"{QUERIES}:{line_no}: no book by {name!r} in the catalog"
            else:
                ids = {int(x) for x in expected.split()}
                unknown = ids - books.keys()
                assert not unknown, f"{QUERIES}:{line_no}: not in the catalog: {sorted(unknown)}"
            out.append((query, category, ids))
    return out


@pytest.fixture(scope="module")
def gutenberg_library():
    srv = Server("sqlite")
    srv.stop()  # the index admits one writer: import with the server stopped
    carrel_import(srv, os.path.join(GUTENBERG, "gutenberg_metadata.csv.gz"))
    srv.start()
    yield srv
    srv.close()


def ebook_numbers(result):
    return [int(i.split(":", 1)[1]) for i in result["identifiers"] if re.fullmatch(r"gutenberg:\d+", i)]


def test_relevance_hit_at_5(gutenberg_library):
    books = load_catalog()
    queries = load_queries(books)
    assert len(queries) >= 30
    hits = defaultdict(lambda: [0, 0, 0])  # hits in the top 5, first results that are hits, queries
    misses = []
    for query, category, expected in queries:
        r = requests.get(gutenberg_library.url + "/api/library/search",
                         params={"q": query, "limit": K}, timeout=30)
        assert r.status_code == 200, (query, r.text)
        top = r.json()["results"][:K]
        found = [n for res in top for n in ebook_numbers(res)]
        hit = bool(expected & set(found))
        first = bool(top) and bool(expected & set(ebook_numbers(top[0])))
        for c in (category, "all"):
            hits[c][0] += hit
            hits[c][1] += first
            hits[c][2] += 1
        if not hit:
            misses.append((query, category, [f"{n} {books.get(n, ('?',))[0][:40]!r}" for n in found]))

    print(f"\nhit@{K} over the Gutenberg catalog ({len(queries)} queries)")
    print(f"{'category':<14} {'queries':>7} {'hit@5':>6} {'hit@1':>6}")
    for c in sorted(hits, key=lambda c: (c == "all", c)):
        h, h1, n = hits[c]
        print(f"{c:<14} {n:>7} {h / n:>6.2f} {h1 / n:>6.2f}")
    for query, category, top in misses:
        print(f"miss [{category}] {query!r}: {top}")
    h, _, n = hits["all"]
    assert h / n >= TARGET, f"hit@5 {h / n:.2f} < {TARGET}; misses: {misses}"
