"""Password reset by mail, on both backends, through a real SMTP server
(aiosmtpd, started here on a free port): the /forgot form answers the same
whatever the address, the mail carries a link built from the server's own
address (never the request's Host), the link works once and not after it
expires; bad input, a foreign form and flooding are refused; AUTH,
STARTTLS and TLS from the first byte (a private CA in `smtp.ca_file`)."""
import email
import email.policy
import os
import re
import socket
import ssl
import subprocess
import threading
import time

import pytest
import requests
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from test_accounts import PW, admin_cli, field, login, make_user


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """An aiosmtpd handler keeping what arrives (and who logged in to send it)."""

    def __init__(self):
        self.mails = []
        self.cond = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.cond:
            self.mails.append({"rcpt": envelope.rcpt_tos, "from": envelope.mail_from, "msg": msg,
                               "auth": session.authenticated,
                               "tls": session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None})
            self.cond.notify_all()
        return "250 OK"

    def wait(self, n, timeout=30):
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.mails) >= n, timeout), f"{len(self.mails)} mails, wanted {n}"
            return self.mails[n - 1]


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"carrel" and auth_data.password == b"mail secret"
    return AuthResult(success=ok)


@pytest.fixture
def smtp():
    """A plain SMTP server that wants AUTH (allowed without TLS on loopback)."""
    inbox = Inbox()
    port = free_port()
    c = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=authenticator,
                   auth_required=True, auth_require_tls=False)
    c.start()
    yield port, inbox
    c.stop()


def smtp_env(port, **extra):
    return {"CARREL_SMTP__HOST": "127.0.0.1", "CARREL_SMTP__PORT": str(port), "CARREL_SMTP__TLS": "none",
            "CARREL_SMTP__FROM": "carrel <noreply@example.org>", "CARREL_SMTP__USER": "carrel",
            "CARREL_SMTP__PASSWORD": "mail secret", **extra}


def ask(srv, address, session=None, headers=None):
    s = session or requests.Session()
    page = s.get(f"{srv.url}/forgot")
    assert page.status_code == 200, page.text[:300]
    headers = dict(headers or {})
    if "Host" in headers:
        # requests picks cookies by the Host header: hand the form's cookie over by hand.
        headers["Cookie"] = f"carrel_form={s.cookies['carrel_form']}"
    return s.post(f"{srv.url}/forgot", data={"csrf": field(page.text, "csrf"), "email": address}, headers=headers)


def link_in(mail):
    body = mail["msg"].get_body(("plain",)).get_content()
    m = re.search(r"(http://\S+/reset\?token=[A-Za-z0-9_-]+)", body)
    assert m, body
    return m.group(1)


def set_password(srv, link, password):
    s = requests.Session()
    page = s.get(link)
    assert page.status_code == 200, page.text[:300]
    form = {"csrf": field(page.text, "csrf"), "token": field(page.text, "token"), "password": password}
    return s, form, s.post(f"{srv.url}/reset", data=form, allow_redirects=False)


def neutral(html):
    m = re.search(r'<p class="ok" role="status">(.*?)</p>', html, re.S)
    assert m, html[:800]
    return m.group(1)


def without_address(text):
    return re.sub(r"\S+@\S+", "ADDRESS", text)


def test_reset_link_by_mail_works_once(make_server, smtp):
    port, inbox = smtp
    srv = make_server(env=smtp_env(port))
    make_user(srv, "ada@example.org")
    old, _ = login(srv, "ada@example.org")
    assert 'href="/forgot"' in requests.get(f"{srv.url}/login").text
    # A forged Host header does not make the link point elsewhere.
    r = ask(srv, "  ADA@Example.org ", headers={"Host": "evil.example"})
    assert r.status_code == 200, r.text[:500]
    mine = neutral(r.text)
    assert "on its way" in mine and "60 minutes" in mine
    mail = inbox.wait(1)
    assert mail["rcpt"] == ["ada@example.org"] and mail["from"] == "noreply@example.org"
    assert mail["auth"] and not mail["tls"], "carrel logged in to the mail server, in the clear as told"
    assert mail["msg"]["Subject"] == "Your new carrel password"
    link = link_in(mail)
    assert link.startswith(srv.url + "/reset?token="), link
    # Nobody uses this address: the same answer, and no mail.
    r = ask(srv, "nobody@example.org")
    assert r.status_code == 200 and without_address(neutral(r.text)) == without_address(mine)
    # The link sets a password once, and ends the sessions there were.
    s, form, r = set_password(srv, link, "mailed password 1")
    assert r.status_code == 303 and r.headers["Location"] == "/login?reset=1", r.text[:300]
    assert old.get(f"{srv.url}/api/me").status_code == 401
    login(srv, "ada@example.org", "mailed password 1")
    r = s.post(f"{srv.url}/reset", data={**form, "password": "mailed password 2"})
    assert r.status_code == 400 and "unknown, used or expired" in r.text
    login(srv, "ada@example.org", "mailed password 2", expect=401)
    time.sleep(1)
    assert len(inbox.mails) == 1, "no mail for an address nobody uses"
    # Suspended accounts get none either.
    make_user(srv, "sus@example.org")
    admin_cli(srv, "suspend", "sus@example.org")
    assert ask(srv, "sus@example.org").status_code == 200
    # Flooding one address: three asks an hour (the first above was one), then 429.
    assert ask(srv, "ada@example.org").status_code == 200
    assert ask(srv, "ada@example.org").status_code == 200
    r = ask(srv, "ada@example.org")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0 and "try again" in r.text
    inbox.wait(3)
    time.sleep(1)
    assert len(inbox.mails) == 3 and all(m["rcpt"] == ["ada@example.org"] for m in inbox.mails)


def test_forgot_form_refuses_bad_input(make_server, smtp):
    port, inbox = smtp
    srv = make_server(env=smtp_env(port))
    make_user(srv, "ada@example.org")
    for bad in ["not-an-address", "", "a@b", "x" * 10_000 + "@example.org", "ada@example.org\r\nBcc: x@evil.example"]:
        r = ask(srv, bad)
        assert r.status_code == 400, (bad[:40], r.status_code)
        assert 'role="alert"' in r.text
    # A form that did not come from carrel's page (no pre-login cookie / wrong token).
    r = requests.post(f"{srv.url}/forgot", data={"csrf": "x" * 43, "email": "ada@example.org"})
    assert r.status_code == 403 and "did not come from" in r.text
    s = requests.Session()
    s.get(f"{srv.url}/forgot")
    r = s.post(f"{srv.url}/forgot", data={"csrf": "wrong", "email": "ada@example.org"})
    assert r.status_code == 403
    # Not a form at all, and an oversized one.
    for path in ("/forgot", "/reset", "/login", "/signup"):
        r = s.post(f"{srv.url}{path}", data=b"\xff\xfe", headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and "The form was incomplete." in r.text, (path, r.status_code)
    r = s.post(f"{srv.url}/forgot", data={"csrf": "x", "email": "y" * (3 << 20)})
    assert r.status_code in (400, 403, 413)
    time.sleep(1)
    assert inbox.mails == []


def test_mailed_link_expires(make_server, smtp):
    port, inbox = smtp
    srv = make_server(env=smtp_env(port, CARREL_ACCOUNTS__RESET_MINUTES="0.05"))
    make_user(srv, "ada@example.org")
    assert ask(srv, "ada@example.org").status_code == 200
    link = link_in(inbox.wait(1))
    page = requests.Session()
    p = page.get(link)
    time.sleep(3.5)
    r = page.post(f"{srv.url}/reset", data={"csrf": field(p.text, "csrf"), "token": field(p.text, "token"),
                                            "password": "too late password"})
    assert r.status_code == 400 and "unknown, used or expired" in r.text
    login(srv, "ada@example.org", PW)


def test_without_smtp_the_administrator_hands_out_links(server):
    page = requests.get(f"{server.url}/forgot")
    assert page.status_code == 200 and "sends no e-mail" in page.text and 'name="email"' not in page.text
    assert 'href="/forgot"' not in requests.get(f"{server.url}/login").text
    # A post anyway (with the pre-login cookie's token) is told the same.
    s = requests.Session()
    s.get(f"{server.url}/forgot")
    r = s.post(f"{server.url}/forgot", data={"csrf": s.cookies["carrel_form"], "email": "ada@example.org"})
    assert r.status_code == 503 and "ask its administrator" in r.text


@pytest.fixture(scope="module")
def private_ca(tmp_path_factory):
    d = tmp_path_factory.mktemp("ca")
    key, cert = d / "key.pem", d / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return str(key), str(cert)


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_mail_over_tls(make_server, private_ca, mode):
    key, cert = private_ca
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    inbox = Inbox()
    port = free_port()
    if mode == "starttls":
        c = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=True,
                       authenticator=authenticator, auth_required=True)
    else:
        # aiosmtpd counts only STARTTLS as TLS for AUTH; this connection is TLS from its first byte.
        c = Controller(inbox, hostname="127.0.0.1", port=port, ssl_context=ctx, server_hostname="127.0.0.1",
                       authenticator=authenticator, auth_required=True, auth_require_tls=False)
    c.start()
    try:
        srv = make_server(env=smtp_env(port, CARREL_SMTP__TLS=mode, CARREL_SMTP__CA_FILE=cert))
        make_user(srv, "ada@example.org")
        assert ask(srv, "ada@example.org").status_code == 200
        try:
            mail = inbox.wait(1)
        except AssertionError:
            raise AssertionError(srv.read_log()[-2000:])
        assert mail["auth"] and mail["rcpt"] == ["ada@example.org"]
        assert mail["tls"], "the connection was TLS"
        _, _, r = set_password(srv, link_in(mail), "tls mailed password")
        assert r.status_code == 303
        login(srv, "ada@example.org", "tls mailed password")
        # Without the private CA, carrel will not talk to this server: nothing is sent, and the log says why.
        other = make_server(env=smtp_env(port, CARREL_SMTP__TLS=mode))
        make_user(other, "ada@example.org")
        assert ask(other, "ada@example.org").status_code == 200
        deadline = time.time() + 20
        while "reset mail could not be sent" not in other.read_log() and time.time() < deadline:
            time.sleep(0.2)
        log = other.read_log()
        assert "reset mail could not be sent" in log and "ada@example.org" not in log, log[-1500:]
        assert len(inbox.mails) == 1
    finally:
        c.stop()


def test_bad_smtp_settings_stop_the_server(tmp_path):
    from conftest import BIN
    env = dict(os.environ, CARREL_SMTP__HOST="127.0.0.1")
    r = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--data", str(tmp_path / "d")],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode != 0 and "from" in r.stderr, r.stderr[-800:]
