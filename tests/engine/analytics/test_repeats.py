"""Repeat contacts: customer normalisation, the window, transfers, drivers, vectors, FCR."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from engine.analytics.repeats import (
    FcrFigure,
    RepeatFinder,
    RepeatOptions,
    first_contact_resolution,
    normalise_customer,
)
from engine.errors import ConfigError
from engine.types import CallFacts

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
ANI = "+44 20 7946 0881"


def call(
    call_id: str,
    days: float,
    driver: int | None = 1,
    customer: str | None = ANI,
    agent: str = "AG1",
    queue: str = "CARDS",
    vector: list[float] | None = None,
    duration: float = 300.0,
) -> CallFacts:
    return CallFacts(
        call_id=call_id,
        started_at=T0 + timedelta(days=days),
        duration=duration,
        customer_id=customer,
        agent_id=agent,
        queue=queue,
        driver_id=driver,
        reason_vector=None if vector is None else np.asarray(vector, dtype=np.float32),
    )


def pairs(calls: list[CallFacts], options: RepeatOptions | None = None) -> set[tuple[str, str]]:
    return {(link.call_id, link.earlier_call_id) for link in RepeatFinder(options).find(calls)}


@pytest.mark.parametrize("raw", ["+44 20 7946 0881", "020 7946 0881", "0044 20 7946 0881"])
def test_phone_numbers_normalise_to_e164(raw: str) -> None:
    assert normalise_customer(raw, "GB") == "+442079460881"


def test_other_ids_are_casefolded_without_spaces() -> None:
    assert normalise_customer("  Cust 00A1 ", "GB") == "cust00a1"
    assert normalise_customer("CRM-12", "GB") == "crm-12"


@pytest.mark.parametrize("raw", [None, "", "   ", "Anonymous", "WITHHELD"])
def test_missing_or_withheld_ids_name_no_customer(raw: str | None) -> None:
    assert normalise_customer(raw, "GB") is None


def test_differently_written_numbers_are_one_customer() -> None:
    calls = [call("a", 0, customer="020 7946 0881"), call("b", 2, customer="0044 20 7946 0881")]
    assert pairs(calls) == {("b", "a")}


def test_withheld_callers_are_never_linked() -> None:
    calls = [call("a", 0, customer="anonymous"), call("b", 2, customer="anonymous")]
    assert pairs(calls) == set()


def test_window_edges() -> None:
    assert pairs([call("a", 0), call("b", 6.9)]) == {("b", "a")}
    assert pairs([call("a", 0), call("b", 7.1)]) == set()


def test_link_records_gap_driver_and_similarity() -> None:
    (link,) = RepeatFinder().find([call("a", 0, driver=4), call("b", 2.5, driver=4)])
    assert (link.call_id, link.earlier_call_id) == ("b", "a")
    assert link.gap_days == 2.5
    assert link.driver_id == 4
    assert link.similarity == 1.0


def test_transfer_minutes_apart_is_not_a_repeat() -> None:
    # a 5-minute call, then the same customer 10 minutes after it ended
    calls = [call("a", 0, duration=300), call("b", 15 / 1440, duration=300)]
    assert pairs(calls) == set()
    finder = RepeatFinder(RepeatOptions(transfer_minutes=5))
    assert {(x.call_id, x.earlier_call_id) for x in finder.find(calls)} == {("b", "a")}


def test_transfer_leg_does_not_repeat_an_older_call() -> None:
    calls = [call("a", 0), call("b", 3), call("c", 3 + 10 / 1440)]
    assert pairs(calls) == {("b", "a")}


def test_different_driver_is_not_a_repeat() -> None:
    assert pairs([call("a", 0, driver=1), call("b", 2, driver=2)]) == set()


def test_unknown_driver_without_vectors_is_not_a_repeat() -> None:
    assert pairs([call("a", 0, driver=None), call("b", 2, driver=None)]) == set()


def test_dissimilar_reasons_of_different_drivers_are_not_repeats() -> None:
    calls = [call("a", 0, driver=1, vector=[1, 0, 0]), call("b", 2, driver=2, vector=[0.6, 0.8, 0])]
    assert pairs(calls) == set()  # cosine 0.6 < 0.75


def test_semantically_similar_reason_with_another_driver_is_a_repeat() -> None:
    calls = [call("a", 0, driver=1, vector=[1, 0, 0]), call("b", 2, driver=2, vector=[0.9, 0.1, 0])]
    (link,) = RepeatFinder().find(calls)
    assert (link.call_id, link.earlier_call_id) == ("b", "a")
    assert link.similarity == pytest.approx(0.9939, abs=1e-4)


def test_same_driver_is_a_repeat_whatever_the_vectors() -> None:
    calls = [call("a", 0, driver=1, vector=[1, 0, 0]), call("b", 2, driver=1, vector=[0, 1, 0])]
    (link,) = RepeatFinder().find(calls)
    assert link.similarity == 0.0


def test_chain_links_to_the_latest_earlier_call() -> None:
    calls = [call("c", 4), call("a", 0), call("x", 3, driver=2), call("b", 2)]
    assert pairs(calls) == {("b", "a"), ("c", "b")}


def test_simultaneous_calls_do_not_link() -> None:
    assert pairs([call("a", 1), call("b", 1)]) == set()


def test_naive_and_aware_times_mix() -> None:
    naive = CallFacts("a", datetime(2026, 11, 16, 9), 60.0, ANI, "AG1", "Q", 1)
    assert pairs([naive, call("b", 1)]) == {("b", "a")}


def test_options_are_checked() -> None:
    with pytest.raises(ConfigError):
        RepeatOptions(window_days=0)
    with pytest.raises(ConfigError):
        RepeatOptions(transfer_minutes=-1)


def fcr_calls() -> list[CallFacts]:
    c1, c2 = "+44 113 496 0001", "+44 113 496 0002"
    return [
        call("a", 0, driver=1, agent="AG1", queue="CARDS", customer=c1),
        call("b", 2, driver=1, agent="AG2", queue="GENERAL", customer=c1),  # repeats a
        call("c", 0, driver=2, agent="AG1", queue="CARDS", customer=c2),
        call("d", 1, driver=1, agent="AG2", queue="CARDS", customer=c2),  # other driver: new
        call("e", 1 + 5 / 1440, driver=1, agent="AG3", queue="GENERAL", customer=c2),  # leg of d
        call("f", 3, driver=1, agent="AG1", queue="CARDS", customer=c2),  # repeats e (d's contact)
    ]


def test_first_contact_resolution_per_driver_agent_and_queue() -> None:
    calls = fcr_calls()
    links = RepeatFinder().find(calls)
    assert {(x.call_id, x.earlier_call_id) for x in links} == {("b", "a"), ("f", "e")}

    by_driver = first_contact_resolution(calls, links, lambda c: str(c.driver_id))
    # contacts: a (repeated), b, c, d+e (repeated through its leg e), f
    assert by_driver == {"1": FcrFigure(4, 2, 0.5), "2": FcrFigure(1, 1, 1.0)}

    by_agent = first_contact_resolution(calls, links, lambda c: c.agent_id)
    assert by_agent == {"AG1": FcrFigure(3, 2, 0.6667), "AG2": FcrFigure(2, 1, 0.5)}

    by_queue = first_contact_resolution(calls, links, lambda c: c.queue)
    assert by_queue == {"CARDS": FcrFigure(4, 2, 0.5), "GENERAL": FcrFigure(1, 1, 1.0)}


def test_fcr_leaves_out_unkeyed_and_still_open_contacts() -> None:
    calls = fcr_calls()
    links = RepeatFinder().find(calls)
    by_driver = first_contact_resolution(
        calls, links, lambda c: None if c.driver_id == 2 else "x", as_of=T0 + timedelta(days=8.5)
    )
    # only contacts started by day 1.5 are settled: a (repeated) and d (repeated)
    assert by_driver == {"x": FcrFigure(2, 0, 0.0)}


def test_links_beyond_the_window_do_not_unresolve() -> None:
    calls = [call("a", 0), call("b", 9)]
    links = RepeatFinder(RepeatOptions(window_days=10)).find(calls)
    assert len(links) == 1
    assert first_contact_resolution(calls, links, lambda c: "all") == {"all": FcrFigure(2, 2, 1.0)}


def test_a_semantically_similar_driver_makes_a_repeat() -> None:
    calls = [call("a", 0, driver=1), call("b", 2, driver=2), call("c", 4, driver=3)]
    unit = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    near = np.array([0.7, 0.714, 0.0], dtype=np.float32)  # cosine 0.70 to unit
    far = np.array([0.5, 0.0, 0.866], dtype=np.float32)  # cosine 0.50
    finder = RepeatFinder(driver_centroids={1: unit, 2: near, 3: far})
    links = finder.find(calls)
    assert [(x.call_id, x.earlier_call_id) for x in links] == [("b", "a")]
    assert links[0].similarity == pytest.approx(0.7, abs=0.01)
    assert pairs(calls) == set()  # without centroids, different drivers are different


def test_callback_phrases_link_across_drivers_unless_it_is_something_else() -> None:
    from dataclasses import replace

    from engine.analytics.repeats import mentions_earlier_contact

    assert mentions_earlier_contact("Hi, I called about this before.")
    assert mentions_earlier_contact("This is my second call about this")
    assert not mentions_earlier_contact("I rang recently, but this is a different thing.")
    assert not mentions_earlier_contact("I want to close my account before I move")
    earlier = call("a", 0, driver=1, vector=[1.0, 0.0, 0.0])
    other = call("b", 1, driver=2, vector=[0.0, 1.0, 0.0])
    vector = [0.6, 0.2, 0.775]  # cosine 0.6 to a, 0.2 to b: below the 0.75 of a repeat
    back = replace(call("c", 3, driver=3, vector=vector), mentions_earlier_contact=True)
    assert pairs([earlier, other, back]) == {("c", "a")}  # the most similar earlier call
    off = RepeatOptions(callback_phrases=False)
    assert pairs([earlier, other, back], off) == set()
