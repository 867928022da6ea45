"""Shared helpers for carrel's benchmarks: start the release binary, the
nginx peers (../shared/bench/peer-nginx) and dufs on the same files, run
public load tools, sample a process's memory, and report medians and
ratios. Each benchmark script runs every server in the same run,
interleaving rounds so that machine noise hits all of them alike."""
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
BIN = os.environ.get("CARREL_BIN", os.path.join(ROOT, "target", "release", "carrel"))
WORK = os.environ.get("CARREL_BENCH_DIR") or tempfile.mkdtemp(prefix="carrel-bench-")


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def raise_nofile():
    """Load tools and servers opening a thousand connections need more than 1024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def build():
    if os.environ.get("CARREL_BIN"):
        return
    log("cargo build --release -p carrel-cli")
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "carrel-cli"], cwd=ROOT, check=True)


def need(cmd, how):
    if shutil.which(cmd) is None:
        sys.exit(f"{cmd} is not installed: {how}")


def make_file(path, size, random=True):
    """A file of `size` bytes (random unless told otherwise), made once and reused."""
    if os.path.exists(path) and os.path.getsize(path) == size:
        return path
    src = "/dev/urandom" if random else "/dev/zero"
    log(f"writing {size} bytes to {path}")
    with open(src, "rb") as r, open(path, "wb") as w:
        left = size
        while left:
            b = r.read(min(left, 1 << 22))
            w.write(b)
            left -= len(b)
    return path


def warm(path):
    """Reads a file once so that every server starts from a warm page cache."""
    with open(path, "rb") as f:
        while f.read(1 << 22):
            pass


class Carrel:
    """The real server (release build) on port 0 with its own data directory."""

    def __init__(self, name="carrel", env=None, data_from=None, bin=None):
        """`data_from`: a stopped server's data directory to start from (a copy of it);
        `bin`: another carrel binary than BIN (an older build to compare with)."""
        self.data = os.path.join(WORK, name)
        shutil.rmtree(self.data, ignore_errors=True)
        if data_from:
            shutil.copytree(data_from, self.data)
        else:
            os.makedirs(self.data)
        # Anonymous downloads on the `unlimited` plan unless `env` says otherwise
        # (the default free plan caps speed, which would be measured instead).
        e = {**os.environ, "CARREL_LOG": "warn", "CARREL_PLANS__ANONYMOUS": "unlimited", **(env or {})}
        self.log = open(os.path.join(WORK, f"{name}.log"), "ab")
        self.proc = subprocess.Popen([bin or BIN, "serve", "--listen", "127.0.0.1:0", "--data", self.data],
                                     stdout=subprocess.PIPE, stderr=self.log, env=e)
        line = self.proc.stdout.readline().decode()
        m = re.search(r"listening on (http://\S+)", line)
        if not m:
            raise SystemExit(f"carrel did not start: {line!r}")
        self.url = m.group(1)
        self.pid = self.proc.pid

    def put(self, path, name=None):
        """Uploads with `curl -T`; returns (direct download URL, file id, token)."""
        name = name or os.path.basename(path)
        out = subprocess.run(["curl", "-sS", "-f", "-H", "Accept: application/json", "-T", path,
                              f"{self.url}/u/{name}"], capture_output=True, check=True, text=True).stdout
        j = json.loads(out)
        share = j["url"].rsplit("/", 1)[1]
        return f"{self.url}/d/{share}", j["file_id"], j["manage_token"]

    def delete(self, file_id, token):
        subprocess.run(["curl", "-sS", "-f", "-X", "DELETE", "-H", f"Authorization: Bearer {token}",
                        f"{self.url}/api/files/{file_id}"], check=True, capture_output=True)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Nginx:
    """Both nginx peers serving DIR: with sendfile and with read/write buffers."""

    def __init__(self, directory):
        out = subprocess.run([os.path.join(SHARED, "bench", "peer-nginx"), directory,
                              os.path.join(WORK, "nginx")], capture_output=True, text=True, check=True,
                             stdin=subprocess.DEVNULL).stdout
        self.urls, self.pids = {}, []
        for line in out.splitlines():
            name, url, pid = line.split()
            self.urls[f"nginx-{name}"] = url
            self.pids.append(int(pid))

    def stop(self):
        for p in self.pids:
            try:
                os.kill(p, 15)
            except ProcessLookupError:
                pass


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Dufs:
    """dufs (`cargo install dufs`), the Rust file server named by the issue, serving DIR."""

    def __init__(self, directory, upload=False):
        exe = shutil.which("dufs") or os.path.expanduser("~/.cargo/bin/dufs")
        if not os.path.exists(exe):
            raise SystemExit("dufs is not installed: cargo install --locked dufs")
        port = free_port()
        args = [exe, directory, "--bind", "127.0.0.1", "--port", str(port)]
        if upload:
            args.append("--allow-upload")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            if subprocess.run(["curl", "-s", "-o", "/dev/null", self.url + "/"]).returncode == 0:
                break
            time.sleep(0.1)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def wrk(url, connections, seconds, threads=2):
    """Requests per second from wrk; fails loudly on socket or HTTP errors."""
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        raise SystemExit(f"{url}: {bad.group(1)} error responses\n{out}")
    return rps, out


def curl_speed(url, out="/dev/null"):
    """Bytes per second of one curl download."""
    r = subprocess.run(["curl", "-sS", "-f", "-o", out, "-w", "%{speed_download} %{size_download}", url],
                       capture_output=True, text=True, check=True).stdout.split()
    return float(r[0]), int(r[1])


def proc_status(pid, key, strict=False):
    """A figure from /proc/PID/status (`VmRSS:` and the like in bytes,
    `Threads:` as a count); 0 for a process that is gone, unless `strict`."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key):
                    parts = line.split()
                    return int(parts[1]) * (1024 if parts[-1] == "kB" else 1)
    except OSError:
        if strict:
            raise
    return 0


class RssSampler:
    """Samples a process's resident set every 20 ms; `peak` in bytes. Also
    reads VmHWM, the kernel's own high-water mark, at the end."""

    def __init__(self, pid):
        self.pid, self.peak, self.samples = pid, 0, []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                v = proc_status(self.pid, "VmRSS:", strict=True)
            except OSError:
                return
            self.samples.append(v)
            self.peak = max(self.peak, v)
            time.sleep(0.02)

    def stop(self):
        self._stop.set()
        self._t.join()
        try:
            self.hwm = proc_status(self.pid, "VmHWM:", strict=True)
        except OSError:
            self.hwm = None
        return self.peak


def median(xs):
    return statistics.median(xs)


def mib(b):
    return b / (1 << 20)


def table(rows, header):
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths))
    print(line(header))
    for r in rows:
        print(line(r))


# A plan with every download limit set, none of them reached in a benchmark:
# each request checks the day's volume and the downloads running, takes a
# tap, and paces its bytes through the address's token bucket.
ENFORCED_PLAN = {
    "CARREL_PLANS__ANONYMOUS": "bench",
    "CARREL_PLANS__TIERS__BENCH__DAILY_DOWNLOAD": str(1 << 60),
    "CARREL_PLANS__TIERS__BENCH__SPEED": str(1 << 50),
    "CARREL_PLANS__TIERS__BENCH__CONCURRENT_DOWNLOADS": "100000",
}


class DownloadPeers:
    """carrel (the file uploaded, served through its share link), both nginx
    shapes and, unless left out, dufs, all serving the same file `path`
    (which must lie in the directory the peers serve). `urls` maps each
    server to the file's URL. A context manager: leaving it stops them all."""

    def __init__(self, path, dufs=True, enforced=False):
        directory, name = os.path.split(path)
        self.urls, self._stops = {}, []
        try:
            c = Carrel()
            self._stops.append(c.stop)
            self.urls["carrel"] = c.put(path)[0]
            if enforced:
                c = Carrel("carrel-enforced", env=ENFORCED_PLAN)
                self._stops.append(c.stop)
                self.urls["carrel-enforced"] = c.put(path)[0]
            n = Nginx(directory)
            self._stops.append(n.stop)
            for k, u in n.urls.items():
                self.urls[k] = f"{u}/{name}"
            if dufs:
                d = Dufs(directory)
                self._stops.append(d.stop)
                self.urls["dufs"] = f"{d.url}/{name}"
        except BaseException:
            self.stop()
            raise

    def stop(self):
        for s in self._stops:
            s()
        self._stops = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def interleaved(urls, rounds, measure, show):
    """Runs `measure(url)` on every server in turn, `rounds` times; returns
    the medians by server. `show(value)` formats a figure for the log."""
    results = {k: [] for k in urls}
    for r in range(rounds):
        for name, url in urls.items():
            v = measure(url)
            results[name].append(v)
            log(f"round {r + 1}: {name} {show(v)}")
    return {k: median(v) for k, v in results.items()}


def report_vs_nginx(title, medians, show, target):
    """Prints the medians, each as a ratio to the better nginx, and carrel's ratio."""
    best = max(v for k, v in medians.items() if k.startswith("nginx"))
    print(f"\n{title}")
    table([[k, show(v), f"{v / best:.2f}x"] for k, v in medians.items()],
          ["server", "median", "vs best nginx"])
    print(f"RATIO carrel/nginx = {medians['carrel'] / best:.2f} (target >= {target:.2f})")
    if "carrel-enforced" in medians:
        print(f"RATIO carrel-enforced/nginx = {medians['carrel-enforced'] / best:.2f} (target >= {target:.2f})")
        print(f"RATIO carrel-enforced/carrel = {medians['carrel-enforced'] / medians['carrel']:.3f} "
              "(plan enforcement's cost; target >= 0.95)")
