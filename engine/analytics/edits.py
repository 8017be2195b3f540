"""Analysts' driver edits: rename, merge, split. Each is stored with an audit-log entry.

Renamed drivers keep their name through every later analysis (``name_source = "analyst"``);
merges and splits survive re-clustering through ``engine.analytics.lineage``.
"""

from __future__ import annotations

from engine.analytics.drivers import DriverAnalyser, DriverUpdate
from engine.errors import ConfigError
from engine.store.repo import Store
from engine.types import Driver

__all__ = ["DriverEditor"]


class DriverEditor:
    """Applies analysts' edits to the drivers built from ``model``'s embeddings."""

    def __init__(self, store: Store, model: str, analyser: DriverAnalyser | None = None):
        self.store = store
        self.model = model
        self.analyser = analyser or DriverAnalyser()

    def _save(self, update: DriverUpdate) -> None:
        self.store.voc.save_drivers(
            self.model,
            update.drivers,
            update.centroids,
            update.utterance_drivers,
            update.call_links,
            update.events,
        )

    def rename(self, driver_id: int, name: str) -> Driver:
        name = " ".join(name.split())
        if not name or len(name) > 120:
            raise ConfigError("a driver name needs 1 to 120 characters")
        voc = self.store.voc
        driver = voc.driver(driver_id)
        if driver is None:
            raise ConfigError(f"no driver {driver_id}")
        clash = [d.id for d in voc.drivers(["active"]) if d.name == name and d.id != driver_id]
        if clash:
            raise ConfigError(f"driver {clash[0]} is already called {name!r}")
        renamed = Driver(
            driver.id,
            name,
            driver.keywords,
            driver.exemplars,
            driver.size,
            driver.status,
            "analyst",
            driver.merged_into,
            driver.parent_id,
        )
        voc.save_drivers(
            self.model, [renamed], {}, {}, {}, [("rename", driver_id, None, {"name": name})]
        )
        return renamed

    def merge(self, target: int, sources: list[int]) -> DriverUpdate:
        voc = self.store.voc
        update = self.analyser.merge(voc.reason_set(self.model), voc.drivers(), target, sources)
        self._save(update)
        return update

    def split(self, driver_id: int, parts: int) -> DriverUpdate:
        voc = self.store.voc
        update = self.analyser.split(
            voc.reason_set(self.model), voc.drivers(), driver_id, parts, voc.next_driver_id()
        )
        self._save(update)
        return update
