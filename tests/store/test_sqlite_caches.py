"""The SQLite store's page caches: small on the readers, SQLite's default on the writer."""

from __future__ import annotations

from pathlib import Path

from rota.store.sqlite import SqliteStore


async def test_sqlite_readers_keep_small_page_caches(tmp_path: Path) -> None:
    # SQLite's default cache (2,000 KiB) on each of 4 readers held 8 MiB of a server's
    # memory once the file had grown; the writer keeps the default.
    store = SqliteStore(tmp_path / "rota.db")
    await store.open()
    try:
        reader_kib = await store._readers.run(
            lambda conn: -conn.execute("PRAGMA cache_size").fetchone()[0]
        )
        writer_kib = await store._writer.run(
            lambda conn: -conn.execute("PRAGMA cache_size").fetchone()[0]
        )
        assert reader_kib <= 512
        assert writer_kib == 2000
    finally:
        await store.close()
