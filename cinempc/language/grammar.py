"""Tokens of one shot description -> mentions (what each part of the sentence says).

Three passes over a segment (the text between "then"s):

1. quantities: a number with its unit ("85 mm", "2 m/s", "over 8 seconds",
   "f/2.8", "10 feet away") or a subject number ("#3", "subject 3");
2. phrases: the longest lexicon phrase at each position ("medium close up",
   "rack focus to", "from behind"), subject names known from the current shot;
3. the rest: a capitalised word or a word in a subject position ("orbit the
   lighthouse", "follow Alice") is a subject name; anything else is reported
   as not understood -- the parser never guesses what an unknown word means.

Word order is free: the mentions are turned into a shot by :mod:`cinempc.language.compose`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from cinempc.language.lexicon import (
    DISTANCE_UNITS_M,
    FOCAL_UNITS_MM,
    SPEED_UNITS_MPS,
    TIME_UNITS_S,
    Lexicon,
    Meaning,
)
from cinempc.language.normalise import Token

DETERMINERS = frozenset({"the", "a", "an", "my", "our", "your", "that", "this", "those", "these", "their", "his",
                         "her", "little", "young", "lead"})
LINK_WORDS = frozenset({"to", "onto", "into", "and"})  # kept as mentions: "rack from A to B", "between A and B"
_QUANTITY_TABLES: tuple[tuple[str, dict[tuple[str, ...], float]], ...] = (
    ("speed_mps", SPEED_UNITS_MPS), ("focal_length_mm", FOCAL_UNITS_MM), ("time_s", TIME_UNITS_S),
    ("distance_m", DISTANCE_UNITS_M),
)
_F_PREFIXES = (("f",), ("f", "stop"), ("fstop",), ("aperture",), ("aperture", "of"), ("f", "number"),
               ("aperture", "f"), ("at", "f"), ("t",), ("t", "stop"))
_F_FIRST = frozenset(prefix[0] for prefix in _F_PREFIXES)
_DISTANCE_TAILS = frozenset({"away", "back", "off", "out", "behind", "distance", "distant"})
_NAME_OK = re.compile(r"^[a-z][a-z0-9_\- ]{0,39}$")


@dataclass
class Mention:
    """One thing the director said, at token positions ``start:end`` of its segment."""

    category: str  # a lexicon category, or subject / quantity kinds / "link" / "unsupported"
    value: Any
    start: int
    end: int


@dataclass
class SegmentReading:
    """What one segment says, and what in it was not understood."""

    tokens: list[Token]
    mentions: list[Mention] = field(default_factory=list)
    unknown: list[tuple[str, list[str]]] = field(default_factory=list)  # (text as typed, suggestions or [])
    understood_tokens: int = 0

    @property
    def content(self) -> list[Mention]:
        return [m for m in self.mentions if m.category not in ("link", "filler")]


def split_segments(tokens: list[Token], lexicon: Lexicon) -> list[list[Token]]:
    """Split at "then", "after that", ";" ... into one token list per shot (empty ones dropped)."""
    segments: list[list[Token]] = [[]]
    i = 0
    while i < len(tokens):
        token = tokens[i]
        length, _ = lexicon.match(tokens, i, lexicon.sequence)
        if length and not (token.text == "next" and i + 1 < len(tokens) and tokens[i + 1].text == "to"):
            segments.append([])
            i += length
            continue
        if token.kind == "punct" and token.text in ("->", "=>"):
            segments.append([])
            i += 1
            continue
        segments[-1].append(token)
        i += 1
    return [s for s in segments if any(t.kind != "punct" for t in s)]


def read_segment(tokens: list[Token], lexicon: Lexicon, names: dict[tuple[str, ...], str],
                 whole_text_upper: bool) -> SegmentReading:
    """The mentions of one segment (see the module docstring for the passes)."""
    reading = SegmentReading(tokens)
    used = [False] * len(tokens)
    _read_quantities(reading, used, lexicon)
    _read_phrases(reading, used, lexicon, names)
    _read_rest(reading, used, lexicon, whole_text_upper)
    reading.mentions.sort(key=lambda m: m.start)
    return reading


# ------------------------------------------------------------------ pass 1


def _read_quantities(reading: SegmentReading, used: list[bool], lexicon: Lexicon) -> None:
    tokens = reading.tokens
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.kind == "ref":
            _take(reading, used, Mention("subject", f"#{int(token.value or 0)}", i, i + 1))
            i += 1
            continue
        length, _ = lexicon.match(tokens, i, lexicon.reference_words)
        if length:
            j = i + length
            if j < len(tokens) and tokens[j].kind in ("number", "ref") and _is_whole(tokens[j].value):
                _take(reading, used, Mention("subject", f"#{int(tokens[j].value or 0)}", i, j + 1))
                i = j + 1
                while (i + 1 < len(tokens) and tokens[i].text in ("and", ",", "or") and tokens[i + 1].kind == "number"
                       and _is_whole(tokens[i + 1].value)):  # "subjects 3 and 5"
                    _take(reading, used, Mention("subject", f"#{int(tokens[i + 1].value or 0)}", i + 1, i + 2))
                    i += 2
                continue
        f_len = _f_number_prefix(tokens, i)
        if f_len:
            j = i + f_len
            if j < len(tokens) and tokens[j].kind == "number" and tokens[j].value:
                _take(reading, used, Mention("f_number", float(tokens[j].value), i, j + 1))
                i = j + 1
                continue
        if token.kind == "number":
            best: tuple[int, str, float] | None = None
            for kind, table in _QUANTITY_TABLES:
                length, factor = lexicon.match(tokens, i + 1, table) if i + 1 < len(tokens) else (0, None)
                if length and (best is None or length > best[0]):
                    best = (length, kind, factor)
            if best is None and _lens_by_number(tokens, i):
                _take(reading, used, Mention("focal_length_mm", float(token.value or 0), i, i + 1))
                i += 1
                continue
            if best is not None:
                length, kind, factor = best
                end = i + 1 + length
                if kind == "distance_m" and end < len(tokens) and tokens[end].text in _DISTANCE_TAILS:
                    end += 1  # "10 feet back", "8 m away": the direction of a stand-off, not a side
                _take(reading, used, Mention(kind, float(token.value or 0) * factor, i, end))
                i = end
                continue
        i += 1


def _lens_by_number(tokens: list[Token], i: int) -> bool:
    """A bare number a camera crew says for a lens: "on a 50", "with the 85", "use a 24"."""
    value = tokens[i].value or 0
    before = tuple(t.text for t in tokens[max(0, i - 2):i])
    after = tokens[i + 1] if i + 1 < len(tokens) else None
    return (len(before) == 2 and before[0] in ("on", "with", "use", "using", "try", "grab")
            and before[1] in ("a", "an", "the") and 8 <= value <= 800
            and (after is None or after.kind == "punct" or after.text in ("lens", "and", "then", "at")))


def _f_number_prefix(tokens: list[Token], i: int) -> int:
    """Tokens of an f-number prefix at ``i`` ("f", "f /", "f stop", "aperture"), 0 if none."""
    best = 0
    if tokens[i].text not in _F_FIRST:
        return 0
    for prefix in _F_PREFIXES:
        n = len(prefix)
        if tuple(t.text for t in tokens[i:i + n]) == prefix:
            if i + n < len(tokens) and tokens[i + n].text == "/":
                n += 1
            if i + n < len(tokens) and tokens[i + n].kind == "number":
                best = max(best, n)
    return best


def _is_whole(value: float | None) -> bool:
    return value is not None and float(value).is_integer() and 0 <= value < 1e6


def _take(reading: SegmentReading, used: list[bool], mention: Mention) -> None:
    reading.mentions.append(mention)
    for k in range(mention.start, mention.end):
        used[k] = True
    if mention.category not in ("filler", "link"):
        reading.understood_tokens += mention.end - mention.start


# ------------------------------------------------------------------ pass 2


def _read_phrases(reading: SegmentReading, used: list[bool], lexicon: Lexicon,
                  names: dict[tuple[str, ...], str]) -> None:
    tokens = reading.tokens
    i = 0
    while i < len(tokens):
        if used[i]:
            i += 1
            continue
        stop = next((k for k in range(i, len(tokens)) if used[k]), len(tokens))
        length, name = lexicon.match(tokens, i, names, stop)
        if length:
            _take(reading, used, Mention("subject", name, i, i + length))
            i += length
            continue
        length, meaning = lexicon.match(tokens, i, lexicon.phrases, stop)
        if not length:
            i += 1
            continue
        assert isinstance(meaning, Meaning)
        if meaning.category == "filler" and length == 1 and _capitalised_name_in_slot(tokens, i, reading, lexicon):
            _take(reading, used, Mention("subject", tokens[i].text, i, i + 1))  # "follow Will"
            i += 1
            continue
        if meaning.category == "filler":
            category = "link" if tokens[i].text in LINK_WORDS and length == 1 else "filler"
            _take(reading, used, Mention(category, tokens[i].text, i, i + length))
        elif meaning.category == "noun":
            start = i
            if i > 0 and not used[i - 1] and tokens[i - 1].text in lexicon.adjectives:
                start = i - 1  # "the red car", "the lead runner": one subject
            words = " ".join(t.text for t in tokens[start:i + length])
            _take(reading, used, Mention("subject", words, start, i + length))
        elif meaning.category == "unsupported":
            raw = " ".join(t.raw for t in tokens[i:i + length])
            reading.mentions.append(Mention("unsupported", meaning.value, i, i + length))
            reading.unknown.append((raw, list(lexicon.unsupported_suggestions.get(meaning.value, []))))
            for k in range(i, i + length):
                used[k] = True
        elif meaning.category == "subject":
            _take(reading, used, Mention("subject_word", meaning.value, i, i + length))
        else:
            _take(reading, used, Mention(meaning.category, meaning.value, i, i + length))
        i += length


# ------------------------------------------------------------------ pass 3


def _read_rest(reading: SegmentReading, used: list[bool], lexicon: Lexicon, whole_text_upper: bool) -> None:
    tokens = reading.tokens
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if used[i] or token.kind == "punct":
            i += 1
            continue
        if token.kind == "word":
            capitalised = token.raw[:1].isupper() and not whole_text_upper and token.corrected_from is None
            if capitalised and not (i == 0 and token.text in lexicon.words):
                j = i + 1  # "Mary Jane": consecutive capitalised unknown words are one name
                while (j < len(tokens) and not used[j] and tokens[j].kind == "word"
                       and tokens[j].raw[:1].isupper() and tokens[j].text not in lexicon.words):
                    j += 1
                name = subject_name(" ".join(t.text for t in tokens[i:j]))
                if name:
                    _take(reading, used, Mention("subject", name, i, j))
                    i = j
                    continue
            if token.text not in lexicon.words and _in_subject_slot(tokens, i, reading, lexicon):
                name = subject_name(token.text)
                if name:
                    _take(reading, used, Mention("subject", name, i, i + 1))
                    i += 1
                    continue
        reading.unknown.append((token.raw, []))
        reading.mentions.append(Mention("unknown", token.text, i, i + 1))
        i += 1


def _capitalised_name_in_slot(tokens: list[Token], i: int, reading: SegmentReading, lexicon: Lexicon) -> bool:
    """A capitalised filler word where a subject goes is a name: "follow Will", "orbit Faith"."""
    raw = tokens[i].raw
    capitals = sum(1 for t in tokens if t.kind == "word" and t.raw[:1].isupper())
    words = sum(1 for t in tokens if t.kind == "word")
    return (i > 0 and raw[:1].isupper() and not raw.isupper() and capitals * 2 <= words
            and tokens[i].text not in DETERMINERS and _in_subject_slot(tokens, i, reading, lexicon))


def _in_subject_slot(tokens: list[Token], i: int, reading: SegmentReading, lexicon: Lexicon) -> bool:
    """Whether ``tokens[i]`` stands where a subject goes: "orbit the X", "focus on X", "X and Y"."""
    j = i - 1
    while j >= 0 and tokens[j].text in DETERMINERS:
        j -= 1
    if j < 0:
        return False
    before = tokens[j]
    if before.text in ("and", "or") and j > 0:  # "Alice and Bob": a list of subjects
        mention = next((m for m in reading.mentions if m.start <= j - 1 < m.end), None)
        return mention is not None and mention.category in ("subject", "subject_word")
    if before.text in lexicon.slot_before:
        return True
    mention = next((m for m in reading.mentions if m.start <= j < m.end), None)
    return mention is not None and mention.category in ("movement", "focus")


def subject_name(text: str) -> str | None:
    """A subject name in the ShotSpec's alphabet ("Zoë" -> "zoe"), or None if it cannot be one."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower().strip()
    folded = folded.replace("'", "")  # O'Brien -> obrien: the ShotSpec alphabet has no apostrophe
    return folded if _NAME_OK.match(folded) else None
