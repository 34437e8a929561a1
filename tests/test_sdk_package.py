"""The Python server SDK is a distribution of its own (sdk/python, `reactor-analytics-sdk`): pure
Python, importing nothing of the service, and it runs on every Python it claims. The oldest (3.9,
with the `grpc` extra at its floors) and the newest (3.13, newest releases) each get a cached
virtualenv under .cache/sdk-pythons where sdk/python/tests/smoke.py sends over HTTP and gRPC."""

from __future__ import annotations

import ast
import glob
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SDK = ROOT / "sdk" / "python"
SDK_SOURCE = SDK / "src" / "reactor_analytics_sdk"
CACHE = ROOT / ".cache" / "sdk-pythons"
# Top-level modules the SDK may import besides the standard library: the `grpc` and `orjson` extras.
OPTIONAL = {"grpc", "google", "orjson"}


def test_the_server_package_keeps_no_copy_of_the_sdk():
    assert importlib.util.find_spec("reactor_analytics.client") is None
    assert not (ROOT / "python" / "reactor_analytics" / "client").exists()
    users = [str(path.relative_to(ROOT)) for path in (ROOT / "python").rglob("*.py")
             if "reactor_analytics_sdk" in path.read_text()]
    assert users == [], "the service does not import the SDK"


def test_the_sdk_imports_only_the_standard_library_and_its_extras():
    found: dict[str, set[str]] = {}
    for path in SDK_SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "__future__":
                    found.setdefault(top, set()).add(str(path.relative_to(SDK_SOURCE)))
    assert set(found) <= OPTIONAL, found
    # grpc and protobuf only in the gRPC transport and its generated modules.
    assert {file for top in ("grpc", "google") for file in found.get(top, ())} <= {
        "transports/grpc.py", "transports/gen/analytics_pb2.py", "transports/gen/analytics_pb2_grpc.py"}, found


def test_tracking_over_http_loads_neither_the_service_nor_grpc():
    script = ("import sys\n"
              "from reactor_analytics_sdk import Analytics\n"
              "a = Analytics(url='http://127.0.0.1:9', token='t', env={})\n"
              "a.track('e', user_id='u')\n"
              "a.close(0)\n"
              "loaded = {m.split('.')[0] for m in sys.modules}\n"
              "print(sorted(loaded & {'reactor_analytics', 'flask', 'psycopg', 'grpc', 'google', 'orjson'}))\n"
              )
    env = {**os.environ, "REACTOR_URL": "", "TRACKING_WEBHOOK_URL": ""}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60,
                          check=True)
    # orjson is used when installed (it is in the service's virtualenv); nothing else is loaded.
    assert done.stdout.strip() in ("[]", "['orjson']"), done.stdout + done.stderr


# --- the oldest and the newest Python ----------------------------------------------------------


def _find_python(version: str) -> str | None:
    """An interpreter of `version` (e.g. "3.9"): on PATH, or one of pyenv's."""
    roots = [os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")]
    candidates = [shutil.which(f"python{version}"), f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    for root in roots:
        candidates += sorted(glob.glob(f"{root}/versions/{version}.*/bin/python{version}"), reverse=True)
    for candidate in filter(None, candidates):
        try:
            done = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                  capture_output=True, text=True, timeout=30)
        except OSError:
            continue
        if done.returncode == 0 and done.stdout.strip() == version:
            return candidate
    return None


def _grpc_requirements(at_floor: bool) -> list[str]:
    """The `grpc` extra's requirements, each pinned to its floor when `at_floor`."""
    if not at_floor:
        return []
    extra = tomllib.loads((SDK / "pyproject.toml").read_text())["project"]["optional-dependencies"]["grpc"]
    pins = []
    for requirement in extra:
        found = re.match(r"([A-Za-z0-9_.-]+)\s*>=\s*([^,\s]+)", requirement)
        assert found, f"the grpc extra's {requirement!r} has no floor"
        pins.append(f"{found[1]}=={found[2]}")
    return pins


def _sdk_venv(version: str, at_floor: bool) -> Path:
    """A virtualenv of Python `version` with the SDK installed editable with its `grpc` extra,
    made once and kept while sdk/python/pyproject.toml and the pins are unchanged."""
    python = _find_python(version)
    if python is None:
        message = f"no Python {version} on this machine (PATH or pyenv)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    pins = _grpc_requirements(at_floor)
    key = hashlib.sha256(((SDK / "pyproject.toml").read_text() + python + repr(pins)).encode()).hexdigest()
    venv = CACHE / version
    stamp = venv / ".installed"
    if stamp.exists() and stamp.read_text() == key:
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=120)
    install = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
               "-e", f"{SDK}[grpc]", *pins]
    done = subprocess.run(install, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    stamp.write_text(key)
    return venv


@pytest.mark.parametrize("version, at_floor", [("3.9", True), ("3.13", False)],
                         ids=["3.9-grpc-floors", "3.13-newest"])
def test_the_sdk_runs_on_the_oldest_and_newest_python(version, at_floor, tmp_path):
    venv = _sdk_venv(version, at_floor)
    python = venv / "bin" / "python"
    # From a directory outside the repository, with a clean environment: only the SDK is there.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    done = subprocess.run([str(python), str(SDK / "tests" / "smoke.py"), "--grpc"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"smoke ok on Python {version}." in done.stdout, done.stdout
    if at_floor:
        floors = dict(pin.split("==") for pin in _grpc_requirements(True))
        assert f"grpcio {floors['grpcio']}, protobuf {floors['protobuf']}" in done.stdout, done.stdout
