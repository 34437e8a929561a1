"""Secrets for a fresh install: when no admin token or JWT secret is configured, one is made once
and kept in the data directory (mode 0600), so a new install is usable without an identity provider."""

from __future__ import annotations

import dataclasses
import os
import secrets
from pathlib import Path

from ..config import Config


def _persisted(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    return value


def with_secrets(config: Config) -> Config:
    auth = config.auth
    data = Path(config.data_dir)
    admin = auth.admin_token or _persisted(data / "admin_token")
    secret = auth.jwt_secret or (_persisted(data / "jwt_secret") if not auth.jwks_file else "")
    return dataclasses.replace(config, auth=dataclasses.replace(auth, admin_token=admin, jwt_secret=secret))
