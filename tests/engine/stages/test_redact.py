from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from engine.errors import ConfigError
from engine.stages.attribute import utterance_text
from engine.stages.redact import (
    PiiRedactor,
    RedactionCounts,
    RedactOptions,
    luhn_valid,
)
from engine.types import Role, Utterance, Word
from tests.store_fixtures import make_call

REDACTOR = PiiRedactor()


def redact(text: str, options: RedactOptions | None = None) -> str:
    return (PiiRedactor(options) if options else REDACTOR).redact_text(text)[0]


def words_of(text: str, start: float = 0.0, step: float = 0.25) -> tuple[Word, ...]:
    """Whisper-like words, one per space-separated piece, ``step`` seconds each."""
    return tuple(
        Word(f" {piece}", start + i * step, start + (i + 1) * step - 0.05, 0.9 - i / 100)
        for i, piece in enumerate(text.split())
    )


@pytest.mark.parametrize(
    ("digits", "valid"),
    [
        ("4111111111111111", True),  # Visa test number
        ("5555555555554444", True),  # Mastercard test number
        ("378282246310005", True),  # Amex test number (15 digits)
        ("4111111111111112", False),
        ("1234567812345678", False),
        ("79927398713", True),  # the Luhn example
        ("", False),
        ("4111-1111", False),
    ],
)
def test_luhn(digits: str, valid: bool) -> None:
    assert luhn_valid(digits) is valid


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # cards: written with spaces, dashes or none, and spoken; Luhn decides CARD
        ("my card is 4111 1111 1111 1111 thanks", "my card is [CARD] thanks"),
        ("my card is 4111-1111-1111-1111.", "my card is [CARD]."),
        ("number 5555555555554444", "number [CARD]"),
        ("amex 3782 822463 10005 ok", "amex [CARD] ok"),
        ("it's four one one one one one one one one one one one one one one one", "it's [CARD]"),
        ("four one one one, one one one one, one one one one, one one one one", "[CARD]"),
        ("4111 one one one one 1111 one one one one", "[CARD]"),
        ("card 4111 1111 1111 1111 0925", "card [CARD]"),
        # card-like but failing Luhn: still a digit run
        ("card 4111 1111 1111 1112 ok", "card [DIGITS] ok"),
        ("four one one one one one one one one one one one one one one two", "[DIGITS]"),
        # phones: written (national and international) and spoken
        ("call me on 202 555 0143", "call me on [PHONE]"),
        ("call me on (202) 555-0143 please", "call me on [PHONE] please"),
        ("it's 2025550143.", "it's [PHONE]."),
        ("it's +44 20 7946 0018", "it's [PHONE]"),
        ("Call 911 or +1 415 555 2671", "Call 911 or [PHONE]"),
        ("my number is two oh two five five five oh one four three", "my number is [PHONE]"),
        ("two oh two, five five five, oh one four three", "[PHONE]"),
        ("it's plus four four two oh seven nine four six oh oh one eight", "it's [PHONE]"),
        ("one eight hundred five five five oh one nine nine", "[PHONE]"),
        # e-mail: written and spoken
        ("email john.smith@gmail.com please", "email [EMAIL] please"),
        ("mail me: john@gmail.com.", "mail me: [EMAIL]."),
        ("it's john dot smith at gmail dot com", "it's [EMAIL]"),
        ("it's jane underscore doe at yahoo dot co dot uk.", "it's [EMAIL]."),
        ("my email is J-O-H-N at gmail.com", "my email is [EMAIL]"),
        ("email me at john dot smith at gmail dot com", "email me at [EMAIL]"),
        # spoken digit runs (PINs, account numbers, "last four")
        ("my pin is one two three four", "my pin is [DIGITS]"),
        ("my pin is double five one two", "my pin is [DIGITS]"),
        ("oh seven seven double oh nine", "[DIGITS]"),
        ("the card ends in four two one seven.", "the card ends in [DIGITS]."),
        ("one-two-three-four", "[DIGITS]"),
        ("reference 1-2-3-4", "reference [DIGITS]"),
        ("ends in 4 2 1 7", "ends in [DIGITS]"),
        ("Yeah, one, two, three, four.", "Yeah, [DIGITS]."),
        ("Oh, one two three four", "Oh, [DIGITS]"),
        ("it's forty one eleven twenty two", "it's [DIGITS]"),
        # written numbers: long ones, or short ones after a cue word
        ("account number 12345678", "account number [DIGITS]"),
        ("the card ends in 4217.", "the card ends in [DIGITS]."),
        ("my pin is 1234", "my pin is [DIGITS]"),
        ("the code is 90210", "the code is [DIGITS]"),
    ],
)
def test_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "That's $25.99 for 2 or 3 days",
        "it costs 25.99 a month",
        "back in 2024 at 3:30",
        "I've called five times in 2023, 2024",
        "on November 24, 2024",
        "on 12/05/2024 at 10:30",
        "due 2024-11-24 or 24-11-2024",
        "it costs 1,250,000 dollars",
        "that's one hundred fifty dollars",
        "it was twenty five ninety nine dollars",
        "one moment please",
        "two or three days",
        "one two three",  # three digits: shorter than a PIN
        "nine one one",
        "nineteen ninety nine",
        "twenty twenty four",
        "twelve thirty",
        "three thirty",
        "Oh, one moment",
        "Oh, oh, oh",
        "version 2.0.1 is out",
        "50% off",
        "order 5000 units",
        "I bought it at amazon dot com",
        "look at the website dot com",
        "we're at the end, dot com bubble",
        "Thank you for calling, how can I help?",
        "it's 1234 in total",  # a written four-digit number without a cue word
    ],
)
def test_ordinary_speech_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_counts_per_kind() -> None:
    text, counts = REDACTOR.redact_text(
        "card 4111 1111 1111 1111, phone 202 555 0143, mail a@b.com, pin one two three four"
    )
    assert text == "card [CARD], phone [PHONE], mail [EMAIL], pin [DIGITS]"
    assert counts == RedactionCounts(cards=1, phones=1, emails=1, digits=1)
    assert counts.total == 4
    assert str(counts) == "1 card, 1 phone, 1 e-mail, 1 digit-run spans"
    assert REDACTOR.redact_text("hello")[1] == RedactionCounts()


def test_kinds_can_be_switched_off() -> None:
    text = "card 4111 1111 1111 1111, mail a@b.com, pin one two three four"
    only_mail = RedactOptions(cards=False, phones=False, digits=False)
    assert (
        redact(text, only_mail) == "card 4111 1111 1111 1111, mail [EMAIL], pin one two three four"
    )
    no_cards = RedactOptions(cards=False)
    # with cards off a card number is still a long run of digits
    assert redact(text, no_cards) == "card [DIGITS], mail [EMAIL], pin [DIGITS]"


def test_min_digits_and_region_options() -> None:
    assert redact("pin one two three", RedactOptions(min_digits=3)) == "pin [DIGITS]"
    assert redact("pin one two three four", RedactOptions(min_digits=5)) == "pin one two three four"
    uk = RedactOptions(phone_region="gb", digits=False)
    assert uk.phone_region == "GB"
    assert redact("ring 020 7946 0018", uk) == "ring [PHONE]"
    assert redact("ring 020 7946 0018", RedactOptions(digits=False)) == "ring 020 7946 0018"
    international = RedactOptions(phone_region=None, digits=False)
    assert redact("ring +44 20 7946 0018", international) == "ring [PHONE]"
    assert redact("ring 202 555 0143", international) == "ring 202 555 0143"


@pytest.mark.parametrize(
    "options",
    [
        {"min_digits": 1},
        {"min_digits": 8, "min_written_digits": 6},
        {"phone_region": "XX"},
    ],
)
def test_bad_options_are_config_errors(options: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        RedactOptions(**options)  # type: ignore[arg-type]


def test_words_keep_their_times() -> None:
    words = words_of("My card is 4111 1111 1111 1111. Thanks")
    out, counts = REDACTOR.redact_words(words)
    assert counts.cards == 1
    assert [w.text for w in out] == [" My", " card", " is", " [CARD].", " Thanks"]
    placeholder = out[3]
    # from the first card word's start to the last one's end, lowest probability of them
    assert (placeholder.start, placeholder.end) == (words[3].start, words[6].end)
    assert placeholder.probability == min(w.probability for w in words[3:7])
    assert out[:3] == words[:3] and out[4] == words[7]


def test_spoken_digits_over_words() -> None:
    words = words_of("my pin is one two three four okay", start=10.0)
    out, counts = REDACTOR.redact_words(words)
    assert counts == RedactionCounts(digits=1)
    assert utterance_text(out) == "my pin is [DIGITS] okay"
    assert (out[3].start, out[3].end) == (words[3].start, words[6].end)
    assert out[-1] == words[-1]


def test_span_inside_one_word_keeps_the_rest_of_it() -> None:
    words = (Word(" mail:john@gmail.com,", 1.0, 2.0), Word(" thanks", 2.0, 2.5))
    out, _ = REDACTOR.redact_words(words)
    assert [w.text for w in out] == [" mail:[EMAIL],", " thanks"]
    assert (out[0].start, out[0].end) == (1.0, 2.0)


def test_two_spans_in_neighbouring_words() -> None:
    words = words_of("202-555-0143 or a@b.com")
    out, counts = REDACTOR.redact_words(words)
    assert utterance_text(out) == "[PHONE] or [EMAIL]"
    assert counts == RedactionCounts(phones=1, emails=1)


def test_words_without_leading_spaces() -> None:
    words = tuple(Word(t, i, i + 0.5) for i, t in enumerate(["pin", "one", "two", "three", "four"]))
    out, counts = REDACTOR.redact_words(words)
    assert counts.digits == 1
    assert [w.text for w in out] == ["pin", "[DIGITS]"]


def test_call_is_redacted_in_utterances_and_words(caplog: pytest.LogCaptureFixture) -> None:
    base = make_call("c1")
    agent = words_of("can I take your card number")
    customer = tuple(
        Word(w.text, w.start + 2, w.end + 2, w.probability, channel=1)
        for w in words_of("sure it's 4111 1111 1111 1111 and my pin is one two three four")
    )
    utterances = (
        Utterance("S0", Role.AGENT, 0.0, 1.5, utterance_text(agent), agent),
        Utterance("S1", Role.CUSTOMER, 2.0, 6.0, utterance_text(customer), customer),
        Utterance("S1", Role.CUSTOMER, 7.0, 8.0, "mail me at a@b.com"),  # no words
    )
    stray = Word(" 202-555-0143", 9.0, 10.0, channel=1)  # a word in no utterance
    call = replace(base, utterances=utterances, words=(*agent, *customer, stray))
    with caplog.at_level(logging.INFO, logger="engine.stages.redact"):
        result = REDACTOR(call)
    assert result.counts == RedactionCounts(cards=1, phones=1, emails=1, digits=1)
    redacted = result.call
    assert redacted.utterances[0] is utterances[0]
    assert redacted.utterances[1].text == "sure it's [CARD] and my pin is [DIGITS]"
    assert redacted.utterances[2].text == "mail me at [EMAIL]"
    texts = [w.text for w in redacted.words]
    assert texts == [w.text for w in agent] + [w.text for w in redacted.utterances[1].words] + [
        " [PHONE]"
    ]
    assert not any(ch.isdigit() for t in texts for ch in t)
    # the rest of the call is untouched
    assert (redacted.speakers, redacted.turns, redacted.audio) == (
        call.speakers,
        call.turns,
        call.audio,
    )
    # the log says how many, never what
    assert "c1: redacted 1 card, 1 phone, 1 e-mail, 1 digit-run spans" in caplog.text
    assert "4111" not in caplog.text and "a@b.com" not in caplog.text


def test_call_without_pii_is_returned_as_it_is() -> None:
    call = make_call("c2")
    result = REDACTOR(call)
    assert result.call is call and result.counts.total == 0


def test_long_text_is_fast() -> None:
    import time

    text = " ".join(["hello I'd like one two three and 4 5 and john at x dot com"] * 200)
    started = time.perf_counter()
    REDACTOR.redact_text(text)
    assert time.perf_counter() - started < 2.0
