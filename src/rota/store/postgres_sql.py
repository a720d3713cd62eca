"""Named parameters for asyncpg: the PostgreSQL store's queries say :name, the driver $n.

The query file is read by rota.store.queries like every other backend's; this module only
turns each block's ``:name`` placeholders into positional ones, once, at open.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rota.clock import Clock
from rota.store.postgres_conn import Connection, Record
from rota.store.queries import load_queries

# A placeholder is ':' + identifier, not part of a '::' cast nor of a word (as in 'a:b').
_PLACEHOLDER = re.compile(r"(?<![:\w]):(?P<name>[A-Za-z_]\w*)")
_COMMENT_LINE = re.compile(r"^\s*--.*$", re.MULTILINE)


@dataclass(frozen=True, kw_only=True, slots=True)
class Query:
    """One statement with its placeholders numbered, and the names in number order."""

    name: str
    sql: str
    params: tuple[str, ...]

    def args(self, values: Mapping[str, Any]) -> list[Any]:
        """Return the positional arguments for these named values (every name required)."""
        missing = [name for name in self.params if name not in values]
        extra = [name for name in values if name not in self.params]
        if missing or extra:
            raise KeyError(f"query {self.name}: missing {missing}, unexpected {extra}")
        return [values[name] for name in self.params]


def compile_query(name: str, text: str) -> Query:
    """Return the query with its :name placeholders as $1, $2... (comments dropped)."""
    params: list[str] = []

    def number(match: re.Match[str]) -> str:
        param = match["name"]
        if param not in params:
            params.append(param)
        return f"${params.index(param) + 1}"

    sql = _PLACEHOLDER.sub(number, _COMMENT_LINE.sub("", text)).strip()
    return Query(name=name, sql=sql, params=tuple(params))


def load_compiled(package: str, resource: str) -> dict[str, Query]:
    """Return every named query of a .sql file in `package`, compiled for asyncpg."""
    return {
        name: compile_query(name, text) for name, text in load_queries(package, resource).items()
    }


class Statements:
    """The store's compiled queries, run on a connection with the store's own parameters.

    `now` and `channel` are filled in for every query that uses them: `now` is None (the
    database's clock) unless the store was given a test clock, `channel` is the schema's
    NOTIFY channel.
    """

    def __init__(self, queries: Mapping[str, Query], *, clock: Clock | None, channel: str) -> None:
        self._queries = queries
        self._clock = clock
        self._channel = channel

    def text(self, name: str) -> str:
        """Return a query's SQL, for a statement that takes no parameters."""
        return self._queries[name].sql

    async def all(self, conn: Connection, name: str, /, **params: Any) -> list[Record]:
        """Run a named query and return every row."""
        sql, args = self._bind(name, params)
        return await conn.fetch(sql, *args)

    async def row(self, conn: Connection, name: str, /, **params: Any) -> Record | None:
        """Run a named query and return its first row, or None."""
        sql, args = self._bind(name, params)
        return await conn.fetchrow(sql, *args)

    async def value(self, conn: Connection, name: str, /, **params: Any) -> Any:
        """Run a named query and return the first column of its first row."""
        sql, args = self._bind(name, params)
        return await conn.fetchval(sql, *args)

    def _bind(self, name: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
        query = self._queries[name]
        if "now" in query.params:
            params["now"] = None if self._clock is None else self._clock.now_utc()
        if "channel" in query.params:
            params["channel"] = self._channel
        return query.sql, query.args(params)
