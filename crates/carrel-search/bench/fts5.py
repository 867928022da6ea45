#!/usr/bin/env python3
"""SQLite FTS5 on the records and queries of the scale example, for comparison.

    cargo run --release -p carrel-search --example scale -- 1000000 --dump /tmp/recs.tsv --dump-only
    python3 crates/carrel-search/bench/fts5.py /tmp/recs.tsv [/tmp/fts.db]

The same fields and weights as carrel-search (title 3, subtitle 1.5,
authors 2.5, subjects 1, publisher 0.5, description 0.3), folded by FTS5's
unicode61 tokenizer (diacritics removed). Each query's words must all match
(FTS5's AND); the last word of an as-you-type query is a prefix (`word*`).
FTS5 has no typo tolerance: misspelled queries mostly find nothing.
Reports latency and queries/s for the top 20 by bm25, and for the top 20
plus the count of matches (carrel-search returns both).
"""

import os
import sqlite3
import sys
import time
import unicodedata


def fold_words(text):
    t = unicodedata.normalize("NFKD", text)
    t = "".join(c for c in t if not unicodedata.combining(c)).lower().replace("'", "")
    out, cur = [], []
    for c in t:
        if c.isalnum():
            cur.append(c)
        elif cur:
            out.append("".join(cur))
            cur = []
    if cur:
        out.append("".join(cur))
    return out


def main():
    recs = sys.argv[1]
    db_path = sys.argv[2] if len(sys.argv) > 2 else recs + ".fts.db"
    queries_path = os.path.splitext(recs)[0] + ".queries"
    fresh = not os.path.exists(db_path)
    db = sqlite3.connect(db_path)
    if fresh:
        db.execute(
            "CREATE VIRTUAL TABLE t USING fts5(title, subtitle, authors, subjects, publisher,"
            " description, tokenize = 'unicode61 remove_diacritics 2', detail = full)"
        )
        t0 = time.time()
        n = 0
        with open(recs, encoding="utf-8") as f:
            batch = []
            for line in f:
                p = line.rstrip("\n").split("\t")
                batch.append((int(p[0]), *p[1:7]))
                if len(batch) == 10000:
                    db.executemany("INSERT INTO t(rowid, title, subtitle, authors, subjects,"
                                   " publisher, description) VALUES (?,?,?,?,?,?,?)", batch)
                    n += len(batch)
                    batch = []
            if batch:
                db.executemany("INSERT INTO t(rowid, title, subtitle, authors, subjects,"
                               " publisher, description) VALUES (?,?,?,?,?,?,?)", batch)
                n += len(batch)
        db.commit()
        dt = time.time() - t0
        print(f"FTS5: indexed {n} records in {dt:.1f} s: {n / dt:.0f} records/s")
        db.execute("INSERT INTO t(t) VALUES ('optimize')")
        db.commit()
    print(f"FTS5 database {os.path.getsize(db_path) / 1e6:.1f} MB")
    queries = []
    with open(queries_path, encoding="utf-8") as f:
        for line in f:
            cls, typing, text = line.rstrip("\n").split("\t")
            words = fold_words(text)[:16]
            if not words:
                continue
            terms = ['"%s"' % w for w in words]
            if typing == "true" and text[-1:].isalnum() and len(words[-1]) >= 2:
                terms[-1] += "*"
            queries.append((cls, " ".join(terms)))
    top = ("SELECT rowid FROM t WHERE t MATCH ? ORDER BY bm25(t, 3, 1.5, 2.5, 1, 0.5, 0.3)"
           " LIMIT 20")
    count = "SELECT count(*) FROM t WHERE t MATCH ?"
    for _, q in queries:  # warm up
        db.execute(top, (q,)).fetchall()
    for label, with_count in (("top 20", False), ("top 20 + count", True)):
        lat, empty = [], 0
        t0 = time.time()
        for _, q in queries:
            s = time.perf_counter()
            rows = db.execute(top, (q,)).fetchall()
            if with_count:
                db.execute(count, (q,)).fetchone()
            lat.append(time.perf_counter() - s)
            empty += not rows
        dt = time.time() - t0
        lat.sort()
        pct = lambda p: lat[min(len(lat) - 1, int(len(lat) * p))] * 1e3
        print(f"FTS5 {label}: {len(lat)} queries, {len(lat) / dt:.0f} queries/s (1 thread),"
              f" p50 {pct(0.5):.2f} ms, p99 {pct(0.99):.2f} ms, max {lat[-1] * 1e3:.1f} ms,"
              f" {empty} without hits")


if __name__ == "__main__":
    main()
