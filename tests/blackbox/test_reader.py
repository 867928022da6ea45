"""The in-browser reader (/library/read/…) with the real binary on both
backends: EPUB chapters in a sandboxed frame (sanitized: no script, no
handler, no javascript: link survives), the table of contents, the book's
images and CSS through the resource route (and nothing else: traversal,
absolute and encoded paths, scripts and disguised HTML are refused), CBZ
pages (raster images only), the PDF route's headers, unsupported formats,
every EPUB of the corpus (broken ones included) opening to a page or a
clear error, never a 5xx; and the search page, a work page and the reader
driven in headless Chromium (tests/js/reader_pages.mjs) with screenshots."""
import http.client
import io
import json
import os
import re
import struct
import subprocess
import zipfile
import zlib

import pytest
import requests

from conftest import ARTIFACTS, BACKENDS, BIN, ROOT, Server

SHARED = os.path.join(ROOT, "..", "shared", "corpus")
SHERLOCK = os.path.join(SHARED, "epub", "standard-ebooks",
                        "arthur-conan-doyle_the-adventures-of-sherlock-holmes.epub")
COMIC = os.path.join(SHARED, "comics", "stump", "science_comics_001.cbz")
PDF = os.path.join(SHARED, "pdf", "stump", "tall.pdf")
MOBI = os.path.join(SHARED, "mobi", "alice_in_wonderland.mobi")
FB2 = os.path.join(SHARED, "fb2", "derived-pandoc", "metamorphosis.fb2")
CORPUS_EPUBS = os.path.join(SHARED, "epub")

EVIL = "evil.example"


def png(w, h, rgb):
    raw = b"".join(b"\0" + bytes(rgb) * w for _ in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


PIC = png(40, 30, (200, 80, 40))
DISGUISED = b"<html><body><script>alert(document.domain)</script></body></html>"

CH1 = f"""<?xml version="1.0" encoding="utf-8"?>
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Chapter One</title>
<link rel="stylesheet" type="text/css" href="style.css"/>
<link rel="stylesheet" href="http://{EVIL}/remote.css"/>
<style>body {{ color: #123456 }} .x {{ background: url(http://{EVIL}/t.gif) }}</style>
<script>alert('head')</script><script src="http://{EVIL}/x.js"></script>
<meta http-equiv="refresh" content="0;url=http://{EVIL}/"/>
<base href="http://{EVIL}/"/>
</head>
<body onload="alert('onload')">
<h1 id="top">Chapter One</h1>
<p onclick="alert('click')" onmouseover="alert('over')">Hello <a href="javascript:alert('js')">js</a>
<a href=" JaVaScRiPt:alert('js2')">js2</a> <a href="ch2.xhtml#sec">to two</a> <a href="#top">top</a>
<a href="https://example.org/">outside</a> <a href="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;">data</a></p>
<img src="img/pic.png" alt="pic" onerror="alert('onerror')"/>
<img src="http://{EVIL}/track.gif"/>
<iframe src="http://{EVIL}/"></iframe><form action="/api/library/files/x"><input name="q"/></form>
<svg xmlns="http://www.w3.org/2000/svg" onload="alert('svg')"><script>alert('svgscript')</script></svg>
<object data="x.swf"></object><embed src="x.swf"/>
<p style="position: fixed; top: 0; background: url(http://{EVIL}/s.gif)">styled</p>
</body></html>"""

CH2 = """<?xml version="1.0" encoding="utf-8"?>
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Two</title></head>
<body><h2 id="sec">Section Two</h2><p>Second chapter. <a href="ch1.xhtml">Back to one</a></p></body></html>"""

NAV = """<?xml version="1.0" encoding="utf-8"?>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops"><head><title>Contents</title></head>
<body><nav epub:type="toc"><ol><li><a href="ch1.xhtml">Chapter One</a></li>
<li><a href="ch2.xhtml#sec">Section Two</a></li><li><a href="missing.xhtml">Lost</a></li></ol></nav></body></html>"""

CSS = f"""@import url(http://{EVIL}/x.css);
p {{ color: #333; position: fixed }}
body {{ background: url(img/pic.png) }}
.y {{ background: url(http://{EVIL}/y.png) }}"""

OPF = """<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:identifier id="id">urn:uuid:6c7a1f0e-0000-4000-8000-hostilebook01</dc:identifier>
<dc:title>A Hostile Little Book</dc:title><dc:creator>Mallory Example</dc:creator><dc:language>en</dc:language>
</metadata>
<manifest>
<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
<item id="ch1" href="ch1.xhtml" media-type="application/xhtml+xml"/>
<item id="ch2" href="ch2.xhtml" media-type="application/xhtml+xml"/>
<item id="missing" href="missing.xhtml" media-type="application/xhtml+xml"/>
<item id="css" href="style.css" media-type="text/css"/>
<item id="pic" href="img/pic.png" media-type="image/png"/>
<item id="fake" href="img/fake.png" media-type="image/png"/>
<item id="js" href="secret.js" media-type="application/javascript"/>
<item id="page" href="page.html" media-type="text/html"/>
</manifest>
<spine><itemref idref="ch1"/><itemref idref="ch2"/><itemref idref="missing"/></spine>
</package>"""

CONTAINER = """<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>"""


def hostile_epub(path):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")
        z.writestr("META-INF/container.xml", CONTAINER)
        z.writestr("OEBPS/content.opf", OPF)
        z.writestr("OEBPS/nav.xhtml", NAV)
        z.writestr("OEBPS/ch1.xhtml", CH1)
        z.writestr("OEBPS/ch2.xhtml", CH2)
        z.writestr("OEBPS/style.css", CSS)
        z.writestr("OEBPS/img/pic.png", PIC)
        z.writestr("OEBPS/img/fake.png", DISGUISED)
        z.writestr("OEBPS/secret.js", "alert(1)")
        z.writestr("OEBPS/page.html", DISGUISED)


PAGES = [("p1.png", png(60, 90, (10, 20, 30))), ("p2.png", png(60, 90, (40, 50, 60))),
         ("p3.jpg", DISGUISED), ("p10.png", png(60, 90, (70, 80, 90)))]


def comic(path):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in PAGES:
            z.writestr(name, data)
        z.writestr("ComicInfo.xml", "<ComicInfo><Title>Four Pages</Title></ComicInfo>")


def library_add(srv, *paths):
    cmd = [BIN, "library", "add", "--json", "--data", srv.data]
    if srv.database:
        cmd += ["--database", srv.database]
    r = subprocess.run(cmd + list(paths), capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:] + r.stdout[-3000:]
    return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module", params=BACKENDS)
def shelf(request, postgres_ok, tmp_path_factory):
    if request.param == "postgres" and not postgres_ok:
        pytest.skip("SKIPPING PostgreSQL: no server at 127.0.0.1:5432 (allowed only outside CI)")
    tmp = tmp_path_factory.mktemp("reader")
    hostile, cbz = tmp / "hostile.epub", tmp / "four-pages.cbz"
    hostile_epub(hostile)
    comic(cbz)
    srv = Server(request.param)
    srv.stop()
    rows = library_add(srv, str(hostile), str(cbz), SHERLOCK, COMIC, PDF, MOBI, FB2, CORPUS_EPUBS)
    srv.rows = rows
    srv.ids = {}
    for r in rows:
        if r["ok"]:
            srv.ids.setdefault(os.path.basename(r["path"]), r["result"])
    srv.start()
    yield srv
    srv.close()


def fid(shelf, name):
    return shelf.ids[name]["file_id"]


def raw_get(shelf, path):
    """GET with the path sent exactly as written (no dot-segment removal)."""
    c = http.client.HTTPConnection("127.0.0.1", shelf.port, timeout=30)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, dict(r.getheaders()), body


def assert_user_content(h):
    assert h["X-Content-Type-Options"] == "nosniff"
    csp = h["Content-Security-Policy"]
    assert csp.startswith("sandbox") and "allow-scripts" not in csp, csp


def test_epub_reader_page_has_toc_and_a_sandboxed_frame(shelf):
    f = fid(shelf, "hostile.epub")
    r = requests.get(f"{shelf.url}/library/read/{f}", timeout=30)
    assert r.status_code == 200, r.text[:500]
    assert r.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    frame = re.search(r'<iframe class="chapter"[^>]*>', r.text).group(0)
    assert f'src="/library/read/{f}/book/OEBPS/ch1.xhtml"' in frame, frame
    sandbox = re.search(r'sandbox="([^"]*)"', frame).group(1)
    assert "allow-scripts" not in sandbox and "allow-same-origin" in sandbox
    # The table of contents links to chapters (with their anchors).
    assert f'href="/library/read/{f}/1"' in r.text
    assert f'href="/library/read/{f}/2?anchor=sec"' in r.text
    assert "Section Two" in r.text and "1 / 3" in r.text
    assert f'data-next="/library/read/{f}/2"' in r.text and "data-prev" not in r.text
    # Chapter 2 names both neighbours; an anchor reaches the frame.
    r2 = requests.get(f"{shelf.url}/library/read/{f}/2?anchor=sec", timeout=30)
    assert r2.status_code == 200
    assert f'src="/library/read/{f}/book/OEBPS/ch2.xhtml#sec"' in r2.text
    assert f'data-prev="/library/read/{f}/1"' in r2.text and f'data-next="/library/read/{f}/3"' in r2.text


def test_chapters_are_sanitized_and_links_rewritten(shelf):
    f = fid(shelf, "hostile.epub")
    r = requests.get(f"{shelf.url}/library/read/{f}/book/OEBPS/ch1.xhtml", timeout=30)
    assert r.status_code == 200, r.text[:500]
    h = r.headers
    assert h["Content-Type"] == "text/html; charset=utf-8"
    assert h["X-Content-Type-Options"] == "nosniff"
    csp = h["Content-Security-Policy"]
    assert csp.startswith("sandbox ") and "allow-scripts" not in csp and "script-src 'none'" in csp, csp
    assert "frame-ancestors 'self'" in csp and "default-src 'none'" in csp
    body = r.text
    lower = body.lower()
    for bad in ["<script", "onload", "onclick", "onerror", "onmouseover", "javascript:", "alert(", "<iframe",
                "<form", "<input", "<object", "<embed", "<base", "http-equiv", EVIL, "data:text", "fixed"]:
        assert bad not in lower, f"{bad} in {body}"
    assert f'href="/library/read/{f}/2?anchor=sec" target="_top"' in body
    assert 'href="#top"' in body
    assert 'href="https://example.org/" target="_blank" rel="noopener noreferrer"' in body
    assert 'src="img/pic.png"' in body
    assert f'href="/library/read/{f}/book/OEBPS/style.css"' in body
    assert "color: #123456" in body
    assert f'href="/library/read/{f}/2" target="_top"' in body  # the "Next" at the end
    two = requests.get(f"{shelf.url}/library/read/{f}/book/OEBPS/ch2.xhtml", timeout=30)
    assert two.status_code == 200 and f'href="/library/read/{f}/1" target="_top"' in two.text


def test_resources_are_only_images_fonts_and_css_from_the_book(shelf):
    f = fid(shelf, "hostile.epub")
    base = f"{shelf.url}/library/read/{f}/book/OEBPS"
    img = requests.get(f"{base}/img/pic.png", timeout=30)
    assert img.status_code == 200 and img.content == PIC
    assert img.headers["Content-Type"] == "image/png"
    assert_user_content(img.headers)
    css = requests.get(f"{base}/style.css", timeout=30)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    assert_user_content(css.headers)
    assert EVIL not in css.text and "@import" not in css.text and "fixed" not in css.text
    assert "url(img/pic.png)" in css.text and "color: #333" in css.text
    # HTML disguised as an image, scripts, other documents, the container: refused.
    for path, codes in [("img/fake.png", {422}), ("secret.js", {403}), ("page.html", {403}),
                        ("../META-INF/container.xml", {400, 403}), ("content.opf", {403}),
                        ("nothing.png", {404})]:
        r = requests.get(f"{base}/{path}", timeout=30)
        assert r.status_code in codes, (path, r.status_code, r.text[:300])
        assert b"alert" not in r.content
    # A spine document missing from the zip is a clear 404, in a page.
    r = requests.get(f"{base}/missing.xhtml", headers={"Accept": "text/html"}, timeout=30)
    assert r.status_code == 404 and "not found" in r.text.lower()


@pytest.mark.parametrize("path", [
    "../../../../etc/passwd", "OEBPS/../../../etc/passwd", "%2e%2e/%2e%2e/etc/passwd",
    "OEBPS/%2E%2E/%2E%2E/%2E%2E/etc/passwd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/etc/passwd",
    "%2Fetc%2Fpasswd", "..%5c..%5cetc%5cpasswd", "OEBPS/%252e%252e/%252e%252e/etc/passwd",
    "OEBPS%00/ch1.xhtml",
])
def test_traversal_is_refused(shelf, path):
    f = fid(shelf, "hostile.epub")
    status, headers, body = raw_get(shelf, f"/library/read/{f}/book/{path}")
    assert status in (400, 403, 404), (path, status, body[:300])
    assert b"root:" not in body


def test_out_of_range_and_foreign_routes(shelf):
    f, c, p = fid(shelf, "hostile.epub"), fid(shelf, "four-pages.cbz"), fid(shelf, "tall.pdf")
    for url in [f"/library/read/{f}/4", f"/library/read/{f}/0", f"/library/read/{f}/abc",
                f"/library/read/{f}/99999999999999999999999", f"/library/read/{c}/page/5",
                f"/library/read/{c}/page/0", f"/library/read/{c}/image/0", f"/library/read/{c}/image/99",
                f"/library/read/{p}/page/1", f"/library/read/{c}/1", f"/library/read/{f}/pdf",
                f"/library/read/{p}/book/x.png", "/library/read/nope", "/library/read/" + "0" * 26,
                "/library/read/" + "0" * 26 + "/1"]:
        r = requests.get(shelf.url + url, headers={"Accept": "text/html"}, timeout=30)
        assert r.status_code == 404, (url, r.status_code)
        assert r.headers["Content-Type"].startswith("text/html")
    # The missing chapter: carrel's page opens, its frame says what is wrong.
    assert requests.get(f"{shelf.url}/library/read/{f}/3", timeout=30).status_code == 200


def test_cbz_pages(shelf):
    c = fid(shelf, "four-pages.cbz")
    r = requests.get(f"{shelf.url}/library/read/{c}", timeout=30)
    assert r.status_code == 200 and "Page 1" in r.text and "of 4" in r.text
    assert f'src="/library/read/{c}/image/1"' in r.text
    assert f'data-next="/library/read/{c}/page/2"' in r.text
    # Natural order: p1, p2, p3, p10.
    for n, (name, data) in enumerate(PAGES, 1):
        img = requests.get(f"{shelf.url}/library/read/{c}/image/{n}", timeout=30)
        if data is DISGUISED:
            assert img.status_code == 422 and b"alert" not in img.content, (n, img.status_code)
            continue
        assert img.status_code == 200 and img.content == data, n
        assert img.headers["Content-Type"] == "image/png"
        assert_user_content(img.headers)
    last = requests.get(f"{shelf.url}/library/read/{c}/page/4", timeout=30)
    assert last.status_code == 200 and f'data-prev="/library/read/{c}/page/3"' in last.text
    assert "data-next" not in last.text
    real = fid(shelf, "science_comics_001.cbz")
    img = requests.get(f"{shelf.url}/library/read/{real}/image/1", timeout=30)
    assert img.status_code == 200 and img.headers["Content-Type"] == "image/jpeg"
    assert img.content[:3] == b"\xff\xd8\xff"


def test_pdf_opens_inline_in_the_browsers_viewer(shelf):
    p = fid(shelf, "tall.pdf")
    page = requests.get(f"{shelf.url}/library/read/{p}", timeout=30)
    assert page.status_code == 200 and f'src="/library/read/{p}/pdf"' in page.text
    assert f'href="/library/files/{p}"' in page.text
    r = requests.get(f"{shelf.url}/library/read/{p}/pdf", timeout=30)
    assert r.status_code == 200 and r.content[:5] == b"%PDF-"
    assert r.headers["Content-Type"] == "application/pdf"
    assert r.headers["Content-Disposition"].startswith("inline")
    assert_user_content(r.headers)
    part = requests.get(f"{shelf.url}/library/read/{p}/pdf", headers={"Range": "bytes=0-3"}, timeout=30)
    assert part.status_code == 206 and part.content == b"%PDF"
    assert part.headers["Content-Type"] == "application/pdf"
    head = requests.head(f"{shelf.url}/library/read/{p}/pdf", timeout=30)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(r.content)


@pytest.mark.parametrize("name", ["alice_in_wonderland.mobi", "metamorphosis.fb2"])
def test_other_formats_offer_the_download(shelf, name):
    f = fid(shelf, name)
    r = requests.get(f"{shelf.url}/library/read/{f}", timeout=30)
    assert r.status_code == 200
    assert "can’t be read in the browser" in r.text
    assert f'href="/library/files/{f}"' in r.text


def test_every_corpus_epub_opens_or_says_why(shelf):
    """Real and broken EPUBs: the reader page, the first chapters and their
    images answer with a page or a clear error, never a 5xx or a hang."""
    epubs = [r for r in shelf.rows if r["ok"] and r["result"]["format"] == "epub"
             and os.path.basename(r["path"]) != "hostile.epub"]
    assert len(epubs) >= 30, len(epubs)
    opened = 0
    for row in epubs:
        f = row["result"]["file_id"]
        r = requests.get(f"{shelf.url}/library/read/{f}", timeout=60)
        assert r.status_code < 500, (row["path"], r.status_code, r.text[:300])
        if r.status_code != 200:
            assert r.status_code in (403, 422), (row["path"], r.status_code)
            continue
        opened += 1
        count = int(re.search(r'data-count="(\d+)"', r.text).group(1))
        for n in range(1, min(count, 3) + 1):
            page = requests.get(f"{shelf.url}/library/read/{f}/{n}", timeout=60)
            assert page.status_code == 200, (row["path"], n)
            src = re.search(r'<iframe class="chapter"[^>]*src="([^"#]*)', page.text).group(1)
            doc = requests.get(shelf.url + src, timeout=60)
            assert doc.status_code < 500, (row["path"], src, doc.status_code)
            if doc.status_code != 200:
                continue
            assert "<script" not in doc.text.lower(), (row["path"], src)
            for img in re.findall(r'<img[^>]*src="([^"]+)"', doc.text)[:3]:
                u = requests.compat.urljoin(shelf.url + src, img.replace("&amp;", "&"))
                got = requests.get(u, timeout=60)
                assert got.status_code < 500, (row["path"], u, got.status_code)
                if got.status_code == 200:
                    assert got.headers["Content-Type"].startswith("image/"), (u, got.headers)
    assert opened >= 0.9 * len(epubs), (opened, len(epubs))


SCRIPT = os.path.join(ROOT, "tests", "js", "reader_pages.mjs")


def test_search_work_and_reader_in_chromium(shelf):
    sherlock = shelf.ids[os.path.basename(SHERLOCK)]
    out_dir = os.path.join(ARTIFACTS, f"reader-{shelf.backend}")
    args = ["node", SCRIPT, shelf.url, sherlock["file_id"], str(sherlock["work_id"]),
            fid(shelf, "science_comics_001.cbz"), out_dir]
    r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:] + r.stdout[-2000:]
    res = json.loads(r.stdout)
    assert res["searchHit"], res
    assert res["readLink"].endswith(f"/library/read/{sherlock['file_id']}"), res
    assert res["serif"], res
    assert res["movedNext"], res
    assert abs(res["restored"] - res["scrolledTo"]) < 0.03, res
    assert res["offered"] and f"/library/read/{sherlock['file_id']}/" in res["offerLink"], res
    assert abs(res["afterContinue"] - res["scrolledTo"]) < 0.03, res
    assert res["keysInFrame"], res
    assert res["comicNext"], res
    assert not res["errors"], res["errors"]
    for shot in ["search.png", "work.png", "reader.png", "reader-resume.png", "reader-dark.png",
                 "reader-toc.png", "comic.png"]:
        assert os.path.getsize(os.path.join(out_dir, shot)) > 5_000, shot
