"""The connection loop: plain GET/HEAD requests take carrel's fast path
(files go out with sendfile), everything else is handed to hyper with the
bytes already read. These tests speak raw HTTP/1.1 over one socket, so that
requests of both kinds share a connection, and check that nothing is lost
or reordered at the hand-over."""
import hashlib
import http.client
import os
import socket
import time

import requests

from conftest import put


def host_port(server):
    host, port = server.url.split("//")[1].split(":")
    return host, int(port)


class Shared:
    """The connection's reader, which each response may "close" when done."""

    def __init__(self, f):
        self.f = f

    def __getattr__(self, name):
        return getattr(self.f, name)

    def close(self):
        pass


class Conn:
    """One keep-alive connection; responses are read in order with the
    standard library's parser over a shared buffered reader."""

    def __init__(self, server, timeout=10):
        self.sock = socket.create_connection(host_port(server))
        self.sock.settimeout(timeout)
        self.file = self.sock.makefile("rb")

    def makefile(self, *_):
        return Shared(self.file)

    def send(self, raw: bytes):
        self.sock.sendall(raw)

    def response(self, method="GET"):
        r = http.client.HTTPResponse(self, method=method)
        r.begin()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body

    def close(self):
        self.file.close()
        self.sock.close()


def get(path, extra=""):
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode()


def test_pipelined_requests_of_both_kinds_share_one_connection(server):
    data = os.urandom(200_000)  # above the memory cache's 64 KiB: a file on disk, sent with sendfile
    big, _ = put(server, "big.bin", data)
    small, _ = put(server, "small.txt", b"hello")
    big_path, small_path = "/d/" + big.rsplit("/", 1)[1], "/d/" + small.rsplit("/", 1)[1]
    c = Conn(server)
    # fast, fast, handed to hyper (a body), then more requests that hyper serves.
    c.send(get(big_path) + get(small_path, "Range: bytes=1-3\r\n")
           + b"PUT /u/p.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
           + get("/healthz") + get(big_path, "Connection: close\r\n"))
    status, h, body = c.response()
    assert status == 200 and body == data and h["content-length"] == "200000"
    status, h, body = c.response()
    assert status == 206 and body == b"ell" and h["content-range"] == "bytes 1-3/5"
    status, _, body = c.response()
    assert status == 201 and body.startswith(b"http://x/s/"), body  # links are made from the Host header
    uploaded = body.decode().strip().rsplit("/", 1)[1]
    assert c.response()[2] == b"ok\n"
    status, h, body = c.response()
    assert status == 200 and body == data
    assert c.sock.recv(1) == b"", "the connection closes after Connection: close"
    c.close()
    assert requests.get(f"{server.url}/d/{uploaded}").content == b"abc", "the body handed to hyper was whole"


def test_heads_not_modified_and_unknown_lengths(server):
    data = os.urandom(100_000)
    url, j = put(server, "f.bin", data)
    path = "/d/" + url.rsplit("/", 1)[1]
    r = requests.post(f"{server.url}/api/folders",
                      json={"name": "z", "files": [{"id": j["file_id"], "manage_token": j["manage_token"]}]})
    zip_path = "/d/" + r.json()["url"].rsplit("/", 1)[1]
    c = Conn(server)
    c.send(f"HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    status, h, body = c.response("HEAD")
    assert status == 200 and h["content-length"] == "100000" and body == b""
    etag = h["etag"]
    c.send(get(path, f"If-None-Match: {etag}\r\n"))
    status, h, body = c.response()
    assert status == 304 and body == b"" and "content-length" not in h and h["etag"] == etag
    # A folder's ZIP is built as it streams: its length is not known, so it
    # goes out chunked and the connection stays usable afterwards.
    c.send(get(zip_path))
    status, h, body = c.response()
    assert status == 200 and h.get("transfer-encoding") == "chunked" and body[:2] == b"PK"
    c.send(get(path))
    status, _, body = c.response()
    assert status == 200 and body == data
    c.close()


def test_hostile_connections_leave_the_server_healthy(make_server):
    s = make_server(env={"CARREL_HEADER_READ_TIMEOUT_SECS": "1"})
    data = os.urandom(32 * 1024 * 1024)
    url, _ = put(s, "large.bin", data)
    path = "/d/" + url.rsplit("/", 1)[1]
    # A client that asks for 32 MiB, reads a little and goes away mid-sendfile.
    for _ in range(5):
        c = Conn(s)
        c.send(get(path))
        assert c.sock.recv(1000)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # reset
        c.close()
    # A client that asks and never reads: the server must not wait on it to serve others.
    stuck = Conn(s)
    stuck.send(get(path))
    # Oversized and odd heads are handed to hyper, which answers them.
    c = Conn(s)
    c.send(get("/healthz", "X-Big: " + "a" * 20_000 + "\r\n"))
    assert c.response()[0] == 200
    c.send(get("/healthz", "".join(f"X-{i}: y\r\n" for i in range(80))))
    assert c.response()[0] == 200
    c.send(b"GET /\x01 HTTP/1.1\r\n\r\n")
    assert c.response()[0] == 400
    c.close()
    # Idle keep-alive connections are closed after the header read timeout.
    idle = Conn(s)
    idle.send(get("/healthz"))
    assert idle.response()[2] == b"ok\n"
    t = time.monotonic()
    assert idle.sock.recv(1) == b""
    assert time.monotonic() - t < 5
    idle.close()
    got = requests.get(f"{s.url}{path}")
    assert hashlib.sha256(got.content).digest() == hashlib.sha256(data).digest()
    stuck.close()


def metric(server, name):
    for line in requests.get(f"{server.url}/metrics").text.splitlines():
        if line.startswith(name + " "):
            return int(line.split()[1])
    return 0


def test_files_not_in_the_page_cache_are_read_off_the_runtime(server):
    data = os.urandom(12 * 1024 * 1024)
    url, _ = put(server, "cold.bin", data)
    path = "/d/" + url.rsplit("/", 1)[1]
    etag = requests.head(f"{server.url}{path}").headers["ETag"].strip('"')
    blob = os.path.join(server.data, "blobs", etag[:2], etag[2:4], etag)
    fd = os.open(blob, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # drop its pages from the cache
    finally:
        os.close(fd)
    before = metric(server, "carrel_http_cold_file_reads_total")
    c = Conn(server)
    c.send(get(path))
    status, _, body = c.response()
    assert status == 200 and hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
    assert metric(server, "carrel_http_cold_file_reads_total") > before, "the cold pieces went through the blocking pool"
    c.send(get(path, "Range: bytes=5000000-5000009\r\n"))  # and the connection goes on
    assert c.response()[2] == data[5000000:5000010]
    c.close()
