"""The administrators' users and usage through the real server on both
backends: the JSON API, `carrel admin users|usage` and the pages (forms
with CSRF) offer the same search, plan, role, suspension and deletion;
hostile query strings get clear 400s; the usage counts bytes served per day
durably (it survives a restart) and files uploaded per day. The pages are
also driven in Chromium, with screenshots kept."""
import json
import os
import re
import subprocess
import time

import requests

from conftest import ARTIFACTS, ROOT
from test_accounts import PW, admin_cli, field, login, make_user


def token(srv, email, scopes):
    return {"Authorization": "Bearer " + admin_cli(srv, "create-token", email, "--name", "t",
                                                      "--scopes", scopes).stdout.strip()}


def setup(srv):
    make_user(srv, "boss@example.org", role="admin")
    for e in ("ada@example.org", "bob@example.net", "cy@example.org"):
        make_user(srv, e)
    admin_cli(srv, "set-plan", "bob@example.net", "premium")
    admin_cli(srv, "suspend", "cy@example.org")
    return token(srv, "boss@example.org", "read,manage,admin")


def emails(r):
    assert r.status_code == 200, r.text
    return [u["email"] for u in r.json()["users"]]


def test_users_api_and_cli_search_and_change_alike(server):
    boss = setup(server)
    url = f"{server.url}/api/admin/users"
    assert emails(requests.get(url, headers=boss, params={"plan": "premium"})) == ["bob@example.net"]
    assert emails(requests.get(url, headers=boss, params={"suspended": "yes"})) == ["cy@example.org"]
    assert emails(requests.get(url, headers=boss, params={"q": "EXAMPLE.ORG", "suspended": "no",
                                                          "role": "user"})) == ["ada@example.org"]
    r = requests.get(url, headers=boss, params={"role": "admin"})
    assert r.json()["total"] == 1 and r.json()["next"] is None
    cli = json.loads(admin_cli(server, "users", "--plan", "premium", "--json").stdout)
    assert [u["email"] for u in cli["users"]] == ["bob@example.net"] and cli["total"] == 1
    text = admin_cli(server, "users", "--suspended", "yes").stdout
    assert "cy@example.org" in text and "suspended" in text and "1 of 1" in text

    # Hostile and malformed query strings: clear 400s, nothing leaks.
    for params, code in [({"plan": "gold"}, "unknown_plan"), ({"role": "root"}, None),
                         ({"suspended": "maybe"}, "invalid_query"), ({"q": "x" * 300}, "invalid_query"),
                         ({"q": "a\x00b"}, "invalid_query"), ({"limit": "5"}, "invalid_query"),
                         ({"plan": "' OR 1=1 --"}, "unknown_plan")]:
        r = requests.get(url, headers=boss, params=params)
        assert r.status_code == 400, (params, r.status_code, r.text)
        assert r.json()["error"]["message"], r.text
        if code:
            assert r.json()["error"]["code"] == code, (params, r.text)
    r = admin_cli(server, "users", "--role", "root", check=False)
    assert r.returncode != 0 and "role" in r.stderr.lower()
    r = requests.get(f"{server.url}/api/admin/users/not-an-id", headers=boss)
    assert r.status_code == 404

    # One account, and its changes; the CLI changes under the same rules.
    ada = requests.get(url, headers=boss, params={"q": "ada@"}).json()["users"][0]
    r = requests.get(f"{url}/{ada['id']}", headers=boss)
    assert r.status_code == 200 and r.json()["usage"]["storage_used"] == 0, r.text
    r = requests.patch(f"{url}/{ada['id']}", headers=boss, json={"plan": "premium", "role": "moderator"})
    assert r.status_code == 200 and r.json()["plan"] == "premium" and r.json()["role"] == "moderator"
    for bad in [{"plan": "gold"}, {"role": "root"}, {"suspended": "yes"}, {"colour": "red"}]:
        r = requests.patch(f"{url}/{ada['id']}", headers=boss, json=bad)
        assert r.status_code == 400, (bad, r.text)
    assert requests.get(f"{url}/{ada['id']}", headers=boss).json()["plan"] == "premium", "a bad change changes nothing"
    r = requests.patch(f"{url}/{ada['id']}", headers=boss, data="{" * 10000,
                       params={}, )
    assert r.status_code in (400, 415), r.text
    r = admin_cli(server, "set-plan", "ada@example.org", "gold", check=False)
    assert r.returncode != 0 and "free, premium, unlimited" in r.stderr
    boss_id = requests.get(f"{server.url}/api/me", headers=boss).json()["id"]
    r = requests.patch(f"{url}/{boss_id}", headers=boss, json={"suspended": True})
    assert r.status_code == 403 and "themselves" in r.text

    # Usage: the API and the CLI tell the same; bad days are refused.
    r = requests.get(f"{server.url}/api/admin/usage", headers=boss, params={"days": 7})
    assert r.status_code == 200 and len(r.json()["traffic"]) == 7 and len(r.json()["uploads"]) == 7
    cli = json.loads(admin_cli(server, "usage", "--days", "7", "--json").stdout)
    assert cli["storage"] == r.json()["storage"] and [d["date"] for d in cli["traffic"]] == \
        [d["date"] for d in r.json()["traffic"]]
    for days in ("0", "367", "-1", "x", "99999999999999999999"):
        r = requests.get(f"{server.url}/api/admin/usage", headers=boss, params={"days": days})
        assert r.status_code == 400, (days, r.text)
    assert admin_cli(server, "usage", "--days", "0", check=False).returncode != 0


def usage(srv, auth):
    r = requests.get(f"{srv.url}/api/admin/usage", headers=auth)
    assert r.status_code == 200, r.text
    return r.json()


def test_usage_counts_storage_traffic_and_uploads(server):
    boss = setup(server)
    ada = token(server, "ada@example.org", "read,upload,manage")
    r = requests.put(f"{server.url}/u/a.bin", data=b"a" * 3000, headers={"Accept": "application/json", **ada})
    assert r.status_code == 201
    link = r.json()["url"]
    requests.put(f"{server.url}/u/b.bin", data=b"b" * 500, headers={"Accept": "application/json"})
    before = usage(server, boss)
    assert before["storage"]["files"] == 2 and before["storage"]["bytes"] == 3500
    plans = {p["plan"]: p for p in before["storage"]["per_plan"]}
    assert plans["free"]["bytes"] == 3000 and plans[None]["bytes"] == 500 and plans["premium"]["accounts"] == 1
    assert before["storage"]["top"][0]["email"] == "ada@example.org"
    assert before["uploads"][-1]["count"] == 2 and before["uploads"][-1]["bytes"] == 3500
    served = before["traffic"][-1]["bytes"]
    for _ in range(3):
        r = requests.get(link.replace("/s/", "/d/"))
        assert r.status_code == 200 and len(r.content) == 3000
    # Flushed from memory every few seconds.
    deadline = time.time() + 15
    while usage(server, boss)["traffic"][-1]["bytes"] < served + 9000 and time.time() < deadline:
        time.sleep(0.5)
    today = usage(server, boss)["traffic"][-1]
    assert today["bytes"] == served + 9000 and today["count"] >= 3, today
    # Durable: a restart keeps it; the server flushes what it counted at shutdown.
    requests.get(link.replace("/s/", "/d/"))
    server.stop()
    server.start()
    assert usage(server, boss)["traffic"][-1]["bytes"] == served + 12000
    text = admin_cli(server, "usage", "--days", "2").stdout
    assert "stored: 3.4 KiB in 2 file(s)" in text and "ada@example.org" in text, text


def test_pages_for_administrators_only_with_csrf(server):
    setup(server)
    make_user(server, "mod@example.org", role="moderator")
    boss, _ = login(server, "boss@example.org")
    page = boss.get(f"{server.url}/admin/users?plan=premium")
    assert page.status_code == 200 and "bob@example.net" in page.text and "ada@example.org" not in page.text
    assert "1 account matches" in page.text
    r = boss.get(f"{server.url}/admin/users?role=root")
    assert r.status_code == 400 and "role" in r.text
    r = boss.get(f"{server.url}/admin/users?suspended=%00")
    assert r.status_code == 400
    mod, _ = login(server, "mod@example.org")
    assert mod.get(f"{server.url}/admin/users").status_code == 403
    assert mod.get(f"{server.url}/admin/usage").status_code == 403
    r = requests.get(f"{server.url}/admin/usage", allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"].startswith("/login")
    ada_id = boss.get(f"{server.url}/api/admin/users?q=ada@", headers={"Accept": "application/json"}).json()["users"][0]["id"]
    detail = boss.get(f"{server.url}/admin/users/{ada_id}")
    csrf = field(detail.text, "csrf")
    # Without the form's CSRF token nothing changes.
    r = boss.post(f"{server.url}/admin/users/{ada_id}/plan", data={"plan": "premium"}, allow_redirects=False)
    assert r.status_code == 403
    r = boss.post(f"{server.url}/admin/users/{ada_id}/plan", data={"plan": "premium", "csrf": csrf},
                  allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"].endswith("?done=plan")
    # Reset and invitation links: only with the form's token, for accounts that exist, shown once.
    for path in (f"/admin/users/{ada_id}/reset-link", "/admin/invitations"):
        assert boss.post(f"{server.url}{path}", allow_redirects=False).status_code == 403
        assert boss.post(f"{server.url}{path}", data={"csrf": "x" * 5000}, allow_redirects=False).status_code == 403
        assert mod.post(f"{server.url}{path}", data={"csrf": field(mod.get(f"{server.url}/account").text, "csrf")},
                        allow_redirects=False).status_code == 403
    r = boss.post(f"{server.url}/admin/users/{ada_id}/reset-link", data={"csrf": csrf})
    assert r.status_code == 201 and re.search(r'value="http://[^"]+/reset\?token=', r.text)
    assert "/reset?token=" not in boss.get(f"{server.url}/admin/users/{ada_id}").text
    r = boss.post(f"{server.url}/admin/users/nonexistent/reset-link", data={"csrf": csrf})
    assert r.status_code == 404
    r = boss.post(f"{server.url}/admin/invitations", data={"csrf": csrf, "extra": "y" * 100_000})
    assert r.status_code == 201 and re.search(r'value="http://[^"]+/signup\?invitation=', r.text)
    r = boss.post(f"{server.url}/admin/users/{ada_id}/plan", data={"plan": "gold", "csrf": csrf})
    assert r.status_code == 400 and "gold" in r.text
    r = boss.post(f"{server.url}/admin/users/{ada_id}/delete", data={"files": "delete", "csrf": csrf})
    assert r.status_code == 400 and "confirm" in r.text
    r = boss.post(f"{server.url}/admin/users/{ada_id}/delete",
                  data={"files": "transfer", "transfer_to": "nobody@example.org", "confirm": "yes", "csrf": csrf})
    assert r.status_code == 404
    assert "ada@example.org" in boss.get(f"{server.url}/admin/users/{ada_id}").text
    r = boss.post(f"{server.url}/admin/users/{ada_id}/delete", data={"files": "delete", "confirm": "yes", "csrf": csrf})
    assert r.status_code == 200 and "Account deleted" in r.text
    assert boss.get(f"{server.url}/admin/users/{ada_id}").status_code == 404


def test_admin_pages_in_chromium(server, backend):
    boss = setup(server)
    make_user(server, "dora@example.org")
    make_user(server, "heir@example.org")
    dora = token(server, "dora@example.org", "read,upload,manage")
    requests.put(f"{server.url}/u/d.txt", data=b"dora's", headers={"Accept": "application/json", **dora})
    out_dir = os.path.join(ARTIFACTS, f"admin-{backend}")
    r = subprocess.run(["node", os.path.join(ROOT, "tests", "js", "admin_pages.mjs"), server.url,
                        "boss@example.org", PW, "ada@example.org", "dora@example.org", "heir@example.org", out_dir],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout)
    assert not res["errors"], res["errors"]
    s = res["steps"]
    assert s["users"]["title"].startswith("Users") and "6 accounts match" in s["users"]["text"], s["users"]
    assert "1 account matches" in s["users-search"]["text"]
    assert "The plan is changed." in s["user-plan"]["text"] and "premium" in s["user-plan"]["text"]
    assert "suspended" in s["user-suspended"]["text"] and "may log in again" in s["user-active"]["text"]
    assert "given to heir@example.org" in s["deleted"]["text"], s["deleted"]
    assert "Bytes served per day" in s["usage"]["text"]
    assert s["user-reset-link"]["status"] == 201 and "not shown again" in s["user-reset-link"]["text"]
    assert s["invitation"]["status"] == 201 and "not shown again" in s["invitation"]["text"]
    # The links the buttons showed work (once), like the CLI's and the API's.
    links = res["links"]
    assert links["reset"].startswith(server.url + "/reset?token="), links
    s_ = requests.Session()
    page = s_.get(links["reset"])
    form = {"csrf": field(page.text, "csrf"), "token": field(page.text, "token"), "password": "set by the link 1"}
    assert s_.post(f"{server.url}/reset", data=form, allow_redirects=False).status_code == 303
    assert s_.post(f"{server.url}/reset", data=form, allow_redirects=False).status_code == 400
    login(server, "ada@example.org", "set by the link 1")
    assert links["invitation"].startswith(server.url + "/signup?invitation="), links
    page = s_.get(links["invitation"])
    r = s_.post(f"{server.url}/signup", data={"csrf": field(page.text, "csrf"), "email": "guest@example.org",
                                              "password": PW, "invitation": field(page.text, "invitation")},
                allow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    for name in ("users", "user", "delete-form", "usage", "user-reset-link", "invitation"):
        assert os.path.getsize(os.path.join(out_dir, f"{name}.png")) > 10_000
    me = requests.get(f"{server.url}/api/admin/users", headers=boss, params={"q": "ada@"}).json()["users"][0]
    assert me["plan"] == "premium" and not me["suspended"]
    heir = token(server, "heir@example.org", "read")
    names = [f["name"] for f in requests.get(f"{server.url}/api/files", headers=heir).json()["files"]]
    assert names == ["d.txt"]
