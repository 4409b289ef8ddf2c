"""The main database through SQLAlchemy: SQLite embedded by default, MariaDB/MySQL via pymysql.

The URL comes from `sql.url`. A relative SQLite path is taken from the repository root (so every
command and test sees the same file) and its folder is created.
"""

from __future__ import annotations

from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from hz45.errors import ConfigError, ServiceUnavailable
from hz45.settings import Settings, get_settings

# Seconds to wait for a server's TCP handshake before saying it is down.
CONNECT_TIMEOUT_S = 5


def resolve_url(url: str | URL, settings: Settings | None = None) -> URL:
    """The URL with a relative SQLite path made absolute (against the repository root)."""
    settings = settings or get_settings()
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError(f"config: bad value for 'sql.url': not a database URL (got {str(url)!r})") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = settings.path(parsed.database)
        path.parent.mkdir(parents=True, exist_ok=True)
        parsed = parsed.set(database=str(path))
    return parsed


def display_url(url: str | URL) -> str:
    """The URL as it may be printed: the password hidden."""
    return make_url(url).render_as_string(hide_password=True)


def get_engine(url: str | URL | None = None, settings: Settings | None = None) -> Engine:
    """An engine for `url` (default: `sql.url`), checked with a real connection.

    Raises ServiceUnavailable with one line naming the URL (without its password) when the
    server does not answer.
    """
    settings = settings or get_settings()
    return _engine(resolve_url(url or settings.sql.url, settings), settings.sql.echo)


@lru_cache(maxsize=16)
def _engine(url: URL, echo: bool) -> Engine:
    backend = url.get_backend_name()
    if backend in ("mysql", "mariadb"):
        # utf8mb4 so that every artist and track name fits; pre-ping because the server may
        # have been restarted with `make services-up` while a long-lived process holds the pool.
        url = url.update_query_dict({"charset": "utf8mb4"}) if "charset" not in url.query else url
        engine = sa.create_engine(url, echo=echo, pool_pre_ping=True, pool_recycle=3600,
                                  connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
    elif backend == "sqlite":
        engine = sa.create_engine(url, echo=echo, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = sa.create_engine(url, echo=echo, pool_pre_ping=True)
    check(engine)
    return engine


def check(engine: Engine) -> None:
    """Run SELECT 1; raise ServiceUnavailable (one line, what to do) when the DB does not answer."""
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else type(exc).__name__
        hint = ("start it with `make services-up`" if engine.url.get_backend_name() != "sqlite"
                else "check that the folder is writable")
        raise ServiceUnavailable(f"main DB at {display_url(engine.url)} does not answer: {reason}", hint) from None


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets readers (the API, notebooks) read while a load writes.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()
