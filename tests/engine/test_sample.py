from datetime import UTC, datetime

from engine.archive import discover
from engine.audio import probe
from engine.sample import PlannedCall, make_archive, write_night
from engine.types import Role


def _planned(n: int, stereo: bool) -> PlannedCall:
    return PlannedCall(
        call_id=f"c{n}",
        started_at=datetime(2026, 10, 1, 9, n, tzinfo=UTC),
        customer_id="+44 7700 900123",
        agent_id="AG1",
        queue="CARDS_EN",
        stereo=stereo,
        script=((Role.AGENT, "Hello, how can I help?"), (Role.CUSTOMER, "My card is lost.")),
        seed=n,
    )


def test_a_written_night_is_discovered_with_its_metadata(tmp_path, espeak):
    written = write_night(tmp_path / "2026-10-01", [_planned(0, True), _planned(1, False)])

    found = discover(tmp_path)
    assert [c.call_id for c in found.calls] == ["c0", "c1"]
    assert not found.problems
    assert found.calls[0].customer_id == "+44 7700 900123"
    assert found.calls[0].channel_layout.startswith("stereo")
    assert found.calls[1].channel_layout == "mono"
    assert [probe(p).channels for p in written] == [2, 1]


def test_make_archive_rotates_customers_over_nights(tmp_path, espeak):
    written = make_archive(tmp_path, nights=2, calls_per_night=2)

    found = discover(tmp_path)
    assert len(written) == len(found.calls) == 4
    assert {c.night for c in found.calls} == {"2026-11-16", "2026-11-17"}
    assert len({c.customer_id for c in found.calls}) == 4
