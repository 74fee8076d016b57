"""Words that set nothing: an unknown word is ignored (and listed) unless it could matter.

Ignored: a correctly spelled English word that is not vocabulary ("documentary
vibe", "moody", "at sunset"), or a word that only appears inside longer
phrases ("documentary" of "documentary feel").  Refused instead, with
suggestions: a negation ("no", "not", "don't"), a number, a word that means
something on its own used in a way not understood ("orbit left"), a word
within typo distance of a word that sets something (the same distance rules as
the correction: a slip for such a word), and anything that is
not an English word (keyboard noise, a slip for a word the parser does not know).
Subject references never get here: the grammar reads them as subjects first.
Control words mean something on their own, so they are never ignored either, nor is
a word of a control phrase ("hang" of "hang on": "wide, hang on" refuses).
"""

from __future__ import annotations

from cinempc.language.english import is_english_word
from cinempc.language.lexicon import Lexicon
from cinempc.language.normalise import Token
from cinempc.language.typos import within_typo_distance


def is_negation(text: str, lexicon: Lexicon) -> bool:
    """A word that turns a meaning around: the configured negations and every "...n't"."""
    return text in lexicon.negations or text.endswith("n't")


def may_ignore(token: Token, lexicon: Lexicon) -> bool:
    """Whether a word the grammar did not understand sets nothing and may be ignored."""
    if token.kind != "word" or token.corrected_from is not None or token.meta.get("near_phrase"):
        return False  # "pus in": one edit from a phrase with its neighbour ("push in"), a slip as likely as not
    text = token.text
    if is_negation(text, lexicon) or text in lexicon.meaning_words or text in lexicon.control_words:
        return False  # "wide, hang on": the director may be asking to wait
    if text in lexicon.words:
        return True  # a word of a longer phrase, spelled right, that sets nothing on its own
    return is_english_word(text.replace("'", "")) and not within_typo_distance(text, lexicon, lexicon.meaning_words)


def sets_nothing_in_a_style(token: Token, lexicon: Lexicon) -> bool:
    """A word inside a style description ("a noir style") may be ignored even when it is not English,
    unless it is a negation, a word that means something, or within typo distance of such a word."""
    text = token.text
    return (token.kind == "word" and token.corrected_from is None and text.isalpha()
            and not is_negation(text, lexicon) and text not in lexicon.meaning_words
            and text not in lexicon.control_words
            and not within_typo_distance(text, lexicon, lexicon.meaning_words))


def sets_nothing_in_a_clause(token: Token, lexicon: Lexicon) -> bool:
    """A word of a clause about what the subject does ("as he walks") may be ignored when it is spelled right,
    even within typo distance of a vocabulary word, unless it is a negation or a word that means something."""
    text = token.text
    return (token.kind == "word" and token.corrected_from is None and text.isalpha()
            and is_english_word(text) and not is_negation(text, lexicon)
            and text not in lexicon.meaning_words and text not in lexicon.control_words)
