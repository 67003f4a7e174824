"""Peak memory of the bulk zip download: 200 outputs of 2-5 MB streamed through the view.

Target (the issue's "done means" 3): a zip of 200 outputs streams without holding them in
memory. Measured here:

  * peak RSS of this process while the response is consumed, minus the RSS just before;
  * tracemalloc's peak of Python allocations during a second, traced run;
  * both against the total bytes of the files and of the zip.

The outputs are fake MP4s (a valid `ftyp` box, then random bytes: incompressible like real
video) written straight to a throwaway MEDIA_ROOT, with Asset rows in a throwaway database. The
zip is requested with Django's test Client (POST /gallery/bulk/download/, full middleware stack)
and consumed chunk by chunk into a file under bench/out/, which is then opened with zipfile and
checked (every entry's CRC, the manifest's count).

    .venv/bin/python bench/zip_memory.py                      # 200 outputs, 2-5 MB each
    .venv/bin/python bench/zip_memory.py --count 50 --min-mb 1 --max-mb 2
    .venv/bin/python bench/zip_memory.py --database-url postgres://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common  # noqa: E402

NAME = "zip-memory"
MB = 1024 * 1024
# Pass if the stream's extra memory stays under this, whatever the total (which is ~700 MB).
TARGET_PEAK_MB = 64


def rss_bytes() -> int:
    """Current resident set size, from /proc (Linux); ru_maxrss only gives the lifetime peak."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def make_outputs(*, count: int, min_mb: float, max_mb: float):
    """`count` succeeded jobs with one fake MP4 output each, written a block at a time."""
    from django.conf import settings
    from django.utils import timezone

    from generations.models import Asset, Job

    user, membership = common.make_owner()
    project = common.make_project(membership, "Zip bench")
    rng = random.Random(count)
    now = timezone.now()
    jobs = Job.objects.bulk_create(
        [
            Job(
                team_id=project.team_id,
                project=project,
                created_by=user,
                provider="simulator",
                model="wan2.2-t2v-plus",
                mode="t2v",
                prompt=f"{common.PROMPTS[i % len(common.PROMPTS)]} (take {i})",
                params={"duration": 5, "resolution": "720p", "seed": i},
                seed=i,
                status="succeeded",
                created_at=now,
            )
            for i in range(count)
        ]
    )
    assets, total = [], 0
    block = os.urandom(MB)  # re-used: writing fresh random bytes for 700 MB costs more than it shows
    for i, job in enumerate(jobs):
        size = int(rng.uniform(min_mb, max_mb) * MB)
        name = f"jobs/{job.public_id}/output-0.mp4"
        path = Path(settings.MEDIA_ROOT) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with open(path, "wb") as handle:
            header = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + i.to_bytes(8, "big")
            handle.write(header)
            digest.update(header)
            left = size - len(header)
            while left > 0:
                piece = block[: min(left, MB)]
                handle.write(piece)
                digest.update(piece)
                left -= len(piece)
        total += size
        assets.append(
            Asset(
                job=job,
                role="output",
                index=0,
                kind="video",
                file=name,
                content_type="video/mp4",
                size_bytes=size,
                sha256=digest.hexdigest(),
                duration=5.0,
            )
        )
    Asset.objects.bulk_create(assets)
    return user, [a.public_id for a in Asset.objects.filter(job__project=project)], total


def stream_once(client, ids, out_path: Path, *, traced: bool) -> dict:
    """POST the bulk download and write the streamed body to `out_path`; memory and time of it."""
    if traced:
        tracemalloc.start()
    before = rss_bytes()
    peak = before
    started = time.perf_counter()
    response = client.post("/gallery/bulk/download/", {"ids": [str(i) for i in ids]})
    assert response.status_code == 200, response.status_code
    assert response.streaming, "the zip must be a StreamingHttpResponse"
    first_chunk_ms = None
    chunks = written = largest = 0
    with open(out_path, "wb") as handle:
        for chunk in response.streaming_content:
            if first_chunk_ms is None:
                first_chunk_ms = (time.perf_counter() - started) * 1000
            handle.write(chunk)
            chunks += 1
            written += len(chunk)
            largest = max(largest, len(chunk))
            if chunks % 8 == 0:
                peak = max(peak, rss_bytes())
    response.close()
    elapsed = time.perf_counter() - started
    peak = max(peak, rss_bytes())
    result = {
        "zip_bytes": written,
        "chunks": chunks,
        "largest_chunk_bytes": largest,
        "seconds": round(elapsed, 2),
        "mb_per_s": round(written / MB / elapsed, 1),
        "first_chunk_ms": round(first_chunk_ms or 0, 1),
        "rss_before_mb": round(before / MB, 1),
        "rss_peak_mb": round(peak / MB, 1),
        "rss_growth_mb": round((peak - before) / MB, 1),
    }
    if traced:
        current, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        result["tracemalloc_peak_mb"] = round(traced_peak / MB, 2)
    return result


def check_zip(path: Path, count: int) -> dict:
    with zipfile.ZipFile(path) as archive:
        bad = archive.testzip()  # reads every entry and checks its CRC
        manifest = json.loads(archive.read("manifest.json"))
        entries = len(archive.namelist())
    assert bad is None, f"corrupt entry {bad}"
    assert manifest["count"] == count and entries == count + 1, (manifest["count"], entries)
    return {"entries": entries, "manifest_count": manifest["count"], "crc_ok": True}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=None, help="PostgreSQL server to use (default: SQLite)")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--min-mb", type=float, default=2.0)
    parser.add_argument("--max-mb", type=float, default=5.0)
    parser.add_argument("--keep", action="store_true", help="keep the media and the zip under bench/out/")
    args = parser.parse_args()

    database_url = common.isolated_database_url(args.database_url, NAME)
    env = common.bench_environ(database_url, NAME)
    # ALLOWED_HOSTS for the test Client's "testserver".
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
    common.django_setup()
    common.migrate()

    from django.test import Client

    from generations import gallery

    if args.count > gallery.BULK_MAX:
        raise SystemExit(f"--count is capped at {gallery.BULK_MAX}, like the view")
    print(f"writing {args.count} outputs of {args.min_mb}-{args.max_mb} MB under {env['MEDIA_ROOT']} ...")
    user, ids, total = make_outputs(count=args.count, min_mb=args.min_mb, max_mb=args.max_mb)
    client = Client()
    client.force_login(user)
    out_path = common.OUT / f"{NAME}.zip"

    plain = stream_once(client, ids, out_path, traced=False)
    checked = check_zip(out_path, len(ids))
    traced = stream_once(client, ids, out_path, traced=True)

    rows = [
        ["files", len(ids), ""],
        ["files total", f"{total / MB:.0f} MB", ""],
        [
            "zip size",
            f"{plain['zip_bytes'] / MB:.0f} MB",
            f"{plain['chunks']} chunks, largest {plain['largest_chunk_bytes'] / 1024:.0f} KiB",
        ],
        [
            "time",
            f"{plain['seconds']} s",
            f"{plain['mb_per_s']} MB/s, first chunk after {plain['first_chunk_ms']} ms",
        ],
        ["RSS before", f"{plain['rss_before_mb']} MB", ""],
        ["RSS peak while streaming", f"{plain['rss_peak_mb']} MB", f"+{plain['rss_growth_mb']} MB"],
        ["tracemalloc peak (2nd run)", f"{traced['tracemalloc_peak_mb']} MB", "Python allocations only"],
        [
            "zip check",
            "ok",
            f"{checked['entries']} entries, CRCs ok, manifest lists {checked['manifest_count']}",
        ],
    ]
    common.print_table(
        ["measure", "value", "note"],
        rows,
        title=f"Bulk zip of {len(ids)} outputs ({common.vendor_for(database_url)})",
    )
    growth = max(plain["rss_growth_mb"], traced["tracemalloc_peak_mb"])
    passed = growth < TARGET_PEAK_MB and growth < total / MB / 10
    print(
        f"\n{'PASS' if passed else 'FAIL'}: extra memory {growth} MB for {total / MB:.0f} MB of files "
        f"(target < {TARGET_PEAK_MB} MB)"
    )
    common.write_json(
        f"{NAME}-{common.vendor_for(database_url)}",
        {
            "count": len(ids),
            "files_total_bytes": total,
            "untraced": plain,
            "traced": traced,
            "check": checked,
            "target_peak_mb": TARGET_PEAK_MB,
            "passed": passed,
        },
    )
    if not args.keep:
        import shutil

        shutil.rmtree(env["MEDIA_ROOT"], ignore_errors=True)
        out_path.unlink(missing_ok=True)
    from django.db import connections

    connections.close_all()
    common.drop_database(database_url)
    print(
        f"(lifetime max RSS of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
