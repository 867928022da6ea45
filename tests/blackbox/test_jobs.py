"""The durable job queue, through the real server: the bytes of a blob whose
last file is deleted go even when they cannot go at once, and never while a
new upload uses them again. The blob file is made immutable (chattr +i, so
that even root cannot delete it) to stand for a failing disk."""
import os
import subprocess
import time

import requests

from conftest import direct, put


def blob_path(server, url):
    etag = requests.head(direct(url)).headers["ETag"].strip('"')  # the BLAKE3 hash
    return os.path.join(server.data, "blobs", etag[:2], etag[2:4], etag)


def chattr(flag, path):
    r = subprocess.run(["chattr", flag, path], capture_output=True, text=True)
    assert r.returncode == 0, f"chattr {flag} failed (the test needs root on ext4): {r.stderr}"


def delete(server, j):
    r = requests.delete(f"{server.url}/api/files/{j['file_id']}",
                        headers={"Authorization": f"Bearer {j['manage_token']}"})
    assert r.status_code == 204, r.text


def wait_for(cond, what, seconds=20):
    t = time.monotonic()
    while not cond():
        assert time.monotonic() - t < seconds, f"still waiting after {seconds} s: {what}"
        time.sleep(0.2)


def test_blob_bytes_go_later_when_they_cannot_go_at_once(server):
    gone_data, kept_data = os.urandom(100_000), os.urandom(100_000)
    gone_url, gone = put(server, "gone.bin", gone_data)
    kept_url, kept = put(server, "kept.bin", kept_data)
    gone_blob, kept_blob = blob_path(server, gone_url), blob_path(server, kept_url)
    for p in (gone_blob, kept_blob):
        assert os.path.exists(p)
        chattr("+i", p)
    try:
        delete(server, gone)
        delete(server, kept)
        assert requests.get(direct(gone_url)).status_code == 404, "the file is gone at once"
        assert os.path.exists(gone_blob), "its bytes could not go yet"
        # The same content uploaded again before the job runs reuses the bytes.
        again_url, _ = put(server, "again.bin", kept_data)
        wait_for(lambda: "job failed; retried later" in server.read_log(), "a failed attempt of the queue")
    finally:
        for p in (gone_blob, kept_blob):
            chattr("-i", p)
    wait_for(lambda: not os.path.exists(gone_blob), "the queue deletes the unreferenced blob")
    wait_for(lambda: "blob stored again since; kept" in server.read_log(), "the queue skips the reused blob")
    assert os.path.exists(kept_blob)
    assert requests.get(direct(again_url)).content == kept_data, "the new upload's bytes are intact"
