"""The not-understood answer: which words, what was probably meant, how to say it, how sure.

Confidence is the share of the command's content words that were understood
(fillers like "please" do not count either way), lowered a little for each
typo that had to be corrected.  A command with any word not understood is an
error whatever its confidence; the shots built from the understood rest go in
``partial`` for the app to offer, never to fly on their own.
"""

from __future__ import annotations

from cinempc.language.answers import ErrorAnswer, ErrorReason, NotUnderstood
from cinempc.language.lexicon import Lexicon
from cinempc.language.typos import suggest
from cinempc.shot import ShotSpec

MAX_SUGGESTED_WORDS = 8  # suggestions are looked up for this many unknown words (bounded work on junk input)


def confidence(understood_tokens: int, unknown_tokens: int, corrections: int, lexicon: Lexicon) -> float:
    """Share of content understood, minus the configured penalty per corrected typo."""
    total = understood_tokens + unknown_tokens
    share = understood_tokens / total if total else 0.0
    penalty = lexicon.settings.typos.confidence_penalty_per_correction * corrections
    return round(max(0.0, min(1.0, share - penalty)), 3)


def not_understood(unknown: list[tuple[str, list[str]]], lexicon: Lexicon, confidence_value: float,
                   partial: list[ShotSpec] | None, names: list[str]) -> ErrorAnswer:
    """The structured answer for words that were not understood."""
    words: list[str] = []
    suggestions: dict[str, list[str]] = {}
    for index, (text, given) in enumerate(unknown):
        if text not in words:
            words.append(text)
        if text in suggestions:
            continue
        lookup = text.lower()
        if given:
            suggestions[text] = given
        elif lookup.replace(" ", "_") in lexicon.ambiguous:
            suggestions[text] = lexicon.ambiguous[lookup.replace(" ", "_")]
        elif _is_number(lookup):
            suggestions[text] = [s.replace("N", lookup) for s in lexicon.ambiguous.get("number", [])]
        elif index < MAX_SUGGESTED_WORDS:
            suggestions[text] = suggest(lookup, lexicon, extra=names)
    shown = ", ".join(f"'{w}'" for w in words[:6]) + (" ..." if len(words) > 6 else "")
    message = f"not understood: {shown}"
    if partial:
        message += " (the rest was understood: see 'partial'; nothing is flown until the command is clear)"
    return ErrorAnswer(error=NotUnderstood(
        reason="not_understood", message=message, not_understood=words, suggestions=suggestions,
        examples=examples_for(suggestions, lexicon), confidence=confidence_value, partial=partial or None,
    ))


def plain_error(reason: ErrorReason, message: str, lexicon: Lexicon | None, confidence_value: float = 0.0,
                ) -> ErrorAnswer:
    """An error that is about the command as a whole (refused, conflicting, out of range)."""
    examples = list(lexicon.settings.examples[:3]) if lexicon is not None else []
    return ErrorAnswer(error=NotUnderstood(reason=reason, message=message, examples=examples,
                                           confidence=confidence_value))


def examples_for(suggestions: dict[str, list[str]], lexicon: Lexicon, n: int = 3) -> list[str]:
    """Example phrasings that use the suggested terms, topped up with the first configured examples."""
    pool = lexicon.settings.examples
    terms = [t for terms in suggestions.values() for t in terms]
    chosen = [e for e in pool if any(t and t in e for t in terms)][:n]
    for example in pool:
        if len(chosen) >= n:
            break
        if example not in chosen:
            chosen.append(example)
    return chosen


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
