"""The rule-based parser: text -> shots / control command / not understood.

Embedded, deterministic and offline; it is the default backend and the
fallback of the LLM one.  The stages each live in their own module:
normalise -> typo correction -> control words -> sequence split -> per-segment
reading (grammar) -> shot composition (compose) -> answer (feedback).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import ValidationError

from cinempc.language.answers import Answer, CommandAnswer, Explained, ShotsAnswer
from cinempc.language.compose import Context, ShotConflict, compose, settled
from cinempc.language.control import control_command
from cinempc.language.feedback import confidence, not_understood, plain_error
from cinempc.language.grammar import read_segment, split_segments, subject_name
from cinempc.language.lexicon import Lexicon, shot_vocabulary
from cinempc.language.normalise import Token, phrase_key, tokenise
from cinempc.language.typos import correct_tokens
from cinempc.shot import ShotSpec, describe_validation_error


def parse_rules(text: str, lexicon: Lexicon, current: ShotSpec | None = None,
                known_subjects: Sequence[str] = ()) -> Answer:
    """Parse already-checked text (see :func:`cinempc.language.parse_command` for the contract)."""
    names = _subject_names(current, known_subjects)
    tokens = tokenise(text)
    protected = {word for key in names for word in key}
    correct_tokens(tokens, lexicon, protected)
    corrections = {t.corrected_from: t.text for t in tokens if t.corrected_from}
    tokens = without_opener(tokens, lexicon)

    command = control_command(tokens, lexicon)
    if command is not None:
        return CommandAnswer(command=command)  # type: ignore[arg-type]

    segments = split_segments(tokens, lexicon)
    if not segments:
        return plain_error("not_understood", "nothing to do: the command has no shot words in it", lexicon)
    if len(segments) > lexicon.settings.limits.max_shots:
        return plain_error("refused", f"too many shots in one command: {len(segments)}, the limit is "
                           f"{lexicon.settings.limits.max_shots}", lexicon)
    letters = [c for c in text if c.isalpha()]
    upper = bool(letters) and all(c.isupper() for c in letters)
    ctx = Context(lexicon.settings, shot_vocabulary(), [s for s in known_subjects], lexicon.movement_directions)
    base = settled(current) if current is not None else ShotSpec()
    shots: list[ShotSpec] = []
    unknown: list[tuple[str, list[str]]] = []
    ignored: list[str] = []
    explanation: list[Explained] = []
    understood = unknown_count = 0
    for segment in segments:
        reading = read_segment(segment, lexicon, names, upper)
        understood += reading.understood_tokens
        unknown_count += sum(len(text_.split()) for text_, _ in reading.unknown)
        unknown.extend(reading.unknown)
        ignored.extend(reading.ignored)
        if not reading.content or all(m.category in ("unknown", "unsupported") for m in reading.content):
            continue
        try:
            shot, missing, explained = compose(reading, base, ctx)
        except ShotConflict as exc:
            return plain_error("conflict", str(exc), lexicon, confidence(understood, unknown_count, 0, lexicon))
        except ValidationError as exc:
            return plain_error("out_of_range", describe_validation_error(exc), lexicon)
        unknown.extend((word, []) for word in missing)
        unknown_count += len(missing)
        shots.append(shot)
        explanation.extend(e.model_copy(update={"shot": len(shots)}) for e in explained)
        base = settled(shot)
    score = confidence(understood, unknown_count, len(corrections), lexicon)
    if unknown:
        return not_understood(unknown, lexicon, score, shots or None, [" ".join(k) for k in names])
    if not shots:
        return plain_error("not_understood", "nothing to do: the command has no shot words in it", lexicon)
    return ShotsAnswer(shots=shots, ignored=list(dict.fromkeys(ignored)), corrections=corrections,
                       explanation=explanation, unknown_subjects=unknown_subjects(shots, lexicon, names.values()))


def unknown_subjects(shots: Sequence[ShotSpec], lexicon: Lexicon, names: Iterable[str]) -> list[str]:
    """The subject names of ``shots`` that nothing known carries, in order of appearance.

    Rule: a name (a subject, the focus target or the rack target; not ``all`` nor a ``#id``) is known when it is a
    name the director may use (``names``: given to a track, or the current shot's), contains a word of one, or
    contains a subject noun of the vocabulary (``subjects.nouns``: "bass player" has "player", "the fire truck"
    "truck").  Anything else ("zebra", "hot air balloon", a capitalised "Marco" no track carries) is flown as
    typed -- the director may point it out on the map -- but reported, never silently accepted.
    """
    known = {str(n) for n in names}
    known_words = {word for name in known for word in name.split()}
    found: list[str] = []
    for shot in shots:
        for ref in (*shot.subjects, shot.focus.target, shot.focus.rack_to):
            if ref is None or ref == "all" or ref.startswith("#") or ref in known or ref in found:
                continue
            words = ref.split()
            spans = (tuple(words[i:j]) for i in range(len(words)) for j in range(i + 1, len(words) + 1))
            if known_words & set(words) or any(getattr(lexicon.phrases.get(span), "category", None) == "noun"
                                                for span in spans):
                continue
            found.append(ref)
    return found


def without_opener(tokens: list[Token], lexicon: Lexicon) -> list[Token]:
    """The tokens after a word that opens the command and its comma ("Right, give me a medium").

    Directors open with "right,", "okay,", "so,": there the word is a filler, not the side "right".
    Without the comma it keeps its meaning ("right third", "right side").
    """
    length, _ = lexicon.match(tokens, 0, lexicon.openers)
    if length and length < len(tokens) and tokens[length].kind == "punct" and tokens[length].text in (",", "!", "."):
        return tokens[length + 1:]
    return tokens


def _subject_names(current: ShotSpec | None, known: Sequence[str]) -> dict[tuple[str, ...], str]:
    """Names the director may use that the lexicon does not know: on-screen subjects, current shot."""
    names: dict[tuple[str, ...], str] = {}
    refs = list(known) + (list(current.subjects) + [current.focus_target] if current is not None else [])
    for ref in refs:
        name = subject_name(str(ref))  # "Dr. Who" -> None: not a ShotSpec subject, so not offered
        if name and name != "all":
            key = phrase_key(name)
            if key:
                names[key] = name
    return names
