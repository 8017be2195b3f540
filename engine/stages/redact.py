"""PII redaction: card numbers, phone numbers, e-mail addresses and spoken digit sequences in a
call's transcript are replaced by placeholders before anything is computed from the text or
stored (``[CARD]``, ``[PHONE]``, ``[EMAIL]``, ``[DIGITS]``).

Method
------
1. Per utterance the words' texts (whitespace collapsed) are joined with single spaces into a
   detection text, remembering each word's character span. (An utterance without words is
   redacted as text.)
2. Digit runs are read from that text: items are written digit groups ("4111", "555") and
   number words ("zero", "oh", "one" .. "nine", "ten" .. "nineteen", "twenty" .. "ninety" with
   an optional unit, "double five", "triple seven", "X hundred" inside a run, as in "one eight
   hundred"). Items join over whitespace or a hyphen; over ", " or ". " only between single
   digits ("five five five, one two three", "1, 2, 3, 4"). A written group attached to
   ``$ £ € %``, a letter, or to another group by ``. , : /`` (amounts "$25.99", "1,250", times
   "3:30", dates "12/05") is no item, so it neither starts nor joins a run. A run does not start
   with "oh" followed by punctuation: that is an interjection ("Oh, one moment").
3. Candidates, in this priority:

   - ``[EMAIL]``: written (``a.b@c.com``) or spoken ("john dot smith at gmail dot com", with
     "dot"/"period"/"point", "underscore", "dash"/"hyphen", "at", and a known top-level
     domain at the end). A one-word local part that is an ordinary word ("bought it at amazon
     dot com") is not taken for an address.
   - ``[CARD]``: 13 to 19 digits of a run (whole groups, so "4111 1111 1111 1111 0925" finds the
     card before the expiry) that pass the Luhn check.
   - ``[PHONE]``: what ``phonenumbers``' matcher finds valid (leniency VALID) for
     ``phone_region`` in the text with spoken runs written as digits ("plus four four ..." as
     "+44..."); without a region only numbers with a country code ("+44 20 ...") are found.
   - ``[DIGITS]``: a run read digit by digit (any number word in it, or written single digits
     "1-2-3-4") of at least ``min_digits`` digits, unless it is one or two two-digit words,
     which is how years and times are said ("nineteen ninety nine", "twenty twenty four",
     "twelve thirty"); or a written run of at least ``min_written_digits`` digits; or a written
     run of ``min_digits`` or more after a word such as "pin", "code", "account", "card" or
     "digits" at most four words before it ("the card ends in 4217"). A run followed by a
     currency word ("dollars", "pounds", "percent", ...) is an amount, and a written date
     ("2024-11-24", "24-11-2024") a date: neither is ``[DIGITS]``.

   Overlapping candidates merge into one span of the highest-priority kind (a phone number
   inside a longer digit run hides the whole run). Counts are of these merged spans.
4. The words a span overlaps become one placeholder word from the first word's start to the
   last word's end (probability: the lowest of them, channel: the first's). Text of those words
   outside the span is kept ("card:" before it, "." after it). The utterance's text is rebuilt
   from its words (the Attributor's rule); the call's word list gets the same replacements.

Not caught: four- or five-digit numbers written as digits without a cue word (Whisper writes
years and amounts that way, so "1234" alone is left), numbers spelled in thousands ("two
thousand"), e-mail addresses spelled letter by letter with spaces, names and street addresses.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum

import phonenumbers

from engine.errors import ConfigError
from engine.stages.attribute import utterance_text
from engine.types import CallAnalysis, Utterance, Word

__all__ = [
    "PiiKind",
    "PiiRedactor",
    "RedactOptions",
    "RedactedCall",
    "RedactionCounts",
    "luhn_valid",
]

log = logging.getLogger(__name__)


class PiiKind(IntEnum):
    """What a redacted span held; the value is its priority when spans overlap (low wins)."""

    EMAIL = 0
    CARD = 1
    PHONE = 2
    DIGITS = 3

    @property
    def placeholder(self) -> str:
        return f"[{self.name}]"


@dataclass(frozen=True)
class RedactOptions:
    """What PII redaction looks for.

    cards / phones / emails / digits: which kinds are redacted (all by default).
    min_digits: a spoken run (read digit by digit) is ``[DIGITS]`` from this many digits
        (default 4: PINs and "last four digits" are four long, while three-digit runs are
        common in ordinary speech, "nine one one", "one two three"; "two or three" is never a
        run, the "or" breaks it).
    min_written_digits: a number written as digits is ``[DIGITS]`` from this many digits
        (default 6: Whisper writes years, amounts and counts as four- or five-digit numbers;
        account and reference numbers are longer). Shorter ones count after a cue word.
    phone_region: the region (ISO 3166 code, "US" by default, "GB" for the UK) whose national
        numbers are recognised without a country code; None finds only numbers with one.
    """

    cards: bool = True
    phones: bool = True
    emails: bool = True
    digits: bool = True
    min_digits: int = 4
    min_written_digits: int = 6
    phone_region: str | None = "US"

    def __post_init__(self) -> None:
        if self.min_digits < 2:
            raise ConfigError(f"min_digits must be >= 2, got {self.min_digits}")
        if self.min_written_digits < self.min_digits:
            raise ConfigError(
                f"min_written_digits ({self.min_written_digits}) must be >= min_digits "
                f"({self.min_digits})"
            )
        if self.phone_region is not None:
            region = self.phone_region.upper()
            if region not in phonenumbers.SUPPORTED_REGIONS:
                raise ConfigError(f"unknown phone region {self.phone_region!r} (e.g. US, GB)")
            object.__setattr__(self, "phone_region", region)


@dataclass(frozen=True)
class RedactionCounts:
    """How many spans of each kind were redacted (never what they held)."""

    cards: int = 0
    phones: int = 0
    emails: int = 0
    digits: int = 0

    @property
    def total(self) -> int:
        return self.cards + self.phones + self.emails + self.digits

    def __add__(self, other: RedactionCounts) -> RedactionCounts:
        return RedactionCounts(
            self.cards + other.cards,
            self.phones + other.phones,
            self.emails + other.emails,
            self.digits + other.digits,
        )

    @classmethod
    def of(cls, kinds: Iterable[PiiKind]) -> RedactionCounts:
        found = list(kinds)
        return cls(
            cards=found.count(PiiKind.CARD),
            phones=found.count(PiiKind.PHONE),
            emails=found.count(PiiKind.EMAIL),
            digits=found.count(PiiKind.DIGITS),
        )

    def __str__(self) -> str:
        return (
            f"{self.cards} card, {self.phones} phone, {self.emails} e-mail, "
            f"{self.digits} digit-run spans"
        )


@dataclass(frozen=True)
class RedactedCall:
    """A call with its PII redacted, and what was redacted."""

    call: CallAnalysis
    counts: RedactionCounts = field(default_factory=RedactionCounts)


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check that every payment card number passes."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# ---------------------------------------------------------------------------- vocabulary

_UNITS = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "nought": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
_ZERO_INTERJECTIONS = frozenset({"oh", "o"})
_TEENS = {
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "thirteen": "13",
    "fourteen": "14",
    "fifteen": "15",
    "sixteen": "16",
    "seventeen": "17",
    "eighteen": "18",
    "nineteen": "19",
}
_TENS = {
    "twenty": "2",
    "thirty": "3",
    "forty": "4",
    "fifty": "5",
    "sixty": "6",
    "seventy": "7",
    "eighty": "8",
    "ninety": "9",
}
_REPEATS = {"double": 2, "triple": 3}
_CURRENCY_WORDS = frozenset(
    {"dollar", "dollars", "pound", "pounds", "euro", "euros", "cent", "cents", "pence", "quid"}
    | {"bucks", "percent", "yen", "rupees", "p"}
)
_CUE_WORDS = frozenset(
    {"pin", "passcode", "password", "code", "cvv", "cvc", "csc", "account", "acct", "digits"}
    | {"card", "ssn", "iban", "routing", "sort", "passport", "licence", "license", "member"}
)
_CUE_WINDOW = 4  # words looked back for a cue word
_ATTACHING = frozenset(".,:/")
_CURRENCY_SIGNS = frozenset("$£€¥₹")
_JOINING_PUNCT = frozenset(",.-")

# A word of e-mail's local part that, alone, is an ordinary word before "at" ("look at ...").
_LOCAL_STOP = frozenset(
    {"it", "is", "me", "him", "her", "them", "us", "you", "that", "this", "there", "here"}
    | {"was", "be", "look", "looked", "bought", "buy", "ordered", "order", "shop", "shopped"}
    | {"went", "go", "log", "logged", "sign", "signed", "online", "website", "site", "page"}
    | {"account", "email", "mail", "address", "one", "all", "something", "anything", "stuff"}
    | {"everything", "them", "up", "in", "on", "out", "back", "again", "now", "then", "were"}
)
_TLDS = (
    "com|net|org|edu|gov|mil|info|biz|io|co|uk|us|ca|au|nz|ie|de|fr|es|it|nl|be|ch|at|se|no"
    "|dk|fi|pl|pt|in|jp|cn|br|mx|za|me|ai|app|dev|email|online|live|mail"
)
_TOKEN = re.compile(r"\d+|[^\W\d_]+(?:'[^\W\d_]+)*|\s+|.", re.S)
_WRITTEN_EMAIL = re.compile(
    r"(?<![\w.%+-])[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}(?![\w-])", re.I
)
_ATOM = r"[a-z0-9]+"
_DOT = r"(?:\s*\.\s*|\s+(?:dot|period|point)\s+)"
_LOCAL_JOIN = rf"(?:{_DOT}|\s*[_+-]\s*|\s+(?:underscore|dash|hyphen|plus)\s+)"
_SPOKEN_EMAIL = re.compile(
    rf"(?<![\w.@+-])(?P<local>{_ATOM}(?:{_LOCAL_JOIN}{_ATOM})*)(?:\s*@\s*|\s+at\s+)"
    rf"{_ATOM}(?:{_DOT}{_ATOM})*{_DOT}(?:{_TLDS})(?![\w@-])",
    re.I,
)


# ---------------------------------------------------------------------------- digit runs


@dataclass(frozen=True)
class _Token:
    kind: str  # "num", "word", "space", "punct"
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class _Item:
    """One digit item of a run: its digits and character span in the detection text."""

    digits: str
    start: int
    end: int
    spoken: bool
    pair: bool = False  # a two-digit number word ("nineteen", "forty two")
    oh: bool = False  # "oh"/"o" read as zero

    @property
    def single(self) -> bool:
        return not self.pair and (self.spoken or len(self.digits) == 1)


@dataclass(frozen=True)
class _Run:
    """Digit items joined into one run; ``groups`` split where the speaker or writer paused
    (punctuation, or a written group), as (digits, start, end)."""

    items: tuple[_Item, ...]
    groups: tuple[tuple[str, int, int], ...]
    plus_start: int | None = None  # where a "plus" before the run starts

    @property
    def start(self) -> int:
        return self.items[0].start

    @property
    def end(self) -> int:
        return self.items[-1].end

    @property
    def digits(self) -> str:
        return "".join(i.digits for i in self.items)

    @property
    def spoken(self) -> bool:
        return any(i.spoken for i in self.items)

    @property
    def read_digit_by_digit(self) -> bool:
        """Any number word in it, or written single digits ("1-2-3-4")."""
        return self.spoken or (len(self.items) > 1 and all(i.single for i in self.items))


def _tokens(text: str) -> list[_Token]:
    out = []
    for m in _TOKEN.finditer(text):
        t = m.group()
        if t[0].isdigit():
            kind = "num"
        elif t[0].isspace():
            kind = "space"
        elif t[0].isalpha():
            kind = "word"
        else:
            kind = "punct"
        out.append(_Token(kind, t, m.start(), m.end()))
    return out


def _attached(text: str, start: int, end: int) -> bool:
    """A written digit group glued to an amount sign, a letter or a decimal/time/date part."""
    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    if before and (before.isalpha() or before in _CURRENCY_SIGNS):
        return True
    if after and (after.isalpha() or after == "%"):
        return True
    if before in _ATTACHING and start > 1 and text[start - 2].isdigit():
        return True
    return after in _ATTACHING and end + 1 < len(text) and text[end + 1].isdigit()


class _RunReader:
    """Reads the digit runs of one detection text (see the module docstring, step 2)."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokens(text)

    def _word(self, i: int) -> str | None:
        if 0 <= i < len(self.tokens) and self.tokens[i].kind == "word":
            return self.tokens[i].text.lower()
        return None

    def _is(self, i: int, kind: str, text: str | None = None) -> bool:
        if not 0 <= i < len(self.tokens):
            return False
        t = self.tokens[i]
        return t.kind == kind and (text is None or t.text == text)

    def item_at(self, i: int) -> tuple[_Item, int] | None:
        """The digit item starting at token i and the index after it, or None."""
        tokens = self.tokens
        if i >= len(tokens):
            return None
        tok = tokens[i]
        if tok.kind == "num":
            if _attached(self.text, tok.start, tok.end):
                return None
            return _Item(tok.text, tok.start, tok.end, spoken=False), i + 1
        word = self._word(i)
        if word is None:
            return None
        if word in _UNITS:
            return _Item(
                _UNITS[word], tok.start, tok.end, True, oh=word in _ZERO_INTERJECTIONS
            ), i + 1
        if word in _TEENS:
            return _Item(_TEENS[word], tok.start, tok.end, True, pair=True), i + 1
        if word in _TENS:
            # "forty two", "forty-two"
            unit = self._word(i + 2)
            joined = self._is(i + 1, "space") or self._is(i + 1, "punct", "-")
            if joined and unit in _UNITS and _UNITS[unit] != "0":
                end = tokens[i + 2].end
                return _Item(_TENS[word] + _UNITS[unit], tok.start, end, True, pair=True), i + 3
            return _Item(_TENS[word] + "0", tok.start, tok.end, True, pair=True), i + 1
        if word in _REPEATS and self._is(i + 1, "space"):
            nxt = tokens[i + 2] if i + 2 < len(tokens) else None
            digit = None
            if nxt is not None and nxt.kind == "word" and nxt.text.lower() in _UNITS:
                digit = _UNITS[nxt.text.lower()]
            elif nxt is not None and nxt.kind == "num" and len(nxt.text) == 1:
                digit = nxt.text
            if digit is not None and nxt is not None:
                return _Item(digit * _REPEATS[word], tok.start, nxt.end, True), i + 3
        return None

    def _gap(self, i: int) -> tuple[int, str | None] | None:
        """The token index after a joining gap at i and its punctuation, or None."""
        tokens = self.tokens
        j = i
        punct: str | None = None
        while j < len(tokens) and tokens[j].kind in ("space", "punct"):
            if tokens[j].kind == "punct":
                if punct is not None or tokens[j].text not in _JOINING_PUNCT:
                    return None
                punct = tokens[j].text
            j += 1
        if j == i:
            return None
        if punct in (",", ".") and not self._is(j - 1, "space"):
            return None
        return j, punct

    def runs(self) -> list[_Run]:
        runs = []
        i = 0
        while i < len(self.tokens):
            found = self.item_at(i)
            if found is None:
                i += 1
                continue
            first_token = i
            first, i = found
            items = [first]
            breaks = [False]
            while True:
                gap = self._gap(i)
                if gap is None:
                    break
                j, punct = gap
                prev = items[-1]
                if (
                    len(items) > 1
                    and self._word(j) == "hundred"
                    and punct is None
                    and prev.spoken
                    and prev.single
                    and not prev.oh
                    and len(prev.digits) == 1
                ):
                    # "one eight hundred ...": hundred inside a run, never "five hundred dollars"
                    items[-1] = replace(prev, digits=prev.digits + "00", end=self.tokens[j].end)
                    i = j + 1
                    continue
                nxt = self.item_at(j)
                if nxt is None:
                    break
                item, after = nxt
                if punct in (",", ".") and not (prev.single and item.single):
                    break
                if punct is not None and prev.oh and len(items) == 1:
                    break  # "Oh, one moment": an interjection, not a zero
                items.append(item)
                breaks.append(punct is not None or not prev.spoken or not item.spoken)
                i = after
            if all(it.oh for it in items):
                continue
            runs.append(self._run(items, breaks, first_token))
        return runs

    def _run(self, items: list[_Item], breaks: list[bool], k: int) -> _Run:
        """The run of ``items`` (the first at token ``k``), grouped at ``breaks``."""
        groups: list[tuple[str, int, int]] = []
        for item, new_group in zip(items, breaks, strict=True):
            if new_group or not groups:
                groups.append((item.digits, item.start, item.end))
            else:
                digits, start, _ = groups[-1]
                groups[-1] = (digits + item.digits, start, item.end)
        plus_start = None
        if self._is(k - 1, "space") and self._word(k - 2) == "plus":
            plus_start = self.tokens[k - 2].start
        elif k >= 1 and self._is(k - 1, "punct", "+"):
            plus_start = self.tokens[k - 1].start
        return _Run(tuple(items), tuple(groups), plus_start)

    def words_before(self, pos: int, count: int) -> list[str]:
        """Up to ``count`` words (lower case) ending before character ``pos``."""
        found: list[str] = []
        for t in reversed(self.tokens):
            if t.end > pos or t.kind != "word":
                continue
            found.append(t.text.lower())
            if len(found) == count:
                break
        return found

    def word_after(self, pos: int) -> str | None:
        for t in self.tokens:
            if t.start < pos or t.kind == "space":
                continue
            return t.text.lower() if t.kind in ("word", "punct") else None
        return None


# ---------------------------------------------------------------------------- detection


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    kind: PiiKind


class _Detector:
    def __init__(self, options: RedactOptions):
        self.options = options

    def spans(self, text: str) -> list[_Span]:
        """The merged PII spans of ``text``, sorted and non-overlapping."""
        o = self.options
        found: list[_Span] = []
        if o.emails and ("@" in text or " at " in text.lower()):
            found += self._emails(text)
        reader = _RunReader(text)
        runs = reader.runs()
        if o.cards:
            found += [c for r in runs for c in self._cards(r)]
        if o.phones:
            found += self._phones(text, runs)
        if o.digits:
            found += [
                _Span(r.start, r.end, PiiKind.DIGITS) for r in runs if self._is_digits(r, reader)
            ]
        return _merge(found)

    def _emails(self, text: str) -> list[_Span]:
        out = [_Span(m.start(), m.end(), PiiKind.EMAIL) for m in _WRITTEN_EMAIL.finditer(text)]
        pos = 0
        while (m := _SPOKEN_EMAIL.search(text, pos)) is not None:
            local = m.group("local").lower()
            if local in _LOCAL_STOP:
                pos = m.start() + 1
                continue
            out.append(_Span(m.start(), m.end(), PiiKind.EMAIL))
            pos = m.end()
        return out

    @staticmethod
    def _cards(run: _Run) -> list[_Span]:
        out = []
        groups = run.groups
        for a in range(len(groups)):
            length = 0
            for b in range(a, len(groups)):
                length += len(groups[b][0])
                if length > 19:
                    break
                if length >= 13 and luhn_valid("".join(g[0] for g in groups[a : b + 1])):
                    out.append(_Span(groups[a][1], groups[b][2], PiiKind.CARD))
        return out

    def _phones(self, text: str, runs: list[_Run]) -> list[_Span]:
        """phonenumbers' matches in the text with spoken runs written as digits."""
        if sum(len(r.digits) for r in runs) < 7:
            return []
        pieces: list[str] = []
        lo: list[int] = []  # per character of the digit text: its span in ``text``
        hi: list[int] = []
        pos = 0
        for run in runs:
            if not run.spoken:
                continue
            start = run.plus_start if run.plus_start is not None else run.start
            for k in range(pos, start):
                pieces.append(text[k])
                lo.append(k)
                hi.append(k + 1)
            written = ("+" if run.plus_start is not None else "") + " ".join(
                g[0] for g in run.groups
            )
            pieces.append(written)
            lo += [start] * len(written)
            hi += [run.end] * len(written)
            pos = run.end
        for k in range(pos, len(text)):
            pieces.append(text[k])
            lo.append(k)
            hi.append(k + 1)
        digits_text = "".join(pieces)
        matcher = phonenumbers.PhoneNumberMatcher(
            digits_text, self.options.phone_region, leniency=phonenumbers.Leniency.VALID
        )
        return [_Span(lo[m.start], hi[m.end - 1], PiiKind.PHONE) for m in matcher]

    def _is_digits(self, run: _Run, reader: _RunReader) -> bool:
        o = self.options
        digits = run.digits
        if len(digits) < o.min_digits:
            return False
        if reader.word_after(run.end) in _CURRENCY_WORDS:
            return False
        if run.read_digit_by_digit:
            # "nineteen ninety nine", "twenty twenty four", "twelve thirty": years and times
            return not (len(run.items) <= 2 and all(i.pair for i in run.items))
        if _is_date(run):
            return False
        if len(digits) >= o.min_written_digits:
            return True
        return any(w in _CUE_WORDS for w in reader.words_before(run.start, _CUE_WINDOW))


def _is_date(run: _Run) -> bool:
    """A written run that reads as a date: 2024-11-24, 24-11-2024, 11-24-2024."""
    if len(run.groups) != 3:
        return False
    a, b, c = (g[0] for g in run.groups)
    if len(a) == 4 and len(b) <= 2 and len(c) <= 2:
        return 1 <= int(b) <= 12 and 1 <= int(c) <= 31
    if len(c) == 4 and len(a) <= 2 and len(b) <= 2:
        day_month = {int(a), int(b)}
        return min(day_month) >= 1 and max(day_month) <= 31 and min(day_month) <= 12
    return False


def _merge(spans: list[_Span]) -> list[_Span]:
    """Overlapping spans as one, of the highest-priority kind among them."""
    merged: list[_Span] = []
    for s in sorted(spans, key=lambda s: (s.start, s.end)):
        if merged and s.start < merged[-1].end:
            last = merged[-1]
            merged[-1] = _Span(last.start, max(last.end, s.end), min(last.kind, s.kind))
        else:
            merged.append(s)
    return merged


def _substitute(text: str, spans: Sequence[_Span], lo: int, hi: int) -> str:
    """``text[lo:hi]`` with each span (all inside it) replaced by its placeholder."""
    out = []
    pos = lo
    for s in spans:
        out.append(text[pos : s.start])
        out.append(s.kind.placeholder)
        pos = s.end
    out.append(text[pos:hi])
    return "".join(out)


# ---------------------------------------------------------------------------- the stage


class PiiRedactor:
    """Redacts a call's utterances and words; see the module docstring."""

    def __init__(self, options: RedactOptions | None = None) -> None:
        self.options = options or RedactOptions()
        self._detector = _Detector(self.options)

    def redact_text(self, text: str) -> tuple[str, RedactionCounts]:
        """A text with its PII replaced by placeholders, and the counts."""
        spans = self._detector.spans(text)
        if not spans:
            return text, RedactionCounts()
        return _substitute(text, spans, 0, len(text)), RedactionCounts.of(s.kind for s in spans)

    def redact_words(self, words: Sequence[Word]) -> tuple[tuple[Word, ...], RedactionCounts]:
        """The words with each PII span's words replaced by one placeholder word."""
        out, counts, _ = self._redact_words(words)
        return out, counts

    def _redact_words(
        self, words: Sequence[Word]
    ) -> tuple[tuple[Word, ...], RedactionCounts, dict[int, Word | None]]:
        """Also which word (by index) became a placeholder and which were folded into one."""
        parts: list[str] = []
        offsets: list[tuple[int, int]] = []
        pos = 0
        for w in words:
            piece = " ".join(w.text.split())
            if piece and parts:
                pos += 1
            offsets.append((pos, pos + len(piece)))
            if piece:
                parts.append(piece)
                pos += len(piece)
        text = " ".join(parts)
        spans = self._detector.spans(text)
        if not spans:
            return tuple(words), RedactionCounts(), {}
        # word ranges of the spans, then spans that share a word grouped into one placeholder
        groups: list[tuple[int, int, list[_Span]]] = []
        for s in spans:
            hit = [
                i for i, (ws, we) in enumerate(offsets) if ws < we and ws < s.end and we > s.start
            ]
            a, b = hit[0], hit[-1]
            if groups and a <= groups[-1][1]:
                groups[-1][2].append(s)
                groups[-1] = (groups[-1][0], max(b, groups[-1][1]), groups[-1][2])
            else:
                groups.append((a, b, [s]))
        changed: dict[int, Word | None] = {}
        for a, b, group in groups:
            members = words[a : b + 1]
            first = words[a]
            lead = " " if first.text[:1].isspace() else ""
            placeholder = Word(
                lead + _substitute(text, group, offsets[a][0], offsets[b][1]),
                first.start,
                max(w.end for w in members),
                min(w.probability for w in members),
                first.channel,
            )
            changed[a] = placeholder
            for i in range(a + 1, b + 1):
                changed[i] = None
        out = [changed.get(i, w) for i, w in enumerate(words)]
        kept = tuple(w for w in out if w is not None)
        return kept, RedactionCounts.of(s.kind for s in spans), changed

    def redact_utterance(self, utterance: Utterance) -> tuple[Utterance, RedactionCounts]:
        """One utterance redacted (its words, and its text rebuilt from them)."""
        new, counts, _ = self._redact_utterance(utterance)
        return new, counts

    def _redact_utterance(
        self, utterance: Utterance
    ) -> tuple[Utterance, RedactionCounts, dict[int, Word | None]]:
        if not utterance.words:
            text, counts = self.redact_text(utterance.text)
            return (replace(utterance, text=text) if counts.total else utterance), counts, {}
        words, counts, changed = self._redact_words(utterance.words)
        if not counts.total:
            return utterance, counts, changed
        if utterance.text == utterance_text(utterance.words):
            text = utterance_text(words)
        else:  # a text not made of its words (not from the Attributor): redact it as text
            text = self.redact_text(utterance.text)[0]
        return replace(utterance, text=text, words=words), counts, changed

    def __call__(self, call: CallAnalysis) -> RedactedCall:
        """The call with its utterances and words redacted; logs the counts (never values)."""
        counts = RedactionCounts()
        utterances = []
        replaced: dict[Word, Word | None] = {}
        for u in call.utterances:
            new, found, changed = self._redact_utterance(u)
            utterances.append(new)
            counts += found
            replaced.update((u.words[i], w) for i, w in changed.items())
        # words of the call outside every utterance (the pipeline leaves none), per channel
        seen = {w for u in call.utterances for w in u.words}
        leftover: dict[int, list[Word]] = {}
        for w in call.words:
            if w not in seen:
                leftover.setdefault(w.channel, []).append(w)
        for words in leftover.values():
            _, found, changed = self._redact_words(words)
            counts += found
            replaced.update((words[i], w) for i, w in changed.items())
        if not counts.total:
            log.info("%s: no PII found to redact", call.call_id)
            return RedactedCall(call, counts)
        kept = (replaced.get(w, w) for w in call.words)
        log.info("%s: redacted %s", call.call_id, counts)
        return RedactedCall(
            replace(
                call,
                utterances=tuple(utterances),
                words=tuple(w for w in kept if w is not None),
            ),
            counts,
        )
