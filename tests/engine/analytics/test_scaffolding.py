"""Scaffolding learnt from the calls: spread over every driver, at the end, or identity."""

from __future__ import annotations

import numpy as np
import pytest

from engine.analytics.scaffolding import ScaffoldDetector, ScaffoldOptions
from engine.errors import ConfigError
from tests.engine.analytics.fakes import AxisClusterer, axis_vector

DIM = 16


def archive(drivers: dict[int, int], extra: list[tuple[int, float, str]]):
    """drivers: axis -> calls stating it first; extra: (axis, position, text) said in every
    call after its reason. Rows: calls, vectors, texts, positions, is-reason truth."""
    calls, vectors, texts, positions, truth = [], [], [], [], []
    n = 0
    for axis, count in drivers.items():
        for _ in range(count):
            call_id = f"c{n}"
            n += 1
            calls.append(call_id)
            vectors.append(axis_vector(axis, DIM, wobble=0.02 * (n % 3)))
            texts.append(f"problem {axis}")
            positions.append(0.0)
            truth.append(True)
            for ax, position, text in extra:
                calls.append(call_id)
                vectors.append(axis_vector(ax, DIM, wobble=0.02 * (n % 2)))
                texts.append(text)
                positions.append(position)
                truth.append(False)
    return calls, np.stack(vectors), texts, np.array(positions), np.array(truth)


def detector(**options) -> ScaffoldDetector:
    return ScaffoldDetector(ScaffoldOptions(**options), clusterer=lambda: AxisClusterer(cos=0.7))


def test_spread_closing_and_identity_clusters_are_removed_and_reasons_kept():
    calls, X, texts, positions, truth = archive(
        {0: 6, 1: 6, 2: 6, 3: 6, 4: 6, 5: 6, 6: 6, 7: 6},
        [(12, 0.5, "hold on let me look"), (13, 1.0, "cheers take care now")],
    )
    # identity checks in a third of the calls only, but with placeholders
    rows = [i for i, t in enumerate(texts) if t == "hold on let me look"][::3]
    for i in rows:
        X[i] = axis_vector(14, DIM)
        texts[i] = "yeah [NAME] ends with [DIGITS]"
    flags, report = detector(min_call_share=0.5).detect(
        calls, X, texts, positions, np.ones(len(calls), dtype=bool)
    )
    assert np.array_equal(flags, truth)
    why = {c.exemplar: c.why for c in report.clusters}
    assert why["hold on let me look"] == "spread"
    assert why["cheers take care now"] == "closing"
    assert why["yeah [NAME] ends with [DIGITS]"] == "identity"
    assert all(why[f"problem {a}"] == "" for a in range(8))
    assert report.data_removed == int((~truth).sum()) and report.prior_removed == 0
    assert "by the data" in report.summary()


def test_a_common_driver_is_a_reason_however_many_calls_it_covers():
    # axis 0 is stated in 40% of the calls: concentrated on one driver, so not scaffolding
    calls, X, texts, positions, truth = archive(
        {0: 20, 1: 5, 2: 5, 3: 5, 4: 5, 5: 5, 6: 5}, [(13, 1.0, "thanks bye")]
    )
    flags, report = detector().detect(calls, X, texts, positions, np.ones(len(calls), bool))
    assert np.array_equal(flags, truth)
    big = next(c for c in report.clusters if c.exemplar == "problem 0")
    assert big.calls == 20 and big.why == "" and big.p_value < 0.05


def test_the_prior_is_respected_and_every_call_keeps_a_reason():
    calls, X, texts, positions, _ = archive({0: 5, 1: 5, 2: 5, 3: 5}, [(13, 1.0, "bye")])
    prior = np.ones(len(calls), dtype=bool)
    prior[0] = False  # the cues said the first call's reason is not one
    flags, report = detector().detect(calls, X, texts, positions, prior)
    assert not flags[0]
    assert report.prior_removed == 1
    # the first call lost its reason to the cues and its closing to the data: it keeps one
    first_call = [i for i, c in enumerate(calls) if c == calls[0]]
    assert flags[first_call].sum() == 1


def test_disabled_detector_returns_the_prior():
    calls, X, texts, positions, _ = archive({0: 3, 1: 3}, [(13, 1.0, "bye")])
    prior = np.ones(len(calls), dtype=bool)
    flags, report = detector(enabled=False).detect(calls, X, texts, positions, prior)
    assert flags.all() and report.data_removed == 0


def test_bad_options_are_refused():
    with pytest.raises(ConfigError):
        ScaffoldOptions(alpha=0)
    with pytest.raises(ConfigError):
        ScaffoldOptions(min_calls=1)
