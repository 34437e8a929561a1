"""The `[auth] oidc_acl` expression: who may sign in to the dashboard, decided on the ID token's
claims. A small parser and evaluator of its own (never Python's `eval`): literals, claims,
`==`, `!=`, `in`, `not in`, `.startswith()`, `.endswith()`, `.contains()`, `!`/`not`, `&&`/`and`, `||`/`or`
and parentheses (README "Dashboard" gives the grammar).

    "admin" in groups || (email_verified && email.endswith("@example.com"))

A claim that is absent is `null`; only JSON `true` counts as true; comparing values of different
types is false, never an error. So an expression decides every claims object, whatever it holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MAX_LENGTH = 4096
MAX_DEPTH = 32
METHODS = ("startswith", "endswith", "contains")


class AclError(ValueError):
    """The expression does not parse; the message says where."""


_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|&&|\|\||[!().,\[\]])
""", re.VERBOSE)
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "t": "\t", "/": "/"}
_KEYWORDS = {"true": True, "false": False, "null": None}


@dataclass(frozen=True)
class _Token:
    kind: str  # string, number, name, op, end
    value: Any
    at: int


def _unescape(quoted: str, at: int) -> str:
    out, i, body = [], 0, quoted[1:-1]
    while i < len(body):
        char = body[i]
        if char == "\\":
            escaped = body[i + 1]
            if escaped not in _ESCAPES:
                raise AclError(f"unknown escape \\{escaped} at {at + i + 1}")
            out.append(_ESCAPES[escaped])
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _tokens(text: str) -> list[_Token]:
    found, at = [], 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            raise AclError(f"unexpected {text[at]!r} at {at}")
        kind, value = match.lastgroup, match.group()
        if kind == "string":
            found.append(_Token("string", _unescape(value, at), at))
        elif kind == "number":
            found.append(_Token("number", float(value) if "." in value else int(value), at))
        elif kind != "space":
            found.append(_Token(kind, value, at))
        at = match.end()
    found.append(_Token("end", None, len(text)))
    return found


class _Parser:
    """Recursive descent over the grammar; the tree is nested tuples."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0
        self.depth = 0

    def peek(self, offset: int = 0) -> _Token:
        return self.tokens[min(self.at + offset, len(self.tokens) - 1)]

    def take(self) -> _Token:
        token = self.peek()
        self.at += 1
        return token

    def is_(self, kind: str, *values: str) -> bool:
        token = self.peek()
        return token.kind == kind and (not values or token.value in values)

    def expect(self, kind: str, value: str | None = None) -> _Token:
        token = self.take()
        if token.kind != kind or (value is not None and token.value != value):
            wanted = repr(value) if value else kind
            raise AclError(f"expected {wanted} at {token.at}, found {_shown(token)}")
        return token

    def nested(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise AclError(f"nested deeper than {MAX_DEPTH}")

    def expression(self):
        self.nested()
        left = self.conjunction()
        while self.is_("op", "||") or self.is_("name", "or"):
            self.take()
            left = ("or", left, self.conjunction())
        self.depth -= 1
        return left

    def conjunction(self):
        left = self.negation()
        while self.is_("op", "&&") or self.is_("name", "and"):
            self.take()
            left = ("and", left, self.negation())
        return left

    def negation(self):
        if self.is_("op", "!") or (self.is_("name", "not") and not self.peek(1).value == "in"):
            self.take()
            self.nested()
            operand = self.negation()
            self.depth -= 1
            return ("not", operand)
        return self.comparison()

    def comparison(self):
        left = self.value()
        if self.is_("op", "==", "!="):
            op = self.take().value
            return (op, left, self.value())
        if self.is_("name", "in"):
            self.take()
            return ("in", left, self.value())
        if self.is_("name", "not") and self.peek(1).kind == "name" and self.peek(1).value == "in":
            self.at += 2
            return ("not", ("in", left, self.value()))
        return left

    def value(self):
        token = self.take()
        if token.kind in ("string", "number"):
            return ("lit", token.value)
        if token.kind == "op" and token.value == "(":
            inner = self.expression()
            self.expect("op", ")")
            return inner
        if token.kind == "op" and token.value == "[":
            return self.list_literal()
        if token.kind == "name":
            if token.value in _KEYWORDS:
                return ("lit", _KEYWORDS[token.value])
            if token.value in ("and", "or", "not", "in"):
                raise AclError(f"unexpected {token.value!r} at {token.at}")
            return self.claim(token)
        raise AclError(f"unexpected {_shown(token)} at {token.at}")

    def list_literal(self):
        self.nested()
        items = []
        if not self.is_("op", "]"):
            while True:
                item = self.value()
                if item[0] != "lit":
                    raise AclError("a list holds literals only")
                items.append(item[1])
                if not self.is_("op", ","):
                    break
                self.take()
        self.expect("op", "]")
        self.depth -= 1
        return ("lit", items)

    def claim(self, first: _Token):
        """`name`, `claims`, then `.name`, `["key"]` and at the end an optional `.method(arg)`."""
        path: list[str] = [] if first.value == "claims" else [first.value]
        while True:
            if self.is_("op", "."):
                self.take()
                name = self.expect("name")
                if self.is_("op", "("):
                    if name.value not in METHODS:
                        raise AclError(f"unknown method {name.value!r} at {name.at} (known: {', '.join(METHODS)})")
                    self.take()
                    argument = self.value()
                    self.expect("op", ")")
                    return ("call", name.value, ("claim", tuple(path)), argument)
                path.append(name.value)
            elif self.is_("op", "["):
                self.take()
                path.append(self.expect("string").value)
                self.expect("op", "]")
            else:
                return ("claim", tuple(path))


def _shown(token: _Token) -> str:
    return "the end" if token.kind == "end" else repr(token.value)


@dataclass(frozen=True)
class Acl:
    """A parsed expression; `allows(claims)` evaluates it."""
    source: str
    tree: tuple

    def allows(self, claims: dict) -> bool:
        return _evaluate(self.tree, claims) is True


def parse(text: str) -> Acl:
    if len(text) > MAX_LENGTH:
        raise AclError(f"longer than {MAX_LENGTH} characters")
    parser = _Parser(text)
    if parser.is_("end"):
        raise AclError("the expression is empty")
    tree = parser.expression()
    if not parser.is_("end"):
        token = parser.peek()
        raise AclError(f"unexpected {_shown(token)} at {token.at}")
    return Acl(text, tree)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1, 1 is 1.0, lists and objects compare member by member."""
    if _is_number(a) and _is_number(b):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return a == b


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, list):
        return any(_equal(item, member) for member in container)
    if isinstance(container, str):
        # A claim of one value where a list was expected (`groups: "admin"`) is that one value:
        # "admin" in "admins" is false. Substrings are `.contains()`'s.
        return _equal(item, container)
    if isinstance(container, dict) and isinstance(item, str):
        return item in container
    return False


def _evaluate(node: tuple, claims: dict) -> Any:
    op = node[0]
    if op == "lit":
        return node[1]
    if op == "claim":
        value: Any = claims
        for name in node[1]:
            value = value.get(name) if isinstance(value, dict) else None
        return value
    if op == "or":
        return _evaluate(node[1], claims) is True or _evaluate(node[2], claims) is True
    if op == "and":
        return _evaluate(node[1], claims) is True and _evaluate(node[2], claims) is True
    if op == "not":
        return _evaluate(node[1], claims) is not True
    if op == "==":
        return _equal(_evaluate(node[1], claims), _evaluate(node[2], claims))
    if op == "!=":
        return not _equal(_evaluate(node[1], claims), _evaluate(node[2], claims))
    if op == "in":
        return _contains(_evaluate(node[2], claims), _evaluate(node[1], claims))
    if op == "call":
        subject, argument = _evaluate(node[2], claims), _evaluate(node[3], claims)
        if not isinstance(subject, str) or not isinstance(argument, str):
            return False
        if node[1] == "contains":
            return argument in subject
        return subject.startswith(argument) if node[1] == "startswith" else subject.endswith(argument)
    raise AssertionError(op)  # pragma: no cover - the parser makes no other node
