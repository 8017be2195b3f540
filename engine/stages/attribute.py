"""Speaker attribution: give each recognised word to a speaker turn, then build utterances.

Method
------
1. The diarisation turns are indexed per speaker as *chains*: runs of that speaker's turns that do
   not overlap one another, sorted by start. Inside a chain both starts and ends are sorted, so the
   turns overlapping a word ``[ws, we)`` are exactly ``chain[bisect_right(ends, ws) :
   bisect_left(starts, we)]`` and its nearest neighbours sit at either edge of that slice. A
   speaker whose turns never overlap each other (the usual case) has one chain, so a word costs
   ``O(speakers * log turns)``; turns of *different* speakers may overlap freely.
2. Each word goes to the turn it overlaps most. Ties (a word wholly inside two overlapping turns,
   e.g. a back-channel "yeah" inside the other speaker's long turn) go to the shorter turn, the
   more specific evidence; then to the earlier turn, then by speaker label, so results are
   deterministic.
3. A word that overlaps no turn goes to the nearest turn. Within ``max_gap_s`` that is routine
   (recogniser and diariser timestamps disagree by a few hundred ms); beyond it the word is still
   attributed (words are never dropped) and the call logs a warning with the count.
4. Stereo calls diarised by channel ("channel" method, one speaker per channel) pass
   ``channel_speakers`` (channel index -> speaker label); a word of a listed channel then only
   considers that speaker's turns. If that speaker has no turns at all, the word still goes to
   that speaker (the channel says who spoke) in a turn-less utterance.
5. An utterance is the words of one turn in time order, split where a pause between words
   exceeds ``max_pause_s`` or the utterance would grow longer than ``max_utterance_s``. Its text
   is the words' texts, each stripped, joined with single spaces. Utterances of different
   speakers may overlap in time (overlapping speech is kept); the output is sorted by start.
"""

from __future__ import annotations

import heapq
import logging
import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from engine.errors import ConfigError
from engine.types import Diarisation, Role, SpeakerTurn, Utterance, Word

__all__ = ["UNATTRIBUTED", "AttributeOptions", "Attributor", "utterance_text"]

log = logging.getLogger(__name__)

UNATTRIBUTED = "unattributed"
"""Speaker label given to words of a call whose diarisation has no turns and no single speaker."""

_EPS = 1e-9  # overlaps/gaps closer than this are equal (times are ms, the rest is float noise)


@dataclass(frozen=True)
class AttributeOptions:
    """How words are attributed to turns and grouped into utterances.

    max_gap_s: a word overlapping no turn joins the nearest turn; if that turn is further away
        than this (seconds) the word is still attributed but counted and logged as a far word
        (default 1.0 s: recogniser and diariser boundaries routinely disagree by a few 100 ms).
    max_pause_s: a silence between consecutive words of one turn longer than this starts a new
        utterance (default 2.0 s); None never splits on pauses.
    max_utterance_s: an utterance is closed before it would exceed this length (default 30 s),
        which keeps per-utterance analytics (sentiment, search hits) local; None never splits.
    """

    max_gap_s: float = 1.0
    max_pause_s: float | None = 2.0
    max_utterance_s: float | None = 30.0

    def __post_init__(self) -> None:
        if self.max_gap_s < 0:
            raise ConfigError(f"max_gap_s must be >= 0, got {self.max_gap_s}")
        if self.max_pause_s is not None and self.max_pause_s <= 0:
            raise ConfigError(f"max_pause_s must be positive or None, got {self.max_pause_s}")
        if self.max_utterance_s is not None and self.max_utterance_s <= 0:
            raise ConfigError(
                f"max_utterance_s must be positive or None, got {self.max_utterance_s}"
            )


@dataclass(slots=True)
class _Chain:
    """Turns of one speaker that do not overlap one another, sorted by start (so ends sort too)."""

    index: list[int] = field(default_factory=list)  # positions in the attributor's turn list
    starts: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)


def _build_chains(turns: Sequence[SpeakerTurn]) -> dict[str, list[_Chain]]:
    """Partition each speaker's turns into as few non-overlapping chains as possible.

    Greedy interval partitioning over turns sorted by start: a turn joins the chain that ended
    earliest if that chain ended by the turn's start, else opens a new chain.
    """
    by_speaker: dict[str, list[int]] = {}
    for i, turn in enumerate(turns):
        by_speaker.setdefault(turn.speaker, []).append(i)
    chains: dict[str, list[_Chain]] = {}
    for speaker, idx in by_speaker.items():
        idx.sort(key=lambda i: (turns[i].start, turns[i].end, i))
        own: list[_Chain] = []
        heap: list[tuple[float, int]] = []  # (last end, chain number)
        for i in idx:
            turn = turns[i]
            if heap and heap[0][0] <= turn.start:
                _, c = heapq.heappop(heap)
                chain = own[c]
            else:
                c = len(own)
                chain = _Chain()
                own.append(chain)
            chain.index.append(i)
            chain.starts.append(turn.start)
            chain.ends.append(turn.end)
            heapq.heappush(heap, (turn.end, c))
        chains[speaker] = own
    return chains


def _tie_key(turns: Sequence[SpeakerTurn], pos: int) -> tuple[float, float, str, int]:
    """Among equally good turns: the shortest, then the earliest, then by label."""
    turn = turns[pos]
    return (turn.end - turn.start, turn.start, turn.speaker, pos)


def utterance_text(words: Sequence[Word]) -> str:
    """The words' texts joined as the recogniser gave them, whitespace runs collapsed.

    Whisper marks word boundaries with a leading space on the token (" Hello", " my"),
    and gives none in languages written without spaces (Chinese, Japanese), so plain
    concatenation is right for both.
    """
    return " ".join("".join(w.text for w in words).split())


class Attributor:
    """Attribute words to speaker turns and build utterances; see the module docstring."""

    def __init__(self, options: AttributeOptions | None = None) -> None:
        self.options = options or AttributeOptions()

    def __call__(
        self,
        words: Sequence[Word],
        diarisation: Diarisation,
        roles: Mapping[str, Role],
        channel_speakers: Mapping[int, str] | None = None,
    ) -> tuple[Utterance, ...]:
        """Utterances of ``words`` attributed to ``diarisation``'s turns, sorted by start.

        roles: speaker label -> role (a speaker not in it gets Role.UNKNOWN).
        channel_speakers: channel index -> speaker label, for stereo calls diarised per channel;
            a word whose ``Word.channel`` is listed is only attributed to that speaker.
        """
        turns = list(diarisation.turns)
        chains = _build_chains(turns)
        all_chains = [c for speaker in sorted(chains) for c in chains[speaker]]
        if (
            diarisation.method == "channel"
            and channel_speakers is None
            and len({w.channel for w in words}) > 1
        ):
            log.warning(
                "channel diarisation but no channel_speakers given: "
                "stereo words are attributed by time alone"
            )
        fallback = self._fallback_speaker(diarisation)
        order = sorted(range(len(words)), key=lambda i: (words[i].start, words[i].end, i))

        groups: dict[tuple[str, int], list[Word]] = {}  # (speaker, turn position or -1) -> words
        far = 0
        unlisted: set[int] = set()
        for i in order:
            word = words[i]
            candidates = all_chains
            if channel_speakers is not None:
                speaker = channel_speakers.get(word.channel)
                if speaker is None:
                    unlisted.add(word.channel)
                elif speaker in chains:
                    candidates = chains[speaker]
                else:
                    groups.setdefault((speaker, -1), []).append(word)
                    continue
            found = self._best_turn(word, turns, candidates)
            if found is None:
                groups.setdefault((fallback, -1), []).append(word)
                continue
            pos, gap = found
            if gap > self.options.max_gap_s:
                far += 1
                log.debug(
                    "word %r at %.3f-%.3f s is %.3f s from the nearest turn",
                    word.text,
                    word.start,
                    word.end,
                    gap,
                )
            groups.setdefault((turns[pos].speaker, pos), []).append(word)

        if unlisted:
            log.warning(
                "words on channels %s not in channel_speakers: attributed by time alone",
                sorted(unlisted),
            )
        if far:
            log.warning(
                "%d of %d words lie more than %.3f s from any turn; attributed to the nearest",
                far,
                len(words),
                self.options.max_gap_s,
            )
        orphans = groups.get((fallback, -1), []) if fallback == UNATTRIBUTED else []
        if orphans:
            log.warning("diarisation has no turns: %d words left unattributed", len(orphans))

        utterances: list[Utterance] = []
        for (speaker, _), group in groups.items():
            role = roles.get(speaker, Role.UNKNOWN)
            for chunk in self._split(group):
                utterances.append(
                    Utterance(
                        speaker=speaker,
                        role=role,
                        start=chunk[0].start,
                        end=max(w.end for w in chunk),
                        text=utterance_text(chunk),
                        words=tuple(chunk),
                    )
                )
        utterances.sort(key=lambda u: (u.start, u.end, u.speaker))
        return tuple(utterances)

    @staticmethod
    def _fallback_speaker(diarisation: Diarisation) -> str:
        labels = diarisation.speaker_labels
        return labels[0] if len(labels) == 1 else UNATTRIBUTED

    @staticmethod
    def _best_turn(
        word: Word, turns: Sequence[SpeakerTurn], chains: Sequence[_Chain]
    ) -> tuple[int, float] | None:
        """(turn position, gap in seconds) of the best turn for ``word``; None without turns.

        Best = most overlap, then least gap, then shortest turn, then earliest, then by label
        (amounts within _EPS of each other are equal: times are ms, the rest is float noise).
        """
        ws, we = word.start, word.end
        best_pos = -1
        best_overlap = 0.0
        bounds: list[tuple[_Chain, int, int]] = []
        for chain in chains:
            lo = bisect_right(chain.ends, ws)  # first turn ending after the word starts
            hi = bisect_left(chain.starts, we)  # first turn starting at/after the word ends
            bounds.append((chain, lo, hi))
            for j in range(lo, hi):  # the turns that overlap the word
                pos = chain.index[j]
                overlap = min(chain.ends[j], we) - max(chain.starts[j], ws)
                if overlap > best_overlap + _EPS or (
                    best_pos >= 0
                    and overlap >= best_overlap - _EPS
                    and _tie_key(turns, pos) < _tie_key(turns, best_pos)
                ):
                    best_pos, best_overlap = pos, max(overlap, best_overlap)
        if best_pos >= 0:
            return best_pos, 0.0
        # nothing overlaps: the nearest turn, one neighbour either side of each chain's slice
        best_gap = math.inf
        for chain, lo, hi in bounds:
            for j in range(max(0, min(lo, hi) - 1), min(len(chain.index), max(lo, hi) + 1)):
                pos = chain.index[j]
                gap = max(0.0, chain.starts[j] - we, ws - chain.ends[j])
                if gap < best_gap - _EPS or (
                    gap <= best_gap + _EPS and _tie_key(turns, pos) < _tie_key(turns, best_pos)
                ):
                    best_pos, best_gap = pos, min(gap, best_gap)
        return (best_pos, round(best_gap, 6)) if best_pos >= 0 else None

    def _split(self, words: list[Word]) -> list[list[Word]]:
        """Split one turn's words (in time order) at long pauses and at the length limit."""
        max_pause = self.options.max_pause_s
        max_len = self.options.max_utterance_s
        chunks: list[list[Word]] = []
        current: list[Word] = []
        current_end = 0.0
        for word in words:
            if current and (
                (max_pause is not None and word.start - current_end > max_pause)
                or (max_len is not None and word.end - current[0].start > max_len)
            ):
                chunks.append(current)
                current = []
            if not current:
                current_end = word.end
            current.append(word)
            current_end = max(current_end, word.end)
        if current:
            chunks.append(current)
        return chunks
