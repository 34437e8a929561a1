"""What a commit waits for on this disk: an 8 KB durable write while other pages are written back.

    make bench-disk              (or: .venv/bin/python bench/disk.py [--dir DIR] [--mb 0 50 300])

A commit makes its WAL durable with write + fdatasync. On a disk with a volatile write cache
that fdatasync flushes the cache, so it also waits for whatever else the kernel is writing back
at that moment. PostgreSQL's new table pages sit dirty in the page cache until the kernel
writes them back, in one burst, about 30 s after they were written; this measures what such a
burst of N MB costs the commits that fall into it. Both files live in --dir (the filesystem of
the database's data directory) and are removed at the end.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time

PAGE = 8192
WAL_BYTES = 64 << 20


def commit_latencies(wal: int, stop: threading.Event, out: list[tuple[float, float]]) -> None:
    """Commits, one every 5 ms, into a preallocated file, as a WAL segment that is reused."""
    offset = 0
    while not stop.is_set():
        started = time.perf_counter()
        os.pwrite(wal, b"x" * PAGE, offset)
        os.fdatasync(wal)
        out.append((started, time.perf_counter() - started))
        offset = (offset + PAGE) % WAL_BYTES
        time.sleep(0.005)


def burst(directory: str, megabytes: int) -> dict:
    wal_path, data_path = os.path.join(directory, "wal"), os.path.join(directory, "data")
    wal = os.open(wal_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
    data = os.open(data_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
    try:
        os.write(wal, bytes(WAL_BYTES))
        os.fsync(wal)
        latencies: list[tuple[float, float]] = []
        stop = threading.Event()
        committer = threading.Thread(target=commit_latencies, args=(wal, stop, latencies))
        committer.start()
        time.sleep(1.0)
        block = os.urandom(1 << 20)
        for _ in range(megabytes):
            os.write(data, block)  # dirty pages, as new table pages are until written back
        started = time.perf_counter()
        os.fsync(data)  # the burst: all of them written back at once
        burst_s = time.perf_counter() - started
        time.sleep(0.5)
        stop.set()
        committer.join()
    finally:
        os.close(wal)
        os.close(data)
        os.unlink(wal_path)
        os.unlink(data_path)
    quiet = sorted(l for t, l in latencies if t < started)
    during = [l for t, l in latencies if started <= t <= started + burst_s]
    return {"burst_ms": 1000 * burst_s, "quiet_p50_ms": 1000 * quiet[len(quiet) // 2],
            "worst_during_ms": 1000 * max(during) if during else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default=None, help="a directory on the database's filesystem")
    parser.add_argument("--mb", type=int, nargs="+", default=[0, 50, 300], help="sizes of the write-back burst")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reactor-disk-", dir=args.dir) as directory:
        print(f"{'write-back burst':>18}{'burst takes':>14}{'commit, quiet p50':>20}{'slowest commit in it':>23}")
        for megabytes in args.mb:
            r = burst(directory, megabytes)
            worst = "-" if r["worst_during_ms"] is None else f"{r['worst_during_ms']:.0f} ms"
            print(f"{megabytes:>15} MB{r['burst_ms']:>11.0f} ms{r['quiet_p50_ms']:>17.2f} ms{worst:>23}")


if __name__ == "__main__":
    main()
