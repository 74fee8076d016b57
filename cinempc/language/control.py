"""Control words: HOLD, RESUME, ABORT -- a command to the flight, not a shot.

A command is only a control command when *all* of it is control words,
fillers and words that set nothing ("hold!", "stop the drone now", "return
home", "stop, something's wrong"), so "hold on the bride"
stays a static shot of the bride and "return to the wide shot" stays a shot.
The unmistakable abort words ("abort", "emergency", "mayday", "RTL") win
wherever they appear: a director shouting them must never get a parse error.
When several control words appear, the safest wins: abort > hold > resume;
a negation anywhere makes a resume no command at all ("no action").
"""

from __future__ import annotations

from cinempc.language.grammar import DETERMINERS
from cinempc.language.ignore import is_negation
from cinempc.language.lexicon import Lexicon, Meaning
from cinempc.language.normalise import Token

_PRECEDENCE = ("abort", "hold", "resume")


def control_command(tokens: list[Token], lexicon: Lexicon) -> str | None:
    """"hold", "resume" or "abort" if the tokens are a control command, else None."""
    words = [t for t in tokens if t.kind != "punct"]
    for i in range(len(words)):
        length, _ = lexicon.match(words, i, lexicon.always_abort)
        if length:
            return "abort"
    found: set[str] = set()
    i = 0
    while i < len(words):
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
        i += length
    command = next((c for c in _PRECEDENCE if c in found), None)
    if command == "resume" and any(is_negation(w.text, lexicon) for w in words):
        return None  # "no action", "don't continue": never a reason to fly on; the shot reading refuses it
    return command


def _sets_nothing(words: list[Token], i: int, lexicon: Lexicon) -> bool:
    """A word no vocabulary knows, not a negation, not a subject ("stop, something's wrong")."""
    word = words[i]
    if word.kind != "word" or word.text in lexicon.words or is_negation(word.text, lexicon):
        return False
    before = words[i - 1].text if i > 0 else ""
    return before not in DETERMINERS and before not in lexicon.slot_before and not word.raw[:1].isupper()
