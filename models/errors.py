"""Errors of the models package (kept here so models/ never imports engine/)."""

from __future__ import annotations


class ModelError(Exception):
    """A model that cannot be found, assembled, verified or loaded."""

    def __init__(self, model: str, detail: str) -> None:
        self.model = model
        self.detail = detail
        super().__init__(f"model {model!r}: {detail}")
