"""GeoIP through the real service: with `[analytics] geo_db`, an event's country is that of its
address (the end user's `context.ip`, else the request's client address) looked up before it is
truncated; without the database, or for an address it does not hold, the timezone's. The test
run writes its own small `.mmdb` with mmdb-writer (a third-party writer, so the reader is checked
against a file it did not make)."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import grpc
import jwt
import pytest
import requests
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from conftest import ADMIN_TOKEN, JWT_SECRET, VENV_BIN, LiveServer, events_of, free_port
from reactor_analytics import _native
from reactor_analytics.rpc.gen import analytics_pb2 as pb
from reactor_analytics.rpc.gen import analytics_pb2_grpc as pb_grpc

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

GB_IP = "81.2.69.160"         # 81.2.69.0/24: country GB
GB_MAPPED = "::ffff:81.2.69.161"
DE_IP = "2a02:ec0:5::9"       # 2a02:ec0::/29: country DE
US_IP = "216.160.83.56"       # 216.160.83.0/24: no country, registered_country US
PRIVATE_IP = "10.1.2.3"       # 10.0.0.0/8 is in the file too, and must not be used
UNKNOWN_IP = "198.51.100.7"   # not in the file
RAW_IPS = (GB_IP, GB_MAPPED, DE_IP, US_IP, PRIVATE_IP, UNKNOWN_IP)


def write_geo_db(path: Path) -> Path:
    """A country database laid out like GeoLite2-Country: IPv6 tree, IPv4 networks inside it."""
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-Country",
                        languages=["en"], description="reactor test country database")
    writer.insert_network(IPSet(["81.2.69.0/24"]), {"country": {"iso_code": "GB"},
                                                     "registered_country": {"iso_code": "GB"}})
    writer.insert_network(IPSet(["2a02:ec0::/29"]), {"country": {"iso_code": "DE"}})
    writer.insert_network(IPSet(["216.160.83.0/24"]), {"registered_country": {"iso_code": "US"}})
    writer.insert_network(IPSet(["10.0.0.0/8"]), {"country": {"iso_code": "XX"}})
    writer.to_db_file(str(path))
    return path


@pytest.fixture(scope="module")
def geo_db(tmp_path_factory) -> Path:
    return write_geo_db(tmp_path_factory.mktemp("geo") / "country.mmdb")


@pytest.fixture(scope="module")
def geo_server(postgres, geo_db, tmp_path_factory):
    live = LiveServer(postgres, tmp_path_factory.mktemp("geo-server") / "data", REACTOR_ANALYTICS_GEO_DB=str(geo_db),
                      REACTOR_ANALYTICS_TRUST_PROXY="1").start()
    yield live
    live.stop()


def _project(server) -> tuple[dict, str]:
    project = requests.post(f"{server.url}/analytics/v1/projects", json={"slug": f"geo-{uuid.uuid4().hex[:8]}"},
                            headers=ADMIN, timeout=10).json()["data"]
    key = requests.post(f"{server.url}/analytics/v1/projects/{project['id']}/keys", json={"name": "k"},
                        headers=ADMIN, timeout=10).json()["data"]["key"]
    return project, key


def _countries(postgres, project_id: str) -> dict[str, tuple[str | None, str | None]]:
    return {row["anonymous_id"]: (row["country"], row["ip_prefix"])
            for row in events_of(postgres, project_id, "anonymous_id, country, ip_prefix")}


def _no_raw_ip_stored(postgres, project_id: str) -> None:
    rows = events_of(postgres, project_id)
    assert rows
    for row in rows:
        for column, value in row.items():
            for raw in RAW_IPS:
                assert raw not in str(value), (column, raw)


def test_the_reader_reads_a_file_mmdb_writer_made(geo_db):
    db = _native.GeoDb(str(geo_db))
    assert db.database_type == "GeoLite2-Country"
    assert [db.country(ip) for ip in RAW_IPS] == ["GB", "GB", "DE", "US", None, None]


def test_http_events_get_the_country_of_their_address(geo_server, postgres):
    project, key = _project(geo_server)
    url = f"{geo_server.url}/analytics/v1"

    def send(path: str, body: dict, forwarded_for: str | None = None, **headers: str) -> None:
        if forwarded_for is not None:
            headers["X-Forwarded-For"] = forwarded_for
        answer = requests.post(f"{url}/{path}", json=body, headers={"X-Reactor-Project-Key": key, **headers},
                               timeout=10)
        assert answer.status_code == 200, answer.text

    send("batch", {"batch": [
        # The client's address wins over the reported timezone.
        {"event": "view", "anonymous_id": "a_request", "context": {"timezone": "Europe/Berlin"}},
        # An address reported in context.ip is the end user's: it decides, whatever the sender's.
        {"event": "view", "anonymous_id": "a_context", "context": {"ip": DE_IP, "timezone": "Europe/Paris"}},
        {"event": "view", "anonymous_id": "a_registered", "context": {"ip": US_IP}},
        # A private address and one the database does not hold: the timezone, not the sender's address.
        {"event": "view", "anonymous_id": "a_private", "context": {"ip": PRIVATE_IP, "timezone": "Asia/Tokyo"}},
        {"event": "view", "anonymous_id": "a_unknown", "context": {"ip": UNKNOWN_IP}},
    ]}, forwarded_for=GB_IP)
    send("track", {"event": "view", "anonymous_id": "a_mapped"}, forwarded_for=GB_MAPPED)
    send("track", {"event": "view", "anonymous_id": "a_private_client", "context": {"timezone": "Asia/Kolkata"}},
         forwarded_for=PRIVATE_IP)
    send("track", {"event": "view", "anonymous_id": "a_unknown_client", "context": {"timezone": "Asia/Kolkata"}},
         forwarded_for=UNKNOWN_IP)
    # A server-side caller (a bearer token, its own address loopback) reports its end user's address.
    token = jwt.encode({"sub": "backend", "permissions": ["analytics:*:ingest"], "exp": int(time.time()) + 60},
                       JWT_SECRET, algorithm="HS256")
    answer = requests.post(f"{url}/track", json={"event": "signup", "user_id": "u_server", "anonymous_id": "a_server",
                                                 "context": {"ip": GB_IP, "timezone": "America/New_York"}},
                           headers={"Authorization": f"Bearer {token}", "X-Reactor-Project": project["id"]},
                           timeout=10)
    assert answer.status_code == 200, answer.text

    assert _countries(postgres, project["id"]) == {
        "a_request": ("GB", "81.2.69.0"),
        "a_context": ("DE", "2a02:ec0:5::"),
        "a_registered": ("US", "216.160.83.0"),
        "a_private": ("JP", "10.1.2.0"),
        "a_unknown": (None, "198.51.100.0"),
        "a_mapped": ("GB", "81.2.69.0"),
        "a_private_client": ("IN", "10.1.2.0"),
        "a_unknown_client": ("IN", "198.51.100.0"),
        "a_server": ("GB", "81.2.69.0"),
    }
    _no_raw_ip_stored(postgres, project["id"])
    data_dir = Path(geo_server.env["REACTOR_DATA_DIR"])
    logs = [(data_dir / "logs" / "reactor.jsonl").read_text(), geo_server.log.read_text(),
            requests.get(f"{geo_server.url}/_admin/logs", headers=ADMIN, timeout=10).text]
    assert "/analytics/v1/batch" in logs[0]
    for text in logs:
        for raw in RAW_IPS:
            assert raw not in text, raw


def test_grpc_events_get_the_country_of_the_reported_address(geo_server, postgres):
    project, _ = _project(geo_server)
    slug = project["slug"]
    minted = requests.post(geo_server.url + "/_admin/tokens",
                           json={"sub": "svc", "permissions": [f"analytics:{slug}:ingest"]},
                           headers=ADMIN, timeout=10).json()["data"]["token"]
    md = [("authorization", f"Bearer {minted}")]
    with grpc.insecure_channel(geo_server.grpc_target) as channel:
        stub = pb_grpc.AnalyticsStub(channel)
        assert stub.Track(pb.TrackRequest(project=slug, event=pb.Event(
            event="view", anonymous_id="g_de", context=f'{{"ip": "{DE_IP}"}}'.encode())),
            metadata=md, timeout=30).accepted == 1
        assert stub.Batch(pb.BatchRequest(project=slug, events=[
            pb.Event(event="view", anonymous_id="g_us", context=f'{{"ip": "{US_IP}"}}'.encode()),
            pb.Event(event="view", anonymous_id="g_private",
                     context=f'{{"ip": "{PRIVATE_IP}", "timezone": "Europe/Rome"}}'.encode()),
            pb.Event(event="view", anonymous_id="g_none", context=b'{"timezone": "Europe/Rome"}'),
        ]), metadata=md, timeout=30).accepted == 3
    assert _countries(postgres, project["id"]) == {
        "g_de": ("DE", "2a02:ec0:5::"),
        "g_us": ("US", "216.160.83.0"),
        "g_private": ("IT", "10.1.2.0"),
        # No address in the event; the gRPC peer's own is not the end user's.
        "g_none": ("IT", None),
    }
    _no_raw_ip_stored(postgres, project["id"])


def test_without_geo_db_the_timezone_gives_the_country(postgres, tmp_path):
    server = LiveServer(postgres, tmp_path / "data", REACTOR_ANALYTICS_TRUST_PROXY="1").start()
    try:
        project, key = _project(server)
        answer = requests.post(f"{server.url}/analytics/v1/batch", json={"batch": [
            {"event": "view", "anonymous_id": "n_request", "context": {"timezone": "Europe/Berlin"}},
            {"event": "view", "anonymous_id": "n_context", "context": {"ip": DE_IP}},
        ]}, headers={"X-Reactor-Project-Key": key, "X-Forwarded-For": GB_IP}, timeout=10)
        assert answer.status_code == 200, answer.text
        assert _countries(postgres, project["id"]) == {"n_request": ("DE", "81.2.69.0"),
                                                      "n_context": (None, "2a02:ec0:5::")}
    finally:
        server.stop()


def test_a_geo_db_that_cannot_be_used_stops_the_start(postgres, geo_db, tmp_path):
    good = geo_db.read_bytes()
    garbage = tmp_path / "garbage.mmdb"
    garbage.write_bytes(b"GeoIP.dat, legacy format\n" * 40)
    truncated = tmp_path / "truncated.mmdb"
    truncated.write_bytes(good[: len(good) // 2])
    cases = [(tmp_path / "missing.mmdb", "cannot read the file: No such file or directory"),
             (tmp_path, "cannot read the file: "),
             (garbage, "not a valid MaxMind DB (.mmdb) file: "),
             (truncated, "not a valid MaxMind DB (.mmdb) file: ")]
    for path, reason in cases:
        data_dir = tmp_path / f"data-{uuid.uuid4().hex[:6]}"
        env = {**os.environ, "REACTOR_DATABASE_URL": postgres.url, "REACTOR_DATA_DIR": str(data_dir),
               "REACTOR_ANALYTICS_BIND": f"127.0.0.1:{free_port()}", "REACTOR_GRPC_BIND": f"127.0.0.1:{free_port()}",
               "REACTOR_ANALYTICS_GEO_DB": str(path)}
        done = subprocess.run([str(VENV_BIN / "reactor"), "serve"], env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 2, (path, done.stderr[-2000:])
        assert f"reactor: configuration error: [analytics] geo_db {path}: {reason}" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
        assert not data_dir.exists()  # refused before anything started
