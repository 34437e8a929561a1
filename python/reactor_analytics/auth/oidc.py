"""Dashboard sign-in with an OpenID Connect provider: the authorization-code flow with PKCE (S256),
state and nonce, and the ID token verified against the provider's JWKS.

The provider is discovered from `<oidc_issuer>/.well-known/openid-configuration` (kept an hour
per process); its keys are fetched from `jwks_uri` and fetched again once when a token names a
key id not seen yet. An ID token is accepted only when its signature (an asymmetric algorithm
the provider announces, the key's own), `iss`, `aud` (and `azp` beside other audiences), `exp`,
`iat` and `nonce` all hold; then `[auth] oidc_acl` decides on its claims. Nothing here knows
Flask: the transport keeps the state cookie and hands in what came back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import jwt
from jwt import PyJWK

from ..config import AuthConfig, ConfigError
from ..errors import AppError
from ..store import queries
from . import acl as acl_module
from .tokens import Principal

LOGIN_LIFETIME = timedelta(minutes=10)
_DISCOVERY_TTL_S = 3600.0
_JWKS_REFRESH_S = 30.0  # at most one refetch per this long for an unknown key id
_TIMEOUT_S = 10.0
_MAX_ANSWER_BYTES = 1 << 20
_LEEWAY_S = 60  # clock skew allowed between the provider and this service
_ASYMMETRIC = {"RS256": "RSA", "RS384": "RSA", "RS512": "RSA", "PS256": "RSA", "PS384": "RSA", "PS512": "RSA",
               "ES256": "EC", "ES384": "EC", "ES512": "EC", "EdDSA": "OKP"}
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def unavailable(message: str) -> AppError:
    return AppError(503, "analytics.oidc.unavailable", message)


def refused(message: str) -> AppError:
    return AppError(401, "analytics.auth.oidc_invalid_token", message)


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: tuple[str, ...]
    basic_auth: bool  # client_secret_basic (the default), else client_secret_post


@dataclass(frozen=True)
class Login:
    """A sign-in under way: `state` goes to the browser (cookie and URL), the rest stays here."""
    state: str
    nonce: str
    code_verifier: str

    @property
    def code_challenge(self) -> str:
        digest = hashlib.sha256(self.code_verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def state_hash(state: str) -> bytes:
    return hashlib.sha256(state.encode("utf-8", "surrogatepass")).digest()


def _secure_url(url: str, what: str) -> str:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "https" or (parsed.scheme == "http" and parsed.hostname in _LOCAL_HOSTS):
        return url
    raise ConfigError(f"{what} must be an https:// URL (http:// only on localhost): {url!r}")


def _fetch(request: urllib.request.Request, what: str) -> dict:
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as answer:
            raw = answer.read(_MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError:
        raise
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise unavailable(f"the identity provider's {what} is unreachable ({type(exc).__name__})") from None
    if len(raw) > _MAX_ANSWER_BYTES:
        raise unavailable(f"the identity provider's {what} is too large")
    try:
        value = json.loads(raw)
    except ValueError:
        raise unavailable(f"the identity provider's {what} is not JSON") from None
    if not isinstance(value, dict):
        raise unavailable(f"the identity provider's {what} is not a JSON object")
    return value


def _get_json(url: str, what: str) -> dict:
    try:
        return _fetch(urllib.request.Request(url, headers={"Accept": "application/json"}), what)
    except urllib.error.HTTPError as exc:
        raise unavailable(f"the identity provider's {what} answered {exc.code}") from None


class OidcClient:
    def __init__(self, auth: AuthConfig) -> None:
        self.issuer = _secure_url(auth.oidc_issuer, "[auth] oidc_issuer")
        self.client_id = auth.oidc_client_id
        self._client_secret = auth.oidc_client_secret
        self.scopes = auth.oidc_scopes.split() or ["openid"]
        if "openid" not in self.scopes:
            self.scopes.insert(0, "openid")
        self.permissions = frozenset(auth.oidc_permissions.split())
        self.org = auth.oidc_org or auth.default_org
        self.redirect_uri = auth.oidc_redirect_uri
        try:
            self.acl = acl_module.parse(auth.oidc_acl) if auth.oidc_acl.strip() else None
        except acl_module.AclError as exc:
            raise ConfigError(f"[auth] oidc_acl: {exc}") from None
        self._lock = threading.Lock()
        self._provider: tuple[Provider, float] | None = None
        self._keys: list[tuple[str | None, PyJWK]] = []
        self._keys_fetched = 0.0

    # --- the provider ---------------------------------------------------------------------

    def provider(self) -> Provider:
        with self._lock:
            if self._provider is not None and self._provider[1] > time.monotonic():
                return self._provider[0]
        document = _get_json(self.issuer.rstrip("/") + "/.well-known/openid-configuration", "discovery document")
        if document.get("issuer") != self.issuer:
            raise unavailable("the discovery document names another issuer than [auth] oidc_issuer")
        try:
            endpoints = {name: _secure_url(str(document[name]), name)
                         for name in ("authorization_endpoint", "token_endpoint", "jwks_uri")}
        except (KeyError, ConfigError) as exc:
            raise unavailable(f"the discovery document is unusable: {exc}") from None
        announced = document.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = tuple(a for a in announced if a in _ASYMMETRIC)
        if not algorithms:
            raise unavailable("the identity provider signs ID tokens with no asymmetric algorithm")
        methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        provider = Provider(self.issuer, algorithms=algorithms,
                            basic_auth="client_secret_basic" in methods or "client_secret_post" not in methods,
                            **endpoints)
        with self._lock:
            self._provider = (provider, time.monotonic() + _DISCOVERY_TTL_S)
        return provider

    def _key(self, provider: Provider, kid: str | None, alg: str):
        """The provider's key for a token header: of the algorithm's key type, the header's key
        id, and the algorithm the key declares (if it declares one). A key id not seen yet
        fetches the JWKS again (at most every 30 s)."""
        def matching():
            for declared, jwk in self._keys:
                if jwk.key_type == _ASYMMETRIC[alg] and (not kid or not jwk.key_id or jwk.key_id == kid) \
                        and declared in (None, alg):
                    return jwk.key
            return None

        key = matching()
        if key is None and (not self._keys_fetched or time.monotonic() - self._keys_fetched > _JWKS_REFRESH_S):
            self._load_keys(provider)
            key = matching()
        if key is None:
            raise refused("no key of the identity provider matches the ID token")
        return key

    def _load_keys(self, provider: Provider) -> None:
        document = _get_json(provider.jwks_uri, "JWKS")
        found = []
        for entry in document.get("keys") if isinstance(document.get("keys"), list) else []:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            try:
                found.append((entry.get("alg"), PyJWK(entry)))
            except (jwt.PyJWTError, ValueError, TypeError):
                continue
        with self._lock:
            self._keys, self._keys_fetched = found, time.monotonic()

    # --- the flow -------------------------------------------------------------------------

    def begin(self, conn, redirect_uri: str) -> tuple[Login, str]:
        """A new sign-in, kept in the database for its callback, and the provider URL to send
        the browser to."""
        provider = self.provider()
        login = Login(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48))
        queries.delete_ended_sessions(conn)
        queries.insert_oidc_login(conn, state_hash(login.state), login.nonce, login.code_verifier,
                                  datetime.now(timezone.utc) + LOGIN_LIFETIME)
        query = urllib.parse.urlencode({
            "response_type": "code", "client_id": self.client_id, "redirect_uri": redirect_uri,
            "scope": " ".join(self.scopes), "state": login.state, "nonce": login.nonce,
            "code_challenge": login.code_challenge, "code_challenge_method": "S256"})
        separator = "&" if "?" in provider.authorization_endpoint else "?"
        return login, provider.authorization_endpoint + separator + query

    def take_login(self, conn, state: str | None, browser_state: str | None) -> Login:
        """The sign-in a callback's state names, used once; refused unless the browser that
        started it is the one coming back (its state cookie)."""
        if not state or not browser_state or len(state) > 128 \
                or not hmac.compare_digest(state.encode("utf-8", "surrogatepass"),
                                           browser_state.encode("utf-8", "surrogatepass")):
            raise AppError(400, "analytics.oidc.bad_state", "the sign-in's state does not match this browser's")
        row = queries.take_oidc_login(conn, state_hash(state))
        if row is None:
            raise AppError(400, "analytics.oidc.bad_state", "unknown or expired sign-in state: sign in again")
        return Login(state, row["nonce"], row["code_verifier"])

    def exchange(self, code: str, redirect_uri: str, login: Login) -> str:
        """The ID token the provider gives for the code (with the PKCE verifier)."""
        provider = self.provider()
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "code_verifier": login.code_verifier, "client_id": self.client_id}
        headers = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
        if provider.basic_auth:
            pair = f"{urllib.parse.quote(self.client_id, safe='')}:{urllib.parse.quote(self._client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form["client_secret"] = self._client_secret
        request = urllib.request.Request(provider.token_endpoint, data=urllib.parse.urlencode(form).encode(),
                                         headers=headers, method="POST")
        try:
            answer = _fetch(request, "token endpoint")
        except urllib.error.HTTPError as exc:
            if 400 <= exc.code < 500:
                raise AppError(401, "analytics.auth.oidc_failed",
                               f"the identity provider refused the sign-in ({exc.code})") from None
            raise unavailable(f"the identity provider's token endpoint answered {exc.code}") from None
        id_token = answer.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise AppError(401, "analytics.auth.oidc_failed", "the identity provider gave no ID token")
        return id_token

    def verify(self, id_token: str, login: Login) -> dict:
        """The ID token's claims, once its signature, issuer, audience, times and nonce hold."""
        provider = self.provider()
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError:
            raise refused("the ID token is malformed") from None
        alg = header.get("alg")
        if alg not in provider.algorithms:
            raise refused(f"the ID token's algorithm {alg!r} is not one the provider announces")
        key = self._key(provider, header.get("kid"), alg)
        try:
            claims = jwt.decode(id_token, key, algorithms=[alg], audience=self.client_id, issuer=provider.issuer,
                                leeway=_LEEWAY_S, options={"require": ["exp", "iat", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError:
            raise refused("the ID token expired") from None
        except jwt.InvalidAudienceError:
            raise refused("the ID token is for another client") from None
        except jwt.InvalidIssuerError:
            raise refused("the ID token is from another issuer") from None
        except jwt.PyJWTError as exc:
            raise refused(f"the ID token is invalid ({type(exc).__name__})") from None
        audience = claims["aud"]
        if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != self.client_id:
            raise refused("the ID token names other audiences and another authorized party")
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or not hmac.compare_digest(nonce.encode("utf-8", "surrogatepass"),
                                                                 login.nonce.encode()):
            raise refused("the ID token's nonce is not this sign-in's")
        return claims

    def allows(self, claims: dict) -> bool:
        return self.acl is None or self.acl.allows(claims)

    def principal(self, claims: dict) -> Principal:
        who = claims.get("email") if isinstance(claims.get("email"), str) else None
        return Principal(subject=f"oidc:{who or claims['sub']}"[:200], permissions=self.permissions, org_id=self.org)


def client(auth: AuthConfig) -> OidcClient | None:
    """The OIDC client when `[auth] oidc_issuer`, `oidc_client_id` and `oidc_client_secret` are set;
    a malformed `oidc_acl` or issuer stops the start (ConfigError)."""
    return OidcClient(auth) if auth.oidc_enabled else None
