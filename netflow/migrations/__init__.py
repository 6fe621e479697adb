"""Alembic migrations for the patient database (script_location `netflow:migrations`).

Run them with `netflow db upgrade` or `netflow.adapters.db.upgrade(url)`; no alembic.ini is needed.
"""
