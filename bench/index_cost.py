"""What each index of `events` costs ingest: the same rows COPYed into copies of the table that
differ only in their indexes (median of --runs, taking turns), in transactions of --batch rows (COPY + COMMIT each), as ingest does.

    .venv/bin/python bench/index_cost.py [--events 200000 --batch 2000 --runs 3]

Prints rows/s per variant and its ratio to the table without any index. `time-ordered ids` stores
the same rows with server-made, time-ordered message ids (UUIDv7 layout) instead of the clients'
random UUIDs, to show what the primary key's random inserts cost.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import batches  # noqa: E402
from reactor_analytics import _native  # noqa: E402
from reactor_analytics.store import migrate  # noqa: E402
from reactor_analytics.store.embedded import EmbeddedPostgres  # noqa: E402

PK = "ALTER TABLE t ADD PRIMARY KEY (project_id, message_id)"
SEQ = "CREATE INDEX ON t (seq)"
PROJECT_TS = "CREATE INDEX ON t (project_id, ts)"
BRIN_TS = "CREATE INDEX ON t USING brin (ts)"
ERRORS = "CREATE INDEX ON t (project_id, ts) INCLUDE (fingerprint, distinct_id) WHERE fingerprint IS NOT NULL"

VARIANTS = {
    "no index": [],
    "seq btree": [SEQ],
    "(project_id, ts) btree": [PROJECT_TS],
    "ts brin": [BRIN_TS],
    "errors (partial)": [ERRORS],
    "primary key, client ids": [PK],
    "primary key, time-ordered ids": [PK],
    "as shipped (pk, project_ts, seq, errors)": [PK, PROJECT_TS, SEQ, ERRORS],
    "pk, seq, errors, ts brin": [PK, SEQ, ERRORS, BRIN_TS],
}


def uuid7_like(i: int, base_ms: int) -> str:
    ms = base_ms + i // 64
    raw = ms.to_bytes(6, "big") + os.urandom(10)
    raw = raw[:6] + bytes([0x70 | (raw[6] & 0x0F)]) + raw[7:8] + bytes([0x80 | (raw[8] & 0x3F)]) + raw[9:]
    return str(uuid.UUID(bytes=raw))


def time_ordered(rows: list[bytes], column: int) -> list[bytes]:
    base = int(time.time() * 1000)
    out = []
    for i, line in enumerate(rows):
        fields = line.split(b"\t")
        fields[column] = uuid7_like(i, base).encode()
        out.append(b"\t".join(fields))
    return out


def load(conn, chunks: list[bytes], columns: str) -> float:
    started = time.perf_counter()
    for chunk in chunks:
        with conn.cursor().copy(f"COPY t ({columns}) FROM STDIN") as copy:
            copy.write(chunk)
        conn.commit()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="reactor-index-cost-"))
    os.chmod(root, 0o711)  # the database user (postgres, when run as root) passes through it
    database = EmbeddedPostgres(root)
    database.start()
    try:
        migrate.migrate(database.url)
        now_ms = int(time.time() * 1000)
        project = str(uuid.uuid4())
        lines: list[bytes] = []
        for body in batches(args.events, 100, seed=7):
            encoded = _native.parse_request(body, "batch", received_at_ms=now_ms, ip="203.0.113.9", user_agent=None,
                                            accept_language=None).encode(project, "bench", [])
            lines.extend(encoded.copy_rows.splitlines(keepends=True))
        columns = ", ".join(_native.EVENT_COLUMNS)
        message_id = list(_native.EVENT_COLUMNS).index("message_id")
        ordered = time_ordered(lines, message_id)

        def chunks(rows: list[bytes]) -> list[bytes]:
            return [b"".join(rows[i:i + args.batch]) for i in range(0, len(rows), args.batch)]

        print(f"{len(lines):,} rows in transactions of {args.batch} rows (COPY + COMMIT each)")
        rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
        with psycopg.connect(database.url) as conn:
            # A warm-up load first; then every variant --runs times, taking turns: the median counts.
            for run in range(args.runs + 1):
                for name, indexes in VARIANTS.items():
                    conn.execute("DROP TABLE IF EXISTS t")
                    conn.execute("CREATE TABLE t (LIKE events INCLUDING DEFAULTS INCLUDING IDENTITY)")
                    for ddl in indexes:
                        conn.execute(ddl)
                    conn.commit()
                    seconds = load(conn, chunks(ordered if "time-ordered" in name else lines), columns)
                    if run:
                        rates[name].append(len(lines) / seconds)
                    if not run:
                        break
        baseline = statistics.median(rates["no index"])
        for name, measured in rates.items():
            rate = statistics.median(measured)
            print(f"  {name:<42} {rate:>10,.0f} rows/s  {rate / baseline:5.2f} of no index")
    finally:
        database.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
