#!/usr/bin/env python3
"""Edition dedup against bib-dedupe's labelled sets (../shared/corpus/meta/bib-dedupe).

Each set is a CSV of bibliographic records (`<set>__records_pre_merged.csv.gz`)
and the groups of record ids that are one publication
(`<set>__merged_record_ids.csv.gz`, "id_a;id_b;…"). Every set is imported with
the real binary into a fresh data directory:

    carrel import --format csv --kind article --map id=ID --map title=title \
        --map authors=author --authors-sep ' and ' --map year=year \
        --map doi=doi --map journal=journal <set>__records_pre_merged.csv.gz

(doi and journal only where the set has those columns), then the database
(`carrel.db` in the data directory, read-only) says which source records
became the same edition (lib_sources: `csv:<ID>` → edition). Pairwise
precision, recall and F1 against the ground truth are printed per set and
over all sets (pairs summed).

    python3 bench/dedup.py [--sets a,b] [--show N] [--json]

CARREL_BIN picks the binary (default target/release/carrel, else target/debug/carrel).
--show N prints N false merges and N missed pairs per set, with their records.
"""
import argparse
import csv
import gzip
import itertools
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(os.path.dirname(ROOT), "shared", "corpus", "meta", "bib-dedupe")
SETS = ["cytology_screening", "digital_work", "haematology", "respiratory", "special_cases", "stroke"]


def binary():
    if os.environ.get("CARREL_BIN"):
        return os.environ["CARREL_BIN"]
    for profile in ["release", "debug"]:
        p = os.path.join(ROOT, "target", profile, "carrel")
        if os.path.exists(p):
            return p
    sys.exit("no carrel binary: cargo build -p carrel-cli (or set CARREL_BIN)")


def read_records(name):
    with gzip.open(os.path.join(DATA, f"{name}__records_pre_merged.csv.gz"), "rt", newline="") as f:
        r = csv.DictReader(f)
        return r.fieldnames, {row["ID"]: row for row in r}


def read_groups(name):
    with gzip.open(os.path.join(DATA, f"{name}__merged_record_ids.csv.gz"), "rt", newline="") as f:
        return [row["merged_ids"].split(";") for row in csv.DictReader(f)]


def pairs(groups):
    out = set()
    for g in groups:
        for a, b in itertools.combinations(sorted(set(g)), 2):
            out.add((a, b))
    return out


def import_set(bin_, name, columns, work):
    data = os.path.join(work, name)
    os.makedirs(data)
    maps = ["id=ID", "title=title", "authors=author", "year=year"]
    maps += [f"{f}={f}" for f in ["doi", "journal"] if f in columns]
    cmd = [bin_, "import", "--data", data, "--json", "--format", "csv", "--kind", "article",
           "--authors-sep", " and "]
    for m in maps:
        cmd += ["--map", m]
    cmd.append(os.path.join(DATA, f"{name}__records_pre_merged.csv.gz"))
    t = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, CARREL_LOG="warn"))
    if r.returncode != 0:
        sys.exit(f"import of {name} failed:\n{r.stderr}{r.stdout}")
    report = json.loads(r.stdout.strip().splitlines()[-1])["report"]
    db = sqlite3.connect(f"file:{os.path.join(data, 'carrel.db')}?mode=ro", uri=True)
    edition = {k.split(":", 1)[1]: e for k, e in db.execute("SELECT source_key, edition_id FROM lib_sources")}
    db.close()
    return edition, report, time.monotonic() - t


def show(records, a, b):
    for i in (a, b):
        r = records.get(i, {})
        print(f"      {i}: {r.get('year', '')!s:5} | {r.get('author', '')[:50]:50} | {r.get('title', '')[:90]}"
              f"{' | doi ' + r['doi'] if r.get('doi') else ''}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--show", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    bin_ = binary()
    work = tempfile.mkdtemp(prefix="carrel-dedup-")
    rows = []
    total = [0, 0, 0]  # true positives, predicted pairs, true pairs
    for name in args.sets.split(","):
        columns, records = read_records(name)
        truth = pairs(read_groups(name))
        edition, report, secs = import_set(bin_, name, columns, work)
        missing = [i for i in records if i not in edition]
        by_edition = {}
        for rid, e in edition.items():
            by_edition.setdefault(e, []).append(rid)
        predicted = pairs(by_edition.values())
        tp = len(predicted & truth)
        p = tp / len(predicted) if predicted else 1.0
        r = tp / len(truth) if truth else 1.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        rows.append(dict(set=name, records=len(records), imported=len(edition), bad=len(missing),
                         editions=len(by_edition), true_pairs=len(truth), merged_pairs=len(predicted),
                         correct=tp, precision=p, recall=r, f1=f1, seconds=round(secs, 1)))
        for k, v in zip(range(3), (tp, len(predicted), len(truth))):
            total[k] += v
        if args.show:
            print(f"== {name}: false merges")
            for a, b in sorted(predicted - truth)[:args.show]:
                show(records, a, b)
            print(f"== {name}: missed pairs")
            for a, b in sorted(truth - predicted)[:args.show]:
                show(records, a, b)
    tp, pred, true = total
    p = tp / pred if pred else 1.0
    r = tp / true if true else 1.0
    rows.append(dict(set="all", records=sum(x["records"] for x in rows), imported=sum(x["imported"] for x in rows),
                     bad=sum(x["bad"] for x in rows), editions=sum(x["editions"] for x in rows),
                     true_pairs=true, merged_pairs=pred, correct=tp, precision=p, recall=r,
                     f1=2 * p * r / (p + r) if p + r else 0.0, seconds=round(sum(x["seconds"] for x in rows), 1)))
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{'set':<20} {'records':>7} {'editions':>8} {'true pairs':>10} {'merged':>7} {'correct':>7} "
          f"{'precision':>9} {'recall':>6} {'F1':>6}")
    for x in rows:
        print(f"{x['set']:<20} {x['records']:>7} {x['editions']:>8} {x['true_pairs']:>10} {x['merged_pairs']:>7} "
              f"{x['correct']:>7} {x['precision']:>9.4f} {x['recall']:>6.3f} {x['f1']:>6.3f}")
    if any(x["bad"] for x in rows[:-1]):
        print("records not imported (bad rows): " + ", ".join(f"{x['set']} {x['bad']}" for x in rows[:-1] if x["bad"]))


if __name__ == "__main__":
    main()
