"""Judging the parser against a corpus of phrasings, each with the ShotSpec fields it must give.

A corpus file (``test/data/language/corpus_*.yaml``) is a YAML list of cases::

    - {say: "wide on the bride, documentary vibe", expect: {framing: wide, subjects: [bride]},
       ignored: [documentary, vibe]}
    - {say: "wide, then close-up", shots: [{framing: wide}, {framing: close_up}]}
    - {say: "hold!", command: hold}
    - {say: "don't orbit", error: any}

``expect``/``shots`` name only the fields the phrase is about (dotted paths);
``known`` replaces the known subjects; ``miss`` says why a training case is a
known miss (a deliberate policy, not a bug): it is expected to fail.  Every case starts from the same shot on
air: a medium follow shot of the bride and groom, with bride, groom and maya known.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cinempc.language.answers import Answer, CommandAnswer, ErrorAnswer, ShotsAnswer
from cinempc.shot import ShotSpec

CURRENT = ShotSpec(subjects=["bride", "groom"], framing="medium", movement={"type": "follow"})
KNOWN = ("bride", "groom", "maya")


@dataclass(frozen=True)
class Case:
    """One phrasing and what it must give."""

    say: str
    shots: tuple[dict[str, Any], ...] = ()
    command: str | None = None
    error: bool = False
    ignored: tuple[str, ...] | None = None
    known: tuple[str, ...] = KNOWN
    miss: str | None = None  # why this case is a known miss


@dataclass
class Verdict:
    """A case's answer, what was wrong with it (empty if nothing) and how long it took."""

    case: Case
    answer: Answer
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def right(self) -> bool:
        return not self.problems


def load_cases(path: str | Path) -> list[Case]:
    """The cases of one corpus file; a malformed case is a ``ValueError`` naming it."""
    document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(document, list):
        raise ValueError(f"{path}: a corpus is a YAML list of cases")
    cases = []
    for number, raw in enumerate(document, 1):
        if not isinstance(raw, dict) or not isinstance(raw.get("say"), str):
            raise ValueError(f"{path}: case {number} has no 'say' text")
        unknown = set(raw) - {"say", "expect", "shots", "command", "error", "ignored", "known", "miss"}
        if unknown:
            raise ValueError(f"{path}: case {number} ({raw['say']!r}) has unknown keys {sorted(unknown)}")
        if "expect" in raw and isinstance(raw["expect"], dict) and raw["expect"].get("error"):
            raw = {**raw, "error": True, "expect": None}
        shots = tuple(raw.get("shots") or ([raw["expect"]] if raw.get("expect") else []))
        if not shots and not raw.get("command") and not raw.get("error"):
            raise ValueError(f"{path}: case {number} ({raw['say']!r}) expects nothing")
        cases.append(Case(
            say=raw["say"], shots=shots, command=raw.get("command"), error=bool(raw.get("error")),
            ignored=tuple(raw["ignored"]) if "ignored" in raw else None,
            known=tuple(raw.get("known", KNOWN)), miss=raw.get("miss"),
        ))
    return cases


def judge(case: Case, answer: Answer) -> list[str]:
    """What is wrong with ``answer`` for ``case`` (empty list: right)."""
    if case.error:
        return [] if isinstance(answer, ErrorAnswer) else [f"expected an error, got {answer.to_json()[:200]}"]
    if case.command:
        if isinstance(answer, CommandAnswer) and answer.command == case.command:
            return []
        return [f"expected command {case.command}, got {answer.to_json()[:200]}"]
    if not isinstance(answer, ShotsAnswer):
        return [f"expected shots, got {answer.to_json()[:300]}"]
    if len(answer.shots) != len(case.shots):
        return [f"expected {len(case.shots)} shots, got {len(answer.shots)}"]
    problems = []
    for number, (shot, fields) in enumerate(zip(answer.shots, case.shots, strict=True), 1):
        document = shot.model_dump(mode="json")
        for path, expected in fields.items():
            got = _at(document, path)
            if not _same(got, expected):
                problems.append(f"shot {number}: {path} = {got!r}, expected {expected!r}")
    if case.ignored is not None and sorted(answer.ignored) != sorted(case.ignored):
        problems.append(f"ignored = {answer.ignored!r}, expected {list(case.ignored)!r}")
    return problems


def run_case(case: Case) -> Verdict:
    """Parse one case (timed) and judge the answer."""
    from cinempc.language import parse_command

    start = time.perf_counter()
    answer = parse_command(case.say, current=CURRENT, known_subjects=list(case.known))
    seconds = time.perf_counter() - start
    return Verdict(case, answer, judge(case, answer), seconds)


def accuracy(verdicts: list[Verdict]) -> float:
    """Share of cases answered right."""
    return sum(v.right for v in verdicts) / len(verdicts) if verdicts else 0.0


def _at(document: dict[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _same(got: Any, expected: Any) -> bool:
    if isinstance(expected, float) and isinstance(got, (int, float)):
        return abs(got - expected) <= 1e-3 * max(1.0, abs(expected))
    return got == expected
