"""Every engine test that asks for a ``store`` runs on SQLite and on PostgreSQL."""

from tests.store_fixtures import pg_database, pg_url, store, store_url

__all__ = ["pg_database", "pg_url", "store", "store_url"]
