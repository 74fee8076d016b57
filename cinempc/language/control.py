"""Control words: HOLD, RESUME, ABORT -- a command to the flight, not a shot.

A command is only a control command when *all* of it is control words,
fillers and words that set nothing ("hold!", "stop the drone now", "return
home", "stop, something's wrong"), so "hold on the bride"
stays a static shot of the bride and "return to the wide shot" stays a shot.
The unmistakable abort words ("abort", "emergency", "mayday", "RTL") win
wherever they appear: a director shouting them must never get a parse error.
When several control words appear, the safest wins: abort > hold > resume;
a negation anywhere makes a resume no command at all ("no action").

A wait ("hang on a sec", "wait 5 seconds", "hold on a minute") is a hold: the
time says how long the director needs, and the hold lasts until RESUME.  A wait
said with a single "a"/"one" and nothing else ("one sec", "give me a moment",
"just a second") is a hold too: a director asking for a moment never means
"fly the current shot for one second".
"""

from __future__ import annotations

from cinempc.language.grammar import DETERMINERS
from cinempc.language.ignore import is_negation
from cinempc.language.lexicon import TIME_UNITS_S, Lexicon, Meaning
from cinempc.language.normalise import Token

_PRECEDENCE = ("abort", "hold", "resume")
_ONE = frozenset({"a", "an", "one"})  # as typed: "a sec", "one moment"
_DURATION_WORDS = frozenset({"over", "for", "lasting", "during", "in", "within"})  # "for ten seconds": a length


def control_command(tokens: list[Token], lexicon: Lexicon) -> str | None:
    """"hold", "resume" or "abort" if the tokens are a control command, else None."""
    words = [t for t in tokens if t.kind != "punct"]
    for i in range(len(words)):
        length, _ = lexicon.match(words, i, lexicon.always_abort)
        if length:
            return "abort"
    found: set[str] = set()
    waits: list[bool] = []  # per wait: said with a single "a"/"one"
    i = 0
    while i < len(words):
        length, informal = _wait(words, i, lexicon)
        if length:
            waits.append(informal)
            i += length
            continue
        length, command = lexicon.match(words, i, lexicon.control)
        shot_length, meaning = lexicon.match(words, i, lexicon.phrases)
        if shot_length > length and isinstance(meaning, Meaning) and meaning.category != "filler":
            return None  # "go up" is a pedestal move, not "go" + "up"
        if length:
            found.add(command)
            i += length
            continue
        length, _ = lexicon.match(words, i, lexicon.control_filler)
        if not length:
            length, meaning = lexicon.match(words, i, lexicon.phrases)
            if not (length and isinstance(meaning, Meaning) and meaning.category == "filler"):
                if not _sets_nothing(words, i, lexicon):
                    return None
                length = 1
        # a filler never swallows the start of a wait: "just a" + "moment" is "just" + "a moment"
        i += next((k for k in range(1, length) if _wait(words, i + k, lexicon)[0]), length)
    command = next((c for c in _PRECEDENCE if c in found), None)
    if command == "resume" and any(is_negation(w.text, lexicon) for w in words):
        return None  # "no action", "don't continue": never a reason to fly on; the shot reading refuses it
    if waits:
        if command is None and all(waits):
            return "hold"  # "one sec", "give me a moment"
        if command != "hold":
            return None  # "continue for 5 seconds", "over 10 seconds": the shot reading decides
    return command


def _wait(words: list[Token], i: int, lexicon: Lexicon) -> tuple[int, bool]:
    """Tokens of a wait at ``i`` (0 if none) and whether it is a bare "a"/"one" ("a sec", "one moment").

    A wait is a count and a time unit or a word of ``control.wait`` ("moment", "tick"). A count
    after "for"/"over" is how long a shot lasts ("hold that for ten seconds": a static shot),
    unless it is a bare "a"/"one" ("hold for a sec").
    """
    word = words[i]
    if not (word.kind == "number" or word.text in _ONE) or i + 1 >= len(words):
        return 0, False
    length, _ = lexicon.match(words, i + 1, lexicon.wait_units)
    if not length and word.kind == "number":
        length, _ = lexicon.match(words, i + 1, TIME_UNITS_S)
    informal = word.raw.lower() in _ONE
    if not length or (not informal and i > 0 and words[i - 1].text in _DURATION_WORDS):
        return 0, False
    return 1 + length, informal


def _sets_nothing(words: list[Token], i: int, lexicon: Lexicon) -> bool:
    """A word no vocabulary knows, not a negation, not a subject ("stop, something's wrong")."""
    word = words[i]
    if word.kind != "word" or word.text in lexicon.words or is_negation(word.text, lexicon):
        return False
    before = words[i - 1].text if i > 0 else ""
    return before not in DETERMINERS and before not in lexicon.slot_before and not word.raw[:1].isupper()
