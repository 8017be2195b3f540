"""Role assignment: which speaker of a call is the agent and which the customer.

Stereo calls (``ChannelRoleAssigner``)
    The recording system puts agent and customer on fixed channels, so the channel map decides:
    confidence 1.0, method ``"channel_map"``. Channel diarisation labels each speaker with its
    channel's role name ("agent"/"customer"); labels "left"/"right" or a channel number ("0",
    "1", "ch0", "ch1") are mapped through the channel map too. Any other label is UNKNOWN
    (confidence 0.0, logged).

Mono calls (``PhraseRoleAssigner``, method ``"phrases"``)
    Each speaker's words (attributed to turns by time) are normalised (lower case, curly quotes
    straightened, punctuation dropped) and matched against two weighted phrase lists:

    (a) agent phrases: greetings, identification, service and closing formulas ("thank you for
        calling", "you're through to", "how can I help", "can I take your name", "is there
        anything else", "have a good day", "speaking", "good morning", security checks, hold
        and transfer formulas, ...);
    (b) customer phrases: stating a need or a problem ("I want to", "I need", "my card", "I
        called", "why", "can you", "I was charged", "I'd like to cancel", ...).

    Matching is by whole words and non-overlapping, longest phrase first, so the agent's "can
    you confirm" is not also counted as the customer's "can you". Each phrase counts at most
    ``max_hits_per_phrase`` times, so one repeated formula cannot dominate.

    (c) who speaks first: the speaker of the first turn of at least ``first_turn_min_s`` (an
        agent usually answers the call) gets F = +1, every other speaker F = -1 (F = 0 when
        there is only one speaker: speaking first alone is no evidence).

    Each speaker s gets an agent score (a logit)

        z_s = phrase_scale * (A_s - C_s) + first_speaker_weight * F_s

    where A_s and C_s are the summed weights of the agent and customer phrases found, and
    sigma(z_s) = 1 / (1 + exp(-z_s)) is the probability, on s's own evidence, that s is an agent.

    Decision, for two or more speakers: the speaker with the highest z is the AGENT. With three
    or more speakers (a transfer) the runner-up is an AGENT too when its own evidence says so:
    sigma(z) >= ``second_agent_min_p`` and at least one agent phrase. Everyone else is a CUSTOMER.
    Confidences are Bradley-Terry comparisons of logits: an agent's is
    sigma(z_agent - z_c*) with c* the most agent-like customer; a customer's is
    sigma(z_a* - z_customer) with a* the least agent-like agent. For two speakers both equal
    sigma(z_agent - z_customer), the probability that the pair is the right way round.

    One speaker: AGENT with confidence sigma(z) when sigma(z) > 0.5, CUSTOMER with confidence
    1 - sigma(z) when < 0.5, and UNKNOWN with confidence 0.5 when the evidence is balanced or
    absent. No speakers: no result.

Both assigners return ``Speaker`` records in the diarisation's speaker order with
``speech_seconds`` = the length of the union of that speaker's turns.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from engine.config import ChannelMap
from engine.errors import ConfigError
from engine.stages.attribute import Attributor
from engine.types import Diarisation, Role, Speaker, SpeakerTurn, Word, ms

__all__ = [
    "AGENT_PHRASES",
    "CUSTOMER_PHRASES",
    "ChannelRoleAssigner",
    "PhraseRoleAssigner",
    "RoleOptions",
    "SpeakerEvidence",
    "speech_seconds",
]

log = logging.getLogger(__name__)

AGENT_PHRASES: Mapping[str, float] = {
    # opening and identification
    "thank you for calling": 2.0,
    "thanks for calling": 2.0,
    "thank you for contacting": 2.0,
    "you're through to": 2.0,
    "you are through to": 2.0,
    "you've reached": 1.5,
    "you have reached": 1.5,
    "welcome to": 1.0,
    "my name is": 0.75,  # customers say it too, when asked
    "speaking": 0.5,  # "Sarah speaking"
    "good morning": 0.5,
    "good afternoon": 0.5,
    "good evening": 0.5,
    "how can i help": 2.0,
    "how may i help": 2.0,
    "how can i assist": 2.0,
    "how may i assist": 2.0,
    "what can i do for you": 1.5,
    # identification and security
    "can i take your name": 2.0,
    "can i have your name": 2.0,
    "could i take your name": 2.0,
    "can i take your": 1.0,
    "can you confirm": 1.0,
    "could you confirm": 1.0,
    "for security purposes": 1.5,
    "security questions": 1.5,
    "date of birth": 0.75,
    "first line of your address": 1.5,
    "your postcode": 1.0,
    "your account number": 1.0,
    "on your account": 1.0,
    "on the system": 1.0,
    "i can see": 0.75,
    # handling
    "bear with me": 1.0,
    "let me just check": 1.0,
    "let me check": 0.75,
    "i'll just check": 1.0,
    "i do apologise": 1.0,
    "i do apologize": 1.0,
    "sorry for the wait": 1.5,
    "apologies for the wait": 1.5,
    "thank you for holding": 2.0,
    "thanks for holding": 2.0,
    "thank you for your patience": 1.5,
    "thanks for your patience": 1.5,
    "transfer you": 1.5,
    "put you through": 1.5,
    "i'm transferring": 1.5,
    # closing
    "is there anything else": 2.0,
    "anything else i can help": 2.0,
    "have a good day": 1.5,
    "have a nice day": 1.5,
    "have a lovely day": 1.5,
    "have a great day": 1.5,
    "thank you for your call": 2.0,
    "thanks for your call": 2.0,
}
"""Agent phrase -> weight (lower-case, straight apostrophes, whole words)."""

CUSTOMER_PHRASES: Mapping[str, float] = {
    "i want to": 1.0,
    "i'd like to": 1.0,
    "i would like to": 1.0,
    "i need": 1.0,
    "my card": 1.5,
    "my account": 1.5,
    "my bill": 1.5,
    "my order": 1.5,
    "my payment": 1.5,
    "my direct debit": 1.5,
    "my contract": 1.5,
    "my phone": 1.0,
    "i called": 1.5,
    "i've called": 1.5,
    "i rang": 1.5,
    "i've rung": 1.5,
    "i phoned": 1.5,
    "i'm calling about": 2.0,
    "i'm calling because": 2.0,
    "i'm ringing about": 2.0,
    "i'm ringing because": 2.0,
    "i was charged": 2.0,
    "been charged": 1.5,
    "charged twice": 2.0,
    "i've been waiting": 1.5,
    "i have been waiting": 1.5,
    "i received": 1.0,
    "i got a letter": 1.5,
    "i don't understand": 1.0,
    "cancel my": 1.5,
    "i want a refund": 2.0,
    "not happy": 1.0,
    "why": 0.5,
    "can you": 0.5,  # agents ask too; "can you confirm" is an agent phrase and wins
    "could you": 0.5,
}
"""Customer phrase -> weight (lower-case, straight apostrophes, whole words)."""


@dataclass(frozen=True)
class RoleOptions:
    """How ``PhraseRoleAssigner`` weighs its evidence (see the module docstring).

    phrase_scale: logit per unit of net phrase weight, A - C (default 0.5: one strong formula,
        weight 2, gives logit 1, i.e. p = 0.73 on its own).
    first_speaker_weight: logit added for speaking first and subtracted for not (default 0.5:
        with no phrases at all the first speaker is the agent at sigma(1.0) = 0.73).
    first_turn_min_s: turns shorter than this do not count as speaking first (a cough, "hello?").
    max_hits_per_phrase: each phrase counts at most this many times per speaker.
    second_agent_min_p: with 3+ speakers, the runner-up is an agent too (a transfer) when its own
        probability reaches this and it said at least one agent phrase.
    agent_phrases / customer_phrases: the weighted phrase lists (default the module's lists).
    """

    phrase_scale: float = 0.5
    first_speaker_weight: float = 0.5
    first_turn_min_s: float = 0.3
    max_hits_per_phrase: int = 3
    second_agent_min_p: float = 0.75
    agent_phrases: Mapping[str, float] | None = None
    customer_phrases: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        if self.phrase_scale <= 0:
            raise ConfigError(f"phrase_scale must be positive, got {self.phrase_scale}")
        if self.first_speaker_weight < 0:
            raise ConfigError(f"first_speaker_weight must be >= 0, got {self.first_speaker_weight}")
        if self.max_hits_per_phrase < 1:
            raise ConfigError(f"max_hits_per_phrase must be >= 1, got {self.max_hits_per_phrase}")
        if not 0.5 <= self.second_agent_min_p <= 1:
            raise ConfigError(
                f"second_agent_min_p must be in [0.5, 1], got {self.second_agent_min_p}"
            )


@dataclass(frozen=True, slots=True)
class SpeakerEvidence:
    """What the phrase assigner found for one speaker (kept for explanations and tests)."""

    label: str
    agent_score: float  # A: summed weights of agent phrases found
    customer_score: float  # C: summed weights of customer phrases found
    first: int  # F: +1 spoke first, -1 did not, 0 only speaker
    logit: float  # z

    @property
    def probability(self) -> float:
        """sigma(z): the probability, on this speaker's own evidence, of being an agent."""
        return _sigmoid(self.logit)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def speech_seconds(turns: Iterable[SpeakerTurn], speaker: str) -> float:
    """Length of the union of ``speaker``'s turns (own overlapping turns are not counted twice)."""
    spans = sorted((t.start, t.end) for t in turns if t.speaker == speaker)
    total = 0.0
    cur_start: float | None = None
    cur_end = 0.0
    for start, end in spans:
        if cur_start is None or start > cur_end:
            if cur_start is not None:
                total += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_start is not None:
        total += cur_end - cur_start
    return ms(total)


_PUNCT = re.compile(r"[^\w\s']+")
_SPACES = re.compile(r"\s+")


def _normalise(text: str) -> str:
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    return _SPACES.sub(" ", _PUNCT.sub(" ", text)).strip()


class _PhraseMatcher:
    """Whole-word, non-overlapping, longest-first matching of two weighted phrase lists."""

    def __init__(self, agent: Mapping[str, float], customer: Mapping[str, float]) -> None:
        self.weights: dict[str, tuple[str, float]] = {}
        for side, phrases in (("customer", customer), ("agent", agent)):
            for phrase, weight in phrases.items():
                self.weights[_normalise(phrase)] = (side, weight)  # agent wins a duplicate
        keys = sorted(self.weights, key=lambda p: (-len(p), p))
        alternation = "|".join(re.escape(k) for k in keys if k)
        self.pattern = re.compile(rf"(?<![\w'])(?:{alternation})(?![\w'])") if keys else None

    def scores(self, text: str, max_hits: int) -> tuple[float, float]:
        """(agent score, customer score) of one speaker's text."""
        if self.pattern is None:
            return 0.0, 0.0
        hits = Counter(m.group(0) for m in self.pattern.finditer(_normalise(text)))
        agent = customer = 0.0
        for phrase, count in hits.items():
            side, weight = self.weights[phrase]
            if side == "agent":
                agent += weight * min(count, max_hits)
            else:
                customer += weight * min(count, max_hits)
        return agent, customer


class ChannelRoleAssigner:
    """Roles of a stereo call's speakers from the channel map (confidence 1.0)."""

    METHOD = "channel_map"

    def __init__(self, channel_map: ChannelMap | None = None) -> None:
        self.channel_map = channel_map or ChannelMap()

    def channel_speakers(self) -> dict[int, str]:
        """Channel index -> speaker label as channel diarisation names them (the role names)."""
        return {0: self.channel_map.left.value, 1: self.channel_map.right.value}

    def role_of_label(self, label: str) -> Role | None:
        """The role a channel-diarisation label stands for, or None if it names no channel."""
        key = label.strip().lower()
        if key in (Role.AGENT.value, Role.CUSTOMER.value):
            return Role(key)
        if key in ("left", "0", "ch0", "channel0", "channel_0"):
            return self.channel_map.left
        if key in ("right", "1", "ch1", "channel1", "channel_1"):
            return self.channel_map.right
        return None

    def __call__(self, diarisation: Diarisation, words: Sequence[Word] = ()) -> tuple[Speaker, ...]:
        """One Speaker per diarisation speaker; ``words`` is accepted for a uniform signature."""
        speakers: list[Speaker] = []
        for label in diarisation.speaker_labels:
            role = self.role_of_label(label)
            if role is None:
                log.warning("speaker label %r names no channel; role unknown", label)
            speakers.append(
                Speaker(
                    label=label,
                    role=role or Role.UNKNOWN,
                    confidence=1.0 if role is not None else 0.0,
                    method=self.METHOD,
                    speech_seconds=speech_seconds(diarisation.turns, label),
                )
            )
        return tuple(speakers)


class PhraseRoleAssigner:
    """Roles of a mono call's speakers from what they say and who speaks first."""

    METHOD = "phrases"

    def __init__(self, options: RoleOptions | None = None) -> None:
        self.options = options or RoleOptions()
        self._matcher = _PhraseMatcher(
            AGENT_PHRASES if self.options.agent_phrases is None else self.options.agent_phrases,
            CUSTOMER_PHRASES
            if self.options.customer_phrases is None
            else self.options.customer_phrases,
        )

    def __call__(self, diarisation: Diarisation, words: Sequence[Word] = ()) -> tuple[Speaker, ...]:
        """Attribute ``words`` to the turns by time, then assign roles from each speaker's text."""
        texts: dict[str, list[str]] = {}
        for utt in Attributor()(words, diarisation, {}):
            texts.setdefault(utt.speaker, []).append(utt.text)
        return self.assign(diarisation, {k: " ".join(v) for k, v in texts.items()})

    def evidence(
        self, diarisation: Diarisation, texts: Mapping[str, str]
    ) -> tuple[SpeakerEvidence, ...]:
        """Each diarisation speaker's evidence, in the diarisation's speaker order."""
        labels = diarisation.speaker_labels
        first = self._first_speaker(diarisation.turns) if len(labels) > 1 else None
        out: list[SpeakerEvidence] = []
        for label in labels:
            agent, customer = self._matcher.scores(
                texts.get(label, ""), self.options.max_hits_per_phrase
            )
            f = 0 if first is None else (1 if label == first else -1)
            z = (
                self.options.phrase_scale * (agent - customer)
                + self.options.first_speaker_weight * f
            )
            out.append(SpeakerEvidence(label, agent, customer, f, z))
        return tuple(out)

    def assign(self, diarisation: Diarisation, texts: Mapping[str, str]) -> tuple[Speaker, ...]:
        """Speakers with roles from per-speaker ``texts`` (label -> everything they said)."""
        evidence = self.evidence(diarisation, texts)
        if not evidence:
            return ()
        roles = self._decide(evidence)
        confidences = self._confidences(evidence, roles)
        speakers = tuple(
            Speaker(
                label=ev.label,
                role=roles[ev.label],
                confidence=round(confidences[ev.label], 4),
                method=self.METHOD,
                speech_seconds=speech_seconds(diarisation.turns, ev.label),
            )
            for ev in evidence
        )
        for ev, sp in zip(evidence, speakers, strict=True):
            log.debug(
                "speaker %s: A=%.2f C=%.2f F=%+d z=%.2f -> %s (%.2f)",
                ev.label,
                ev.agent_score,
                ev.customer_score,
                ev.first,
                ev.logit,
                sp.role.value,
                sp.confidence,
            )
        return speakers

    def _first_speaker(self, turns: Sequence[SpeakerTurn]) -> str | None:
        long_enough = [t for t in turns if t.duration >= self.options.first_turn_min_s]
        pool = long_enough or list(turns)
        if not pool:
            return None
        return min(pool, key=lambda t: (t.start, -t.duration, t.speaker)).speaker

    def _decide(self, evidence: Sequence[SpeakerEvidence]) -> dict[str, Role]:
        if len(evidence) == 1:
            p = evidence[0].probability
            role = Role.AGENT if p > 0.5 else Role.CUSTOMER if p < 0.5 else Role.UNKNOWN
            return {evidence[0].label: role}
        ranked = sorted(evidence, key=lambda e: (-e.logit, -e.first, e.label))
        roles = {e.label: Role.CUSTOMER for e in ranked}
        roles[ranked[0].label] = Role.AGENT
        runner_up = ranked[1]
        if (
            len(ranked) >= 3
            and runner_up.probability >= self.options.second_agent_min_p
            and runner_up.agent_score > 0
        ):
            roles[runner_up.label] = Role.AGENT
        return roles

    @staticmethod
    def _confidences(
        evidence: Sequence[SpeakerEvidence], roles: Mapping[str, Role]
    ) -> dict[str, float]:
        if len(evidence) == 1:
            ev = evidence[0]
            role = roles[ev.label]
            p = ev.probability
            return {ev.label: p if role is Role.AGENT else 1 - p if role is Role.CUSTOMER else 0.5}
        agents = [e.logit for e in evidence if roles[e.label] is Role.AGENT]
        customers = [e.logit for e in evidence if roles[e.label] is Role.CUSTOMER]
        out: dict[str, float] = {}
        for ev in evidence:
            if roles[ev.label] is Role.AGENT:
                out[ev.label] = _sigmoid(ev.logit - max(customers))
            else:
                out[ev.label] = _sigmoid(min(agents) - ev.logit)
        return out
