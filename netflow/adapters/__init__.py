"""Adapters: the patient database (SQLAlchemy Core) and, later, mail.

Nothing here builds an engine at import time; call `netflow.adapters.db.make_engine(url)`.
"""

__all__: list[str] = []
