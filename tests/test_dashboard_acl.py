"""The `[auth] oidc_acl` expression: its grammar, what it decides on claims, and what it refuses
to parse. Plain Python, no service."""

from __future__ import annotations

import pytest

from reactor_analytics.auth.acl import MAX_DEPTH, AclError, parse
from reactor_analytics.auth.oidc import client
from reactor_analytics.config import AuthConfig, ConfigError

CLAIMS = {
    "sub": "u1", "email": "ada@example.com", "email_verified": True, "groups": ["staff", "admin"],
    "age": 36, "ratio": 0.5, "org": {"id": "o1", "roles": ["owner"]}, "cognito:groups": ["ops"],
    "name": "Ada", "nothing": None, "flag_text": "true", "one": 1,
}


@pytest.mark.parametrize("expression, expected", [
    ('"admin" in groups', True),
    ('"root" in groups', False),
    ('"root" not in groups', True),
    ('email.endswith("@example.com")', True),
    ('email.endswith("@example.org")', False),
    ('email.startswith("ada@")', True),
    ('email_verified && email.endswith("@example.com")', True),
    ('email_verified and not email.endswith("@example.com")', False),
    ('"root" in groups || email == "ada@example.com"', True),
    ('"root" in groups or email == "bob@example.com"', False),
    ('!("root" in groups)', True),
    ('!!email_verified', True),
    ("email == 'ada@example.com'", True),
    ("email != 'ada@example.com'", False),
    ("age == 36", True),
    ("age == 36.0", True),
    ("ratio == 0.5", True),
    ("one == true", False),              # true is not 1
    ("flag_text", False),                # only JSON true is true
    ("flag_text == \"true\"", True),
    ("email_verified == true", True),
    ("nothing == null", True),
    ("missing == null", True),           # an absent claim is null
    ("missing", False),
    ("!missing", True),
    ('missing.endswith("x")', False),    # a method on a non-string is false, not an error
    ('age.startswith("3")', False),
    ('org.id == "o1"', True),
    ('"owner" in org.roles', True),
    ('org["id"] == "o1"', True),
    ('claims["cognito:groups"] == ["ops"]', True),
    ('"ops" in claims["cognito:groups"]', True),
    ('"ex" in email', False),            # a string is one value, not a set of substrings
    ('"ada@example.com" in email', True),
    ('email.contains("@example")', True),
    ('email.contains("@other")', False),
    ('"admin" in "admins"', False),
    ('"id" in org', True),               # key of an object
    ("1 in groups", False),
    ('groups == ["staff", "admin"]', True),
    ('groups == ["admin", "staff"]', False),
    ('name in ["Ada", "Bob"]', True),
    ('name in []', False),
    ('"a" in 5', False),
    ('true && (false || ("x" == "x"))', True),
    ('"a\\"b" == "a\\"b"', True),
    ('email == "ada@example.com" && groups != null && age != 37', True),
])
def test_decides_on_claims(expression, expected):
    assert parse(expression).allows(CLAIMS) is expected


def test_and_binds_tighter_than_or():
    acl = parse('"x" in groups && false || true')
    assert acl.allows({}) is True  # (… && false) || true
    assert parse('true || "x" in groups && false').allows({}) is True


def test_no_claims_at_all_is_decided_too():
    assert parse('"admin" in groups').allows({}) is False
    assert parse('email.endswith("@example.com")').allows({}) is False


@pytest.mark.parametrize("expression", [
    "", "   ", "email ==", '"a" in', "(email", "email)", "email = 'x'", "email === 'x'",
    '__import__("os").system("true")', 'email.lower() == "x"', 'email.endswith("x"', "a && || b",
    "groups[0]", "'unterminated", '"bad \\q escape"', "1 2", "[email]", "email.endswith('x', 'y')",
    "and", "not in groups", "@", "email; true", "x ? y : z", "lambda: 1",
])
def test_refuses_what_does_not_parse(expression):
    with pytest.raises(AclError):
        parse(expression)


def test_deep_or_long_expressions_are_refused_not_crashing():
    with pytest.raises(AclError, match="nested"):
        parse("(" * (MAX_DEPTH + 1) + "true" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(AclError, match="nested"):
        parse("!" * 2000 + "true")
    with pytest.raises(AclError, match="nested"):
        parse("[" * 2000 + "]" * 2000)
    with pytest.raises(AclError, match="longer"):
        parse("true || " * 1000 + "true")
    assert parse("(" * 10 + "true" + ")" * 10).allows({}) is True


def test_a_malformed_acl_is_a_configuration_error():
    auth = AuthConfig(oidc_issuer="https://id.example.com", oidc_client_id="c", oidc_client_secret="s",
                      oidc_acl='"admin" in')
    with pytest.raises(ConfigError, match="oidc_acl"):
        client(auth)
    with pytest.raises(ConfigError, match="https"):
        client(AuthConfig(oidc_issuer="http://id.example.com", oidc_client_id="c", oidc_client_secret="s"))
    assert client(AuthConfig(oidc_issuer="https://id.example.com")) is None  # not all three set: off
    assert client(AuthConfig(oidc_issuer="https://id.example.com", oidc_client_id="c", oidc_client_secret="s",
                             oidc_acl='"admin" in groups')).acl.allows({"groups": ["admin"]})
