"""Tokens of one shot description -> mentions (what each part of the sentence says).

Three passes over a segment (the text between "then"s):

1. quantities: a number with its unit ("85 mm", "2 m/s", "over 8 seconds",
   "f/2.8", "10 feet away") or a subject number ("#3", "subject 3"); the background
   described sharp or blurred ("background tack sharp", "a fuzzy backdrop": depth of field);
2. phrases: the longest lexicon phrase at each position ("medium close up",
   "rack focus to", "from behind"), subject names known from the current shot;
3. the rest: a capitalised word or a noun phrase in a subject position ("orbit
   the lighthouse", "follow the bass player", "the fire truck", "follow Maya")
   is a subject name -- any noun, the longest phrase; an unknown word that sets
   nothing is ignored and listed (:mod:`cinempc.language.ignore`); anything
   else is reported as not understood -- the parser never guesses what a word means.

Word order is free: the mentions are turned into a shot by :mod:`cinempc.language.compose`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from cinempc.language.ignore import is_negation, may_ignore, sets_nothing_in_a_clause, sets_nothing_in_a_style
from cinempc.language.lexicon import (
    ANGLE_UNITS_DEG,
    DISTANCE_UNITS_M,
    FOCAL_UNITS_MM,
    SPEED_UNITS_MPS,
    TIME_UNITS_S,
    Lexicon,
    Meaning,
)
from cinempc.language.normalise import Token

DETERMINERS = frozenset({"the", "a", "an", "my", "our", "your", "that", "this", "those", "these", "their", "his",
                         "her", "little", "young", "lead", "whole", "entire"})
POSSESSIVE_PRONOUNS = frozenset({"her", "his"})  # "her father": the father of the subject "her" means
DEFINITE = frozenset({"the", "my", "our", "your", "his", "their"})  # "the X": X names something
LINK_WORDS = frozenset({"to", "onto", "into", "and"})  # kept as mentions: "rack from A to B", "between A and B"
_QUANTITY_TABLES: tuple[tuple[str, dict[tuple[str, ...], float]], ...] = (
    ("speed_mps", SPEED_UNITS_MPS), ("focal_length_mm", FOCAL_UNITS_MM), ("time_s", TIME_UNITS_S),
    ("distance_m", DISTANCE_UNITS_M), ("angle_deg", ANGLE_UNITS_DEG),
)
_F_PREFIXES = (("f",), ("f", "stop"), ("fstop",), ("aperture",), ("aperture", "of"), ("f", "number"),
               ("aperture", "f"), ("at", "f"), ("t",), ("t", "stop"))
_F_FIRST = frozenset(prefix[0] for prefix in _F_PREFIXES)
DISTANCE_TAILS = frozenset({"away", "back", "off", "out", "behind", "distance", "distant"})
_NAME_OK = re.compile(r"^[a-z][a-z0-9_\- ]{0,39}$")


@dataclass
class Mention:
    """One thing the director said, at token positions ``start:end`` of its segment."""

    category: str  # a lexicon category, or subject / quantity kinds / "link" / "unsupported"
    value: Any
    start: int
    end: int
    implied: bool = False  # said by a shot name, not by a word for the field itself
    open_noun: bool = False  # a lower-case noun phrase ("the slope"), not a name given to a track nor "her"
    direction_from: str = ""  # the direction word a movement took its direction from ("down" of "crane shot down")
    owned: str = ""  # "father" of "her father": the subject is that of the one the pronoun means


@dataclass
class SegmentReading:
    """What one segment says, and what in it was not understood."""

    tokens: list[Token]
    mentions: list[Mention] = field(default_factory=list)
    unknown: list[tuple[str, list[str]]] = field(default_factory=list)  # (text as typed, suggestions or [])
    ignored: list[str] = field(default_factory=list)  # words as typed that set nothing
    understood_tokens: int = 0

    @property
    def content(self) -> list[Mention]:
        return [m for m in self.mentions if m.category not in ("link", "filler", "ignored")]


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
    _read_background_focus(reading, used, lexicon)
    _read_background_behind(reading, used, lexicon, names)
    _read_phrases(reading, used, lexicon, names)
    _read_rest(reading, used, lexicon, whole_text_upper)
    reading.mentions.sort(key=lambda m: m.start)
    _possessives(reading, lexicon)
    _merge_noun_phrases(reading)
    _compound_names(reading, lexicon)
    _movement_particles(reading, lexicon)
    _subject_clauses(reading, lexicon)
    _collision_course(reading, lexicon)
    _style_descriptions(reading, lexicon)
    _background_behind_subject(reading, lexicon)
    _placed_left_or_right(reading, lexicon)
    _places_after_subjects(reading, lexicon)
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
            kinds = ("number",) if is_negation(token.text, lexicon) else ("number", "ref")  # "no 3", not "no #3"
            if j < len(tokens) and tokens[j].kind in kinds and _is_whole(tokens[j].value):
                _take(reading, used, Mention("subject", f"#{int(tokens[j].value or 0)}", i, j + 1))
                i = j + 1
                while (i + 1 < len(tokens) and tokens[i].text in ("and", ",", "or") and tokens[i + 1].kind == "number"
                       and _is_whole(tokens[i + 1].value)):  # "subjects 3 and 5"
                    _take(reading, used, Mention("subject", f"#{int(tokens[i + 1].value or 0)}", i + 1, i + 2))
                    i += 2
                continue
        verb = _aperture_verb(tokens, i)  # "open up to f/1.4", "stop down to 8": the number is an f-number
        f_len = verb + _f_number_prefix(tokens, i + verb) if verb and i + verb < len(tokens) else \
            _f_number_prefix(tokens, i)
        if f_len:
            j = i + f_len
            if j < len(tokens) and tokens[j].kind == "number" and tokens[j].value:
                _take(reading, used, Mention("f_number", float(tokens[j].value), i, j + 1))
                i = j + 1
                continue
        if token.kind == "number" and _is_era(tokens, i, lexicon):
            reading.mentions.append(Mention("ignored", "era", i, i + 2))  # "80s music video aesthetic"
            reading.ignored.append(token.raw + "s")
            used[i] = used[i + 1] = True
            i += 2
            continue
        if token.kind == "number":
            best: tuple[int, str, float] | None = None
            for kind, table in _QUANTITY_TABLES:
                length, factor = lexicon.match(tokens, i + 1, table) if i + 1 < len(tokens) else (0, None)
                if length and (best is None or length > best[0]):
                    best = (length, kind, factor)
            if best is None and _lens_by_number(tokens, i, lexicon):
                _take(reading, used, Mention("focal_length_mm", float(token.value or 0), i, i + 1))
                i += 1
                continue
            if best is not None:
                length, kind, factor = best
                end = i + 1 + length
                if kind == "distance_m" and end < len(tokens) and tokens[end].text in DISTANCE_TAILS:
                    end += 1  # "10 feet back", "8 m away": the direction of a stand-off, not a side
                _take(reading, used, Mention(kind, float(token.value or 0) * factor, i, end))
                i = end
                continue
        i += 1


_DURATION_BEFORE = frozenset({"for", "over", "in", "lasting", "during", "about", "around", "taking", "within"})


def _is_era(tokens: list[Token], i: int, lexicon: Lexicon) -> bool:
    """A number written like a decade is an era, never a duration: "'80s", "1980s" always; "80s" after "the",
    or before a word that sets nothing or a style description ("80s music video aesthetic", "a 90s look").

    "for 30s", "over 20s" and "a 30s orbit" stay durations.
    """
    if not tokens[i].meta.get("decade") or i + 1 >= len(tokens) or tokens[i + 1].text != "s":
        return False
    if tokens[i].meta.get("era"):
        return True
    before = tokens[i - 1].text if i > 0 else ""
    if before in _DURATION_BEFORE:
        return False
    after = tokens[i + 2:i + 6]
    run = after[:next((k for k, t in enumerate(after) if t.kind != "word"), len(after))]
    return (before == "the" or bool(run) and run[0].text not in lexicon.words
            or any((t.text,) in lexicon.style_heads for t in run))


def _read_background_focus(reading: SegmentReading, used: list[bool], lexicon: Lexicon) -> None:
    """The background described sharp or blurred, in either order, a few gap words apart -> depth of field.

    "background tack sharp" is deep focus, "background really out of focus" / "a fuzzy backdrop" /
    "everything behind her out of focus" shallow; the words never make a focus target of the
    subject before them, and the subject named after "behind" stays for the later passes.
    """
    tokens = reading.tokens
    i = 0
    while i < len(tokens):
        length, _ = lexicon.match(tokens, i, lexicon.background_scope)
        if not length or any(used[i:i + length]):
            i += 1
            continue
        scope_end = i + length
        object_end = _behind_object_end(tokens, used, scope_end, lexicon) if tokens[scope_end - 1].text == "behind" \
            else scope_end
        after = _background_quality_at(tokens, used, object_end, lexicon, forward=True)
        before = None if after else _background_quality_before(tokens, used, i, lexicon)
        if after is not None and object_end == scope_end:
            _take(reading, used, Mention("depth_of_field", after[1], i, after[0]))
            i = after[0]
        elif after is not None:  # the subject between ("everything behind her ... soft") is read later
            _take(reading, used, Mention("depth_of_field", after[1], i, scope_end))
            _take(reading, used, Mention("filler", "", object_end, after[0]))  # the sharpness words
            i = after[0]
        elif before is not None:
            _take(reading, used, Mention("depth_of_field", before[1], before[0], scope_end))
            i = scope_end
        else:
            i += 1


def _read_background_behind(reading: SegmentReading, used: list[bool], lexicon: Lexicon,
                            names: dict[tuple[str, ...], str]) -> None:
    """A thing behind the subject, described sharp or blurred, is the background -> depth of field.

    "keep the mountains in focus behind the hiker", "the trees behind her soft", "hills sharp behind him":
    the thing (a plain noun phrase, not a name given to a track nor a word of the vocabulary's meanings)
    is the background, never a focus target; who it is behind is read later as the subject.
    """
    tokens = reading.tokens
    for b, token in enumerate(tokens):
        if token.text != "behind" or used[b]:
            continue
        object_end = _behind_object_end(tokens, used, b + 1, lexicon)
        if object_end == b + 1:
            continue
        quality = _background_quality_before(tokens, used, b, lexicon, gap_words=0)
        thing_end = quality[0] if quality else b
        thing = _background_thing_start(tokens, used, thing_end, lexicon, names)
        after = None if quality or thing is None else _background_quality_at(tokens, used, object_end, lexicon,
                                                                             forward=True)
        if thing is None or (quality is None and after is None):
            continue
        if quality is not None:  # "the mountains in focus behind the hiker"
            _take(reading, used, Mention("depth_of_field", quality[1], thing, b + 1))
        else:  # "the trees behind her soft": the subject between is read later
            _take(reading, used, Mention("depth_of_field", after[1], thing, b + 1))
            _take(reading, used, Mention("filler", "", object_end, after[0]))


def _background_thing_start(tokens: list[Token], used: list[bool], end: int, lexicon: Lexicon,
                            names: dict[tuple[str, ...], str]) -> int | None:
    """Start of the plain noun phrase (1-3 words, determiners before) that ends at ``end``, or None."""
    def plain(token: Token) -> bool:  # a word of a noun phrase: unknown, or a noun of the vocabulary
        meaning = lexicon.phrases.get((token.text,))
        return (token.kind == "word" and token.text.isalpha() and token.text not in DETERMINERS
                and not is_negation(token.text, lexicon) and token.text not in lexicon.control_words
                and (meaning.category == "noun" if meaning is not None else token.text not in lexicon.meaning_words))

    start = end
    while start > 0 and end - start < 3 and not used[start - 1] and plain(tokens[start - 1]):
        start -= 1
    if start == end or any(tuple(t.text for t in tokens[start:end])[:n] in names for n in range(1, end - start + 1)):
        return None
    while start > 0 and not used[start - 1] and tokens[start - 1].text in DETERMINERS:
        start -= 1
    return start


def _behind_object_end(tokens: list[Token], used: list[bool], j: int, lexicon: Lexicon) -> int:
    """End of who the background is behind ("everything behind her", "behind the bass player"), ``j`` if none."""
    if j < len(tokens) and not used[j] and tokens[j].text in ("her", "him", "them", "it", "us", "me"):
        return j + 1
    k = j
    while k < len(tokens) and not used[k] and tokens[k].text in DETERMINERS:
        k += 1
    end = k
    while (end < len(tokens) and end - k < 3 and not used[end] and tokens[end].kind == "word"
           and not lexicon.match(tokens, end, lexicon.background_quality)[0]
           and not lexicon.match(tokens, end, lexicon.background_gap)[0]
           and not is_negation(tokens[end].text, lexicon)):
        end += 1
    return end if end > k else j


_STYLE_LEAD = frozenset({"a", "an", "the", "some", "that", "this", "kind", "sort", "of", "like", "bit", "little"})


def _style_descriptions(reading: SegmentReading, lexicon: Lexicon) -> None:
    """The words of a style description set nothing, nouns included, and are listed as ignored.

    "kind of a music video feel", "dreamy wedding look", "the look of a perfume ad", "in a noir
    style": the words before a style head (``lexicon.style_heads``), or after "<head> of", are a
    description, not subjects.  A known name, a word that means something, a negation or a
    number ends the description (those keep their meaning or still refuse).
    """
    tokens = reading.tokens
    mentions = reading.mentions
    for index, head in enumerate(mentions):
        if tuple(t.text for t in tokens[head.start:head.end]) not in lexicon.style_heads:
            continue
        read_as_noun = head.category == "subject" and head.open_noun  # "a film vibe": still the head
        if head.category not in ("ignored", "unknown", "filler") and not read_as_noun:
            continue
        taken: list[int] = [index] if head.category == "subject" else []
        k = index - 1
        while (k >= 0 and _adjacent(tokens, mentions[k].end, mentions[k + 1].start)
               and _style_word(mentions[k], reading, lexicon)):
            taken.append(k)
            k -= 1
        k = index + 1
        if (k < len(mentions) and tokens[mentions[k].start].text == "of" and mentions[k].category in ("filler", "link")
                and _adjacent(tokens, head.end, mentions[k].start)):
            k += 1
            while (k < len(mentions) and _adjacent(tokens, mentions[k - 1].end, mentions[k].start)
                   and _style_word(mentions[k], reading, lexicon)):
                taken.append(k)
                k += 1
        for k in taken:
            part = mentions[k]
            if part.category in ("filler", "link", "ignored"):
                continue
            raw = " ".join(t.raw for t in tokens[part.start:part.end])
            if part.category in ("unknown", "unsupported"):
                reading.unknown = [u for u in reading.unknown if u[0] != raw]
            reading.ignored.extend(t.raw for t in tokens[part.start:part.end])
            mentions[k] = Mention("ignored", part.value, part.start, part.end)


def _adjacent(tokens: list[Token], end: int, start: int) -> bool:
    """Nothing but spaces between two mentions: no comma, no full stop."""
    return end <= start and all(t.kind != "punct" for t in tokens[end:start])


def _style_word(mention: Mention, reading: SegmentReading, lexicon: Lexicon) -> bool:
    """A word that may be part of a style description: a lower-case noun, an ignored or unknown plain word,
    or a small lead word ("a", "kind of"); nothing that a comma, a name or a meaning separates."""
    tokens = reading.tokens[mention.start:mention.end]
    if mention.category == "ignored":
        return True  # also an era: "80s music video aesthetic"
    if any(t.kind != "word" for t in tokens):
        return False
    if mention.category == "unsupported":
        return mention.value in lexicon.style_unsupported  # "golden hour vibe"; never "handheld" nor "pan"
    if mention.category == "subject":
        return mention.open_noun
    if mention.category in ("filler", "link"):
        return all(t.text in _STYLE_LEAD for t in tokens)
    return mention.category == "unknown" and all(sets_nothing_in_a_style(t, lexicon) for t in tokens)


def _background_behind_subject(reading: SegmentReading, lexicon: Lexicon) -> None:
    """"behind X" right after a depth-of-field phrase is where the background is, not the camera's side.

    "soft bokeh behind the groom", "blurry background behind her": shallow, about the groom / her.
    """
    mentions = reading.mentions
    for index in range(1, len(mentions)):
        mention, before = mentions[index], mentions[index - 1]
        words = [t.text for t in reading.tokens[mention.start:mention.end]]
        if (mention.category == "side" and words[0] == "behind" and len(words) <= 2
                and before.category == "depth_of_field" and before.end == mention.start):
            replaced = [Mention("filler", "", mention.start, mention.start + 1)]
            pronoun = lexicon.phrases.get(tuple(words[1:])) if len(words) == 2 else None
            if pronoun is not None and pronoun.category == "subject":
                replaced.append(Mention("subject_word", pronoun.value, mention.start + 1, mention.end))
            mentions[index:index + 1] = replaced


def _background_quality_at(tokens: list[Token], used: list[bool], j: int, lexicon: Lexicon,
                           forward: bool) -> tuple[int, str] | None:
    """(end, mode) of a sharpness word starting within ``max_gap`` gap words of ``j``, or None."""
    for _ in range(lexicon.background_max_gap + 1):
        if j >= len(tokens) or used[j]:
            return None
        length, mode = lexicon.match(tokens, j, lexicon.background_quality)
        if length and not any(used[j:j + length]):
            return j + length, str(mode)
        gap, _ = lexicon.match(tokens, j, lexicon.background_gap)
        if not gap:
            return None
        j += gap
    return None


def _background_quality_before(tokens: list[Token], used: list[bool], i: int,
                               lexicon: Lexicon, gap_words: int = 1) -> tuple[int, str] | None:
    """(start, mode) of a sharpness word right before ``i`` ("a crisp backdrop"), ``gap_words`` gap words allowed."""
    for start in range(max(0, i - 4), i):
        length, mode = lexicon.match(tokens, start, lexicon.background_quality, i)
        if not length or any(used[start:i]):
            continue
        rest = i - (start + length)
        if rest == 0 or (rest == 1 <= gap_words and (tokens[i - 1].text,) in lexicon.background_gap):
            return start, str(mode)
    return None


_LIST_MARKS = frozenset({",", ":", ";", "."})


def _lens_by_number(tokens: list[Token], i: int, lexicon: Lexicon) -> bool:
    """A bare number a camera crew says for a lens: "on a 50", "with the 85", "use a 24", "85 on the groom",
    and a prime focal length said alone between commas ("camera op: 85, wide open": ``lens.prime_focal_lengths_mm``)."""
    value = tokens[i].value or 0
    alone_before = i == 0 or tokens[i - 1].kind == "punct" and tokens[i - 1].text in _LIST_MARKS
    alone_after = i + 1 == len(tokens) or tokens[i + 1].kind == "punct" and tokens[i + 1].text in _LIST_MARKS
    if alone_before and alone_after and value in lexicon.settings.lens.prime_focal_lengths_mm:
        return True
    before = tuple(t.text for t in tokens[max(0, i - 2):i])
    after = tokens[i + 1] if i + 1 < len(tokens) else None
    if not (8 <= value <= 800):
        return False
    if (len(before) == 2 and before[0] in ("on", "with", "use", "using", "try", "grab", "put", "mount", "swap",
                                           "switch", "change", "go")
            and before[1] in ("a", "an", "the")
            and (after is None or after.kind == "punct" or after.text in ("lens", "and", "then", "at", "on"))):
        return True
    # "85 on the groom", "a 135 on her": a crew names the lens first, then who it is on
    start = i - 1 if i > 0 and tokens[i - 1].text in ("a", "an", "the") else i
    opens = start == 0 or tokens[start - 1].kind == "punct"
    return opens and float(value).is_integer() and after is not None and after.text == "on"


_APERTURE_VERBS = (("open", "up"), ("open", "it", "up"), ("stop", "down"), ("stop", "it", "down"),
                   ("close", "down"), ("open", "the", "iris"), ("close", "the", "iris"))


def _aperture_verb(tokens: list[Token], i: int) -> int:
    """Tokens of an aperture verb at ``i`` with an f-number after it ("open up to", "stop down"), 0 if none.

    "open up to f/1.4" sets the aperture, not a wider framing; without a number after it
    "open up" keeps its lexicon meaning.
    """
    for verb in _APERTURE_VERBS:
        n = len(verb)
        if tuple(t.text for t in tokens[i:i + n]) != verb:
            continue
        if i + n < len(tokens) and tokens[i + n].text in ("to", "at"):
            n += 1
        if i + n < len(tokens) and (tokens[i + n].kind == "number" or _f_number_prefix(tokens, i + n)):
            return n
    return 0


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
        length, meaning = _yield_to_longer(tokens, i, length, meaning, lexicon, stop)
        assert isinstance(meaning, Meaning)
        if length == 1 and meaning.category not in ("filler", "noun", "subject") and \
                _modifies_a_noun(tokens, i, used, lexicon):
            i += 1  # "the lead singer", "the high jumper": part of a subject's name, read in pass 3
            continue
        if meaning.category == "movement" and length == 1 and _names_a_machine(tokens, i, reading, lexicon):
            _take(reading, used, Mention("subject", tokens[i].text, i, i + 1, open_noun=True))  # "fly by the crane"
            i += 1
            continue
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
            end = i + length
            while end < len(tokens) and _names_more(tokens[end], lexicon):
                end += 1  # "the wedding photographer": the noun modifies the word after it
            words = " ".join(t.text for t in tokens[start:end])
            _take(reading, used, Mention("subject", subject_name(words) or words, start, end, open_noun=True))
            i = end
            continue
        elif meaning.category == "unsupported":
            raw = " ".join(t.raw for t in tokens[i:i + length])
            reading.mentions.append(Mention("unsupported", meaning.value, i, i + length))
            reading.unknown.append((raw, list(lexicon.unsupported_suggestions.get(meaning.value, []))))
            for k in range(i, i + length):
                used[k] = True
        elif meaning.category == "subject":
            _take(reading, used, Mention("subject_word", meaning.value, i, i + length))
        else:
            _take(reading, used, Mention(meaning.category, meaning.value, i, i + length, meaning.implied))
        i += length


def _yield_to_longer(tokens: list[Token], i: int, length: int, meaning: Meaning, lexicon: Lexicon,
                     stop: int) -> tuple[int, Meaning]:
    """A shorter phrase at ``i`` when the longest one would cut a meaningful phrase that reaches further.

    "frame her right third": "her" + "right third", not "her right" + "third";
    "of the crowd": "of" + "the crowd"; "shallow focus on X": "shallow" + "focus on".
    """
    for k in range(i + 1, i + length):
        later, later_meaning = lexicon.match(tokens, k, lexicon.phrases, stop)
        if (later and k + later > i + length and later_meaning.category != "filler"
                and later_meaning.category != meaning.category):
            prefix = lexicon.phrases.get(tuple(t.text for t in tokens[i:k]))
            if prefix is not None:
                return k - i, prefix
    return length, meaning


def _modifies_a_noun(tokens: list[Token], i: int, used: list[bool], lexicon: Lexicon) -> bool:
    """A one-word meaning between "the" and an unknown word is part of a name: "the lead singer"."""
    nxt = i + 1
    return (0 < i and nxt < len(tokens) and tokens[i - 1].text in DEFINITE and not used[nxt]
            and tokens[nxt].kind == "word" and not is_negation(tokens[nxt].text, lexicon)
            and (tokens[nxt].text not in lexicon.words or _is_noun(tokens[nxt].text, lexicon)))


def _names_more(token: Token, lexicon: Lexicon) -> bool:
    """A word after a subject noun that continues its name: unknown, not an adverb ("-ly"), not a negation."""
    return (token.kind == "word" and token.text not in lexicon.words and not token.text.endswith("ly")
            and not is_negation(token.text, lexicon) and token.corrected_from is None)


def _is_noun(word: str, lexicon: Lexicon) -> bool:
    meaning = lexicon.phrases.get((word,))
    return meaning is not None and meaning.category == "noun"


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
            end = _noun_phrase_end(reading, used, i, lexicon)
            if end > i and (_in_subject_slot(tokens, i, reading, lexicon) or _after_definite(tokens, i)):
                name = subject_name(" ".join(t.text for t in tokens[i:end]))
                if name:
                    _take(reading, used, Mention("subject", name, i, end, open_noun=True))
                    i = end
                    continue
            if (token.text in lexicon.words and (token.text,) not in lexicon.phrases and token.text.isalpha()
                    and token.text not in lexicon.meaning_words and not is_negation(token.text, lexicon)
                    and _names_a_machine(tokens, i, reading, lexicon)):  # "push in on the dolly"
                _take(reading, used, Mention("subject", token.text, i, i + 1, open_noun=True))
                i += 1
                continue
            if may_ignore(token, lexicon):
                reading.ignored.append(token.raw)
                reading.mentions.append(Mention("ignored", token.text, i, i + 1))
                used[i] = True
                i += 1
                continue
        reading.unknown.append((token.raw, _compound_side_hint(tokens, i, lexicon)))
        reading.mentions.append(Mention("unknown", token.text, i, i + 1))
        i += 1


_DEPTH_NEIGHBOURS = {"back": "back", "behind": "back", "rear": "back", "front": "front"}


def _compound_side_hint(tokens: list[Token], i: int, lexicon: Lexicon) -> list[str]:
    """Suggestions for a bare "left"/"right" next to a front/back word ("left back"): the compound side first.

    Empty (the configured ``ambiguous`` suggestions apply) for any other word or without such a neighbour.
    """
    side = tokens[i].text
    if side not in ("left", "right"):
        return []
    for j in (i - 1, i + 1):
        if 0 <= j < len(tokens) and tokens[j].kind == "word" and tokens[j].text in _DEPTH_NEIGHBOURS:
            depth = _DEPTH_NEIGHBOURS[tokens[j].text]
            return [f"{depth} {side}", f"from the {depth} {side}", *lexicon.ambiguous.get(side, [])]
    return []


def _noun_phrase_end(reading: SegmentReading, used: list[bool], i: int, lexicon: Lexicon) -> int:
    """End of the noun phrase that starts at ``i`` ("bass player", "hot air balloon"), ``i`` if none.

    A noun phrase is a run of words no other pass read with at least one word
    the vocabulary does not know; it ends on such a word, or runs straight into
    a subject noun ("bass" + "player": merged into one name afterwards).
    """
    tokens = reading.tokens
    j = i
    while (j < len(tokens) and not used[j] and tokens[j].kind == "word"
           and not is_negation(tokens[j].text, lexicon) and tokens[j].text not in LINK_WORDS):
        j += 1
    if any(m.start == j and m.category == "subject" for m in reading.mentions):
        return j  # modifiers of a subject noun: "lead" + "singer"
    end = j
    while end > i and tokens[end - 1].text in lexicon.words:
        end -= 1
    if not any(t.text not in lexicon.words for t in tokens[i:end]):
        return i
    return end


def _after_definite(tokens: list[Token], i: int) -> bool:
    """A word right after "the", "my", "our" ... names something: never ignored, read as a subject."""
    return i > 0 and tokens[i - 1].text in DEFINITE


def _possessives(reading: SegmentReading, lexicon: Lexicon) -> None:
    """A possessive and the noun phrase after it name one subject: "the bride's father" -> "brides father".

    A part of the owner (``subjects.parts``: "the groom's hands", "maya's face") is filmed by filming the
    owner, so there the owner stays the subject.  The noun phrase is up to three plain words right after
    the possessive (no comma): words that set nothing, unknown words or nouns, never a negation.
    """
    tokens = reading.tokens
    mentions = reading.mentions
    for index, owner in enumerate(mentions):
        after_pronoun = _after_possessive_pronoun(owner, reading, lexicon)
        if after_pronoun:
            noun = mentions[index + 1]
            words = " ".join(t.text for t in tokens[noun.start:noun.end])
            if after_pronoun == "owned":
                mentions[index:index + 2] = [Mention("subject_word", owner.value, owner.start, noun.end, owned=words)]
            else:  # "his hands": filmed by filming him; "her dancing": what she does
                reading.ignored.append(" ".join(t.raw for t in tokens[noun.start:noun.end]))
                mentions[index + 1] = Mention("ignored", words, noun.start, noun.end)
            continue
        if not (owner.category == "subject" and _is_word_name(owner) and tokens[owner.end - 1].meta.get("possessive")):
            continue
        k = index + 1
        while (k < len(mentions) and k - index <= 3 and mentions[k].start == mentions[k - 1].end
               and (mentions[k].category in ("ignored", "unknown", "subject") or all(
                   t.text in lexicon.adjectives for t in tokens[mentions[k].start:mentions[k].end]))
               and all(t.kind == "word" and t.text.isalpha() and not is_negation(t.text, lexicon)
                       for t in tokens[mentions[k].start:mentions[k].end])):
            k += 1
        while k > index + 1 and (mentions[k - 1].category not in ("ignored", "unknown", "subject") or all(
                t.text in lexicon.adjectives for t in tokens[mentions[k - 1].start:mentions[k - 1].end])):
            k -= 1  # "maya's little brother": an adjective only inside the phrase ("maya's left" is not one)
        owned = tuple(t.text for t in tokens[owner.end:mentions[k - 1].end]) if k > index + 1 else ()
        if not owned or any(owned[:n] in lexicon.parts for n in range(1, len(owned) + 1)):
            continue
        words = [t.text for t in tokens[owner.start:owner.end]]
        words[-1] = words[-1] if words[-1].endswith("'s") else words[-1] + "'s"
        name = subject_name(" ".join([*words, *owned]))
        if not name:
            continue
        for part in mentions[index + 1:k]:
            raw = " ".join(t.raw for t in tokens[part.start:part.end])
            if part.category == "unknown":
                reading.unknown = [u for u in reading.unknown if u[0] != raw]
                reading.understood_tokens += part.end - part.start
            elif part.category == "ignored":
                reading.ignored = [w for w in reading.ignored if w != raw]
                reading.understood_tokens += part.end - part.start
        mentions[index:k] = [Mention("subject", name, owner.start, mentions[k - 1].end, open_noun=True)]


def _after_possessive_pronoun(owner: Mention, reading: SegmentReading, lexicon: Lexicon) -> str:
    """What the noun read as a subject right after "her"/"his" is: "owned" ("her father", "his car": another
    subject), "part" ("his hands": filmed by filming him) or "action" ("her dancing": a participle, what she
    does); "" when no noun follows."""
    tokens, mentions = reading.tokens, reading.mentions
    index = mentions.index(owner)
    if not (owner.category == "subject_word" and owner.end - owner.start == 1
            and tokens[owner.start].text in POSSESSIVE_PRONOUNS and index + 1 < len(mentions)):
        return ""
    noun = mentions[index + 1]
    words = tuple(t.text for t in tokens[noun.start:noun.end])
    if not (noun.category == "subject" and noun.open_noun and noun.start == owner.end):
        return ""
    if any(words[:n] in lexicon.parts for n in range(1, len(words) + 1)):
        return "part"
    if len(words) == 1 and words[0].endswith("ing") and not _is_noun(words[0], lexicon):
        return "action"
    return "owned"


def _merge_noun_phrases(reading: SegmentReading) -> None:
    """Subject names side by side are one longer name: "the bass player", "the fire truck"."""
    merged: list[Mention] = []
    for mention in reading.mentions:
        last = merged[-1] if merged else None
        if (last is not None and last.category == mention.category == "subject" and last.end == mention.start
                and _is_word_name(last) and _is_word_name(mention)):
            name = subject_name(" ".join(t.text for t in reading.tokens[last.start:mention.end]))
            if name:
                merged[-1] = Mention("subject", name, last.start, mention.end,
                                     open_noun=last.open_noun or mention.open_noun)
                continue
        merged.append(mention)
    reading.mentions = merged


def _movement_particles(reading: SegmentReading, lexicon: Lexicon) -> None:
    """Function words right after a movement are part of it, not words that set nothing or refuse.

    "track along with the runner", "orbit round the car", "follow after the dog", "truck left past
    the crowd": the particle (``lexicon.particles``, longest first) after the movement, fillers
    between allowed, is read as a filler.  A negation never is.
    """
    mentions = reading.mentions
    for index, mention in enumerate(mentions):
        if mention.category not in ("ignored", "unknown") or not _follows_movement(mentions, index):
            continue
        last = index
        while (last + 1 < len(mentions) and mentions[last + 1].start == mentions[last].end
               and mentions[last + 1].category in ("ignored", "unknown", "filler", "link")):
            last += 1
        words = tuple(t.text for t in reading.tokens[mention.start:mentions[last].end])
        length = next((n for n in range(len(words), 0, -1) if words[:n] in lexicon.particles), 0)
        if not length or any(is_negation(w, lexicon) for w in words[:length]):
            continue
        for k in range(index, last + 1):
            part = mentions[k]
            if part.end > mention.start + length or part.category not in ("ignored", "unknown"):
                continue
            raw = " ".join(t.raw for t in reading.tokens[part.start:part.end])
            if part.category == "ignored" and raw in reading.ignored:
                reading.ignored.remove(raw)
            elif part.category == "unknown":
                reading.unknown = [u for u in reading.unknown if u[0] != raw]
            mentions[k] = Mention("filler", part.value, part.start, part.end)


def _subject_clauses(reading: SegmentReading, lexicon: Lexicon) -> None:
    """A clause about what a subject does sets nothing: "stay with the groom as he walks", "while she dances".

    After a clause opener (``lexicon.clause_openers``) and a subject, the spelled-right words that would
    otherwise be ignored or refused (``ignore.sets_nothing_in_a_clause``: never a negation or a word that
    means something) are ignored and listed; a pronoun there refers to a subject the shot names already.
    """
    tokens = reading.tokens
    mentions = reading.mentions
    for index, mention in enumerate(mentions):
        if (mention.category not in ("subject", "subject_word") or mention.start == 0
                or tokens[mention.start - 1].text not in lexicon.clause_openers):
            continue
        k = index + 1
        while (k < len(mentions) and mentions[k].start == mentions[k - 1].end
               and mentions[k].category in ("ignored", "unknown")
               and all(sets_nothing_in_a_clause(t, lexicon) for t in tokens[mentions[k].start:mentions[k].end])):
            k += 1
        if k == index + 1:
            continue
        for part in mentions[index + 1:k]:
            raw = " ".join(t.raw for t in tokens[part.start:part.end])
            if part.category == "unknown":
                reading.unknown = [u for u in reading.unknown if u[0] != raw]
                reading.ignored.append(raw)
            mentions[mentions.index(part)] = Mention("ignored", part.value, part.start, part.end)
        named = any(m.category == "subject" or m.category == "subject_word" and m is not mention
                    for m in mentions if m.start < mention.start)
        if mention.category == "subject_word" and named:  # "as he walks": he is the groom named before
            mentions[index] = Mention("filler", mention.value, mention.start, mention.end)


def _collision_course(reading: SegmentReading, lexicon: Lexicon) -> None:
    """A travel verb, then "into" a subject, with no movement said, is a path into the subject: refused.

    "fly the drone into the crowd", "go straight into her": the ShotSpec has no such shot and nothing
    is flown on it (reported as ``unsupported.collision`` with what to say instead); "push into the
    crowd" stays a push in, "go into a close-up" a framing.
    """
    tokens = reading.tokens
    mentions = reading.mentions
    if any(m.category == "movement" for m in mentions):
        return
    for index, mention in enumerate(mentions):
        if mention.category != "link" or tokens[mention.start].text != "into":
            continue
        k = index + 1
        while k < len(mentions) and mentions[k].category == "filler" and tokens[mentions[k].start].text in DETERMINERS:
            k += 1
        if k >= len(mentions) or mentions[k].category not in ("subject", "subject_word"):
            continue
        start = mention.start
        while start > 0 and tokens[start - 1].kind == "word" and tokens[start - 1].text not in lexicon.travel_verbs:
            start -= 1
        if start == 0 or tokens[start - 1].text not in lexicon.travel_verbs:
            continue
        raw = " ".join(t.raw for t in tokens[start - 1:mention.end])
        reading.unknown.append((raw, list(lexicon.unsupported_suggestions.get("collision", []))))
        mentions[index] = Mention("unsupported", "collision", mention.start, mention.end)
        return


_SCREEN_OF = {"left": "left_third", "right": "right_third"}


def _placed_left_or_right(reading: SegmentReading, lexicon: Lexicon) -> None:
    """Left/right after a placement verb and its subject is where the subject sits in frame.

    "put her left", "frame him right", "keep the groom left": a screen position, not the side the
    camera films from ("her left" alone stays a side) and not an ambiguous bare "left".
    """
    tokens = reading.tokens
    mentions = reading.mentions
    for index, mention in enumerate(mentions):
        words = [t.text for t in tokens[mention.start:mention.end]]
        if mention.category == "side" and len(words) == 2 and words[1] in _SCREEN_OF:
            pronoun = lexicon.phrases.get((words[0],))  # "her left" -> "her" + screen left
            if pronoun is None or pronoun.category != "subject" or not _placed(tokens, mention.start, lexicon):
                continue
            mentions[index:index + 1] = [
                Mention("subject_word", pronoun.value, mention.start, mention.start + 1),
                Mention("screen_position", _SCREEN_OF[words[1]], mention.start + 1, mention.end)]
        elif mention.category == "unknown" and words in (["left"], ["right"]) and index > 0:
            subject = mentions[index - 1]
            if subject.end != mention.start or subject.category not in ("subject", "subject_word") \
                    or not _placed(tokens, subject.start, lexicon):
                continue
            mentions[index] = Mention("screen_position", _SCREEN_OF[words[0]], mention.start, mention.end)
            raw = tokens[mention.start].raw
            reading.unknown = [u for u in reading.unknown if u[0] != raw]
            reading.understood_tokens += 1


def _placed(tokens: list[Token], start: int, lexicon: Lexicon) -> bool:
    """Whether a placement verb ("put", "frame", "keep") stands before ``start``, determiners between."""
    j = start - 1
    while j >= 0 and tokens[j].text in DETERMINERS:
        j -= 1
    return j >= 0 and tokens[j].text in lexicon.placement_verbs


def _follows_movement(mentions: list[Mention], index: int) -> bool:
    """Whether the mention at ``index`` comes right after a movement, through fillers only."""
    while index > 0 and mentions[index - 1].end == mentions[index].start:
        index -= 1
        if mentions[index].category == "movement":
            return True
        if mentions[index].category not in ("filler", "link"):
            return False
    return False


def _places_after_subjects(reading: SegmentReading, lexicon: Lexicon) -> None:
    """A noun phrase after a place word that follows a subject is where the subject is, not a second one.

    "track with the skier down the slope", "follow the kid on the scooter", "reveal the castle from
    behind the trees": one subject each; the place sets nothing and is listed as ignored.  Names
    the director gave ("follow the bride past the groom") and words for people ("her", "the crowd")
    stay subjects, and so does a noun joined by "and" ("the dog and the cat").
    """
    tokens = reading.tokens
    mentions = reading.mentions
    content = {k: m for m in mentions if m.category not in ("filler", "link", "ignored") for k in range(m.start, m.end)}
    seen_subject = False
    for index, mention in enumerate(mentions):
        if mention.category in ("subject", "subject_word") and not seen_subject:
            seen_subject = True
            continue
        if not (seen_subject and mention.category == "subject" and mention.open_noun):
            continue
        j = mention.start
        while j > 0 and tokens[j - 1].text in DETERMINERS:
            j -= 1
        place = next((n for n in range(min(j, lexicon.max_phrase_tokens), 0, -1)
                      if tuple(t.text for t in tokens[j - n:j]) in lexicon.place_words), 0)
        if not place:
            continue
        start = j - place
        spanned = {id(content[k]): content[k] for k in range(start, j) if k in content}
        if any(m.category not in ("side", "unknown") or m.start < start for m in spanned.values()):
            continue  # "focus on the ring": the word belongs to another phrase
        for m in spanned.values():
            if m.category == "unknown":  # "past" of "follow the bride past the fountain"
                raw = " ".join(t.raw for t in tokens[m.start:m.end])
                reading.unknown = [u for u in reading.unknown if u[0] != raw]
            mentions[mentions.index(m)] = Mention("ignored", m.value, m.start, m.end)
        mentions[index] = Mention("ignored", mention.value, mention.start, mention.end)
        reading.ignored.append(" ".join(t.raw for t in tokens[start:mention.end]))


def _compound_names(reading: SegmentReading, lexicon: Lexicon) -> None:
    """"N of N" names one subject: "the maid of honour", "the father of the bride".

    The first part is a lower-case noun phrase read as a subject, the second a noun phrase or a
    name right after "of" (determiners between, no comma).  A word for a group ("the group of
    dancers") or a shot word ("a close-up of maya") never starts one.  Possessives are :func:`_possessives`.
    """
    tokens = reading.tokens
    mentions = reading.mentions
    k = 0
    while k + 1 < len(mentions):
        first = mentions[k]
        n = k + 1
        while n < len(mentions) and mentions[n].category in ("filler", "link") and n - k <= 3:
            n += 1  # "of", "the" between the two parts
        if n >= len(mentions):
            break
        second = mentions[n]
        between = [t.text for t in tokens[first.end:second.start]]
        of_form = (first.category == "subject" and first.open_noun and second.category == "subject"
                   and _is_word_name(second) and between[:1] == ["of"]
                   and all(w in DETERMINERS for w in between[1:]))
        name = subject_name(" ".join(t.text for t in tokens[first.start:second.end])) if of_form else None
        if not name:
            k += 1
            continue
        mentions[k:n + 1] = [Mention("subject", name, first.start, second.end, open_noun=True)]


def _is_word_name(mention: Mention) -> bool:
    return isinstance(mention.value, str) and not mention.value.startswith("#") and mention.value != "all"


def _capitalised_name_in_slot(tokens: list[Token], i: int, reading: SegmentReading, lexicon: Lexicon) -> bool:
    """A capitalised filler word where a subject goes is a name: "follow Will", "orbit Faith"."""
    raw = tokens[i].raw
    capitals = sum(1 for t in tokens if t.kind == "word" and t.raw[:1].isupper())
    words = sum(1 for t in tokens if t.kind == "word")
    return (i > 0 and raw[:1].isupper() and not raw.isupper() and capitals * 2 <= words
            and tokens[i].text not in DETERMINERS and _in_subject_slot(tokens, i, reading, lexicon))


def _names_a_machine(tokens: list[Token], i: int, reading: SegmentReading, lexicon: Lexicon) -> bool:
    """A movement word (or a word only of longer phrases) after "the" in a subject slot, with a movement said
    before it, is the thing filmed: "fly by the crane", "orbit the jib", "push in on the dolly"."""
    return (_after_definite(tokens, i) and _in_subject_slot(tokens, i, reading, lexicon)
            and any(m.category == "movement" and m.end <= i for m in reading.mentions))


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
