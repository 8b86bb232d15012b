"""Engine creation and schema migrations (Alembic, run on start-up)."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Select, create_engine, event, make_url, select, text
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import QueryableAttribute, Session, sessionmaker

from sync.store.models import AppSecretRow

MIGRATIONS = Path(__file__).with_name("migrations")
# Values in one IN list (or rows in one bulk insert): well under SQLite's bound-parameter limit. A bulk
# read for at most this many keys asks for just those; for more, it reads the table.
IN_LIMIT = 500
Query = TypeVar("Query", bound=Select)  # type: ignore[type-arg]  # any row shape


def only_these(query: Query, column: QueryableAttribute[Any], values: Collection[Any] | None) -> Query:
    """`query` narrowed to `column IN values` when there are few enough to list (None: no narrowing); beyond
    `IN_LIMIT` the whole table is read, which is what a cycle that judged nearly everyone needs anyway."""
    if values is None or len(values) > IN_LIMIT:
        return query
    return query.where(column.in_(sorted(values)))


def normalize_url(url: str) -> str:
    """`postgresql://` means psycopg 3 here (the driver we ship), not psycopg2."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


_SECRET_KEYS = ("password", "secret", "token", "key")


def printable_url(url: str) -> str:
    """The database URL for a terminal or a log: its password and any secret-looking query value masked."""
    try:
        parsed = make_url(normalize_url(url))
    except ArgumentError:
        return "(not a database URL)"
    masked = {k: ("REDACTED" if any(s in k.lower() for s in _SECRET_KEYS) else v) for k, v in parsed.query.items()}
    return parsed.set(query=masked).render_as_string(hide_password=True)


def _private_sqlite_file(url: str) -> None:
    """The store holds push and CSRF secrets: a new SQLite file is readable by its owner only (SQLite
    gives its -wal and -shm files the same mode), whatever the umask outside systemd."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        _private_sqlite_file(url)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; safe to run on every start."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":  # replicas starting together migrate one after another
            connection.execute(text("SELECT pg_advisory_xact_lock(7100100)"))
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class Database:
    """The engine plus a session factory; sessions are short and explicit."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer: threads that queue here take turns at once, instead of meeting
        # SQLITE_BUSY and sleeping in SQLite's backoff (which made concurrent syncs slower, not faster).
        self._sqlite_turn = threading.RLock() if self.is_sqlite else None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def migrate(self) -> None:
        migrate(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any exception."""
        if self._sqlite_turn is None:
            with self._sessions() as session, session.begin():
                yield session
            return
        with self._sqlite_turn, self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def release_dead_local_workers(db: Database, hostname: str, alive: Callable[[int], bool]) -> int:
    """Free calendar leases and outbox claims held by crashed processes of this host.

    Workers are named `host:pid`. A lease of a live process, or of another host, is left to
    expire on its own; one of a dead local process can be taken at once, so a restart after a
    crash resumes immediately instead of waiting out the lease.
    """
    from sqlalchemy import update

    from sync.store.models import CalendarRow, OutboxRow

    freed = 0
    prefix = f"{hostname}:"
    with db.session() as session:
        owners = {
            owner
            for (owner,) in session.execute(select(CalendarRow.lease_owner).where(CalendarRow.lease_owner.is_not(None)))
        } | {
            owner for (owner,) in session.execute(select(OutboxRow.claimed_by).where(OutboxRow.claimed_by.is_not(None)))
        }
        dead = []
        for owner in owners:
            if owner and owner.startswith(prefix):
                pid = owner[len(prefix) :]
                if pid.isdigit() and not alive(int(pid)):
                    dead.append(owner)
        for owner in dead:
            freed += session.execute(
                update(CalendarRow).where(CalendarRow.lease_owner == owner).values(lease_owner=None, lease_until=None)
            ).rowcount  # type: ignore[attr-defined]
            freed += session.execute(
                update(OutboxRow).where(OutboxRow.claimed_by == owner).values(claimed_by=None, claimed_until=None)
            ).rowcount  # type: ignore[attr-defined]
    return freed


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


EVALUATION_LOCK = 7100101  # arbitrary, fixed advisory-lock keys
PUSH_LOCK = 7100102


def serialize(session: Session, key: int = EVALUATION_LOCK) -> None:
    """Replicas take turns in this transaction (PostgreSQL); SQLite has a single writer anyway."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


@contextmanager
def only_one_replica(db: Database, key: int) -> Iterator[bool]:
    """Yields True in the one replica holding `key` (always True on SQLite); the others skip the job."""
    if db.is_sqlite:
        yield True
        return
    with db.engine.connect() as connection:
        held = bool(connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar())
        try:
            yield held
        finally:
            if held:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            connection.commit()


def insert_missing(session: Session, model: type[Any], values: dict[str, Any], unique: Sequence[str]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING: two replicas may create the same row at the same moment."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert  # type: ignore[assignment]
    session.execute(dialect_insert(model).values(**values).on_conflict_do_nothing(index_elements=list(unique)))


def app_secret(session: Session, name: str, now: datetime) -> str:
    """A secret the daemon made for itself; the first caller creates it, everyone after reads it."""
    query = select(AppSecretRow).where(AppSecretRow.name == name)
    row = session.scalar(query)
    if row is None:  # replicas starting together: the first insert wins, everyone reads it back
        insert_missing(
            session, AppSecretRow, {"name": name, "value": secrets.token_urlsafe(32), "created_at": now}, ["name"]
        )
        row = session.scalar(query)
        assert row is not None
    return row.value
