"""SQLite, with the real bound-parameter limit instead of Django's historical 999.

Django assumes SQLITE_MAX_VARIABLE_NUMBER is 999 (the default before SQLite 3.32) and splits
bulk inserts accordingly, so a bulk decision of 1,000 actions became ~30 statements on the
embedded default. The linked library reports its limit (32,766 or more today); we use it, so
set-based services stay a constant number of statements on SQLite as on PostgreSQL.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from django.db.backends.sqlite3 import base


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        conn = super().get_new_connection(conn_params)
        limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self.features.max_query_params = max(999, min(limit, 250_000))
        return conn
