"""The API's settings: passed to ``create_app``; nothing is read at import time."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ApiSettings:
    """store_url: the store the batch writes (None: the default embedded SQLite store);
    page_limit: the most calls one page may hold."""

    store_url: str | None = None
    title: str = "callscope"
    page_limit: int = 200
