"""The library's browsing pages and OPDS catalogs end to end, on both
backends: part of the Gutenberg catalog imported with `carrel import`, the
EPUBs of ../shared/corpus/epub added with `carrel library add`, then the real
server read by clients written by others:

- OPDS 2.0 feeds validated against the OPDS 2.0 JSON Schemas (which use the
  Readium Web Publication Manifest's, resolved locally) and parsed by
  Readium's r2-opds-js (tests/js/opds_parse.mjs, the OPDS code of Thorium);
- OPDS 1.2 feeds parsed by feedparser and by r2-opds-js's OPDS 1 mapper,
  search through the OpenSearch description;
- acquisition links downloaded; pagination followed to the end;
- the HTML pages' links (and every page's OPDS discovery links) followed;
- bad parameters answered with 400s and stable codes;
- screenshots of the browse, author and subject pages in headless Chromium.
"""
import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from urllib.parse import quote, urljoin, urlsplit

import feedparser
import pytest
import requests
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from conftest import ARTIFACTS, BIN, ROOT, Server
from test_library import carrel_import, gutenberg_subset

SHARED = os.path.join(ROOT, "..", "shared")
EPUBS = os.path.join(SHARED, "corpus", "epub")
SCHEMAS = os.path.join(SHARED, "schemas")
PARSER = os.path.join(ROOT, "tests", "js", "opds_parse.mjs")
SHOTS = os.path.join(ROOT, "tests", "js", "browse_pages.mjs")

ATOM_NAV = "application/atom+xml;profile=opds-catalog;kind=navigation"
ATOM_ACQ = "application/atom+xml;profile=opds-catalog;kind=acquisition"
OPDS2 = "application/opds+json"
ACQ = "http://opds-spec.org/acquisition"


@pytest.fixture
def lib(backend, tmp_path):
    """Gutenberg metadata (3,000 rows) plus the corpus's EPUBs as files."""
    srv = Server(backend)
    srv.stop()  # one index writer: import and add with the server stopped
    carrel_import(srv, gutenberg_subset(str(tmp_path)))
    cmd = [BIN, "library", "add", "--data", srv.data]
    if srv.database:
        cmd += ["--database", srv.database]
    r = subprocess.run(cmd + [EPUBS], capture_output=True, text=True, timeout=600)
    # Broken corpus files are reported, not fatal: the run succeeds.
    assert r.returncode == 0, r.stderr + r.stdout
    srv.files = "48 added" in r.stdout
    srv.start()
    yield srv
    srv.close()


# ---------------------------------------------------------------- OPDS 2.0

def python_patterns(node):
    """The schemas' patterns are ECMA-262 regular expressions; their named
    groups `(?<name>…)` are spelled `(?P<name>…)` in Python's `re`."""
    if isinstance(node, dict):
        return {k: (re.sub(r"\(\?<([A-Za-z]\w*)>", r"(?P<\1>", v) if k == "pattern" and isinstance(v, str)
                    else python_patterns(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [python_patterns(v) for v in node]
    return node


def schema_registry():
    resources = []
    for d in ["opds2", "webpub-manifest"]:
        for root, _, files in os.walk(os.path.join(SCHEMAS, d)):
            for f in files:
                if f.endswith(".json"):
                    with open(os.path.join(root, f)) as fh:
                        s = python_patterns(json.load(fh))
                    if "$id" in s:
                        resources.append((s["$id"], Resource.from_contents(s, default_specification=DRAFT7)))
    return Registry().with_resources(resources)


REGISTRY = schema_registry()
with open(os.path.join(SCHEMAS, "opds2", "feed.schema.json")) as _f:
    FEED = Draft7Validator(json.load(_f), registry=REGISTRY, format_checker=Draft7Validator.FORMAT_CHECKER)


def get2(srv, path, status=200):
    r = requests.get(srv.url + path, timeout=30)
    assert r.status_code == status, (path, r.status_code, r.text[:500])
    if status == 200:
        assert r.headers["content-type"] == OPDS2, r.headers
        doc = r.json()
        errors = sorted(FEED.iter_errors(doc), key=lambda e: list(e.path))
        assert not errors, (path, [f"{list(e.path)}: {e.message[:300]}" for e in errors[:5]])
        return doc
    return r


def rel_of(link):
    r = link.get("rel", [])
    return r if isinstance(r, list) else [r]


def link2(doc, rel):
    hits = [l["href"] for l in doc["links"] if rel in rel_of(l)]
    return hits[0] if hits else None


def r2_parse(mode, docs, tmp_path):
    """What Readium's r2-opds-js makes of these feeds."""
    paths = []
    for i, d in enumerate(docs):
        p = tmp_path / f"feed{i}.{'json' if mode == 'v2' else 'xml'}"
        p.write_text(d if isinstance(d, str) else json.dumps(d))
        paths.append(str(p))
    r = subprocess.run(["node", PARSER, mode] + paths, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    # The parser logs what it misses ("OPDSPublication.Image[s] is not set!"
    # for books without a cover) before the script's one line of JSON.
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_opds2_feeds_validate_parse_page_and_download(lib, tmp_path):
    root = get2(lib, "/opds/v2")
    titles = [n["title"] for n in root["navigation"]]
    assert titles[:2] == ["Newest additions", "All books by title"], titles
    search = [l for l in root["links"] if "search" in rel_of(l)][0]
    assert search["templated"] is True and search["href"] == "/opds/v2/search{?query}"

    subjects = get2(lib, "/opds/v2/subjects")
    languages = get2(lib, "/opds/v2/languages")
    newest = get2(lib, "/opds/v2/newest")
    assert lib.files, "carrel library add stored no files"
    assert subjects["navigation"] and languages["navigation"]
    for n in subjects["navigation"] + languages["navigation"]:
        assert n["properties"]["numberOfItems"] > 0 and n["type"] == OPDS2

    # Pagination: follow `next` from the first page to the last.
    meta = newest["metadata"]
    total, per = meta["numberOfItems"], meta["itemsPerPage"]
    assert total >= 40 and per == 20 and meta["currentPage"] == 1, meta
    assert link2(newest, "previous") is None
    pages, doc, seen = [newest], newest, []
    while True:
        seen += [p["metadata"]["identifier"] for p in doc["publications"]]
        nxt = link2(doc, "next")
        if nxt is None:
            break
        doc = get2(lib, nxt)
        assert link2(doc, "previous") and link2(doc, "first") == "/opds/v2/newest"
        pages.append(doc)
    assert link2(doc, "last") == link2(newest, "last") == f"/opds/v2/newest?page={len(pages)}"
    assert len(seen) == total and len(pages) == -(-total // per)

    # Every publication: an acquisition link per file, with the format's type, that downloads.
    kinds = set()
    for p in (p for d in pages for p in d["publications"]):
        acq = [l for l in p["links"] if ACQ in rel_of(l)]
        assert acq, p
        for l in acq:
            kinds.add(l["type"])
        m = p["metadata"]
        assert m["@type"] == "http://schema.org/Book" and m["title"], m
    assert kinds == {"application/epub+zip"}, kinds
    first = newest["publications"][0]
    for l in first["links"]:
        r = requests.get(lib.url + l["href"], timeout=30)
        assert r.status_code == 200, (l, r.status_code)
        if ACQ in rel_of(l):
            assert r.headers["content-type"].split(";")[0] == l["type"]
            assert r.content[:2] == b"PK"
    covered = [p for d in pages for p in d["publications"] if p.get("images")]
    assert covered, "no publication has a cover"
    for img in covered[0]["images"]:
        r = requests.get(lib.url + img["href"], timeout=30)
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content[:2] == b"\xff\xd8"

    # Facets: each value's count is what its feed holds; the chosen one is `self`.
    lang_group = [f for f in newest["facets"] if f["metadata"]["title"] == "Language"][0]
    assert lang_group["links"][0]["rel"] == "self"  # "All languages"
    en = [l for l in lang_group["links"] if l["title"] == "English (en)"][0]
    filtered = get2(lib, en["href"])
    assert filtered["metadata"]["numberOfItems"] == en["properties"]["numberOfItems"]
    chosen = [f for f in filtered["facets"] if f["metadata"]["title"] == "Language"][0]
    assert [l["title"] for l in chosen["links"] if l.get("rel") == "self"] == ["English (en)"]
    assert all(p["metadata"]["language"] == "en" for p in filtered["publications"])

    # By subject, language and author; search through the template.
    sub = subjects["navigation"][0]
    by_subject = get2(lib, sub["href"])
    assert by_subject["metadata"]["numberOfItems"] == sub["properties"]["numberOfItems"]
    lang = languages["navigation"][0]
    assert get2(lib, lang["href"])["metadata"]["numberOfItems"] == lang["properties"]["numberOfItems"]
    alice = get2(lib, "/opds/v2/search?query=" + quote("alice wonderland"))
    hit = alice["publications"][0]
    assert "Alice" in hit["metadata"]["title"], hit["metadata"]
    author = hit["metadata"]["author"][0]
    by_author = get2(lib, author["links"][0]["href"])
    assert by_author["metadata"]["title"] == author["name"]
    assert all(author["name"] in [a["name"] for a in p["metadata"]["author"]] for p in by_author["publications"])

    # Readium's parser reads the same feeds.
    docs = [root, newest, pages[-1], filtered, subjects, alice]
    parsed = r2_parse("v2", docs, tmp_path)
    assert [p["title"] for p in parsed] == [d["metadata"]["title"] for d in docs]
    assert parsed[0]["navigation"][0]["href"] == "/opds/v2/newest"
    n = parsed[1]
    assert (n["numberOfItems"], n["itemsPerPage"], n["currentPage"]) == (total, 20, 1)
    assert len(n["publications"]) == 20
    for got, want in zip(n["publications"], newest["publications"]):
        assert got["title"] == want["metadata"]["title"]
        assert got["identifier"] == want["metadata"]["identifier"]
        assert [a["type"] for a in got["acquisitions"]] == [l["type"] for l in want["links"] if ACQ in rel_of(l)]
    assert {f["title"] for f in n["facets"]} == {f["metadata"]["title"] for f in newest["facets"]}
    counts = {l["title"]: l["count"] for f in parsed[3]["facets"] for l in f["links"]}
    assert counts["English (en)"] == en["properties"]["numberOfItems"]
    assert parsed[4]["navigation"][0]["count"] == sub["properties"]["numberOfItems"]


# ---------------------------------------------------------------- OPDS 1.2

def get1(srv, path, kind):
    r = requests.get(srv.url + path, timeout=30)
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    assert r.headers["content-type"] == kind, r.headers
    ET.fromstring(r.content)  # well-formed
    return r.text, feedparser.parse(r.content)


def links1(f, rel):
    return [l for l in f.feed.links if l.get("rel") == rel]


def test_opds1_feeds_parse_with_feedparser_and_readium(lib, tmp_path):
    text_root, root = get1(lib, "/opds", ATOM_NAV)
    assert not root.bozo, root.bozo_exception
    assert root.feed.title == "carrel library"
    hrefs = [e.links[0].href for e in root.entries]
    assert hrefs[:4] == ["/opds/newest", "/opds/newest?sort=title", "/opds/subjects", "/opds/languages"]
    assert root.entries[0].links[0].type == ATOM_ACQ

    # Search as a client does it: the OpenSearch description's template.
    r = requests.get(lib.url + "/opds/search.xml", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"] == "application/opensearchdescription+xml"
    ns = {"os": "http://a9.com/-/spec/opensearch/1.1/"}
    urls = {u.get("type"): u.get("template") for u in ET.fromstring(r.content).findall("os:Url", ns)}
    template = urls[ATOM_ACQ]
    assert template.startswith(lib.url + "/opds/search?"), template
    url = template.replace("{searchTerms}", quote("alice wonderland")).replace("{startPage?}", "1")
    text_search, found = get1(lib, url[len(lib.url):], ATOM_ACQ)
    assert lib.files, "carrel library add stored no files"
    e = found.entries[0]
    assert "Alice" in e.title, e.title
    assert e.author == "Lewis Carroll"
    acq = [l for l in e.links if l.rel.startswith(ACQ)]
    assert acq and all(l.type == "application/epub+zip" for l in acq), e.links
    assert requests.get(lib.url + acq[0].href, timeout=30).content[:2] == b"PK"

    text_new, new = get1(lib, "/opds/newest", ATOM_ACQ)
    assert not new.bozo, new.bozo_exception
    f = new.feed
    assert int(f.opensearch_totalresults) >= 40 and f.opensearch_itemsperpage == "20" and f.opensearch_startindex == "1"
    assert links1(new, "next")[0].href == "/opds/newest?page=2"
    assert links1(new, "first")[0].href == "/opds/newest" and not links1(new, "previous")
    last = links1(new, "last")[0].href
    _, last_page = get1(lib, last, ATOM_ACQ)
    assert links1(last_page, "previous") and not links1(last_page, "next")
    assert last_page.feed.opensearch_startindex == str((int(last.rsplit("=", 1)[1]) - 1) * 20 + 1)
    assert len(new.entries) == 20
    # Facets: opds:facetGroup, opds:activeFacet and thr:count on each.
    facets = links1(new, "http://opds-spec.org/facet")
    groups = {l.get("opds:facetgroup") or l.get("opds_facetgroup") for l in facets}
    assert {"Language", "Format", "Order"} <= groups, facets[:3]
    active = [l for l in facets if (l.get("opds:activefacet") or l.get("opds_activefacet")) == "true"]
    assert {l.title for l in active} == {"All languages", "All formats", "Newest"}
    assert all(l.get("thr:count") or l.get("thr_count") for l in facets if l.title == "EPUB"), facets
    # Entries: identifiers, language, year, authors, covers.
    for e in new.entries:
        assert e.id.startswith("urn:carrel:edition:") and e.title and e.updated
        assert [l for l in e.links if l.rel == ACQ]
    assert re.search(r"<dc:language>[a-z]{2}", text_new) and "<dc:issued>" in text_new
    assert any(l.rel == "http://opds-spec.org/image/thumbnail" for e in new.entries for l in e.links)
    # Readium's OPDS 1 mapper and OPDS 1 → 2 converter read the same feeds.
    parsed = r2_parse("v1", [text_root, text_new, text_search], tmp_path)
    assert parsed[0]["opds1"]["title"] == "carrel library"
    assert [n["href"] for n in parsed[0]["navigation"]][:1] == ["/opds/newest"]
    p = parsed[1]
    assert p["opds1"]["entries"] == 20
    assert p["opds1"]["totalResults"] == int(f.opensearch_totalresults)
    assert [x["title"] for x in p["publications"]] == [e.title for e in new.entries]
    assert all(x["acquisitions"] and x["acquisitions"][0]["type"] == "application/epub+zip" for x in p["publications"])
    assert "Alice" in parsed[2]["publications"][0]["title"]


def test_identifiers_subjects_and_empty_feeds(lib):
    # An unknown author, subject or language is an empty feed, not an error.
    for path in ["/opds/v2/authors/Nobody%20At%20All", "/opds/v2/subjects/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
                 "/opds/v2/languages/tlh", "/opds/v2/authors/" + "x" * 9000]:
        doc = get2(lib, path)
        assert doc["metadata"]["numberOfItems"] == 0 and "publications" not in doc, path
        assert doc["navigation"][0]["href"] == "/opds/v2"
    for path in ["/opds/authors/Nobody", "/opds/subjects/%00%01%E2%80%8F%EF%BF%BE", "/opds/languages/tlh"]:
        text, f = get1(lib, path, ATOM_ACQ)
        assert f.entries == [] and f.feed.opensearch_totalresults == "0", path
    assert lib.files, "carrel library add stored no files"
    # The Standard Ebooks EPUBs have subjects: their feed lists them.
    subjects = get2(lib, "/opds/v2/subjects")["navigation"]
    poetry = [s for s in subjects if "poetry" in s["title"].lower()]
    assert poetry, [s["title"] for s in subjects]
    doc = get2(lib, poetry[0]["href"])
    assert all(poetry[0]["title"] in [s["name"] for s in p["metadata"].get("subject", [])] for p in doc["publications"])


# ---------------------------------------------------------------- errors

BAD = [
    ("page=0", "bad_page"), ("page=-1", "bad_page"), ("page=1.5", "bad_page"),
    ("page=99999999999999999999999", "bad_page"), ("page=502", "bad_page"),
    ("page=400", "page_out_of_range"),
    ("lang=%3Cscript%3E", "bad_facet"), ("kind=novel", "bad_facet"), ("format=exe", "bad_facet"),
    ("sort=random", "bad_sort"), ("q=" + "a" * 10_000, "query_too_long"),
]


def test_bad_parameters_are_clear_400s(lib):
    for qs, code in BAD:
        r = requests.get(f"{lib.url}/opds/v2/newest?{qs}", timeout=30)
        assert r.status_code == 400, (qs[:40], r.text[:300])
        assert r.json()["error"]["code"] == code, (qs[:40], r.text[:300])
        r = requests.get(f"{lib.url}/opds/newest?{qs}", timeout=30)
        assert r.status_code == 400 and r.text.startswith(f"400 {code}: "), (qs[:40], r.text[:300])
        r = requests.get(f"{lib.url}/library/newest?{qs}", timeout=30)
        assert r.status_code == 400 and "text/html" in r.headers["content-type"] and code in r.text, qs[:40]
        assert "<script>" not in r.text
    # The same checks on every list.
    for path in ["/opds/v2/search?query=x&", "/opds/v2/subjects/Fiction?", "/opds/v2/languages/en?",
                 "/opds/v2/authors/Jane%20Austen?", "/library/authors/Jane%20Austen?", "/library/subjects/Fiction?"]:
        r = requests.get(f"{lib.url}{path}page=-3", timeout=30)
        assert r.status_code == 400 and "bad_page" in r.text, path


# ---------------------------------------------------------------- HTML

class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.head = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "link":
            self.head.append(a)


def page(srv, path, status=200):
    r = requests.get(srv.url + path, timeout=30)
    assert r.status_code == status, (path, r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("text/html")
    p = Links()
    p.feed(r.text)
    return r.text, p


def assert_discovery(p, path):
    alt = {(l.get("rel"), l.get("type")): l.get("href") for l in p.head}
    assert alt.get(("alternate", ATOM_NAV)) == "/opds", (path, p.head)
    assert alt.get(("alternate", OPDS2)) == "/opds/v2", (path, p.head)
    assert alt.get(("search", "application/opensearchdescription+xml")) == "/opds/search.xml", (path, p.head)


def test_browse_pages_and_discovery(lib):
    text, browse = page(lib, "/library/browse")
    for must in ["/library/newest", "/library/subjects", "/library/languages", "/opds", "/opds/v2"]:
        assert must in browse.links, must
    # Every link of the browse page leads somewhere.
    for href in sorted(set(browse.links)):
        if href.startswith("/") and not href.startswith("/api/"):
            r = requests.get(lib.url + href, timeout=30)
            assert r.status_code == 200, (href, r.status_code)

    _, subjects = page(lib, "/library/subjects")
    subject_links = [h for h in subjects.links if h.startswith("/library/subjects/")]
    assert len(subject_links) >= 10
    text, subject = page(lib, subject_links[0])
    assert "edition" in text and any(h.startswith("/library/works/") for h in subject.links)
    _, langs = page(lib, "/library/languages")
    assert "/library/languages/en" in langs.links
    text, en = page(lib, "/library/languages/en")
    assert "English (en)" in text

    # Authors: linked from search results and work pages, their page lists their works.
    _, results = page(lib, "/library?q=" + quote("pride and prejudice"))
    author = "/library/authors/" + quote("Jane Austen", safe="")
    assert author in results.links, [h for h in results.links if "authors" in h]
    text, austen = page(lib, author)
    works = [h for h in austen.links if h.startswith("/library/works/")]
    assert len(works) >= 3 and "Pride and Prejudice" in text
    _, work = page(lib, works[0].split("#")[0])
    assert author in work.links
    # Paging and sorting links on a long list.
    text, newest = page(lib, "/library/newest?sort=title")
    nxt = [h for h in newest.links if "page=2" in h]
    assert nxt and "sort=title" in nxt[0]
    page(lib, nxt[0])
    # An unknown author is an empty page, not an error.
    text, _ = page(lib, "/library/authors/" + quote("<b>No One</b>", safe=""))
    assert "0 editions" in text and "<b>No One</b>" not in text

    # Every page of carrel says where its catalogs are (the layout's head).
    for path, status in [("/", 200), ("/library", 200), ("/library/browse", 200), (author, 200),
                         (works[0].split("#")[0], 200), ("/library/works/999999999", 404),
                         ("/s/nonexistentlink", 404)]:
        r = requests.get(lib.url + path, headers={"Accept": "text/html"}, timeout=30)
        assert r.status_code == status, (path, r.status_code)
        p = Links()
        p.feed(r.text)
        assert_discovery(p, path)


def test_screenshots_of_the_browse_pages(lib, backend):
    out = os.path.join(ARTIFACTS, "browse" if backend == "sqlite" else f"browse-{backend}")
    r = subprocess.run(["node", SHOTS, lib.url, out], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout)
    assert not res["errors"], res["errors"]
    for shot in ["browse.png", "author.png", "subject.png"]:
        assert os.path.getsize(os.path.join(out, shot)) > 10_000, shot
