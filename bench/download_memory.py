"""Peak memory of storing a large vendor result: a 200 MB MP4 downloaded over loopback.

Target (issue 10, "downloads streamed to disk"): a download's memory does not grow with its size.
Measured here, each way in a fresh process so one cannot hide the other's peak:

  * `file`: `providers.download.fetch_to_file` (what `job_store_outputs` uses): streamed to a
    temporary file, then deleted;
  * `memory`: `providers.download.fetch`, which reads the same download back into memory (the
    old behaviour, kept for small results and tests), for comparison.

Each prints the peak RSS growth (ru_maxrss after minus RSS just before), the bytes received and
whether the SHA-256 matches. The file is a valid `ftyp` box then pseudo-random bytes, served by a
loopback server in its own process (its memory is not counted), as a chunked stream.

    .venv/bin/python bench/download_memory.py               # 200 MB, both ways
    .venv/bin/python bench/download_memory.py --mb 500 --modes file
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024

SERVER = r"""
import hashlib, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
size = int(sys.argv[1])
HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
BLOCK = hashlib.sha256(b"seed").digest() * 2048  # 64 KB

def chunks():
    yield HEAD
    sent = len(HEAD)
    while sent < size:
        piece = BLOCK[: min(len(BLOCK), size - sent)]
        sent += len(piece)
        yield piece

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for piece in chunks():
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""

MEASURE = r"""
import hashlib, json, resource, sys, time
sys.path.insert(0, sys.argv[4])
from providers import download

url, mode, size = sys.argv[1], sys.argv[2], int(sys.argv[3])

def rss_kb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

before = rss_kb()
started = time.monotonic()
if mode == "file":
    with download.fetch_to_file(url, expected_kind="video", allow_private=True, max_bytes=size + 1) as got:
        digest, received = got.sha256, got.size
else:
    got = download.fetch(url, expected_kind="video", allow_private=True, max_bytes=size + 1)
    digest, received = hashlib.sha256(got.data).hexdigest(), len(got.data)
seconds = time.monotonic() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"mode": mode, "received": received, "sha256": digest,
                  "peak_growth_mb": round((peak - before) / 1024, 1), "seconds": round(seconds, 2)}))
"""


def expected_sha256(size: int) -> str:
    head = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
    block = hashlib.sha256(b"seed").digest() * 2048
    digest = hashlib.sha256(head)
    sent = len(head)
    while sent < size:
        piece = block[: min(len(block), size - sent)]
        digest.update(piece)
        sent += len(piece)
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--modes", default="file,memory")
    args = parser.parse_args()
    size = args.mb * MB
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(size)], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        url = f"http://127.0.0.1:{port}/result.mp4"
        want = expected_sha256(size)
        leftovers_before = set(Path(tempfile.gettempdir()).glob("wanweb-download-*"))
        results = []
        for mode in args.modes.split(","):
            out = subprocess.run(
                [sys.executable, "-c", MEASURE, url, mode, str(size), str(ROOT)],
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(out.stdout.strip().splitlines()[-1])
            result["sha256_ok"] = result.pop("sha256") == want
            results.append(result)
        leftovers = set(Path(tempfile.gettempdir()).glob("wanweb-download-*")) - leftovers_before
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"download of {args.mb} MB over loopback (chunked, no Content-Length)")
    print(f"{'mode':<8} {'received MB':>12} {'peak RSS growth MB':>19} {'seconds':>8}  sha256")
    for r in results:
        print(
            f"{r['mode']:<8} {r['received'] / MB:>12.1f} {r['peak_growth_mb']:>19.1f} {r['seconds']:>8.2f}  "
            f"{'ok' if r['sha256_ok'] else 'MISMATCH'}"
        )
    print(f"temporary files left behind: {len(leftovers)}")
    ok = all(r["sha256_ok"] for r in results) and not leftovers
    streamed = [r for r in results if r["mode"] == "file"]
    if streamed and streamed[0]["peak_growth_mb"] > 64:
        print("FAIL: the streamed download grew the process by more than 64 MB")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
