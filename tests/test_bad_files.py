"""tests.bad_files: every case of the bad-file matrix gets the outcome it promises."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.archive import discover
from engine.audio import decode, probe
from engine.config import AudioOptions
from engine.errors import AudioError, AudioProblem
from tests.bad_files import (
    MAX_DURATION_S,
    UNICODE_NAME,
    BadFile,
    decode_outcome,
    expected_by_name,
    outcome_as_nobody,
    traversable_tmpdir,
    write_bad_files,
)

CASES = {
    "empty": AudioProblem.EMPTY,
    "zero_duration": AudioProblem.ZERO_DURATION,
    "truncated": AudioProblem.PARTIAL_DECODE,
    "corrupt": AudioProblem.CORRUPT,
    "not_audio": AudioProblem.NOT_AUDIO,
    "video_only": AudioProblem.NO_AUDIO_STREAM,
    "too_long": AudioProblem.TOO_LONG,
    "unicode_name": None,
    "unreadable": AudioProblem.UNREADABLE if os.geteuid() != 0 else None,
}


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BadFile]:
    return write_bad_files(tmp_path_factory.mktemp("bad") / "night")


def test_matrix_covers_every_case(matrix: dict[str, BadFile]) -> None:
    assert set(matrix) == set(CASES)
    assert len({f.path.name for f in matrix.values()}) == len(matrix)
    assert len({f.call_id for f in matrix.values()}) == len(matrix)  # stems are distinct
    assert {f.max_duration_s for f in matrix.values()} == {MAX_DURATION_S}
    assert all(f.path.exists() and f.note for f in matrix.values())


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_file_gets_its_expected_outcome(matrix: dict[str, BadFile], case: str) -> None:
    bad = matrix[case]
    assert bad.problem is CASES[case]
    outcome = decode_outcome(bad.path, bad.options())
    assert bad.accepts(outcome), f"{case}: expected {set(bad.expected)}, got {outcome}"
    assert outcome is CASES[case]
    if outcome is not None:
        with pytest.raises(AudioError) as caught:
            decode(bad.path, bad.options())
        assert caught.value.path == str(bad.path)


def test_only_the_long_file_depends_on_the_limit(matrix: dict[str, BadFile]) -> None:
    relaxed = AudioOptions(max_duration_s=MAX_DURATION_S + 10)
    assert decode_outcome(matrix["too_long"].path, relaxed) is None
    for case, bad in matrix.items():
        if case != "too_long":
            assert decode_outcome(bad.path, relaxed) is CASES[case], case


def test_truncated_header_states_more_than_the_file_holds(matrix: dict[str, BadFile]) -> None:
    assert probe(matrix["truncated"].path).duration == 1.8


def test_good_unicode_file(matrix: dict[str, BadFile]) -> None:
    bad = matrix["unicode_name"]
    assert bad.good and bad.path.name == UNICODE_NAME
    assert bad.accepts(None) and not bad.accepts(AudioProblem.CORRUPT)


def test_unreadable_depends_on_the_user(matrix: dict[str, BadFile]) -> None:
    bad = matrix["unreadable"]
    assert bad.unprivileged == frozenset({AudioProblem.UNREADABLE})
    assert bad.accepts_unprivileged("unreadable")
    assert bad.good is (os.geteuid() == 0)
    assert bad.path.stat().st_mode & 0o777 == 0


def test_expected_by_name(matrix: dict[str, BadFile]) -> None:
    names = expected_by_name(matrix)
    assert UNICODE_NAME not in names
    assert names["too-long.wav"] == frozenset({"too_long"})
    assert ("unreadable.wav" in names) is (os.geteuid() != 0)


def test_discovery_finds_every_file(matrix: dict[str, BadFile]) -> None:
    """The batch sees the whole matrix (no calls.csv: metadata derived from the names)."""
    folder = next(iter(matrix.values())).path.parent
    found = discover(folder.parent)
    assert sorted(c.call_id for c in found.calls) == sorted(f.call_id for f in matrix.values())
    assert all(c.derived == ("call_id", "started_at") for c in found.calls)


def test_outcomes_as_nobody() -> None:
    """A real EACCES for the locked file, and the good file decodes as nobody too (so the
    folders are traversable and UNREADABLE is about the file mode)."""
    with traversable_tmpdir() as tmp:
        files = write_bad_files(tmp / "night")
        for case in ("unreadable", "unicode_name", "truncated"):
            bad = files[case]
            outcome = outcome_as_nobody(bad.path, bad.options())
            assert bad.accepts_unprivileged(outcome), f"{case}: got {outcome}"
        assert outcome_as_nobody(files["unreadable"].path, AudioOptions()) is (
            AudioProblem.UNREADABLE
        )


def test_problem_is_ambiguous_for_several(tmp_path: Path) -> None:
    bad = BadFile(
        tmp_path / "x.mp3", frozenset({AudioProblem.CORRUPT, AudioProblem.PARTIAL_DECODE})
    )
    assert bad.accepts(AudioProblem.PARTIAL_DECODE) and not bad.accepts(None)
    with pytest.raises(ValueError, match="several"):
        _ = bad.problem
