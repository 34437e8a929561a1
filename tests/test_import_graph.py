"""The package's import graph: no circle, and transport-free code that needs neither Flask nor grpc.

Every module under python/reactor_analytics is parsed with `ast` (nothing is imported). Every
import counts, module-level and inside functions alike: an import moved into a function to dodge
a circle still closes it. Arrows point down (transport -> services -> core -> storage), so the
graph between our own modules is acyclic, and the modules below the transports (the services,
access checks, the ingest pipeline, the query service, governance, the store) import no web or
RPC framework, neither themselves nor through any of our modules they import.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "reactor_analytics"
ROOT = Path(__file__).resolve().parent.parent / "python" / PACKAGE

# Top-level names of the transports' frameworks.
FLASK = {"flask", "werkzeug", "prometheus_flask_exporter", "gunicorn"}
GRPC = {"grpc", "grpc_status", "grpc_health", "grpc_reflection"}

# Modules (or packages, with everything under them) that no transport may reach into.
TRANSPORT_FREE = ("services", "fields", "auth", "ingest", "query", "governance", "store")


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the package."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = (PACKAGE, *path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every absolute module name the file imports, anywhere in it (relative imports resolved).
    `from a import b` names `a.b` when that is one of our modules, else `a`."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    named = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                child = f"{source}.{alias.name}"
                named.add(child if child in MODULES else source)
    return named


IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}
GRAPH = {name: sorted(m for m in imported if m in MODULES and m != name) for name, imported in IMPORTS.items()}


def _components() -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan): each is a knot of
    modules that all reach one another."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in GRAPH[node]:
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            connect(node)
    return components


def _circle_within(component: set[str]) -> list[str]:
    """A shortest circle from the component's first module back to itself (breadth-first)."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in GRAPH[node]:
                if nxt == start:
                    return paths[node] + [start]
                if nxt in component and nxt not in paths:
                    paths[nxt] = paths[node] + [nxt]
                    following.append(nxt)
        frontier = following
    raise AssertionError("a strongly connected component without a circle")  # pragma: no cover


def _transport_free(name: str) -> bool:
    rest = name[len(PACKAGE) + 1:]
    return any(rest == part or rest.startswith(part + ".") for part in TRANSPORT_FREE)


def _frameworks(imported: set[str]) -> set[str]:
    return {m for m in imported if m.split(".")[0] in FLASK | GRPC}


def _short(name: str) -> str:
    return name[len(PACKAGE) + 1:] or PACKAGE


def test_the_graph_covers_the_package():
    assert len(MODULES) > 40
    for name in ("services", "auth.access", "fields", "ingest.pipeline", "query.service", "rpc.service", "app"):
        assert f"{PACKAGE}.{name}" in MODULES, name


def test_no_import_circle():
    knots = []
    for component in _components():
        circle = " -> ".join(_short(m) for m in _circle_within(set(component)))
        knots.append(f"{circle}  (a knot of {len(component)} modules: {', '.join(map(_short, component))})")
        print("import circle:", knots[-1])
    assert not knots, "import circles:\n" + "\n".join(knots)


def test_transport_free_modules_import_neither_flask_nor_grpc():
    direct = {_short(name): sorted(_frameworks(IMPORTS[name])) for name in MODULES if _transport_free(name)}
    direct = {name: found for name, found in direct.items() if found}
    assert not direct, f"transport-free modules importing Flask or grpc: {direct}"


def _reaching(start: str, frameworks: set[str]) -> list[str]:
    """For each module under `start`, one chain of imports by which it reaches a framework."""
    chains = []
    for name in (m for m in MODULES if m == start or m.startswith(start + ".")):
        trail = {name: [name]}
        todo = [name]
        found = None
        while todo and found is None:
            node = todo.pop()
            hits = sorted(m for m in IMPORTS[node] if m.split(".")[0] in frameworks)
            if hits:
                found = " -> ".join(_short(m) for m in trail[node]) + f" -> {hits[0]}"
            for nxt in GRAPH[node]:
                if nxt not in trail:
                    trail[nxt] = trail[node] + [nxt]
                    todo.append(nxt)
        if found:
            chains.append(found)
    return chains


def test_transport_free_modules_reach_neither_flask_nor_grpc_through_our_modules():
    """What a transport-free module imports of ours is transport-free too, down to the bottom."""
    reached = [chain for part in TRANSPORT_FREE for chain in _reaching(f"{PACKAGE}.{part}", FLASK | GRPC)]
    assert not reached, "transport-free modules reaching Flask or grpc:\n" + "\n".join(reached)


def test_the_grpc_server_reaches_no_flask():
    """The gRPC side builds the same transport-free calls as the HTTP views and runs them with no
    Flask app: nothing it imports, of ours or through ours, is Flask, so no call can run in an app
    context."""
    reached = _reaching(f"{PACKAGE}.rpc", FLASK)
    assert not reached, "the gRPC side reaching Flask:\n" + "\n".join(reached)


def test_the_graph_sees_imports_inside_functions(tmp_path):
    """The circle-dodging idiom, an import inside a function, is an edge like any other."""
    module = tmp_path / "probe.py"
    module.write_text("def f():\n    from ..app import create_app\n    from . import errors\n"
                      "    from .. import config\n    import reactor_analytics.store.db\n")
    assert _imports(f"{PACKAGE}.api.probe", module) == {
        f"{PACKAGE}.app", f"{PACKAGE}.api.errors", f"{PACKAGE}.config", f"{PACKAGE}.store.db"}
