"""Plain English -> ShotSpec: what a director types on the tablet, as shots or a control command.

``parse_command(text, current=None, known_subjects=())`` never raises: it
answers :class:`ShotsAnswer`, :class:`CommandAnswer` or :class:`ErrorAnswer`,
whose JSON forms are ``{"shots": [...]}``, ``{"command": ...}`` and
``{"error": {...}}``.  See ``docs/language.md`` for the vocabulary and the
decisions (edits, zoom, partial parses, confidence).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from cinempc.language.answers import (
    Answer,
    CommandAnswer,
    ErrorAnswer,
    NotUnderstood,
    ShotsAnswer,
    answer_from_json,
    answer_schema,
)
from cinempc.language.lexicon import LanguageSettings, load_lexicon, load_settings
from cinempc.shot import ShotSpec

__all__ = [
    "Answer", "CommandAnswer", "ErrorAnswer", "LanguageSettings", "NotUnderstood", "ShotsAnswer",
    "answer_from_json", "answer_schema", "load_settings", "parse_command",
]

_log = logging.getLogger(__name__)


def _warned(answer: Answer) -> Answer:
    """The answer, its warning (a subject nothing known carries) logged: a CLI shows it on stderr, a node logs it."""
    warning = getattr(answer, "warning", None)
    if warning:
        _log.warning("%s", warning)
    return answer


def parse_command(text: str | bytes, current: ShotSpec | None = None, known_subjects: Sequence[str] = (),
                  backend: str | None = None) -> Answer:
    """Parse a director's command.

    ``current`` is the shot on air (relative edits and "her"/"them" refer to
    it); ``known_subjects`` are the names given to tracked subjects.  A subject
    name that is neither one of those nor a subject word of the vocabulary is
    flown as typed but listed in ``ShotsAnswer.unknown_subjects`` and logged as
    a warning (``ShotsAnswer.warning``).
    ``backend`` is "rules" (default unless ``llm.enabled`` in
    ``config/language.yaml``) or "llm".  Control words are always read by the
    rules first, so HOLD works even when an LLM endpoint is slow or down.
    """
    from cinempc.language.feedback import plain_error
    from cinempc.language.normalise import InputRefused, check_input
    from cinempc.language.rules import parse_rules

    try:
        lexicon = load_lexicon()
    except Exception as exc:  # noqa: BLE001 -- a broken config must still give an answer
        return ErrorAnswer(error=NotUnderstood(reason="internal", message=f"language config unusable: {exc}"))
    try:
        clean = check_input(text, lexicon.settings.limits.max_chars)
    except InputRefused as exc:
        return plain_error("refused", str(exc), lexicon)
    if current is not None and not isinstance(current, ShotSpec):
        return plain_error("refused", f"current shot must be a ShotSpec, got {type(current).__name__}", lexicon)
    try:
        known = [known_subjects] if isinstance(known_subjects, str) else [str(s) for s in known_subjects]
        use_llm = backend == "llm" or (backend is None and lexicon.settings.llm.enabled)
        if backend not in (None, "rules", "llm"):
            return plain_error("refused", f"unknown language backend {backend!r}: use 'rules' or 'llm'", lexicon)
        rules_answer = parse_rules(clean, lexicon, current, known)
        if not use_llm or isinstance(rules_answer, CommandAnswer):
            return _warned(rules_answer)
        from cinempc.language.llm import LlmError, parse_with_llm

        try:
            answer = parse_with_llm(clean, lexicon.settings.llm, current, known)
            if isinstance(answer, ShotsAnswer) and len(answer.shots) > lexicon.settings.limits.max_shots:
                raise LlmError(f"the model answered {len(answer.shots)} shots, the limit is "
                               f"{lexicon.settings.limits.max_shots}")
            if isinstance(answer, ShotsAnswer):
                from cinempc.language.rules import _subject_names, unknown_subjects

                names = _subject_names(current, known).values()
                answer = answer.model_copy(update={"unknown_subjects": unknown_subjects(answer.shots, lexicon, names)})
            return _warned(answer)
        except LlmError as exc:
            if lexicon.settings.llm.fallback_to_rules:
                _log.warning("LLM backend failed (%s); using the rule-based parser", exc)
                return _warned(rules_answer)
            return plain_error("llm", f"LLM backend failed: {exc}", lexicon)
    except Exception as exc:  # noqa: BLE001 -- the director gets an answer, the log gets the bug
        _log.exception("language parser failed on %r", text)
        return plain_error("internal", f"internal parser error ({type(exc).__name__}); please rephrase", lexicon)
