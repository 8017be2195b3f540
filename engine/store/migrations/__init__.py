"""Alembic migrations of the result store (run by ``engine.store.repo``; no alembic.ini)."""
