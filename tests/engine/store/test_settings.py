"""Store-wide settings (migration 0004), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from engine.store.repo import StoreError
from tests.store_fixtures import make_call, make_meta


def test_a_new_store_redacts_pii(store):
    assert store.setting("redact_pii") == "on"
    assert store.setting("no_such_key") is None
    assert store.setting("no_such_key", "x") == "x"


def test_settings_change_and_refuse_unknown_keys_and_values(store):
    store.set_setting("redact_pii", "off")
    assert store.setting("redact_pii") == "off"
    store.set_setting("redact_pii", "on")
    assert store.setting("redact_pii") == "on"
    with pytest.raises(StoreError, match="unknown store setting 'colour'"):
        store.set_setting("colour", "blue")
    with pytest.raises(StoreError, match="takes on, off, not 'maybe'"):
        store.set_setting("redact_pii", "maybe")
    assert store.setting("redact_pii") == "on"


def _downgrade_and_upgrade(url: str) -> None:
    from alembic import command

    from engine.store.connect import alembic_config

    command.downgrade(alembic_config(url), "0003")
    command.upgrade(alembic_config(url), "head")


def test_a_store_that_held_calls_before_settings_keeps_redaction_off(store_url):
    from engine.store.repo import Store

    with Store.open(store_url) as store:
        store.save_call(store.start_run("a", {}), make_meta("c1"), "h", make_call("c1"))
    _downgrade_and_upgrade(store_url)
    with Store.open(store_url) as store:
        assert store.call_ids() == ["c1"]
        assert store.setting("redact_pii") == "off"


def test_an_empty_store_migrated_to_settings_redacts(store_url):
    from engine.store.repo import Store

    Store.open(store_url).close()
    _downgrade_and_upgrade(store_url)
    with Store.open(store_url) as store:
        assert store.setting("redact_pii") == "on"
