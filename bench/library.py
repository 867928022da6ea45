#!/usr/bin/env python3
"""The library: `carrel import` throughput and search latency through the
real binary, side by side with SQLite FTS5 on the same records and queries.

    bench/library.py --sizes 100k,1m [--rounds 3] [--queries 400] [--keep]

For each size N it

1. derives N records from the real metadata in ../shared/corpus/meta (read
   once): Project Gutenberg's catalog (title, author, language, bookshelves
   as subjects), goodbooks-10k (title, authors, year, language) and the arXiv
   quant-ph OAI harvest (title, year, abstract cut to 300 characters) — about
   134,000 base records in all. Record i is variant v = i // B of base record
   i mod B (B bases, in a fixed shuffled order). Variant 0 is the record as
   it is. A later variant (seeded, reproducible):
     - title: its words shuffled (half of the variants), then each word
       replaced, with probability 0.3, by a word drawn from the title words of
       all base records (so the real vocabulary at its real frequencies);
     - authors: those of another base record (half of the variants);
     - year: the base year shifted by -30..+30 (or drawn from 1800-2024);
     - language and subjects as in the base record; abstracts (articles)
       kept for a third of the variants.
   Every record gets a unique source key (`bench:<i>`) and a unique, valid
   identifier: books a synthetic ISBN-13 (978 + 9 digits of i + check
   digit), articles a DOI 10.5555/bench.<i>. So the import does its
   identifier lookups as with a real dump, and nothing dedups away (apart
   from the rare article whose title, first author and year collide: the
   report counts those as updated).
   Books and articles go to two CSV files, imported by two `carrel import
   --format csv` runs into the same fresh data directory (SQLite, the
   default backend). The import rate is records / wall time of both runs
   (process start to exit: opening, parsing, database, index, commits, and
   the second run's final merge of the index into one segment; the first
   runs with --no-optimize).
2. loads the same records into an SQLite FTS5 table (Python's sqlite3,
   unicode61 with diacritics removed, 10,000-row transactions, then
   'optimize'), timing the load the same way;
3. starts `carrel serve` on the data directory and runs one query set (fixed
   seed; drawn from the records imported: whole titles, title beginnings
   typed as you type, author + title word, author names, titles with one
   typo) against /api/library/search (2 client threads, keep-alive,
   limit 20; the API also returns the total and the records read from the
   database; run twice, as the as-you-type requests ask (`carrel`) and with
   `facets=true` as the search page asks (`carrel+facets`)) and against FTS5 (2 threads, each its own connection:
   every word must match, the last one as a prefix `word*` when typed as
   you type; top 20 by bm25 with the same field weights, with the records'
   fields, plus the count of matches, as a search page shows both). Each
   query set is run `--rounds` times, interleaved; medians are reported.

The 10M size takes a long time on a 2-core machine (one run: generating,
importing and loading FTS5 take most of an hour).
"""
import argparse
import csv
import gzip
import http.client
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import unicodedata
import urllib.parse
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

META = os.path.join(lib.SHARED, "corpus", "meta")
SEED = 20261123
csv.field_size_limit(1 << 24)


# ---------------------------------------------------------------- base records

def read_bases():
    """(kind, title, authors, year, language, subjects, description) of every base record."""
    bases = []
    with gzip.open(os.path.join(META, "gutenberg", "gutenberg_metadata.csv.gz"), "rt", encoding="utf-8") as f:
        last = None
        for row in csv.DictReader(f):
            title = " ".join(row["title"].split())
            if not title or row["gutenberg_id"] == last:
                continue
            last = row["gutenberg_id"]
            author = row["author"].strip()
            if author.count(",") == 1:  # "Austen, Jane" -> "Jane Austen"
                s, g = author.split(",")
                author = f"{g.strip()} {s.strip()}"
            author = re.sub(r"\s*\(.*?\)", "", author)
            if author in ("NA", "Anonymous", "Various"):
                author = ""
            subjects = [s.strip() for s in row["gutenberg_bookshelf"].split("/")
                        if s.strip() and s != "NA"][:4]
            lang = row["language"] if re.fullmatch(r"[a-z]{2}", row["language"] or "") else ""
            bases.append(("book", title, [author] if author else [], None, lang, subjects, ""))
    with gzip.open(os.path.join(META, "goodbooks-10k.csv.gz"), "rt", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            title = row["original_title"].strip() or row["title"].strip()
            try:
                year = int(float(row["original_publication_year"]))
            except ValueError:
                year = None
            lang = (row["language_code"] or "")[:2]
            lang = lang if re.fullmatch(r"[a-z]{2}", lang) else ""
            authors = [a.strip() for a in row["authors"].split(",") if a.strip()][:3]
            bases.append(("book", title, authors, year if year and 0 < year < 2100 else None, lang, [], ""))
    arxiv = os.path.join(META, "arxiv-quant-ph")
    for name in sorted(os.listdir(arxiv)):
        with gzip.open(os.path.join(arxiv, name), "rb") as f:
            for _, el in ET.iterparse(f):
                if el.tag != "record":
                    continue
                title = " ".join((el.findtext(".//title") or "").split())
                desc = " ".join((el.findtext(".//description") or "").split())
                date = el.findtext(".//date") or ""
                if title:
                    if len(desc) > 300:
                        desc = desc[:300].rsplit(" ", 1)[0]
                    year = int(date[:4]) if date[:4].isdigit() else None
                    bases.append(("article", title, [], year, "en", ["Quantum physics"], desc))
                el.clear()
    # arXiv records name no authors: give them those of Gutenberg and
    # goodbooks records, drawn at random (fixed seed).
    r = random.Random(SEED)
    people = [b[2] for b in bases if b[2]]
    bases = [b if b[0] != "article" else (b[0], b[1], r.choice(people), *b[3:]) for b in bases]
    r.shuffle(bases)
    return bases


WORD = re.compile(r"\w+", re.UNICODE)


def isbn13(i):
    digits = f"978{i:09d}"
    s = sum(int(d) * (1 if k % 2 == 0 else 3) for k, d in enumerate(digits))
    return digits + str((10 - s % 10) % 10)


class Deriver:
    def __init__(self, bases):
        self.bases = bases
        self.vocab = [w for b in bases for w in WORD.findall(b[1]) if len(w) > 1]
        self.r = random.Random(SEED)

    def record(self, i):
        """Record i: (kind, id, title, authors, year, language, subjects, description, identifier)."""
        B = len(self.bases)
        kind, title, authors, year, lang, subjects, desc = self.bases[i % B]
        v = i // B
        if v:
            r = self.r
            words = title.split()
            if r.random() < 0.5:
                r.shuffle(words)
            words = [r.choice(self.vocab) if r.random() < 0.3 else w for w in words]
            title = " ".join(words)
            if r.random() < 0.5:
                authors = self.bases[r.randrange(B)][2]
            year = (year + r.randint(-30, 30)) if year else r.randint(1800, 2024)
            if desc and r.random() > 1 / 3:
                desc = ""
        ident = isbn13(i) if kind == "book" else f"10.5555/bench.{i}"
        return kind, f"{i}", title, authors, year, lang, subjects, desc, ident


# ---------------------------------------------------------------- records and queries

def fold_words(text):
    t = unicodedata.normalize("NFKD", text)
    t = "".join(c for c in t if not unicodedata.combining(c)).lower().replace("'", "")
    return [w for w in re.split(r"[^\w]+|_", t) if w]


def misspell(w, r):
    """One edit in a word of five letters or more, not in its first letter."""
    if len(w) < 5 or not w.isalpha():
        return None
    k = r.randrange(1, len(w) - 1)
    op = r.randrange(3)
    if op == 0:
        return w[:k] + w[k + 1] + w[k] + w[k + 2:]  # transposition
    if op == 1:
        return w[:k] + w[k + 1:]  # deletion
    return w[:k] + r.choice("aeiourstln") + w[k + 1:]  # substitution


def make_query(rec, n, r):
    """(class, text, as_you_type) from a record, by the query number n."""
    _, _, title, authors, *_ = rec
    words = title.split()
    c = n % 10
    if c in (0, 1) or not words:
        return "title", title, False
    if c in (2, 3, 4):
        k = min(len(words), r.randint(1, 3))
        text = " ".join(words[:k])
        last = words[k - 1]
        cut = r.randint(2, max(2, len(last)))
        return "prefix", " ".join(words[:k - 1] + [last[:cut]]), True
    if c == 5 and authors:
        surname = authors[0].split()[-1]
        return "author+title", f"{surname} {r.choice(words)}", False
    if c == 6 and authors:
        return "author", authors[0], False
    long_words = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if long_words:
        i = r.choice(long_words)
        t = list(words)
        t[i] = misspell(words[i], r)
        return "typo", " ".join(t), False
    return "title", title, False


def generate(n, out_dir, nqueries, bases):
    """Writes books.csv, articles.csv, fts.tsv and queries.json (kept between runs)."""
    os.makedirs(out_dir, exist_ok=True)
    done = os.path.join(out_dir, "done")
    if os.path.exists(done):
        return json.load(open(os.path.join(out_dir, "queries.json")))
    d = Deriver(bases)
    qr = random.Random(SEED + 1)
    picks = sorted(qr.sample(range(n), nqueries))
    queries, p = [], 0
    header = ["id", "title", "authors", "year", "language", "subjects", "description", "ident"]
    t0 = time.time()
    with open(os.path.join(out_dir, "books.csv"), "w", newline="", encoding="utf-8") as fb, \
            open(os.path.join(out_dir, "articles.csv"), "w", newline="", encoding="utf-8") as fa, \
            open(os.path.join(out_dir, "fts.tsv"), "w", encoding="utf-8") as ft:
        wb, wa = csv.writer(fb), csv.writer(fa)
        wb.writerow(header)
        wa.writerow(header)
        for i in range(n):
            rec = d.record(i)
            kind, rid, title, authors, year, lang, subjects, desc, ident = rec
            row = [rid, title, ";".join(authors), year or "", lang, ";".join(subjects), desc, ident]
            (wb if kind == "book" else wa).writerow(row)
            clean = lambda s: s.replace("\t", " ").replace("\n", " ")
            ft.write(f"{i + 1}\t{clean(title)}\t{clean(' '.join(authors))}\t{year or ''}\t"
                     f"{clean(' '.join(subjects))}\t{clean(desc)}\n")
            while p < len(picks) and picks[p] == i:
                queries.append(make_query(rec, p, qr))
                p += 1
            if i and i % 1_000_000 == 0:
                lib.log(f"generated {i} records ({i / (time.time() - t0):.0f}/s)")
    qr.shuffle(queries)
    json.dump(queries, open(os.path.join(out_dir, "queries.json"), "w"))
    open(done, "w").close()
    return queries


# ---------------------------------------------------------------- carrel

MAP = ["--map", "id=id", "--map", "scheme=bench", "--map", "title=title", "--map", "authors=authors",
       "--map", "year=year", "--map", "language=language", "--map", "subjects=subjects",
       "--map", "description=description"]


def run_timed(args, env=None, cpu=None):
    """Runs a command; (wall seconds, peak RSS in bytes, stdout). Adds its
    CPU seconds (user + system) to cpu[0] when given."""
    t0 = time.perf_counter()
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    # Read the pipes on threads so a chatty child never blocks.
    res = {}
    th = [threading.Thread(target=lambda k, s: res.__setitem__(k, s.read()), args=(k, s))
          for k, s in (("out", p.stdout), ("err", p.stderr))]
    for t in th:
        t.start()
    _, status, ru = os.wait4(p.pid, 0)
    for t in th:
        t.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    dt = time.perf_counter() - t0
    if cpu is not None:
        cpu[0] += ru.ru_utime + ru.ru_stime
    if p.returncode != 0:
        raise SystemExit(f"{args[:3]} failed ({p.returncode}): {res['err'].decode()[-2000:]}")
    return dt, ru.ru_maxrss * 1024, res["out"].decode()


def dir_size(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def carrel_import(src, data, binary=None):
    """Imports books.csv then articles.csv into a fresh data directory with
    `binary` (default: the bench's carrel)."""
    shutil.rmtree(data, ignore_errors=True)
    os.makedirs(data)
    env = dict(os.environ, CARREL_LOG="warn")
    wall, rss, reports, cpu = 0.0, 0, [], [0.0]
    optimize = 0.0
    # The first import leaves the index's segments for the second, which
    # merges them into one at its end (counted in its time).
    for name, kind, ident, last in (("books.csv", "book", "isbn", False), ("articles.csv", "article", "doi", True)):
        args = [binary or lib.BIN, "import", "--json", "--data", data, "--format", "csv", "--kind", kind,
                *MAP, "--map", f"{ident}=ident", os.path.join(src, name)] + ([] if last else ["--no-optimize"])
        dt, peak, out = run_timed(args, env, cpu)
        lines = [json.loads(x) for x in out.strip().splitlines() if x.startswith("{")]
        rep = next(x["report"] for x in lines if "report" in x)
        opt = next((x["optimize"] for x in lines if "optimize" in x), None)
        if opt:
            optimize += opt["seconds"]
        lib.log(f"carrel import {name}: {rep['records']} records ({rep['created']} new) in {dt:.1f} s"
                + (f" (of which merging {opt['segments']} index segments: {opt['seconds']:.1f} s)" if opt else "")
                + f", {rep['bad']} bad, peak RSS {lib.mib(peak):.0f} MiB")
        wall += dt
        rss = max(rss, peak)
        reports.append(rep)
    db = sum(os.path.getsize(os.path.join(data, f)) for f in os.listdir(data) if f.startswith("carrel.db"))
    return {
        "records": sum(r["records"] for r in reports),
        "created": sum(r["created"] for r in reports),
        "bad": sum(r["bad"] for r in reports),
        "seconds": wall,
        "cpu": cpu[0],
        "optimize_seconds": optimize,
        "rss": rss,
        "db_bytes": db,
        "index_bytes": dir_size(os.path.join(data, "library-index")),
    }


class Server:
    """`carrel serve` on an existing data directory."""

    def __init__(self, data):
        self.log = open(os.path.join(lib.WORK, "library-serve.log"), "ab")
        self.proc = subprocess.Popen([lib.BIN, "serve", "--listen", "127.0.0.1:0", "--data", data],
                                     stdout=subprocess.PIPE, stderr=self.log,
                                     env=dict(os.environ, CARREL_LOG="warn"))
        line = self.proc.stdout.readline().decode()
        m = re.search(r"listening on http://([\d.]+):(\d+)", line)
        if not m:
            raise SystemExit(f"carrel did not start: {line!r}")
        self.host, self.port = m.group(1), int(m.group(2))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)


def measure(items, threads, make_state, work):
    """Runs work(state, item) over items on `threads` threads, each with its
    own state (connection); (latencies, wall seconds, results)."""
    lat = [0.0] * len(items)
    res = [None] * len(items)
    nxt = iter(range(len(items)))
    lock = threading.Lock()

    def worker(state):
        while True:
            with lock:
                i = next(nxt, None)
            if i is None:
                return
            s = time.perf_counter()
            res[i] = work(state, items[i])
            lat[i] = time.perf_counter() - s

    ts = [threading.Thread(target=worker, args=(make_state(),)) for _ in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return lat, time.perf_counter() - t0, res


def pct(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * p))]


def http_search(srv, facets=False):
    """Results as the page shows them while typing; with `facets`, also the
    counts by kind, language, format, file and decade (the search page)."""
    def make():
        return http.client.HTTPConnection(srv.host, srv.port, timeout=60)

    def work(conn, q):
        _, text, typing = q
        path = "/api/library/search?limit=20&q=" + urllib.parse.quote(text) + ("&prefix=true" if typing else "") \
            + ("&facets=true" if facets else "")
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise SystemExit(f"{path}: {r.status} {body[:300]!r}")
        return json.loads(body)["total"]
    return make, work


# ---------------------------------------------------------------- FTS5

FTS_COLS = "title, authors, year UNINDEXED, subjects, description"


def fts_load(src, path):
    for ext in ("", "-wal", "-journal"):
        if os.path.exists(path + ext):
            os.remove(path + ext)
    t0 = time.perf_counter()
    db = sqlite3.connect(path)
    db.execute(f"CREATE VIRTUAL TABLE t USING fts5({FTS_COLS}, tokenize = 'unicode61 remove_diacritics 2')")
    ins = "INSERT INTO t(rowid, title, authors, year, subjects, description) VALUES (?,?,?,?,?,?)"
    n = 0
    with open(os.path.join(src, "fts.tsv"), encoding="utf-8") as f:
        batch = []
        for line in f:
            batch.append(line.rstrip("\n").split("\t"))
            if len(batch) == 10_000:
                db.executemany(ins, batch)
                db.commit()
                n += len(batch)
                batch = []
        if batch:
            db.executemany(ins, batch)
            db.commit()
            n += len(batch)
    load = time.perf_counter() - t0
    db.execute("INSERT INTO t(t) VALUES ('optimize')")
    db.commit()
    db.close()
    return {"records": n, "seconds": load, "optimize_seconds": time.perf_counter() - t0 - load,
            "db_bytes": os.path.getsize(path)}


def fts_match(text, typing):
    words = fold_words(text)[:16]
    if not words:
        return None
    terms = ['"%s"' % w for w in words]
    if typing and text[-1:].isalnum():
        terms[-1] += "*"
    return " ".join(terms)


TOP = ("SELECT rowid, title, authors, year FROM t WHERE t MATCH ? "
       "ORDER BY bm25(t, 3, 2.5, 0, 1, 0.3) LIMIT 20")
COUNT = "SELECT count(*) FROM t WHERE t MATCH ?"


def fts_search(path, with_count):
    def make():
        return sqlite3.connect(path, check_same_thread=False)

    def work(db, q):
        m = fts_match(q[1], q[2])
        if m is None:
            return 0
        rows = db.execute(TOP, (m,)).fetchall()
        if with_count:
            return db.execute(COUNT, (m,)).fetchone()[0]
        return len(rows)
    return make, work


# ---------------------------------------------------------------- main

def parse_size(s):
    s = s.strip().lower()
    mult = {"k": 1_000, "m": 1_000_000}.get(s[-1], 1)
    return int(float(s.rstrip("km")) * mult)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100k,1m")
    ap.add_argument("--rounds", type=int, default=3, help="query rounds (interleaved), medians reported")
    ap.add_argument("--imports", type=int, default=1, help="import runs per size (median reported)")
    ap.add_argument("--queries", type=int, default=400)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the data directories and FTS5 databases")
    ap.add_argument("--no-fts", action="store_true")
    ap.add_argument("--reuse-data", action="store_true",
                    help="search a data directory kept by --keep instead of importing again (no import figures)")
    a = ap.parse_args()
    lib.build()
    lib.log(f"work directory {lib.WORK}")
    bases = None
    summary = []
    for size in a.sizes.split(","):
        n = parse_size(size)
        src = os.path.join(lib.WORK, f"library-{size}")
        if not os.path.exists(os.path.join(src, "done")):
            if bases is None:
                t0 = time.time()
                bases = read_bases()
                lib.log(f"{len(bases)} base records read in {time.time() - t0:.1f} s")
        t0 = time.time()
        queries = generate(n, src, a.queries, bases)
        lib.log(f"{size}: {n} records, {len(queries)} queries ready ({time.time() - t0:.1f} s)")

        data = os.path.join(lib.WORK, f"library-{size}-data")
        imps = []
        if a.reuse_data and os.path.exists(os.path.join(data, "library-index")):
            lib.log(f"searching the data kept in {data} (not imported again)")
            imp = None
        else:
            for k in range(a.imports):
                imps.append(carrel_import(src, data))
                lib.log(f"import {k + 1}: {imps[-1]['records'] / imps[-1]['seconds']:.0f} records/s")
            imp = sorted(imps, key=lambda x: x["seconds"])[len(imps) // 2]
        fts_path = os.path.join(lib.WORK, f"library-{size}-fts.db")
        fts = None
        if not a.no_fts:
            fts = fts_load(src, fts_path)
            lib.log(f"FTS5 load: {fts['records'] / fts['seconds']:.0f} records/s, "
                    f"optimize {fts['optimize_seconds']:.1f} s, {lib.mib(fts['db_bytes']):.0f} MiB")

        srv = Server(data)
        sampler = lib.RssSampler(srv.proc.pid)
        try:
            make, work = http_search(srv)
            measure(queries, a.threads, make, work)  # warm-up
            peers = {"carrel": http_search(srv), "carrel+facets": http_search(srv, True)}
            if fts:
                measure(queries, a.threads, *fts_search(fts_path, True))  # warm-up
                peers["fts5"] = fts_search(fts_path, False)
                peers["fts5+count"] = fts_search(fts_path, True)
            runs = {k: [] for k in peers}
            empty, last = {}, {}
            for rnd in range(a.rounds):
                for name, (make, work) in peers.items():
                    lat, wall, res = measure(queries, a.threads, make, work)
                    runs[name].append((pct(lat, 0.5), pct(lat, 0.99), len(queries) / wall))
                    empty[name] = sum(1 for x in res if not x)
                    last[name] = lat
                    lib.log(f"round {rnd + 1} {name}: p50 {pct(lat, 0.5) * 1e3:.2f} ms, "
                            f"p99 {pct(lat, 0.99) * 1e3:.2f} ms, {len(queries) / wall:.0f} q/s, "
                            f"{empty[name]} without hits")
            serve_rss = sampler.stop()
        finally:
            srv.stop()
        med = {k: tuple(lib.median([r[i] for r in v]) for i in range(3)) for k, v in runs.items()}

        if imp:
            print(f"\n## {size} records ({imp['records']} imported, {imp['created']} new; "
                  f"{len(queries)} queries, {a.threads} clients, {a.rounds} rounds)")
            rows = [["carrel import", f"{imp['records'] / imp['seconds']:,.0f} rec/s",
                     f"{imp['seconds']:.1f} s (merge {imp['optimize_seconds']:.1f} s)", f"peak RSS {lib.mib(imp['rss']):.0f} MiB",
                     f"DB {lib.mib(imp['db_bytes']):.0f} MiB, index {lib.mib(imp['index_bytes']):.0f} MiB"]]
        else:
            print(f"\n## {size} records (kept data, not imported again; "
                  f"{len(queries)} queries, {a.threads} clients, {a.rounds} rounds)")
            rows = [["carrel import", "not run", "", "",
                     f"index {lib.mib(dir_size(os.path.join(data, 'library-index'))):.0f} MiB"]]
        if fts:
            rows.append(["FTS5 load", f"{fts['records'] / fts['seconds']:,.0f} rec/s",
                         f"{fts['seconds']:.1f} s (+{fts['optimize_seconds']:.1f} s optimize)", "",
                         f"DB {lib.mib(fts['db_bytes']):.0f} MiB"])
        lib.table(rows, ["", "rate", "time", "memory", "size"])
        print()
        qrows = []
        for k, (p50, p99, qps) in med.items():
            ratio = f"{med['carrel'][2] / qps:.1f}x" if k != "carrel" else ""
            qrows.append([k, f"{p50 * 1e3:.2f} ms", f"{p99 * 1e3:.2f} ms", f"{qps:,.0f}", ratio,
                          empty.get(k, 0)])
        lib.table(qrows, ["search", "p50", "p99", "queries/s", "carrel qps / this", "without hits"])
        by_class = {}
        for q, t in zip(queries, last["carrel"]):
            by_class.setdefault(q[0], []).append(t)
        print("carrel by class (last round): " + ", ".join(
            f"{c} p50 {pct(v, 0.5) * 1e3:.1f} / p99 {pct(v, 0.99) * 1e3:.1f} ms" for c, v in sorted(by_class.items())))
        print(f"carrel serve peak RSS during queries: {lib.mib(serve_rss):.0f} MiB")
        summary.append({"size": size, "import": imp, "imports": imps, "fts": fts, "search": med,
                        "empty": empty, "serve_rss": serve_rss})
        if not a.keep and not a.reuse_data:
            shutil.rmtree(data, ignore_errors=True)
            for ext in ("", "-wal", "-shm"):
                if os.path.exists(fts_path + ext):
                    os.remove(fts_path + ext)
        sys.stdout.flush()
    print("\nJSON " + json.dumps(summary))


if __name__ == "__main__":
    main()
