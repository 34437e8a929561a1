"""`reactor auth login | status | logout`: the CLI's own credential, kept in the user's config
directory (0600) so that every command works from any directory, not only beside the install's
data directory. See `credentials` for the order in which a command looks for its credential."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request

from . import credentials

# Answers 200 to a credential that may manage projects, 403 to any other valid one, 401 otherwise.
_CHECK_PATH = "/analytics/v1/projects"


def _check(url: str, token: str) -> tuple[int | None, str]:
    """(status, error code) of one authenticated call, or (None, why) when the service is unreachable."""
    request = urllib.request.Request(url + _CHECK_PATH, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        try:
            code = json.loads(exc.read())["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = ""
        return exc.code, code
    except (urllib.error.URLError, OSError) as exc:
        return None, str(getattr(exc, "reason", exc))


def _say(message: str) -> None:
    print(f"reactor: {message}", file=sys.stderr)


def cmd_login(args) -> int:
    if args.email or args.password is not None:
        _say("this service has no user accounts to sign in with: `reactor auth login` stores a token, "
             "given with --token (a JWT or the admin token; '-' reads it from standard input) or, with no "
             "argument, the admin token of this install's data directory (REACTOR_DATA_DIR / reactor.toml)")
        return 2
    if args.token == "-":
        token, source = sys.stdin.readline().strip(), "--token (standard input)"
    elif args.token:
        token, source = args.token.strip(), "--token"
    else:
        found = credentials.install_admin_token()
        if found is None:
            _say("no --token given and no admin token found: the data directory is ./.reactor unless "
                 "REACTOR_DATA_DIR or reactor.toml (REACTOR_CONFIG) names another; run this where the "
                 "install is, set REACTOR_DATA_DIR, or pass --token")
            return 2
        token, source = found.token, found.source
    if not token:
        _say("the token is empty")
        return 2
    url = (args.url or credentials.service_url()).rstrip("/")
    described = credentials.describe_token(token)
    status, detail = _check(url, token)
    if status == 401:
        _say(f"the service at {url} refused {described} from {source} (401 {detail}); nothing stored")
        return 1
    path = credentials.credentials_path()
    credentials.write_file(path, token, url, source)
    if status is None:
        _say(f"could not check the token: cannot reach {url} ({detail}); stored it all the same")
    elif status == 403:
        _say(f"the service accepts it, but it may not manage projects ({detail})")
    elif status >= 400:
        _say(f"could not check the token: {url} answered {status} {detail}; stored it all the same")
    _say(f"logged in to {url} with {described} from {source}; stored in {path} (0600)")
    if os.environ.get(credentials.ENV_TOKEN):
        _say("note: REACTOR_TOKEN is set in this environment and comes first: unset it to use this credential")
    return 0


def cmd_status(args) -> int:
    """Which service and which credential a command would use now, and whether the service takes it."""
    try:
        used = credentials.resolve()
    except credentials.CredentialError as exc:
        _say(str(exc))
        return 1
    url = credentials.service_url()
    print(f"service: {url}")
    if used is None:
        print("credential: none (set REACTOR_TOKEN, run `reactor auth login`, or set REACTOR_DATA_DIR)")
        return 1
    print(f"credential: {used.describe()}")
    status, detail = _check(url, used.token)
    if status is None:
        print(f"check: cannot reach the service ({detail})")
        return 1
    verdict = {200: "accepted; may manage projects", 403: f"accepted; may not manage projects ({detail})",
               401: f"refused ({detail})"}.get(status, f"{status} {detail}")
    print(f"check: {verdict}")
    return 0 if status in (200, 403) else 1


def cmd_logout(args) -> int:
    path = credentials.credentials_path()
    try:
        path.unlink()
    except FileNotFoundError:
        _say(f"no stored credential ({path})")
        return 0
    _say(f"removed {path}")
    return 0


def add_commands(sub) -> None:
    """`reactor auth …` under the top-level subparsers `sub`."""
    auth = sub.add_parser(
        "auth", help="the CLI's credential: login, status, logout",
        description="The CLI sends, first found: REACTOR_TOKEN; the credential `reactor auth login` stored in "
                    "$XDG_CONFIG_HOME/reactor/credentials (else ~/.config/reactor/credentials); the admin token "
                    "of the install that REACTOR_DATA_DIR / REACTOR_CONFIG / ./reactor.toml name.")
    commands = auth.add_subparsers(dest="auth_command", required=True, metavar="{login,status,logout}")
    login = commands.add_parser(
        "login", help="store a credential for the CLI (0600), from --token or the install's admin token",
        description="Stores a credential for every later command, from any directory: the token given with "
                    "--token, else the admin token of this install's data directory. It is checked against "
                    "the service first (a refused token is not stored).")
    login.add_argument("email", nargs="?", help=argparse.SUPPRESS)  # the reference's form: refused with why
    login.add_argument("--password", help=argparse.SUPPRESS)
    login.add_argument("--token", help="a JWT or the admin token to store ('-': read it from standard input)")
    login.add_argument("--url", help="the service (default: REACTOR_URL, else the url stored before, else the install's "
                       "[analytics] bind)")
    login.set_defaults(func=cmd_login)
    commands.add_parser("status", help="which service and credential commands use, and whether it is accepted"
                        ).set_defaults(func=cmd_status)
    commands.add_parser("logout", help="remove the stored credential").set_defaults(func=cmd_logout)

