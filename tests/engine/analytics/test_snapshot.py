"""The facts snapshot is kept while the store is unchanged and re-read after any change."""

from __future__ import annotations

from datetime import timedelta

from engine.analytics.drivers import DriverAnalyser
from engine.analytics.edits import DriverEditor
from engine.analytics.snapshot import FactsCache
from tests.engine.analytics.fakes import AxisClusterer
from tests.engine.analytics.test_analyse import MODEL, T0, analysis, fill, save_call
from tests.store_fixtures import pg_database, pg_url, store, store_url

__all__ = ["pg_database", "pg_url", "store", "store_url"]


def test_snapshot_is_kept_until_the_store_changes(store):
    fill(store)
    cache = FactsCache(store)
    before = cache.get()
    assert cache.get() is before and len(before.calls) == len(store.call_ids())
    assert all(c.driver_id is None for c in before.calls)

    analysis(store).run()  # drivers, repeat links and alerts appear
    analysed = cache.get()
    assert analysed is not before and analysed.links and analysed.alerts
    assert all(c.driver_id is not None for c in analysed.calls)
    assert cache.get() is analysed

    run = store.start_run("b", {})
    save_call(store, run, "late", 1, T0 + timedelta(days=6), "+44 20 7946 9999")
    grown = cache.get()
    assert len(grown.calls) == len(analysed.calls) + 1

    save_call(store, run, "late", 2, T0 + timedelta(days=6), "+44 20 7946 9999")  # replaced
    assert cache.get() is not grown and len(cache.get().calls) == len(grown.calls)

    analysis(store).run()
    settled = cache.get()
    drivers = sorted(store.voc.drivers(["active"]), key=lambda d: d.id)
    DriverEditor(store, MODEL, DriverAnalyser(clusterer=AxisClusterer)).merge(
        drivers[0].id, [drivers[1].id]
    )
    merged = cache.get()
    assert merged is not settled
    assert drivers[1].id not in {c.driver_id for c in merged.calls}
