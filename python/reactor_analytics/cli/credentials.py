"""Which credential and which service the CLI uses, and where each came from.

The credential, first found wins: `REACTOR_TOKEN`; the file `reactor auth login` writes
(`$XDG_CONFIG_HOME/reactor/credentials`, else `~/.config/reactor/credentials`, mode 0600); the
admin token of the install that `REACTOR_DATA_DIR` / `REACTOR_CONFIG` / `./reactor.toml` name
(its configured `admin_token`, else `<data_dir>/admin_token`). The service: `REACTOR_URL`, else
the url stored at login, else the install's `[analytics] bind`. A credential is described by its
kind, its claims and a short fingerprint, never by the secret itself.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .. import config as config_module

DEFAULT_URL = "http://127.0.0.1:8006"
ENV_TOKEN = "REACTOR_TOKEN"


@dataclass(frozen=True)
class Credential:
    token: str
    source: str  # where it was found, e.g. "REACTOR_TOKEN" or the credentials file's path

    def describe(self) -> str:
        """`a JWT (sub 'backend', permissions analytics:web-prod:ingest; sha256:1a2b3c4d) from REACTOR_TOKEN`."""
        return f"{describe_token(self.token)} from {self.source}"


def describe_token(token: str) -> str:
    fingerprint = f"sha256:{hashlib.sha256(token.encode()).hexdigest()[:8]}"
    claims = _jwt_claims(token)
    if claims is None:
        return f"a token that is not a JWT, such as the admin token ({fingerprint})"
    details = [f"sub {claims.get('sub')!r}"]
    permissions = claims.get("permissions")
    if isinstance(permissions, list):
        details.append("permissions " + (", ".join(map(str, permissions)) or "none"))
    if claims.get("org_id"):
        details.append(f"org {claims['org_id']!r}")
    exp = claims.get("exp")
    if isinstance(exp, (int, float)) and not isinstance(exp, bool):
        when = dt.datetime.fromtimestamp(exp, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        details.append(("expired " if exp < dt.datetime.now(dt.timezone.utc).timestamp() else "expires ") + when)
    return f"a JWT ({', '.join(details)}; {fingerprint})"


def _jwt_claims(token: str) -> dict | None:
    """The payload of a JWT, read without verifying it (only to describe it), or None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    return payload if isinstance(payload, dict) else None


# --- the credentials file ----------------------------------------------------------------------

def credentials_path(env=None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "reactor" / "credentials"


def read_file(path: Path) -> dict | None:
    """The stored `{"token", "url", "source"}`, or None when there is no file."""
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CredentialError(f"cannot read {path}: {exc}") from None
    if not isinstance(document.get("token"), str) or not document["token"]:
        raise CredentialError(f"{path} holds no token: run `reactor auth login` again")
    return document


def write_file(path: Path, token: str, url: str, source: str) -> None:
    """Writes the file readable by its owner only (0600, its directory 0700), replacing it whole."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    lines = ["# The reactor CLI's credential, written by `reactor auth login`. Keep it private.",
             f"url = {json.dumps(url)}", f"token = {json.dumps(token)}", f"source = {json.dumps(source)}"]
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("\n".join(lines) + "\n")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class CredentialError(Exception):
    pass


# --- the install's own admin token ---------------------------------------------------------------

def install_admin_token(env=None) -> Credential | None:
    """The admin token of the install the configuration names (as `reactor serve` would use it)."""
    config = config_module.load(env)
    if config.auth.admin_token:
        return Credential(config.auth.admin_token, "the configured admin token (REACTOR_ADMIN_TOKEN or reactor.toml)")
    path = Path(config.data_dir).expanduser().resolve() / "admin_token"
    try:
        token = path.read_text().strip()
    except OSError:
        return None
    return Credential(token, f"the admin token of data directory {path.parent}") if token else None


# --- what a command uses -------------------------------------------------------------------------

def resolve(env=None) -> Credential | None:
    env = os.environ if env is None else env
    if env.get(ENV_TOKEN):
        return Credential(env[ENV_TOKEN], ENV_TOKEN)
    path = credentials_path(env)
    stored = read_file(path)
    if stored is not None:
        origin = f" (stored by `reactor auth login` from {stored['source']})" if stored.get("source") else ""
        return Credential(stored["token"], f"{path}{origin}")
    return install_admin_token(env)


def service_url(env=None) -> str:
    env = os.environ if env is None else env
    if env.get("REACTOR_URL"):
        return env["REACTOR_URL"].rstrip("/")
    try:
        stored = read_file(credentials_path(env))
    except CredentialError:
        stored = None
    if stored and stored.get("url"):
        return str(stored["url"]).rstrip("/")
    return url_of_bind(env)


def url_of_bind(env=None) -> str:
    """http://host:port of the install's `[analytics] bind` (0.0.0.0 / :: → 127.0.0.1)."""
    try:
        bind = config_module.load(env).analytics.bind
    except config_module.ConfigError:
        return DEFAULT_URL
    host, port = config_module.local_address(bind)
    if not port.isdigit():
        return DEFAULT_URL
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
