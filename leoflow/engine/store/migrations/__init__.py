"""Alembic environment and revision scripts of the metadata store (run by ``schema.py``)."""
