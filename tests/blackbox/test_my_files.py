"""My files through the real server on both backends: the owner's listing
(search, sort, folders, pages), renames, folders, moves, deleting many at
once (all or none), share links (another link, edit, off/on, delete,
download counts), who may do what (anonymous 401, another account 404,
token scopes 403, CSRF), hostile input, the `carrel ls/rm/mv/mkdir/rename/
share` commands as subprocesses, and the /files page with plain forms and
in Chromium."""
import json
import os
import re
import subprocess
import time

import requests

from conftest import ARTIFACTS, BIN, ROOT, direct
from test_accounts import PW, admin_cli, field, login, make_user


def H(t):
    return {"Authorization": f"Bearer {t}", "Accept": "application/json"}


def token(srv, email, scopes):
    return admin_cli(srv, "create-token", email, "--name", scopes, "--scopes", scopes).stdout.strip()


def user(srv, email):
    """An account with a read,upload,manage token, a read token and an upload token."""
    make_user(srv, email)
    return token(srv, email, "read,upload,manage"), token(srv, email, "read"), token(srv, email, "upload")


def upload(srv, tok, name, data=b"x"):
    r = requests.put(f"{srv.url}/u/{name}", data=data, headers=H(tok))
    assert r.status_code == 201, r.text
    return r.json()


def files(srv, tok, **params):
    r = requests.get(f"{srv.url}/api/files", params=params, headers=H(tok))
    assert r.status_code == 200, r.text
    return r.json()


def names(srv, tok, **params):
    return [f["name"] for f in files(srv, tok, **params)["files"]]


def error(r, status, code):
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert r.json()["error"]["code"] == code, r.text[:500]
    return r.json()["error"]["message"]


def test_listing_search_sort_and_pages(server):
    all_, read, up = user(server, "ada@example.org")
    bob, _, _ = user(server, "bob@example.org")
    for i, (name, size) in enumerate([("Report 2024.pdf", 300), ("apple.txt", 10), ("Zebra.PNG", 20),
                                      ("ÉTÉ notes.md", 5), ("100%_done.txt", 7)]):
        upload(server, up, name, b"y" * size)
        time.sleep(1.05 if i == 0 else 0)  # the newest is not tied with the oldest
    upload(server, bob, "apple pie.txt")
    # The default: newest first, every file, with links and folders listed.
    j = files(server, read)
    assert j["total"] == 5 and j["offset"] == 0 and j["limit"] == 50 and j["folders"] == []
    assert j["files"][-1]["name"] == "Report 2024.pdf"
    assert all(f["links"] and f["folder"] is None for f in j["files"])
    link = j["files"][0]["links"][0]
    assert {"id", "url", "downloads", "max_downloads", "expires_at", "has_password", "disabled", "created_at"} <= set(link)
    assert names(server, read, sort="name") == ["100%_done.txt", "apple.txt", "Report 2024.pdf", "Zebra.PNG", "ÉTÉ notes.md"]
    assert names(server, read, sort="name", order="desc")[0] == "ÉTÉ notes.md"
    assert names(server, read, sort="size") == ["Report 2024.pdf", "Zebra.PNG", "apple.txt", "100%_done.txt", "ÉTÉ notes.md"]
    assert names(server, read, sort="size", order="asc")[0] == "ÉTÉ notes.md"
    # Search: any case, Unicode capitals too, % and _ are plain characters; never another's files.
    assert names(server, read, q="REPORT") == ["Report 2024.pdf"]
    assert names(server, read, q="été") == ["ÉTÉ notes.md"]
    assert names(server, read, q="%") == ["100%_done.txt"]
    assert names(server, read, q="_") == ["100%_done.txt"]
    assert names(server, read, q="pie") == []
    assert files(server, read, q="  apple  ")["total"] == 1
    # Pages: the total counts every match.
    j = files(server, read, sort="name", offset=1, limit=2)
    assert [f["name"] for f in j["files"]] == ["apple.txt", "Report 2024.pdf"] and j["total"] == 5
    assert files(server, read, offset=5)["files"] == []
    # Bad parameters are clear 4xx answers with stable codes.
    for params, status, code in [
        ({"sort": "owner"}, 400, "invalid_sort"),
        ({"order": "up"}, 400, "invalid_order"),
        ({"q": "x" * 256}, 400, "invalid_search"),
        ({"q": "a\x00b"}, 400, "invalid_search"),
        ({"limit": 0}, 400, "invalid_page"),
        ({"limit": 501}, 400, "invalid_page"),
        ({"offset": -1}, 400, "invalid_page"),
        ({"offset": "abc"}, 400, "invalid_query"),
        ({"limit": "9" * 40}, 400, "invalid_query"),
        ({"folder": "A" * 22}, 404, "not_found"),
        ({"folder": "../../etc"}, 404, "not_found"),
    ]:
        error(requests.get(f"{server.url}/api/files", params=params, headers=H(read)), status, code)
    # Who may list: anonymous 401, a token without read 403.
    error(requests.get(f"{server.url}/api/files"), 401, "login_required")
    error(requests.get(f"{server.url}/api/files", headers=H(up)), 403, "missing_scope")
    error(requests.get(f"{server.url}/api/folders"), 401, "login_required")


def test_rename_folders_and_moves(server):
    all_, read, up = user(server, "ada@example.org")
    bob, bob_read, _ = user(server, "bob@example.org")
    a = upload(server, up, "a.txt")["file_id"]
    b = upload(server, up, "b.txt", b"bb")["file_id"]
    c = upload(server, up, "c.txt", b"ccc")["file_id"]
    bobs = upload(server, bob, "bob.txt")["file_id"]
    # An empty folder of the account; the name is a FileName.
    r = requests.post(f"{server.url}/api/folders", json={"name": "Docs"}, headers=H(all_))
    assert r.status_code == 201, r.text
    docs = r.json()
    assert docs["name"] == "Docs" and docs["files"] == 0
    for name in ["a/b", "", " x", "..", "x" * 256, "a\nb"]:
        error(requests.post(f"{server.url}/api/folders", json={"name": name}, headers=H(all_)), 400, "invalid_file_name")
    error(requests.post(f"{server.url}/api/folders", json={"name": "X"}, headers=H(read)), 403, "missing_scope")
    error(requests.post(f"{server.url}/api/folders", json={"name": "X"}), 401, "login_required")
    error(requests.post(f"{server.url}/api/folders", json={"name": "X", "owner": "me"}, headers=H(all_)), 400, "invalid_json")
    # One file moves by PATCH, two by the bulk move; the listing shows the folder and its count.
    r = requests.patch(f"{server.url}/api/files/{a}", json={"folder": docs["id"]}, headers=H(all_))
    assert r.status_code == 200 and r.json()["folder"] == docs["id"], r.text
    r = requests.post(f"{server.url}/api/files/move", json={"ids": [b, c], "folder": docs["id"]}, headers=H(all_))
    assert r.status_code == 200 and r.json() == {"moved": 2}, r.text
    j = files(server, read, folder=docs["id"], sort="name")
    assert [f["name"] for f in j["files"]] == ["a.txt", "b.txt", "c.txt"]
    assert j["folders"][0]["files"] == 3 and j["folders"][0]["size"] == 6
    assert files(server, read, folder="none")["total"] == 0
    assert requests.get(f"{server.url}/api/folders", headers=H(read)).json()["folders"][0]["files"] == 3
    # Out of the folder again; rename a file (validated) and the folder.
    r = requests.post(f"{server.url}/api/files/move", json={"ids": [c], "folder": None}, headers=H(all_))
    assert r.status_code == 200
    assert names(server, read, folder="none") == ["c.txt"]
    r = requests.patch(f"{server.url}/api/files/{c}", json={"name": "Über c.txt"}, headers=H(all_))
    assert r.status_code == 200 and r.json()["name"] == "Über c.txt"
    assert names(server, read, q="über") == ["Über c.txt"]
    # The new name is what downloads are called.
    url = r.json()["links"][0]["url"]
    d = requests.get(direct(url))
    assert "%C3%9Cber%20c.txt" in d.headers["Content-Disposition"], d.headers["Content-Disposition"]
    for bad in ["../c", "", "x" * 300, "tab\there"]:
        error(requests.patch(f"{server.url}/api/files/{c}", json={"name": bad}, headers=H(all_)), 400, "invalid_file_name")
    error(requests.patch(f"{server.url}/api/files/{c}", json={}, headers=H(all_)), 400, "empty_change")
    error(requests.patch(f"{server.url}/api/files/{c}", json={"name": 5}, headers=H(all_)), 400, "invalid_json")
    error(requests.patch(f"{server.url}/api/files/{c}", data="{", headers={**H(all_), "Content-Type": "application/json"}), 400, "invalid_json")
    error(requests.patch(f"{server.url}/api/files/{c}", json={"name": "y"}, headers=H(read)), 403, "missing_scope")
    error(requests.patch(f"{server.url}/api/files/{c}", json={"name": "y"}), 401, "unauthorized")
    r = requests.patch(f"{server.url}/api/folders/{docs['id']}", json={"name": "Papers"}, headers=H(all_))
    assert r.status_code == 200 and r.json()["name"] == "Papers" and r.json()["files"] == 2
    # Another account sees none of it: 404, as if it did not exist.
    error(requests.patch(f"{server.url}/api/files/{c}", json={"name": "mine"}, headers=H(bob)), 404, "not_found")
    error(requests.patch(f"{server.url}/api/folders/{docs['id']}", json={"name": "mine"}, headers=H(bob)), 404, "not_found")
    error(requests.delete(f"{server.url}/api/folders/{docs['id']}", headers=H(bob)), 404, "not_found")
    error(requests.get(f"{server.url}/api/files", params={"folder": docs["id"]}, headers=H(bob_read)), 404, "not_found")
    error(requests.patch(f"{server.url}/api/files/{bobs}", json={"folder": docs["id"]}, headers=H(bob)), 404, "not_found")
    error(requests.post(f"{server.url}/api/files/move", json={"ids": [bobs], "folder": docs["id"]}, headers=H(bob)), 404, "not_found")
    msg = error(requests.post(f"{server.url}/api/files/move", json={"ids": [a, bobs], "folder": None}, headers=H(all_)), 404, "not_found")
    assert bobs in msg and "nothing was changed" in msg
    assert files(server, read, folder=docs["id"])["total"] == 2, "all or none"
    error(requests.post(f"{server.url}/api/files/move", json={"ids": [a]}, headers=H(all_)), 400, "invalid_folder")
    assert requests.get(f"{server.url}/api/folders", headers=H(bob_read)).json()["folders"] == []
    # Deleting the folder keeps its files, in no folder.
    assert requests.delete(f"{server.url}/api/folders/{docs['id']}", headers=H(all_)).status_code == 204
    assert requests.delete(f"{server.url}/api/folders/{docs['id']}", headers=H(all_)).status_code == 404
    j = files(server, read)
    assert j["total"] == 3 and j["folders"] == [] and all(f["folder"] is None for f in j["files"])


def test_bulk_delete_is_all_or_nothing(server):
    all_, read, up = user(server, "ada@example.org")
    bob, _, _ = user(server, "bob@example.org")
    mine = [upload(server, up, f"f{i}.txt", b"same bytes") for i in range(3)]
    bobs = upload(server, bob, "theirs.txt", b"same bytes")
    ids = [m["file_id"] for m in mine]
    # One id that is not ada's (bob's, unknown, malformed): nothing is deleted, the error names it.
    for other in [bobs["file_id"], "A" * 22, "../../etc/passwd"]:
        msg = error(requests.post(f"{server.url}/api/files/delete", json={"ids": ids[:2] + [other]}, headers=H(all_)),
                    404, "not_found")
        assert other in msg and "nothing was changed" in msg and ids[0] not in msg
        assert files(server, read)["total"] == 3
    # Hostile and malformed bodies.
    url = f"{server.url}/api/files/delete"
    error(requests.post(url, json={"ids": []}, headers=H(all_)), 400, "invalid_ids")
    error(requests.post(url, json={"ids": ["x"] * 1001}, headers=H(all_)), 400, "invalid_ids")
    error(requests.post(url, json={"ids": "all"}, headers=H(all_)), 400, "invalid_json")
    error(requests.post(url, json={"ids": ids, "force": True}, headers=H(all_)), 400, "invalid_json")
    error(requests.post(url, data=b"\xff\xfe", headers={**H(all_), "Content-Type": "application/json"}), 400, "invalid_json")
    error(requests.post(url, data=b'{"ids": ["' + b"a" * 400_000 + b'"]}', headers={**H(all_), "Content-Type": "application/json"}),
          413, "body_too_large")
    error(requests.post(url, json={"ids": ids}, headers=H(read)), 403, "missing_scope")
    error(requests.post(url, json={"ids": ids}), 401, "login_required")
    error(requests.post(url, json={"ids": ids}, headers=H(bob)), 404, "not_found")
    assert files(server, read)["total"] == 3
    # Now all of ada's at once (a repeated id counts once); links and bytes go, bob's copy stays.
    r = requests.post(url, json={"ids": ids + [ids[0]]}, headers=H(all_))
    assert r.status_code == 200 and r.json() == {"deleted": 3}, r.text
    assert files(server, read)["total"] == 0
    for m in mine:
        assert requests.get(direct(m["url"])).status_code == 404
    assert requests.get(direct(bobs["url"])).content == b"same bytes", "the blob stays with its last reference"
    # The single delete still works with the management token of an anonymous upload.
    anon = requests.put(f"{server.url}/u/anon.txt", data=b"a", headers={"Accept": "application/json"}).json()
    r = requests.delete(f"{server.url}/api/files/{anon['file_id']}", headers={"Authorization": f"Bearer {anon['manage_token']}"})
    assert r.status_code == 204


def test_share_links_and_download_counts(server):
    all_, read, up = user(server, "ada@example.org")
    bob, _, _ = user(server, "bob@example.org")
    f = upload(server, up, "song.txt", b"la la la")
    fid = f["file_id"]
    # Another link, with a limit and a password.
    r = requests.post(f"{server.url}/api/files/{fid}/shares",
                      json={"expires": "7d", "password": "open sesame", "max_downloads": 3}, headers=H(all_))
    assert r.status_code == 201, r.text
    s = r.json()
    assert s["max_downloads"] == 3 and s["has_password"] and s["expires_at"] and s["downloads"] == 0 and not s["disabled"]
    assert s["url"].startswith(server.url + "/s/") and s["url"] != f["url"]
    assert requests.get(direct(s["url"])).status_code == 401
    assert requests.get(direct(s["url"]), auth=("", "open sesame")).content == b"la la la"
    def counts():
        return {l["id"]: l["downloads"] for l in files(server, read)["files"][0]["links"]}
    first = f["url"].rsplit("/", 1)[1]
    assert counts() == {first: 0, s["id"]: 1}
    # Downloads of a link without a limit are counted too (written within a second or two).
    for _ in range(2):
        assert requests.get(direct(f["url"])).status_code == 200
    for _ in range(30):
        if counts()[first] == 2:
            break
        time.sleep(0.2)
    assert counts() == {first: 2, s["id"]: 1}
    # Edit: no password, a new limit; off and on again.
    sid = s["id"]
    r = requests.patch(f"{server.url}/api/shares/{sid}", json={"password": None, "max_downloads": 10}, headers=H(all_))
    assert r.status_code == 200 and not r.json()["has_password"] and r.json()["max_downloads"] == 10
    r = requests.patch(f"{server.url}/api/shares/{sid}", json={"disabled": True}, headers=H(all_))
    assert r.status_code == 200 and r.json()["disabled"] is True
    d = requests.get(direct(s["url"]), headers={"Accept": "application/json"})
    assert d.status_code == 410 and d.json()["error"]["code"] == "share_disabled"
    r = requests.patch(f"{server.url}/api/shares/{sid}", json={"disabled": False}, headers=H(all_))
    assert r.status_code == 200 and r.json()["disabled"] is False
    assert requests.get(direct(s["url"])).status_code == 200
    assert requests.get(f"{server.url}/api/shares/{sid}", headers=H(read)).json()["downloads"] == 2
    # Bad input: clear 400s with stable codes.
    url = f"{server.url}/api/files/{fid}/shares"
    for body, code in [
        ({"max_downloads": 0}, "invalid_max_downloads"),
        ({"max_downloads": 10**12}, "invalid_max_downloads"),
        ({"expires": "forever"}, "invalid_duration"),
        ({"expires": "0d"}, "invalid_duration"),
        ({"password": "p" * 2000}, "invalid_password"),
        ({"max_downloads": "3"}, "invalid_json"),
        ({"public": True}, "invalid_json"),
    ]:
        error(requests.post(url, json=body, headers=H(all_)), 400, code)
    error(requests.patch(f"{server.url}/api/shares/{sid}", json={"disabled": "yes"}, headers=H(all_)), 400, "invalid_json")
    error(requests.patch(f"{server.url}/api/shares/{sid}", json={"disabled_reason": " "}, headers=H(all_)), 400, "invalid_reason")
    # Who may: anonymous 401, another account 404, read-only 403.
    error(requests.post(url, json={}), 401, "unauthorized")
    error(requests.post(url, json={}, headers=H(bob)), 404, "not_found")
    error(requests.post(url, json={}, headers=H(read)), 403, "missing_scope")
    error(requests.get(f"{server.url}/api/shares/{sid}", headers=H(bob)), 404, "not_found")
    error(requests.patch(f"{server.url}/api/shares/{sid}", json={"disabled": True}, headers=H(bob)), 404, "not_found")
    error(requests.delete(f"{server.url}/api/shares/{sid}", headers=H(bob)), 404, "not_found")
    error(requests.delete(f"{server.url}/api/shares/{sid}", headers=H(read)), 403, "missing_scope")
    error(requests.delete(f"{server.url}/api/shares/{sid}"), 401, "unauthorized")
    # Delete one link; the file and its other link stay.
    assert requests.delete(f"{server.url}/api/shares/{sid}", headers=H(all_)).status_code == 204
    assert requests.get(direct(s["url"])).status_code == 404
    assert requests.delete(f"{server.url}/api/shares/{sid}", headers=H(all_)).status_code == 404
    assert len(files(server, read)["files"][0]["links"]) == 1
    # Anonymous uploads keep their management token for all of this.
    anon = requests.put(f"{server.url}/u/anon.txt", data=b"a", headers={"Accept": "application/json"}).json()
    tok = {"Authorization": f"Bearer {anon['manage_token']}", "Accept": "application/json"}
    r = requests.post(f"{server.url}/api/files/{anon['file_id']}/shares", json={"max_downloads": 1}, headers=tok)
    assert r.status_code == 201, r.text
    r2 = requests.patch(f"{server.url}/api/files/{anon['file_id']}", json={"name": "renamed.txt"}, headers=tok)
    assert r2.status_code == 200 and r2.json()["name"] == "renamed.txt"
    assert requests.delete(f"{server.url}/api/shares/{r.json()['id']}", headers=tok).status_code == 204
    error(requests.post(f"{server.url}/api/files/{anon['file_id']}/shares", json={}, headers={"Authorization": "Bearer nope"}),
          401, "unauthorized")


def test_sessions_need_the_csrf_header(server):
    make_user(server, "ada@example.org")
    s, _ = login(server, "ada@example.org")
    csrf = field(s.get(f"{server.url}/account").text, "csrf")
    fid = requests.put(f"{server.url}/u/a.txt", data=b"a",
                       headers={"Accept": "application/json", "Cookie": f"carrel_session={s.cookies.get('carrel_session')}",
                                "X-CSRF-Token": csrf}).json()["file_id"]
    assert s.get(f"{server.url}/api/files").json()["total"] == 1
    error(s.post(f"{server.url}/api/files/delete", json={"ids": [fid]}), 403, "csrf_failed")
    error(s.post(f"{server.url}/api/folders", json={"name": "D"}), 403, "csrf_failed")
    error(s.patch(f"{server.url}/api/files/{fid}", json={"name": "b"}), 403, "csrf_failed")
    error(s.post(f"{server.url}/api/files/delete", json={"ids": [fid]}, headers={"X-CSRF-Token": "x" * 32}), 403, "csrf_failed")
    assert s.get(f"{server.url}/api/files").json()["total"] == 1
    r = s.post(f"{server.url}/api/files/delete", json={"ids": [fid]}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json() == {"deleted": 1}


def cli(srv, tok, *args, check=True):
    env = dict(os.environ, CARREL_SERVER=srv.url, CARREL_TOKEN=tok)
    env.pop("CARREL_SHARE_PASSWORD", None)
    r = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=60, env=env)
    if check:
        assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


def test_cli_ls_rm_mv_and_share(server):
    all_, read, up = user(server, "ada@example.org")
    bob, _, _ = user(server, "bob@example.org")
    a = upload(server, up, "alpha.txt", b"a" * 2048)
    b = upload(server, up, "beta.txt", b"b")
    bobs = upload(server, bob, "bobs.txt")
    # --help explains itself.
    h = cli(server, read, "--help").stdout
    assert "carrel ls" in h and "CARREL_TOKEN" in h
    h = cli(server, read, "share", "--help").stdout
    for sub in ["create", "edit", "disable", "enable", "rm", "show"]:
        assert sub in h, h
    assert "--max-downloads" in cli(server, read, "share", "edit", "--help").stdout
    assert "--search" in cli(server, read, "ls", "--help").stdout
    # ls: text and JSON, search and sort.
    out = cli(server, read, "ls", "--sort", "name").stdout
    lines = out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(a["file_id"]) and lines[0].endswith("alpha.txt") and "2.00 KiB" in lines[0] and "1 link " in lines[0], out
    j = json.loads(cli(server, read, "ls", "--search", "BETA", "--json").stdout)
    assert [f["name"] for f in j["files"]] == ["beta.txt"] and j["total"] == 1
    # mkdir, mv (by the folder's name), rename, ls --folder.
    fold = cli(server, all_, "mkdir", "Papers").stdout.strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", fold), fold
    # Ids never start with "-" (one would read as an option); ids of that
    # shape made before are refused with a hint, never read as flags, and
    # work after "--".
    for f in (a, b, bobs):
        assert not f["file_id"].startswith("-"), f
    r = cli(server, all_, "mv", a["file_id"], "-hL8eH9AzH0TKitvfFsctA", "--to", "papers", check=False)
    assert r.returncode == 2 and "starts with `-`" in r.stderr and "-- -hL8eH9AzH0TKitvfFsctA" in r.stderr, r
    assert "moved 2" in cli(server, all_, "mv", "--to", "papers", "--", a["file_id"], b["file_id"]).stdout
    assert "renamed to gamma.txt" in cli(server, all_, "rename", b["file_id"], "gamma.txt").stdout
    j = json.loads(cli(server, read, "ls", "--folder", "Papers", "--json", "--sort", "name").stdout)
    assert [f["name"] for f in j["files"]] == ["alpha.txt", "gamma.txt"]
    assert "Papers/" in cli(server, read, "ls").stdout
    cli(server, all_, "rename", "--folder", "Papers", "Archive")
    assert json.loads(cli(server, read, "ls", "--json").stdout)["folders"][0]["name"] == "Archive"
    r = cli(server, all_, "mv", a["file_id"], "--to", "Nope", check=False)
    assert r.returncode != 0 and "no folder" in r.stderr
    # share create / show / edit / disable / enable / rm.
    s = json.loads(cli(server, all_, "share", "create", a["file_id"], "--max-downloads", "2", "--expires", "1d", "--json").stdout)
    assert s["max_downloads"] == 2 and s["expires_at"]
    assert requests.get(direct(s["url"])).status_code == 200
    out = cli(server, read, "share", "show", s["url"]).stdout
    assert s["url"] in out and "downloads: 1 of 2" in out, out
    out = cli(server, all_, "share", "edit", s["id"], "--max-downloads", "none", "--password", "pw pw pw").stdout
    assert "downloads: 1" in out and "password" in out and "of 2" not in out, out
    assert "(off, password" in cli(server, all_, "share", "disable", s["id"]).stdout
    assert requests.get(direct(s["url"]), auth=("", "pw pw pw")).status_code == 410
    cli(server, all_, "share", "enable", s["id"])
    assert requests.get(direct(s["url"]), auth=("", "pw pw pw")).status_code == 200
    cli(server, all_, "share", "edit", s["id"], "--no-password", "--expires", "never")
    assert json.loads(cli(server, read, "share", "show", s["id"], "--json").stdout)["has_password"] is False
    r = cli(server, all_, "share", "edit", s["id"], check=False)
    assert r.returncode != 0 and "say what to change" in r.stderr
    assert "link deleted" in cli(server, all_, "share", "rm", s["id"]).stdout
    assert requests.get(direct(s["url"])).status_code == 404
    # Errors: the server's message and code, a failing exit status.
    r = cli(server, read, "rm", a["file_id"], check=False)
    assert r.returncode != 0 and "missing_scope" in r.stderr, r.stderr
    r = cli(server, all_, "rm", a["file_id"], bobs["file_id"], check=False)
    assert r.returncode != 0 and bobs["file_id"] in r.stderr and "not_found" in r.stderr, r.stderr
    r = cli(server, "crl_" + "A" * 43, "ls", check=False)
    assert r.returncode != 0 and "401" in r.stderr
    r = cli(server, all_, "share", "create", a["file_id"], "--max-downloads", "0", check=False)
    assert r.returncode != 0 and "invalid_max_downloads" in r.stderr
    # rm: all of them at once.
    assert "deleted 2" in cli(server, all_, "rm", a["file_id"], b["file_id"]).stdout
    assert json.loads(cli(server, read, "ls", "--json").stdout)["total"] == 0


def test_files_page_forms(server):
    """The page without a browser: log-in redirect, CSRF on every form, pages, and plain form posts."""
    make_user(server, "ada@example.org")
    up = token(server, "ada@example.org", "upload")
    r = requests.get(f"{server.url}/files", allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"].startswith("/login?next=/files")
    for i in range(53):
        upload(server, up, f"file-{i:02}.txt")
    s, _ = login(server, "ada@example.org")
    page = s.get(f"{server.url}/files?sort=name")
    assert page.status_code == 200 and "<title>My files · carrel</title>" in page.text
    assert "Page 1 of 2" in page.text and "1–50 of 53 files" in page.text and "file-00.txt" in page.text
    assert 'href="/files">My files</a>' in page.text, "the navigation links the page"
    nxt = re.search(r'href="([^"]+)" rel="next"', page.text).group(1).replace("&amp;", "&")
    p2 = s.get(server.url + nxt)
    assert "Page 2 of 2" in p2.text and "file-52.txt" in p2.text and "file-00.txt" not in p2.text
    assert 'href="/files">My files</a>' in s.get(f"{server.url}/account").text or "/files" in s.get(f"{server.url}/account").text
    csrf = field(page.text, "csrf")
    ids = re.findall(r'name="ids" value="([^"]+)"', page.text)
    assert len(ids) == 50
    # Forms without the session's token change nothing.
    for data in [{}, {"csrf": "x" * 32}]:
        r = s.post(f"{server.url}/files/forms/bulk", data={"action": "delete", "ids": ids[:2], **data})
        assert r.status_code == 403 and "csrf_failed" in r.text
    r = requests.post(f"{server.url}/files/forms/bulk", data={"csrf": csrf, "action": "delete", "ids": ids[:2]},
                      allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"].startswith("/login")
    # A folder, a move, a delete, each back to the same listing with a notice.
    r = s.post(f"{server.url}/files/forms/folder", data={"csrf": csrf, "back": "sort=name", "name": "Box"}, allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/files?sort=name&done=folder-created&n=1", r.headers["Location"]
    r = s.post(f"{server.url}/files/forms/folder", data={"csrf": csrf, "back": "sort=name", "name": "a/b"})
    assert r.status_code == 400 and "path separator" in r.text and "Page 1 of 2" in r.text
    box = re.search(r'href="/files\?folder=([^"]+)">Box</a>', s.get(f"{server.url}/files").text).group(1)
    r = s.post(f"{server.url}/files/forms/bulk", data={"csrf": csrf, "back": "sort=name&evil=1", "action": "move",
                                                       "folder": box, "ids": ids[:3]}, allow_redirects=False)
    assert r.headers["Location"] == "/files?sort=name&done=moved&n=3"
    assert "Moved 3 files." in s.get(server.url + r.headers["Location"]).text
    r = s.post(f"{server.url}/files/forms/bulk", data={"csrf": csrf, "action": "delete", "ids": [ids[3], "B" * 22]})
    assert r.status_code == 404 and "BBBB" in r.text and "nothing was changed" in r.text
    r = s.post(f"{server.url}/files/forms/bulk", data={"csrf": csrf, "action": "delete"})
    assert r.status_code == 400 and "Tick the files" in r.text
    r = s.post(f"{server.url}/files/forms/bulk", data={"csrf": csrf, "action": "delete", "ids": ids[3:5]}, allow_redirects=False)
    assert r.headers["Location"] == "/files?done=deleted&n=2"
    j = requests.get(f"{server.url}/api/files", headers=H(token(server, "ada@example.org", "read"))).json()
    assert j["total"] == 51 and j["folders"][0]["files"] == 3
    r = s.post(f"{server.url}/files/forms/bulk", data={"csrf": csrf, "action": "delete", "ids": ["x"] * 2},
               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 404
    r = s.post(f"{server.url}/files/forms/rename", data="csrf=" + csrf + "&x=" + "y" * 1_100_000,
               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413 and "body_too_large" in r.text
    assert s.get(f"{server.url}/files?sort=owner").status_code == 400
    assert s.get(f"{server.url}/files?page=x").status_code == 400
    assert s.get(f"{server.url}/files?folder=" + "C" * 22).status_code == 404
    # The query is escaped where it is shown.
    r = s.get(f"{server.url}/files", params={"q": '<script>alert(1)</script>'})
    assert r.status_code == 200 and "<script>alert(1)" not in r.text and "&lt;script&gt;" in r.text


def test_my_files_page_in_chromium(server, backend):
    """The page in a real browser: search, sort, folders, moving and deleting
    many, renaming, and a link's editor; screenshots kept."""
    make_user(server, "ada@example.org")
    up = token(server, "ada@example.org", "upload")
    for name, size in [("Quarterly report.pdf", 180_000), ("holiday.jpg", 2_400_000), ("notes.txt", 1200),
                       ("budget 2025.xlsx", 46_000), ("draft.docx", 30_000), ("old draft.docx", 29_000)]:
        upload(server, up, name, os.urandom(size))
    out_dir = os.path.join(ARTIFACTS, f"my-files-{backend}")
    r = subprocess.run(["node", os.path.join(ROOT, "tests", "js", "my_files_page.mjs"), server.url,
                        "ada@example.org", PW, out_dir], capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout)
    assert not res["errors"], res["errors"]
    st = res["steps"]
    assert st["redirected"]["url"].endswith("/login?next=/files")
    assert st["files"]["rows"] == 6 and st["files"]["title"].startswith("My files")
    assert st["search"]["rows"] == 2
    assert st["sorted-by-size"]["first"] == "holiday.jpg"
    assert st["moved"]["notice"] == "Moved 2 files." and st["folder"]["rows"] == 2
    assert st["renamed"]["notice"] == "Renamed."
    assert st["link-edited"]["notice"] == "Link saved."
    assert st["deleted"]["notice"] == "Deleted 2 files."
    # What the browser did is what the API shows.
    read = token(server, "ada@example.org", "read")
    j = requests.get(f"{server.url}/api/files", params={"sort": "name"}, headers=H(read)).json()
    assert j["total"] == 4
    by = {f["name"]: f for f in j["files"]}
    assert "Q3 report.pdf" in by and "draft.docx" not in by and "old draft.docx" not in by
    assert [d["name"] for d in j["folders"]] == ["Invoices"] and j["folders"][0]["files"] == 2
    links = by["Q3 report.pdf"]["links"]
    assert len(links) == 2
    edited = links[0]
    assert edited["max_downloads"] == 5 and edited["has_password"] and edited["disabled"]
    d = requests.get(direct(edited["url"]), auth=("", "page pass"), headers={"Accept": "application/json"})
    assert d.status_code == 410 and d.json()["error"]["code"] == "share_disabled"
    assert links[1]["expires_at"] and links[1]["max_downloads"] is None
    for name in ["redirected", "files", "search", "sorted-by-size", "moved", "folder", "renamed", "links-open",
                 "link-edited", "deleted"]:
        assert os.path.getsize(os.path.join(out_dir, f"{name}.png")) > 5000, name


def test_cli_upload_reads_carrel_token(server, tmp_path):
    _, read, up = user(server, "ada@example.org")
    src = tmp_path / "mine.txt"
    src.write_bytes(b"uploaded with a token\n" * 100)

    def upload_cli(tok, *extra):
        env = dict(os.environ, CARREL_SERVER=server.url, CARREL_STATE_DIR=str(tmp_path / "state"))
        env.pop("CARREL_TOKEN", None)
        if tok is not None:
            env["CARREL_TOKEN"] = tok
        return subprocess.run([BIN, "upload", str(src), "--json", *extra], capture_output=True, text=True,
                              timeout=60, env=env)

    r = upload_cli(up)
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout.strip().splitlines()[0])
    assert obj["url"].startswith(server.url + "/s/")
    names = [f["name"] for f in requests.get(f"{server.url}/api/files", headers=H(read)).json()["files"]]
    assert names == ["mine.txt"], names
    assert requests.get(direct(obj["url"])).content == src.read_bytes()
    # A token without the upload scope, or a wrong one: refused, nothing stored.
    src.write_bytes(b"another file\n")
    r = upload_cli(read)
    assert r.returncode != 0 and "403" in r.stderr + r.stdout, (r.stdout, r.stderr)
    r = upload_cli("crl_" + "A" * 43)
    assert r.returncode != 0 and "401" in r.stderr + r.stdout, (r.stdout, r.stderr)
    r = upload_cli("bad\ntoken")
    assert r.returncode != 0 and "CARREL_TOKEN" in r.stderr, r.stderr
    assert requests.get(f"{server.url}/api/files", headers=H(read)).json()["total"] == 1
    # --help names the variable.
    h = subprocess.run([BIN, "upload", "--help"], capture_output=True, text=True, timeout=60).stdout
    assert "CARREL_TOKEN" in h
