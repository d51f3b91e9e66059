"""Alembic's entry point for the decision log's schema (see ``audit._migrate``).

``upgrade`` hands over an open connection in ``config.attributes``; the ``alembic``
command line, pointed at this folder, connects to ``sqlalchemy.url`` instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from enclosure.audit._schema import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
