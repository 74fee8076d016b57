"""Typo tolerance and "did you mean" suggestions, with RapidFuzz.

RapidFuzz (C++) is fast enough to check every unknown word of every command
and to fuzz the parser with tens of thousands of strings.  A correction is only made when it is close *and*
unambiguous: a tie between two known words is left uncorrected and reported
instead, because quietly picking one would be a guess.  Words shorter than the
configured minimum are never corrected ("lwo" could be "low" or "two"), and
words of up to five letters must keep their first letter (typos rarely hit it,
and "tree" must not become "three").  A correctly spelled English word is
never corrected into another one (:mod:`cinempc.language.english`).
"""

from __future__ import annotations

from functools import lru_cache

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from cinempc.language.english import is_english_word
from cinempc.language.lexicon import Lexicon
from cinempc.language.normalise import Token


def correct_tokens(tokens: list[Token], lexicon: Lexicon, protected: set[str]) -> None:
    """Correct misspelt words in place, recording the original in ``Token.corrected_from``.

    ``protected`` holds words that are right as typed (known subject names).
    Capitalised words inside the sentence are names, not typos, and stay.
    """
    for index, token in enumerate(tokens):
        if token.kind != "word" or token.text in lexicon.words or token.text in protected:
            continue
        base = token.text[:-2] if token.text.endswith("'s") else token.text
        if base != token.text:
            token.meta["possessive"] = True  # "the bride's father": read by the grammar
        if base in lexicon.words or base in protected:
            token.text = base
            continue
        if index > 0 and token.raw[:1].isupper() and not token.raw.isupper():
            continue  # "Alice", "Bob": a name
        if is_english_word(base):  # "raider" is a word, not a slip for "rider": never turned into another word
            if correction_in_phrase(tokens, index, lexicon):
                token.meta["near_phrase"] = True  # "pus in": may be a slip, so it is never ignored either
            continue
        best = best_correction(base, lexicon) or correction_in_phrase(tokens, index, lexicon) \
            or short_slip(base, lexicon)
        if best is not None:
            token.corrected_from = token.raw
            token.text = best


@lru_cache(maxsize=8192)
def best_correction(word: str, lexicon: Lexicon) -> str | None:
    """The one known word ``word`` is a plausible misspelling of, or None.

    Closeness is the optimal-string-alignment distance (a swapped pair of
    letters is one slip, as a typist makes it); among equally close words the
    one sharing most letters wins, and a remaining tie is no correction.
    """
    found = _within_reach(word, lexicon)
    if not found:
        return None
    fewest = min(distance for _, distance, _ in found)
    ranked = sorted(((fuzz.ratio(word, choice), choice) for choice, distance, _ in found if distance == fewest),
                    reverse=True)
    if len(ranked) > 1 and ranked[1][0] >= ranked[0][0] - 1e-9:
        return None  # a tie: ambiguous, report rather than guess
    return ranked[0][1]


def correction_in_phrase(tokens: list[Token], index: int, lexicon: Lexicon) -> str | None:
    """A slip too short to correct alone, read by its neighbour: the one word one edit away, first letter
    kept, that makes a meaningful lexicon phrase with the word before or after it ("pul back", "fly pasd")."""
    word = tokens[index].text
    settings = lexicon.settings.typos
    if not (settings.phrase_min_word_length <= len(word) < settings.long_word_length) or not word.isalpha():
        return None
    before = tokens[index - 1].text if index > 0 and tokens[index - 1].kind == "word" else None
    after = tokens[index + 1].text if index + 1 < len(tokens) and tokens[index + 1].kind == "word" else None
    pairs = _phrase_pairs(lexicon)
    found = {choice for choice, _, _ in process.extract(word, _by_first_letter(lexicon).get(word[0], ()),
                                                        scorer=OSA.distance, score_cutoff=1, limit=None)
             if (before, choice) in pairs or (choice, after) in pairs}
    return found.pop() if len(found) == 1 else None


@lru_cache(maxsize=4096)
def short_slip(word: str, lexicon: Lexicon) -> str | None:
    """A word of ``typos.min_word_length`` letters (not English) one edit, first letter kept, from exactly one
    word that sets something on its own (not a negation): that word ("orbt" -> orbit, "dlly" -> dolly)."""
    if len(word) != lexicon.settings.typos.min_word_length or not word.isalpha():
        return None
    found = {choice for choice, _, _ in process.extract(word, _by_first_letter(lexicon).get(word[0], ()),
                                                        scorer=OSA.distance, score_cutoff=1, limit=None)
             if choice in lexicon.meaning_words and choice not in lexicon.negations}
    return found.pop() if len(found) == 1 else None  # never into a negation: "noir" is not "nor"


@lru_cache(maxsize=8)
def _phrase_pairs(lexicon: Lexicon) -> frozenset[tuple[str, str]]:
    """Neighbouring words of the meaningful phrases ("pull back" -> ("pull", "back")), fillers left out."""
    return frozenset(pair for key, meaning in lexicon.phrases.items() if meaning.category != "filler"
                     for pair in zip(key, key[1:], strict=False))


def within_typo_distance(word: str, lexicon: Lexicon, among: frozenset[str] | None = None) -> bool:
    """Whether a correction could reach a vocabulary word (of ``among``, if given) from ``word``; ties count."""
    return any(among is None or choice in among for choice, _, _ in _within_reach(word, lexicon))


@lru_cache(maxsize=8192)
def _within_reach(word: str, lexicon: Lexicon) -> tuple[tuple[str, int, int], ...]:
    """Vocabulary words within the configured typo distance of ``word``, as (word, distance, index)."""
    settings = lexicon.settings.typos
    if len(word) < settings.min_word_length or not word.isalpha():
        return ()
    edits = settings.max_edits_long if len(word) >= settings.long_word_length else settings.max_edits
    candidates = _by_first_letter(lexicon).get(word[0], ()) if len(word) <= 5 else _alpha_words(lexicon)
    found = process.extract(word, candidates, scorer=OSA.distance, score_cutoff=edits, limit=None)
    if len(word) <= settings.min_word_length:  # short words: only a swapped pair ("hodl"), "ring" is not "rig"
        found = [f for f in found if len(f[0]) == len(word) and sorted(f[0]) == sorted(word)]
    return tuple((choice, int(distance), int(index)) for choice, distance, index in found)


@lru_cache(maxsize=8)
def _alpha_words(lexicon: Lexicon) -> tuple[str, ...]:
    return tuple(sorted(w for w in lexicon.words if w.isalpha()))


@lru_cache(maxsize=8)
def _by_first_letter(lexicon: Lexicon) -> dict[str, tuple[str, ...]]:
    groups: dict[str, list[str]] = {}
    for word in _alpha_words(lexicon):
        groups.setdefault(word[0], []).append(word)
    return {letter: tuple(words) for letter, words in groups.items()}


@lru_cache(maxsize=8)
def _term_of_word(lexicon: Lexicon) -> dict[str, str]:
    """For each known word, the shortest meaningful phrase that contains it ("eye" -> "eye level")."""
    index: dict[str, str] = {}
    for term in sorted(lexicon.terms, key=len):
        for word in term.split():
            index.setdefault(word, term)
    return index


def suggest(text: str, lexicon: Lexicon, extra: list[str] | None = None, n: int = 3) -> list[str]:
    """Known terms that look like ``text`` (for the not-understood answer)."""
    return list(_suggest(text.lower(), lexicon, tuple(extra or ()), n))


@lru_cache(maxsize=4096)
def _suggest(text: str, lexicon: Lexicon, extra: tuple[str, ...], n: int) -> tuple[str, ...]:
    cutoff = 100 * lexicon.settings.typos.suggestion_cutoff
    pool = tuple(lexicon.terms) + extra
    found: list[str] = []
    if " " in text:
        found = [choice for choice, _, _ in process.extract(text, pool, scorer=fuzz.ratio, score_cutoff=cutoff,
                                                            limit=n)]
    if len(found) < n:  # a word of a longer phrase ("levl" -> "eye level")
        index = _term_of_word(lexicon)
        for word, _, _ in process.extract(text, tuple(index), scorer=fuzz.ratio, score_cutoff=cutoff, limit=n):
            if index[word] not in found:
                found.append(index[word])
    return tuple(found[:n])
