"""Director text -> clean tokens: refusal of bad input, Unicode clean-up, numbers as words.

Directors type on a tablet in a hurry: curly quotes, "85mm", "f/2.8",
"two and a half metres per second", "close-up".  Everything downstream (the
lexicon phrases included) goes through :func:`tokenise`, so a phrase in
``config/language.yaml`` and the director's text are compared in one form.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field


class InputRefused(ValueError):
    """Input that is not a command at all: empty, too long or binary."""


@dataclass
class Token:
    """One word, number or punctuation mark of the command."""

    text: str  # normalised lower-case form used for matching ("2.5" for numbers)
    raw: str  # as typed (case kept: capitals mark names)
    kind: str  # "word", "number", "punct", "ref" (#3)
    value: float | None = None  # numbers and #refs
    corrected_from: str | None = None  # original spelling when a typo was corrected
    meta: dict[str, object] = field(default_factory=dict)


_TRANSLATE = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201b": "'", "\u2032": "'", "`": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2010": "-", "\u2011": "-",
    "\u00d7": "x", "&": " and ", "+": " and ", "\u2192": " then ", "\u21d2": " then ",
})

_TOKEN = re.compile(
    r"(?P<ref>#\s*\d{1,6})"
    r"|(?P<number>\d+(?:\.\d+)?|\.\d+)"
    r"|(?P<word>[^\W\d_]+(?:'[^\W\d_]+)*)"
    r"|(?P<punct>[,;.!?:/()>]|->|=>)",
    re.UNICODE,
)

_UNITS = {"ones": {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19,
}, "tens": {
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
    "ninety": 90,
}}
NUMBER_WORDS: frozenset[str] = frozenset(
    [*_UNITS["ones"], *_UNITS["tens"], "hundred", "half", "couple", "few", "dozen", "point"]
)


def check_input(text: object, max_chars: int) -> str:
    """The command as clean text, or :class:`InputRefused` saying exactly why not.

    Bytes are accepted only as UTF-8; control characters other than white space
    mark binary data (a file pasted by mistake), which is refused rather than
    parsed into nonsense.
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        if len(text) > 4 * max_chars:  # no UTF-8 text of max_chars characters is longer
            raise InputRefused(f"command too long: {len(text)} bytes, the limit is {max_chars} characters")
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputRefused(f"binary input refused: not UTF-8 text (bad byte at offset {exc.start})") from None
    if not isinstance(text, str):
        raise InputRefused(f"a command must be text, got {type(text).__name__}")
    if len(text) > max_chars:
        raise InputRefused(f"command too long: {len(text)} characters, the limit is {max_chars}")
    # Control characters and lone surrogates mark binary data; an emoji newer than
    # this Python's Unicode tables (category Cn) is still text.
    bad = [c for c in text if unicodedata.category(c) in ("Cc", "Cs") and c not in "\t\r\n"]
    if bad or "\ufffd" in text:
        code = ord(bad[0]) if bad else 0xFFFD
        raise InputRefused(f"binary input refused: control character U+{code:04X} in the command")
    if not text.strip():
        raise InputRefused("empty command: say what shot you want, e.g. 'wide shot of the bride, slow orbit'")
    return text


def clean(text: str) -> str:
    """Unicode folded to the plain ASCII punctuation the lexicon uses."""
    text = unicodedata.normalize("NFKC", text).translate(_TRANSLATE)
    text = re.sub(r"\b3\s*/\s*4\b", " three quarter ", text)
    text = re.sub(r"(?<=\w)-(?=\w)", " ", text)  # close-up, fly-by, three-quarter
    return text.replace("-", " ")


def tokenise(text: str) -> list[Token]:
    """Tokens of ``text`` with number words turned into numbers ("two and a half" -> 2.5)."""
    tokens: list[Token] = []
    text = clean(text)
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "punct"
        raw = match.group()
        if kind == "ref":
            number = int(re.sub(r"\D", "", raw))
            tokens.append(Token(f"#{number}", raw, "ref", float(number)))
        elif kind == "number":
            tokens.append(Token(_number_text(float(raw)), raw, "number", float(raw),
                                meta=_decade_form(text, match.start(), match.end())))
        elif kind == "word":
            tokens.append(Token(raw.lower(), raw, "word"))
        else:
            tokens.append(Token(raw, raw, "punct"))
    return _numbers_from_words(tokens)


_DECADE = re.compile(r"(?:1[89]|20)?[1-9]0")


def _decade_form(text: str, start: int, end: int) -> dict[str, object]:
    """``{"decade": True}`` for a number written like a decade ("80s", "'80s", "80's", "1980s"), with
    ``"era": True`` when its form can only be a decade (an apostrophe or four digits); else empty."""
    tail = re.match(r"'?s(?![^\W\d_])", text[end:])
    if not tail or not _DECADE.fullmatch(text[start:end]):
        return {}
    apostrophe = "'" in tail.group() or text[max(0, start - 1):start] == "'"
    return {"decade": True, "era": apostrophe or end - start == 4}


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def phrase_key(phrase: str) -> tuple[str, ...]:
    """The token texts of a lexicon phrase, normalised exactly like director input."""
    return tuple(token.text for token in tokenise(phrase))


# ----------------------------------------------------------------- number words

_TIME_OR_UNIT_WORDS = frozenset({
    "second", "sec", "minute", "min", "metre", "meter", "foot", "yard", "mile", "hour", "kilometre", "kilometer",
})


def _numbers_from_words(tokens: list[Token]) -> list[Token]:
    """Replace runs of number words by one number token.

    Handles "twenty five", "two and a half", "one point five", "a couple of",
    "half a minute" and "a second" (only before a unit, so "a wide shot" stays).
    A lone "one" that is not followed by a unit ("that one") is left a word.
    """
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        value, used = _read_number(tokens, i)
        if used:
            raw = " ".join(t.raw for t in tokens[i:i + used])
            out.append(Token(_number_text(value), raw, "number", value))
            i += used
            continue
        out.append(tokens[i])
        i += 1
    return out


def _word(tokens: list[Token], i: int) -> str:
    return tokens[i].text if i < len(tokens) and tokens[i].kind == "word" else ""


def _is_unit_word(word: str) -> bool:
    return word.rstrip("s") in _TIME_OR_UNIT_WORDS or word in ("mph", "kph", "ft", "m", "s", "mm", "feet", "km", "cm")


def _read_number(tokens: list[Token], i: int, leading_hundred: bool = False) -> tuple[float, int]:
    """(value, tokens used) of a number written in words at ``i``; (0, 0) if none."""
    first = _word(tokens, i)
    if first in ("a", "an") and _word(tokens, i + 1) == "hundred":
        value, used = _read_number(tokens, i + 1, leading_hundred=True)
        return (value, used + 1) if used else (0.0, 0)
    if first in ("a", "an"):
        if i > 0 and _is_unit_word(tokens[i - 1].text):  # "metres a second": "a" means "per"
            return 0.0, 0
        if _word(tokens, i + 1) == "couple":
            return 2.0, 3 if _word(tokens, i + 2) == "of" else 2
        if _word(tokens, i + 1) == "few":
            return 3.0, 2
        if _word(tokens, i + 1) == "dozen":
            return 12.0, 2
        if _is_unit_word(_word(tokens, i + 1)):
            return 1.0, 1
        return 0.0, 0
    if first == "half" and _word(tokens, i + 1) in ("a", "an"):
        return 0.5, 2
    if first not in NUMBER_WORDS or first in ("point", "half", "couple", "few", "dozen"):
        return 0.0, 0
    if first == "hundred" and not leading_hundred:
        return 0.0, 0
    total, current, used = 0.0, 0.0, 0
    j = i
    while True:
        word = _word(tokens, j)
        if word in _UNITS["ones"]:
            current += _UNITS["ones"][word]
        elif word in _UNITS["tens"]:
            current += _UNITS["tens"][word]
        elif word == "hundred" and (used or leading_hundred):
            current = max(current, 1.0) * 100
        else:
            break
        used += 1
        j += 1
        if _word(tokens, j) == "and" and current >= 100 and (
                _word(tokens, j + 1) in _UNITS["ones"] or _word(tokens, j + 1) in _UNITS["tens"]):
            j += 1
            used += 1
    if used == 0:
        return 0.0, 0
    total = current
    if _word(tokens, j) == "point" and _word(tokens, j + 1) in _UNITS["ones"]:
        digits = ""
        k = j + 1
        while _word(tokens, k) in _UNITS["ones"] and _UNITS["ones"][_word(tokens, k)] < 10:
            digits += str(_UNITS["ones"][_word(tokens, k)])
            k += 1
        total = float(f"{int(total)}.{digits}")
        used += k - j
        j = k
    elif _word(tokens, j) == "and" and _word(tokens, j + 1) == "a" and _word(tokens, j + 2) == "half":
        total += 0.5
        used += 3
        j += 3
    elif _word(tokens, j) == "and" and _word(tokens, j + 1) == "half":
        total += 0.5
        used += 2
        j += 2
    if first == "one" and used == 1 and not (_is_unit_word(_word(tokens, j)) or _word(tokens, j) in ("m", "mm")):
        nxt = tokens[j] if j < len(tokens) else None
        if nxt is None or nxt.kind != "punct" or nxt.text != "/":
            return 0.0, 0
    return total, used
