"""The SQL loader: named blocks, statement splitting, and the shipped SQL itself."""

from __future__ import annotations

import sqlite3

import pytest

from rota.errors import RotaError
from rota.store.queries import load_migrations, load_queries, parse_queries, split_statements
from rota.store.sqlite_rows import insert_job_values

PACKAGE = "rota.store.sql.sqlite"


class AnyParams(dict[str, object]):
    """Binds NULL to every named parameter."""

    def __missing__(self, key: str) -> None:
        return None


def test_named_blocks() -> None:
    text = "-- header comment\n\n-- name: one\nSELECT 1;\n\n-- name: two\n-- why\nSELECT\n  2;\n"
    assert parse_queries(text) == {"one": "SELECT 1;", "two": "-- why\nSELECT\n  2;"}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;\n", "twice"),
        ("-- name: a\n-- only a comment\n", "empty"),
        ("SELECT 0;\n-- name: a\nSELECT 1;\n", "before the first"),
    ],
)
def test_bad_query_files(text: str, problem: str) -> None:
    with pytest.raises(RotaError, match=problem):
        parse_queries(text)


def test_split_keeps_triggers_whole() -> None:
    script = (
        "CREATE TABLE t (a);\n-- note\n"
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  UPDATE t SET a = 1;\n  SELECT 2;\nEND;\n"
    )
    statements = split_statements(script)
    assert len(statements) == 2 and statements[1].endswith("END;")
    with pytest.raises(RotaError, match="inside a statement"):
        split_statements("CREATE TABLE t (a")


def test_shipped_queries_all_compile() -> None:
    conn = sqlite3.connect(":memory:")
    conn.create_function("new_lease_token", 0, lambda: "token")
    for migration in load_migrations(PACKAGE, "migrations"):
        for statement in migration.statements:
            conn.execute(statement)
    queries = load_queries(PACKAGE, "queries.sql")
    assert {"acquire", "extend", "expired_leases", "insert_job"} <= set(queries)
    for name, sql in queries.items():
        if name == "create_schema_version":
            conn.execute(sql)
            continue
        # Preparing checks syntax, tables, columns and every INDEXED BY.
        params = (None,) * sql.count("?") if "?" in sql else AnyParams()
        conn.execute("EXPLAIN " + sql, params)


def test_insert_job_takes_the_values_in_its_order() -> None:
    """insert_job binds by position: its placeholders are as many as the values given."""
    sql = load_queries(PACKAGE, "queries.sql")["insert_job"]
    values = insert_job_values(AnyParams())
    assert sql.count("?") == len(values) and ":" not in sql.split("VALUES")[1]


def test_migrations_are_numbered_from_one() -> None:
    migrations = load_migrations(PACKAGE, "migrations")
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].name == "0001_initial.sql"
