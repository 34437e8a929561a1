"""A validated query body as ClickHouse SQL: the kinds' translations (`kinds`) and the web
overview's (`web`), which builds on theirs."""

from __future__ import annotations

from .kinds import TRANSLATED, Translation, Untranslated
from .sql import Body, Tables
from .web import web


def translate(body: Body, project_id: str, tables: Tables) -> Translation:
    """The SQL of a validated body; raises Untranslated for a kind or measure not translated."""
    if body.kind == "web":
        return web(body, project_id, tables)
    if body.kind not in TRANSLATED:
        raise Untranslated(f"kind {body.kind!r}")
    return TRANSLATED[body.kind](body, project_id, tables)
