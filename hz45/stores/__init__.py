"""Connections to the product's stores; every address comes from configuration.

- `hz45.stores.sql`: the main database (SQLAlchemy), `get_engine()`
- `hz45.stores.schema`: its tables and `init_db()`
- `hz45.stores.upsert`: `upsert(table, frame)`, idempotent bulk writes
- `hz45.stores.mongo`: `get_client()`, `get_database()`
- `hz45.stores.kafka`: `producer()`, `consumer()`, `admin()`, `ensure_topics()`
"""
