"""The CLI works from anywhere: `reactor auth login` stores a credential in the user's config
directory (0600), from --token or from the install's admin token; a command takes REACTOR_TOKEN,
then that file, then the data directory (REACTOR_DATA_DIR / reactor.toml); a refused call says
which credential it used, never the secret. Every run is `reactor` as a subprocess, with HOME and
XDG_CONFIG_HOME in a temporary directory and its working directory outside the project, against a
live service whose admin token was made in its data directory (as on a fresh install)."""

from __future__ import annotations

import argparse
import json
import os
import stat
import subprocess
import time
import uuid
from pathlib import Path

import jwt
import pytest

from conftest import JWT_SECRET, VENV_BIN, LiveServer
from reactor_analytics.cli import credentials
from reactor_analytics.cli.main import build_parser

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def install(postgres, tmp_path_factory):
    """A live service with no configured admin token: it makes one in its data directory."""
    data_dir = tmp_path_factory.mktemp("install") / "data"
    data_dir.mkdir()
    server = LiveServer(postgres, data_dir, workers=1, REACTOR_ADMIN_TOKEN="").start()
    server.data_dir = data_dir
    server.admin_token = (data_dir / "admin_token").read_text().strip()
    yield server
    server.stop()


class User:
    """A user's shell: own HOME and config directory, a working directory outside the project."""

    def __init__(self, root: Path, install, xdg: bool = True):
        self.home = root / "home"
        self.cwd = root / "elsewhere"
        self.home.mkdir()
        self.cwd.mkdir()
        self.config_home = root / "config" if xdg else self.home / ".config"
        self.env = {"PATH": os.environ["PATH"], "HOME": str(self.home), "LANG": "C.UTF-8"}
        if xdg:
            self.env["XDG_CONFIG_HOME"] = str(self.config_home)
        self.install = install
        assert not self.cwd.is_relative_to(PROJECT_ROOT)

    @property
    def credentials_file(self) -> Path:
        return self.config_home / "reactor" / "credentials"

    def run(self, *args: str, url: bool = True, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess:
        full_env = {**self.env, **({"REACTOR_URL": self.install.url} if url else {}), **env}
        done = subprocess.run([str(VENV_BIN / "reactor"), *args], cwd=self.cwd, env=full_env, input=stdin,
                              capture_output=True, text=True, timeout=60)
        for secret in filter(None, (self.install.admin_token, env.get("REACTOR_TOKEN"))):
            assert secret not in done.stdout + done.stderr, "a secret was printed"
        return done


@pytest.fixture()
def user(tmp_path, install) -> User:
    return User(tmp_path, install)


def jwt_for(sub: str, *permissions: str) -> str:
    return jwt.encode({"sub": sub, "permissions": list(permissions), "exp": int(time.time()) + 3600},
                      JWT_SECRET, algorithm="HS256")


def slug() -> str:
    return f"cli-{uuid.uuid4().hex[:8]}"


def test_outside_the_project_a_command_without_credential_says_how_to_get_one(user):
    done = user.run("analytics", "projects", "list")
    assert done.returncode == 1
    assert json.loads(done.stdout)["error"]["code"].startswith("analytics.")
    assert "no credential" in done.stderr and "reactor auth login" in done.stderr, done.stderr


def test_login_stores_the_data_directory_admin_token_0600_and_every_command_works_from_anywhere(user, install):
    done = user.run("auth", "login", REACTOR_DATA_DIR=str(install.data_dir))
    assert done.returncode == 0, done.stderr
    assert f"data directory {install.data_dir}" in done.stderr and str(user.credentials_file) in done.stderr
    assert stat.S_IMODE(user.credentials_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(user.credentials_file.parent.stat().st_mode) == 0o700
    stored = credentials.read_file(user.credentials_file)
    assert (stored["token"], stored["url"]) == (install.admin_token, install.url)

    # No REACTOR_URL, no data directory, another working directory: the stored url and credential.
    name = slug()
    created = user.run("analytics", "projects", "create", name, "--name", "From anywhere", url=False)
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["data"]["slug"] == name
    listed = user.run("analytics", "projects", "list", url=False)
    assert name in [p["slug"] for p in json.loads(listed.stdout)["data"]]
    key = user.run("analytics", "keys", "create", name, "--name", "browser-key", url=False)
    assert key.returncode == 0 and key.stdout.strip().startswith("rapk_"), key.stderr
    status = user.run("auth", "status", url=False)
    assert status.returncode == 0
    assert f"service: {install.url}" in status.stdout and str(user.credentials_file) in status.stdout
    assert "accepted; may manage projects" in status.stdout


def test_login_with_a_token_writes_under_home_config_when_xdg_is_unset(tmp_path, install):
    user = User(tmp_path, install, xdg=False)
    token = jwt_for("ops", "analytics:project:create")
    done = user.run("auth", "login", "--token", "-", stdin=token + "\n")
    assert done.returncode == 0, done.stderr
    assert user.credentials_file == user.home / ".config" / "reactor" / "credentials"
    assert credentials.read_file(user.credentials_file)["token"] == token
    assert token not in done.stdout + done.stderr and "sub 'ops'" in done.stderr
    assert user.run("analytics", "projects", "create", slug()).returncode == 0


def test_a_token_the_service_refuses_is_not_stored(user):
    done = user.run("auth", "login", "--token", "not-a-valid-token")
    assert done.returncode == 1 and "401" in done.stderr and "nothing stored" in done.stderr
    assert "not-a-valid-token" not in done.stderr + done.stdout
    assert not user.credentials_file.exists()


def test_the_reference_email_and_password_form_is_refused_with_the_reason(user):
    done = user.run("auth", "login", "user@example.com", "--password", "hunter2")
    assert done.returncode == 2 and "no user accounts" in done.stderr and "--token" in done.stderr
    assert not user.credentials_file.exists()


def test_reactor_token_comes_first_and_a_refusal_names_it_without_the_secret(user, install):
    """The README's flow: an ingest JWT exported as REACTOR_TOKEN is what the CLI sends, so a query
    is 403; the refusal says so and points at the stored credential, which then answers."""
    assert user.run("auth", "login", "--token", install.admin_token).returncode == 0
    name = slug()
    assert user.run("analytics", "projects", "create", name).returncode == 0
    query = user.cwd / "query.json"
    query.write_text(json.dumps({"kind": "aggregate", "time_range": {"last": "7d"}, "measure": "count"}))
    ingest = jwt_for("backend", f"analytics:{name}:ingest")

    refused = user.run("analytics", "query", "--project", name, "--file", str(query), REACTOR_TOKEN=ingest)
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["error"]["code"] == "analytics.auth.forbidden"
    assert f"a JWT (sub 'backend', permissions analytics:{name}:ingest" in refused.stderr, refused.stderr
    assert "from REACTOR_TOKEN" in refused.stderr and "unset REACTOR_TOKEN" in refused.stderr
    assert str(user.credentials_file) in refused.stderr
    assert ingest not in refused.stderr + refused.stdout

    answered = user.run("analytics", "query", "--project", name, "--file", str(query))
    assert answered.returncode == 0, answered.stderr
    assert "data" in json.loads(answered.stdout)


def test_a_refused_stored_credential_is_named_by_its_file(user, install):
    credentials.write_file(user.credentials_file, "stale-token-0123456789", install.url, "--token")
    done = user.run("analytics", "projects", "list")
    assert done.returncode == 1 and "refused (401)" in done.stderr
    assert str(user.credentials_file) in done.stderr and "sha256:" in done.stderr
    assert "stale-token-0123456789" not in done.stderr + done.stdout


def test_the_stored_file_comes_before_the_data_directory(user, install):
    token = jwt_for("ops", "analytics:project:create")
    credentials.write_file(user.credentials_file, token, install.url, "--token")
    status = user.run("auth", "status", REACTOR_DATA_DIR=str(install.data_dir))
    assert "sub 'ops'" in status.stdout and str(user.credentials_file) in status.stdout, status.stdout
    assert user.run("auth", "logout").returncode == 0
    assert not user.credentials_file.exists()
    status = user.run("auth", "status", REACTOR_DATA_DIR=str(install.data_dir))
    assert f"the admin token of data directory {install.data_dir}" in status.stdout, status.stdout
    assert status.returncode == 0


def test_the_data_directory_named_by_reactor_toml(user, install):
    config = user.cwd.parent / "reactor.toml"
    config.write_text(f'data_dir = "{install.data_dir}"\n')
    done = user.run("analytics", "projects", "create", slug(), REACTOR_CONFIG=str(config))
    assert done.returncode == 0, done.stderr
    status = user.run("auth", "status", REACTOR_CONFIG=str(config))
    assert f"the admin token of data directory {install.data_dir}" in status.stdout, status.stdout


def test_analytics_help_describes_every_subcommand(user):
    done = user.run("analytics", "--help")
    assert done.returncode == 0

    def walk(parser: argparse.ArgumentParser, path: tuple[str, ...]):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {choice.dest: choice.help for choice in action._choices_actions}
                for name, subparser in action.choices.items():
                    yield path + (name,), helps.get(name), subparser
                    yield from walk(subparser, path + (name,))

    commands = [(path, text) for path, text, _ in walk(build_parser(), ())
                if path[0] in ("analytics", "auth")]
    assert len(commands) >= 14
    undescribed = [" ".join(path) for path, text in commands if not text]
    assert undescribed == [], undescribed
    for path, text in commands:
        if len(path) == 2 and path[0] == "analytics":
            assert path[1] in done.stdout and text.split()[0] in done.stdout, (path, done.stdout)
