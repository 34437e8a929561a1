"""The parts `reactor serve` runs: `[grpc] enabled = false` runs no gRPC server; `[grpc] workers = N`
runs N processes on one port; a part that dies is started again, a stop signal stops them all."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import grpc
import pytest
import requests

from conftest import ADMIN, LiveServer, unique_slug
from reactor_analytics.rpc.gen import analytics_pb2 as pb
from reactor_analytics.rpc.gen import analytics_pb2_grpc as pb_grpc


def _group_commands(leader: int) -> list[str]:
    """Command lines of every process in the service's process group."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != leader:
                continue
            found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, ProcessLookupError):
            continue
    return found


def _grpc_processes(server: LiveServer) -> list[str]:
    return [c for c in _group_commands(server.proc.pid) if "reactor_analytics.cli.main grpc" in c]


def test_grpc_disabled_runs_no_grpc_server_and_health_does_not_ask_for_it(postgres, tmp_path):
    server = LiveServer(postgres, tmp_path, REACTOR_GRPC_ENABLED="false").start()
    try:
        health = requests.get(f"{server.url}/health", timeout=10)
        assert health.status_code == 200
        assert "grpc" not in health.json()["parts"]
        assert _grpc_processes(server) == []
        host, port = server.grpc_target.rsplit(":", 1)
        with pytest.raises(OSError):
            socket.create_connection((host, int(port)), timeout=2).close()
        # HTTP ingest is unaffected.
        slug = unique_slug("nogrpc")
        assert requests.post(f"{server.url}/analytics/v1/projects", json={"slug": slug}, headers=ADMIN,
                             timeout=10).status_code == 201
    finally:
        server.stop()


def test_several_grpc_workers_share_the_port_and_each_serves(postgres, tmp_path):
    server = LiveServer(postgres, tmp_path, REACTOR_GRPC_WORKERS="3").start()
    try:
        processes = _grpc_processes(server)
        assert len(processes) == 3, processes
        slug = unique_slug("grpcw")
        requests.post(f"{server.url}/analytics/v1/projects", json={"slug": slug}, headers=ADMIN, timeout=10)
        token = requests.post(f"{server.url}/_admin/tokens", headers=ADMIN, timeout=10, json={
            "sub": "svc", "permissions": [f"analytics:{slug}:ingest"]}).json()["data"]["token"]
        md = [("authorization", f"Bearer {token}")]
        # Every new connection lands on one of the processes (SO_REUSEPORT).
        served = 0
        for n in range(30):
            with grpc.insecure_channel(server.grpc_target, options=[("grpc.use_local_subchannel_pool", 1)]) as ch:
                stub = pb_grpc.AnalyticsStub(ch)
                answer = stub.Track(pb.TrackRequest(project=slug, event=pb.Event(
                    event="w", anonymous_id=f"a{n}", message_id=f"m{n}")), metadata=md, timeout=10)
                served += answer.accepted
        assert served == 30
        # A process that dies is started again, and calls go on being served.
        victims = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
                   and _is_part(int(p.name), server.proc.pid, b"grpc")]
        os.kill(victims[0], 9)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
                   and _is_part(int(p.name), server.proc.pid, b"grpc")]
            if len(now) == 3 and victims[0] not in now:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the killed gRPC process was not started again")
        deadline = time.monotonic() + 30
        while True:  # a connection made while the killed process went away may be reset: clients retry
            try:
                with grpc.insecure_channel(server.grpc_target,
                                           options=[("grpc.use_local_subchannel_pool", 1)]) as ch:
                    answer = pb_grpc.AnalyticsStub(ch).Track(pb.TrackRequest(project=slug, event=pb.Event(
                        event="w", anonymous_id="after", message_id="after")), metadata=md, timeout=10)
                break
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.UNAVAILABLE and time.monotonic() < deadline
                time.sleep(0.2)
        assert answer.accepted == 1
    finally:
        server.stop()




def test_a_killed_query_engine_is_started_again_and_answers(postgres, tmp_path):
    server = LiveServer(postgres, tmp_path, REACTOR_GRPC_ENABLED="false").start()
    try:
        slug = unique_slug("engine")
        requests.post(f"{server.url}/analytics/v1/projects", json={"slug": slug}, headers=ADMIN, timeout=10)
        query = {"project_id": slug, "kind": "aggregate", "time_range": {"last": "1d"}}
        assert requests.post(f"{server.url}/analytics/v1/query", json=query, headers=ADMIN,
                             timeout=10).status_code == 200
        engines = [c for c in _group_commands(server.proc.pid) if "reactor_analytics.cli.main engine" in c]
        assert len(engines) == 1
        victim = next(int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _is_part(
            int(p.name), server.proc.pid, b"engine"))
        os.kill(victim, 9)
        deadline = time.monotonic() + 60
        while True:
            answer = requests.post(f"{server.url}/analytics/v1/query", json=query, headers=ADMIN, timeout=10)
            if answer.status_code == 200:
                break
            assert answer.status_code == 503, answer.text
            assert time.monotonic() < deadline, "the query engine was not started again"
            time.sleep(0.2)
        assert not _is_part(victim, server.proc.pid, b"engine")
    finally:
        server.stop()
    # A stop signal stops every part; none is started again behind it.
    assert [c for c in _group_commands(server.proc.pid) if "reactor_analytics" in c] == []


def _is_part(pid: int, leader: int, command: bytes) -> bool:
    try:
        return os.getpgid(pid) == leader and b"reactor_analytics.cli.main\0" + command in Path(
            f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ProcessLookupError):
        return False
