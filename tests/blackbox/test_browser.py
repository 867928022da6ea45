"""The upload page in headless Chromium (Playwright, tests/js/upload_page.mjs):
drop files, watch progress, survive a cut connection, get the links, download
through each landing page, and keep screenshots in tests/artifacts/."""
import hashlib
import json
import os
import subprocess

from conftest import ARTIFACTS, ROOT

SCRIPT = os.path.join(ROOT, "tests", "js", "upload_page.mjs")


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def test_upload_page_in_chromium(server, workdir, backend):
    picked = workdir / "picked «file».bin"
    picked.write_bytes(os.urandom(5 * 1024 * 1024 + 1))
    out_dir = os.path.join(ARTIFACTS, f"browser-{backend}")
    r = subprocess.run(["node", SCRIPT, server.url, str(picked), out_dir],
                       capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-4000:]
    res = json.loads(r.stdout)

    names = sorted(x["name"] for x in res["links"])
    assert names == sorted(["dropped-big.bin", "dropped small é.txt", picked.name])
    links = [x["link"] for x in res["links"]]
    assert len(set(links)) == 3 and all(l.startswith(server.url + "/s/") for l in links), links

    # Progress was shown between 0 and 100 %, with a speed, and the cut
    # connection was reported and then resumed to the end.
    assert res["cut"], "the network cut never happened"
    assert any(0 < p < 100 for p in res["progress"]), res["progress"]
    assert res["sawSpeed"]
    assert res["sawResume"], "the page never said the connection was lost"

    expected = dict(res["expected"], **{picked.name: sha(picked)})
    assert len(res["downloads"]) == 3
    for d in res["downloads"]:
        assert d["suggested"] == d["name"], d
        assert sha(d["path"]) == expected[d["name"]], d["name"]
    assert res["clip"] in links

    for shot in ["upload-page-empty.png", "upload-page-done.png", "share-page.png"]:
        p = os.path.join(out_dir, shot)
        assert os.path.getsize(p) > 10_000, p


CROSS = os.path.join(ROOT, "tests", "js", "cross_origin.mjs")


def cross_origin_upload(server, size):
    r = subprocess.run(["node", CROSS, server.url, str(size)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-4000:]
    return json.loads(r.stdout)


def test_another_sites_page_uploads_through_tus_with_cors(make_server):
    import requests
    size = 1024 * 1024 + 5  # five PATCHes of 256 KiB
    s = make_server()
    # A plain OPTIONS is still tus discovery (only one with Access-Control-Request-Method is a preflight).
    o = requests.options(f"{s.url}/files", headers={"Origin": "http://localhost:9"})
    assert o.status_code == 204 and o.headers["Tus-Version"] == "1.0.0" and o.headers["Access-Control-Allow-Origin"] == "*"
    res = cross_origin_upload(s, size)
    assert res["ok"], res
    assert res["share"] and "/s/" in res["share"], f"carrel's headers are exposed to the page: {res}"
    assert res["token"] and res["file"], res
    got = requests.get(res["share"].replace("/s/", "/d/", 1)).content
    assert got == bytes((i * 31 + 7) & 255 for i in range(size))

    # Only the listed origins may: the browser refuses to let another site's page in.
    closed = make_server(env={"CARREL_HOSTING__TUS_CORS_ORIGINS": '["https://only.example.org"]'})
    res = cross_origin_upload(closed, 1000)
    assert not res["ok"], res
