"""Fuzzing the parser: random strings and mutated commands never raise, and every answer is one of three shapes.

10,000 seeded cases (printable junk, Unicode junk, word salad from the
lexicon, and real commands with typing slips, swaps and truncations), plus a
Hypothesis property over arbitrary text for shrinking if anything ever fails.
"""

from __future__ import annotations

import json
import random
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cinempc.language import CommandAnswer, ErrorAnswer, ShotsAnswer, answer_from_json, parse_command
from cinempc.language.lexicon import load_lexicon
from cinempc.shot import ShotSpec

CASES = 10_000
CURRENT = ShotSpec(subjects=["bride", "groom"], framing="medium", movement={"type": "orbit", "direction": "clockwise"})
COMMANDS = [
    "wide shot of the bride, slow orbit clockwise", "close-up on Alice, shallow depth of field, 85 mm",
    "follow the runner from behind at 3 m/s", "push in on #3 over 8 seconds", "low angle two-shot, keep everyone sharp",
    "track alongside the cyclist, then pull back", "tighter, and rack focus to the groom", "hold", "abort",
    "high angle, subject on the left third", "dolly zoom out on her over ten seconds", "f/2.8 at two metres a second",
    "rack focus from the bride to the groom over 3 seconds", "much wider; then crane up to reveal the valley",
]
EXTRA = ["then", ",", ";", "#3", "2.5", "m/s", "f/2.8", "85mm", "Alice", "both", "her", "mm", "/", "-", "...", "0",
         "1e9", "999999999", "#0", "f/0", "0 m/s", "-5", "?", "'s", "\u00e9", "\u2019", "\U0001f3a5"]


def check(answer) -> None:
    """The answer is one of the three shapes, serialises, and reads back identical."""
    assert isinstance(answer, (ShotsAnswer, CommandAnswer, ErrorAnswer))
    if isinstance(answer, ErrorAnswer):
        assert answer.error.reason != "internal", answer.error.message
        assert answer.error.message
    text = answer.to_json()
    document = json.loads(text)
    keys = set(document) - ({"ignored"} if "shots" in document else set())  # shots may list ignored words
    assert len(keys) == 1 and next(iter(keys)) in ("shots", "command", "error")
    if "ignored" in document:  # only there when words were ignored, as typed
        assert document["ignored"] and all(isinstance(w, str) and w for w in document["ignored"])
    assert answer_from_json(text).to_json() == text


def mutate(text: str, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        i = rng.randrange(len(chars) + 1)
        if op == 0:
            chars.insert(i, rng.choice(string.ascii_lowercase + " ,.-#/0123456789"))
        elif op == 1 and chars:
            del chars[min(i, len(chars) - 1)]
        elif op == 2 and len(chars) > 1:
            j = min(i, len(chars) - 2)
            chars[j], chars[j + 1] = chars[j + 1], chars[j]
        elif op == 3 and chars:
            chars[min(i, len(chars) - 1)] = rng.choice(string.ascii_letters)
        else:
            chars = chars[: rng.randint(0, len(chars))]
    return "".join(chars)


def generate(rng: random.Random, words: list[str]) -> str | bytes:
    kind = rng.randrange(7)
    if kind == 0:
        return "".join(rng.choice(string.printable) for _ in range(rng.randint(0, 80)))
    if kind == 1:
        return "".join(chr(rng.randint(0x20, 0x2FFF)) for _ in range(rng.randint(1, 40)))
    if kind == 2:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 40)))
    if kind == 3:
        return " ".join(rng.choice(words + EXTRA) for _ in range(rng.randint(1, 25)))
    if kind == 4:
        return ", then ".join(mutate(rng.choice(COMMANDS), rng) for _ in range(rng.randint(1, 3)))
    if kind == 5:
        return mutate(rng.choice(COMMANDS), rng).upper()
    return mutate(" ".join(rng.sample(COMMANDS, 2)), rng)


def test_ten_thousand_random_and_mutated_commands():
    rng = random.Random(20261122)
    words = sorted(load_lexicon().words)
    kinds = {"shots": 0, "command": 0, "error": 0}
    for index in range(CASES):
        text = generate(rng, words)
        current = CURRENT if index % 2 else None
        answer = parse_command(text, current=current, known_subjects=["bride", "groom"] if index % 3 else [])
        try:
            check(answer)
        except AssertionError as exc:
            raise AssertionError(f"case {index}: {text!r}: {exc}") from exc
        kinds[next(iter(json.loads(answer.to_json())))] += 1
    assert all(count > 100 for count in kinds.values()), kinds  # the generator reaches all three answers


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=120), st.binary(max_size=60),
                 st.lists(st.sampled_from(EXTRA + ["wide", "orbit", "tighter", "hold", "the", "focus", "rack", "to",
                                                  "zoom", "in", "left", "and"]), max_size=20).map(" ".join)))
def test_property_any_input_gives_one_of_three_answers(text):
    check(parse_command(text, current=CURRENT))
