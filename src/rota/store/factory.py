"""Choose and build the store a DSN names."""

from __future__ import annotations

from rota.clock import SYSTEM_CLOCK, Clock
from rota.errors import InvalidInput
from rota.store.base import Store
from rota.store.sqlite import SqliteStore

_SQLITE_PREFIX = "sqlite:///"
_POSTGRES_PREFIXES = ("postgresql://", "postgres://")
_ACCEPTED = "a file path, sqlite:///relative/path, sqlite:////absolute/path or postgresql://..."


def open_store(dsn: str, *, clock: Clock = SYSTEM_CLOCK) -> Store:
    """Return the (not yet opened) store the DSN names; the caller awaits its open().

    A plain path or ``sqlite:///path`` is an SQLite file (``sqlite:////tmp/rota.db`` is
    absolute, as in SQLAlchemy). ``postgresql://`` and ``postgres://`` name PostgreSQL.
    """
    text = dsn.strip()
    if not text:
        raise InvalidInput(f"the database is empty: give {_ACCEPTED}")
    if text.lower().startswith(_POSTGRES_PREFIXES):
        raise InvalidInput("the PostgreSQL store is not available yet")
    if text.lower().startswith(_SQLITE_PREFIX):
        path = text[len(_SQLITE_PREFIX) :]
    elif "://" in text or text.lower().startswith("sqlite:"):
        scheme = text.split(":", 1)[0]
        raise InvalidInput(f"unsupported database {scheme!r}: give {_ACCEPTED}")
    else:
        path = text
    if not path or path == ":memory:" or path.startswith(("file::memory:", "?")):
        raise InvalidInput(
            "an in-memory SQLite database is not supported: the store uses several "
            "connections to one file; give a file path such as rota.db"
        )
    return SqliteStore(path, clock=clock)
