"""What the language parser answers: shots, a control command, or a structured "not understood".

The JSON form has exactly three shapes, told apart by their one top-level key::

    {"shots": [ShotSpec, ...]}            (+ "ignored": [words] when some words set nothing)
    {"command": "hold" | "resume" | "abort"}
    {"error": {"message": ..., "not_understood": [...], "suggestions": {...}, "examples": [...],
               "confidence": 0..1, "partial": [ShotSpec, ...] | null, "reason": ...}}

A word that sets nothing (a style word: "documentary vibe") is ignored and
listed in ``ignored``; a command with words that could not be understood (and
might matter: negations, slips, numbers without a unit) is an error even when the
rest parsed: the rest travels in ``error.partial`` so the director app can
offer "fly what was understood" with one tap, but nothing flies on a guess.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, TypeAdapter, model_serializer
from pydantic.json_schema import SkipJsonSchema

from cinempc.shot import ShotSpec

ControlCommand = Literal["hold", "resume", "abort"]
ErrorReason = Literal["not_understood", "refused", "conflict", "out_of_range", "llm", "internal"]


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def to_json(self) -> str:
        """The wire form (one of the three shapes)."""
        return self.model_dump_json()

    @property
    def ok(self) -> bool:
        return not isinstance(self, ErrorAnswer)


class ShotsAnswer(_Answer):
    """One or more shots to fly in order ("..., then ..."); ``ignored`` lists the words that set nothing."""

    shots: list[ShotSpec] = Field(min_length=1)
    ignored: list[str] = Field(default_factory=list, description="words as typed that set nothing (not flown on)")
    # For the app's "read 'tigher' as 'tighter'" line and `cinempc parse --explain`; not part of the wire form.
    corrections: dict[str, str] = Field(default_factory=dict, exclude=True)
    # Subject names flown as typed that nothing known carries ("follow the zebra"): for the app's warning line;
    # not part of the wire form (a one-shot answer stays a valid shot file), logged as a warning by parse_command.
    unknown_subjects: SkipJsonSchema[list[str]] = Field(default_factory=list, exclude=True)
    explanation: SkipJsonSchema[list[Explained]] = Field(default_factory=list, exclude=True)

    @model_serializer(mode="wrap")
    def _ignored_only_when_some(self, handler: SerializerFunctionWrapHandler) -> dict:
        """``{"shots": [...]}``, plus ``"ignored": [...]`` when words were ignored."""
        document = handler(self)
        if not document.get("ignored"):
            document.pop("ignored", None)
        return document

    @property
    def warning(self) -> str | None:
        """What the director is told about :attr:`unknown_subjects` (None when every subject is known)."""
        if not self.unknown_subjects:
            return None
        names = ", ".join(repr(name) for name in self.unknown_subjects)
        one = len(self.unknown_subjects) == 1
        return (f"warning: subject{'' if one else 's'} {names} {'is' if one else 'are'} unknown: neither a subject "
                "word of the vocabulary (config/language.yaml subjects.nouns) nor a name given to a track (--subjects, "
                "or tap and name it on the tablet); flown as typed, the shot frames nobody until a track is named so "
                "or the subject is pointed out on the map -- check the spelling, or say the name of a tracked subject")


class Explained(BaseModel):
    """Which words of a command set which field of which shot (``cinempc parse --explain``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    shot: int = Field(ge=1, description="1-based shot number")
    words: str
    field: str
    value: str
    implied: bool = False


class CommandAnswer(_Answer):
    """A control word: HOLD (hover in place), RESUME the queue, ABORT (return home)."""

    command: ControlCommand


class NotUnderstood(BaseModel):
    """Why a command was not taken, and how to say it so it is."""

    model_config = ConfigDict(extra="forbid")
    reason: ErrorReason = "not_understood"
    message: str
    not_understood: list[str] = Field(default_factory=list, description="words as typed that were not understood")
    suggestions: dict[str, list[str]] = Field(default_factory=dict, description="word -> nearest known terms")
    examples: list[str] = Field(default_factory=list, description="phrasings that are understood")
    confidence: float = Field(default=0.0, ge=0.0, le=1.0, description="share of the content that was understood")
    partial: list[ShotSpec] | None = Field(default=None, description="the shots from what was understood")


class ErrorAnswer(_Answer):
    """The command was refused or not (fully) understood; nothing is flown."""

    error: NotUnderstood


Answer = ShotsAnswer | CommandAnswer | ErrorAnswer
_ADAPTER: TypeAdapter[Answer] = TypeAdapter(Answer)


def answer_from_json(text: str | bytes) -> Answer:
    """Parse and validate an answer in its wire form (raises ``ValueError`` if it is none of the three)."""
    document = json.loads(text)
    keys = set(document) - {"ignored"} if isinstance(document, dict) and "shots" in document else \
        set(document) if isinstance(document, dict) else set()
    if not isinstance(document, dict) or len(keys) != 1:
        raise ValueError("an answer is a JSON object with exactly one key: shots (and ignored), command or error")
    return _ADAPTER.validate_python(document)


def answer_schema() -> dict:
    """JSON Schema of the three answer shapes (for the LLM prompt and third-party tools)."""
    return _ADAPTER.json_schema()
