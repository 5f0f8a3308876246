"""Alembic environment. tracker calls it with an open connection (tracker.db.upgrade); the alembic CLI
can also use it with TRACKER_DATABASE_URL set (a synchronous driver URL)."""

import os

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import tracker.models  # noqa: F401  (registers the tables)

target_metadata = SQLModel.metadata


def run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    engine = create_engine(os.environ["TRACKER_DATABASE_URL"])
    with engine.begin() as conn:
        run(conn)
