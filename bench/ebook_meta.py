#!/usr/bin/env python3
"""Book-file metadata: carrel against calibre's `ebook-meta`, on the book
files of ../shared/corpus.

`carrel library add` reads every book file (EPUB, PDF, MOBI, FB2, CBZ) of the
corpus into a fresh data directory; the server then reports what it stored
for each edition. `ebook-meta` (Debian package `calibre`) reads the same
files. The agreement on title, authors and language is counted over the
well-formed books: the EPUB, MOBI, FB2 and CBZ folders and the PDFs of
py-pdf's sample files and stump. qpdf's test and fuzz PDFs are PDF-library
test fixtures (most carry no metadata at all, many are damaged on purpose):
they are counted only as "read or refused clearly, never a crash or hang".

Values are compared after Unicode NFKC, case folding, dropping control
characters, and collapsing whitespace and typographic quotes; a title
matches carrel's title alone or "title: subtitle" (calibre joins them);
e-mail addresses in author names are dropped; authors as sets of folded names;
languages as ISO 639 codes (calibre's three letters mapped to carrel's
BCP 47 primary subtag). A title either side derived from the file name
(carrel's `no_title` problem) is not metadata and is left out of the title
count.

    python3 bench/ebook_meta.py            # uses target/debug/carrel unless CARREL_BIN is set
"""
import concurrent.futures as cf
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unicodedata

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(os.path.dirname(ROOT), "shared", "corpus")
BIN = os.environ.get("CARREL_BIN", os.path.join(ROOT, "target", "debug", "carrel"))
BOOK_DIRS = ["epub", "mobi", "fb2", "comics", "pdf"]
WELL_FORMED_PDF = ("pdf/py-pdf-sample-files/", "pdf/stump/")

# ISO 639-2 (bibliographic and terminology) → 639-1, for the languages met.
ISO3 = {
    "eng": "en", "fra": "fr", "fre": "fr", "deu": "de", "ger": "de", "spa": "es", "ita": "it",
    "por": "pt", "nld": "nl", "dut": "nl", "cat": "ca", "jpn": "ja", "ara": "ar", "rus": "ru",
    "pol": "pl", "ron": "ro", "rum": "ro", "zho": "zh", "chi": "zh", "kor": "ko", "heb": "he",
    "ell": "el", "gre": "el", "swe": "sv", "fin": "fi", "dan": "da", "nor": "no", "tur": "tr",
    "ukr": "uk", "ces": "cs", "cze": "cs", "hun": "hu", "eus": "eu", "baq": "eu", "glg": "gl",
    "fas": "fa", "per": "fa", "hin": "hi", "lat": "la", "vie": "vi", "ind": "id",
}


def log(msg):
    print(f"[ebook-meta] {msg}", file=sys.stderr, flush=True)


def fold(s):
    s = "".join(c for c in unicodedata.normalize("NFKC", s or "") if unicodedata.category(c) != "Cc").casefold()
    s = s.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    return " ".join(s.split()).strip(" .,;:")


def is_well_formed(path):
    rel = os.path.relpath(path, CORPUS)
    return not rel.startswith("pdf/") or rel.startswith(WELL_FORMED_PDF)


def calibre(path):
    """ebook-meta's title, authors and languages of one file (None if it failed)."""
    try:
        r = subprocess.run(["ebook-meta", path], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return None
    if r.returncode != 0:
        return None
    fields = {}
    for line in r.stdout.splitlines():
        m = re.match(r"^([A-Za-z() ]+?)\s*: (.*)$", line)
        if m:
            fields[m.group(1).strip()] = m.group(2).strip()
    authors = []
    if "Author(s)" in fields:
        # "A [sort A] & B [sort B]" → ["A", "B"]
        plain = re.sub(r"\s*\[[^\]]*\]", "", fields["Author(s)"])
        # An e-mail address in a creator element is not part of the name.
        plain = re.sub(r"\s*<[^<>@\s]+@[^<>\s]+>", "", plain)
        authors = [a.strip() for a in plain.split(" & ") if a.strip() and a.strip() != "Unknown"]
    langs = [ISO3.get(x.strip(), x.strip()) for x in fields.get("Languages", "").split(",") if x.strip()]
    return {"title": fields.get("Title", ""), "authors": authors, "languages": langs}


def main():
    if not os.path.exists(BIN):
        sys.exit(f"no carrel binary at {BIN}: cargo build -p carrel-cli (or set CARREL_BIN)")
    if subprocess.run(["which", "ebook-meta"], capture_output=True).returncode != 0:
        sys.exit("ebook-meta is not installed: apt-get install calibre")
    data = tempfile.mkdtemp(prefix="carrel-ebook-meta-")
    dirs = [os.path.join(CORPUS, d) for d in BOOK_DIRS]
    log(f"carrel library add {' '.join(BOOK_DIRS)} → {data}")
    t0 = time.time()
    r = subprocess.run([BIN, "library", "add", "--json", "--data", data, *dirs],
                       capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        sys.exit(f"carrel library add failed ({r.returncode}): {r.stderr[-2000:]}")
    rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    log(f"{len(rows)} files in {time.time() - t0:.1f} s")

    srv = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--data", data],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    url = re.search(r"(http://\S+)", srv.stdout.readline().decode()).group(1)
    try:
        ours = {}
        for row in rows:
            if not row["ok"]:
                continue
            res = row["result"]
            e = requests.get(f"{url}/api/library/editions/{res['edition_id']}", timeout=10).json()
            rec = e["record"]
            ours[row["path"]] = {
                "title": rec["title"],
            "subtitle": rec.get("subtitle"),
                "authors": [a["name"] for a in rec.get("authors", [])],
                "language": rec.get("language"),
                "no_title": any(p["code"] == "no_title" for p in res["problems"]),
                "format": res["format"],
            }
    finally:
        srv.terminate()
        srv.wait()

    books = [p for p in ours if is_well_formed(p)]
    refused_books = [row for row in rows if not row["ok"] and is_well_formed(row["path"])]
    log(f"ebook-meta on {len(books)} well-formed books (2 at a time)")
    with cf.ThreadPoolExecutor(2) as ex:
        theirs = dict(zip(books, ex.map(calibre, books)))

    count = {}

    def tally(fmt, field, agree):
        for key in (fmt, "all"):
            c = count.setdefault((key, field), [0, 0])
            c[0] += agree
            c[1] += 1

    disagreements = []
    for p in books:
        c, o = theirs[p], ours[p]
        if c is None:
            continue
        fmt = o["format"]
        if not o["no_title"] and c["title"]:
            # calibre joins an EPUB's main title and subtitle with ": ";
            # carrel keeps the subtitle apart.
            full = o["title"] + (": " + o["subtitle"] if o.get("subtitle") else "")
            ok = fold(c["title"]) in (fold(o["title"]), fold(full))
            tally(fmt, "title", ok)
            if not ok:
                disagreements.append((p, "title", c["title"], o["title"]))
        if c["authors"] or o["authors"]:
            ok = {fold(a) for a in c["authors"]} == {fold(a) for a in o["authors"]}
            tally(fmt, "authors", ok)
            if not ok:
                disagreements.append((p, "authors", c["authors"], o["authors"]))
        if c["languages"] or o["language"]:
            ours_lang = (o["language"] or "").split("-")[0].lower()
            ok = ours_lang in [x.split("-")[0].lower() for x in c["languages"]] or (not c["languages"] and not ours_lang)
            tally(fmt, "language", ok)
            if not ok:
                disagreements.append((p, "language", c["languages"], o["language"]))

    print(f"\nBook files: {len(rows)} read; {sum(1 for x in rows if x['ok'])} stored, "
          f"{sum(1 for x in rows if not x['ok'])} refused with a reason, none crashed or hung "
          f"(the run finished with exit code 0).")
    print(f"Well-formed books compared: {len(books)} (calibre failed on "
          f"{sum(1 for p in books if theirs[p] is None)}); refused in the book folders (the corpus's corrupt, empty and bad files): "
          f"{[os.path.relpath(x['path'], CORPUS) for x in refused_books]}\n")
    print(f"| format | title | authors | language |")
    print(f"|---|---|---|---|")
    fmts = sorted({k for k, _ in count if k != "all"}) + ["all"]
    overall = [0, 0]
    for f in fmts:
        cells = []
        for field in ("title", "authors", "language"):
            a, n = count.get((f, field), [0, 0])
            cells.append(f"{a}/{n} ({100 * a / n:.0f}%)" if n else "–")
            if f == "all":
                overall[0] += a
                overall[1] += n
        print(f"| {f} | " + " | ".join(cells) + " |")
    pct = 100 * overall[0] / max(overall[1], 1)
    print(f"\nOverall agreement (all fields): {overall[0]}/{overall[1]} = {pct:.1f}% (target ≥ 95%)")
    if disagreements:
        print("\nDisagreements (calibre | carrel):")
        for p, field, c, o in disagreements:
            print(f"  {os.path.relpath(p, CORPUS)} [{field}]: {c!r} | {o!r}")
    return 0 if pct >= 95 else 1


if __name__ == "__main__":
    sys.exit(main())
