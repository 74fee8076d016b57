"""The director's vocabulary, from ``config/language.yaml``: phrases -> ShotSpec meanings.

The crew extends the vocabulary in the YAML file; this module only compiles it
into lookup tables (token tuples -> :class:`Meaning`) and checks that no
phrase means two things, because an ambiguous lexicon would make the parser
guess.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from cinempc.config import CONFIG_ENV, resolve_config_path
from cinempc.language.normalise import NUMBER_WORDS, Token, phrase_key
from cinempc.shot import MOVEMENT_TYPES, SIDES, ShotVocabulary, presets, vocabulary

LANGUAGE_FILE = "language.yaml"

# Phrase-table categories that map straight onto ShotSpec values (and the words
# that only steer the parser: fillers, intensifiers, focus markers).
SHOT_CATEGORIES = (
    "framing", "angle", "side", "screen_position", "movement", "direction", "speed", "depth_of_field", "lens",
    "edit", "intensifier", "focus", "orbit_extent",
)


class LexiconError(ValueError):
    """``config/language.yaml`` is inconsistent (e.g. one phrase with two meanings)."""


@dataclass(frozen=True)
class Meaning:
    """What a phrase says: a category (framing, edit, subject, ...) and its value."""

    category: str
    value: str
    implied: bool = False  # from a shot name ("establishing shot" -> extreme wide): an explicit word wins


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Settings):
    max_chars: int = Field(gt=0, le=100_000)
    max_shots: int = Field(gt=0, le=100)


class TypoSettings(_Settings):
    min_word_length: int = Field(ge=2)
    phrase_min_word_length: int = Field(default=3, ge=2)
    max_edits: int = Field(ge=0, le=3)
    max_edits_long: int = Field(ge=0, le=4)
    long_word_length: int = Field(ge=3)
    suggestion_cutoff: float = Field(gt=0, le=1)
    confidence_penalty_per_correction: float = Field(ge=0, lt=1)


class LensSettings(_Settings):
    tele_focal_length_mm: float = Field(gt=1)
    wide_focal_length_mm: float = Field(gt=1)
    normal_focal_length_mm: float = Field(gt=1)
    prime_focal_lengths_mm: list[float] = Field(default_factory=list)  # a bare "85," said alone is this lens


class FNumberSettings(_Settings):
    shallow_at_or_below: float = Field(gt=0)
    deep_at_or_above: float = Field(gt=0)


class EditSettings(_Settings):
    speed_factor: float = Field(gt=1)
    strong_steps: int = Field(ge=1, le=7)
    zoom_factor_at_limit: float = Field(gt=1)


SideName = Literal["front", "front_left", "left", "back_left", "back", "back_right", "right", "front_right"]


class DefaultSettings(_Settings):
    three_quarter_side: SideName
    back_three_quarter_side: SideName
    profile_side: SideName
    alongside_side: SideName
    over_the_shoulder_side: SideName
    rule_of_thirds_position: Literal["left_third", "center", "right_third"]
    dolly_zoom: Literal["dolly_zoom_in", "dolly_zoom_out"]


class LlmSettings(_Settings):
    enabled: bool = False
    url: str = ""
    model: str = "local-model"
    api_key_env: str = "CINEMPC_LLM_API_KEY"
    timeout_s: float = Field(default=8.0, gt=0, le=120)
    fallback_to_rules: bool = True


class LanguageSettings(_Settings):
    """The numbers and switches of ``config/language.yaml`` (everything but the phrase lists)."""

    limits: Limits
    typos: TypoSettings
    lens: LensSettings
    f_number: FNumberSettings
    edits: EditSettings
    defaults: DefaultSettings
    llm: LlmSettings
    examples: list[str] = Field(min_length=1)


@dataclass(eq=False)  # hashed by identity: one compiled lexicon per config file version
class Lexicon:
    """Compiled phrase tables; see ``config/language.yaml`` for what each holds."""

    settings: LanguageSettings
    phrases: dict[tuple[str, ...], Meaning] = field(default_factory=dict)
    control: dict[tuple[str, ...], str] = field(default_factory=dict)
    control_filler: set[tuple[str, ...]] = field(default_factory=set)
    sequence: set[tuple[str, ...]] = field(default_factory=set)
    reference_words: set[tuple[str, ...]] = field(default_factory=set)
    slot_before: frozenset[str] = frozenset()
    adjectives: frozenset[str] = frozenset()
    parts: set[tuple[str, ...]] = field(default_factory=set)  # "hands" of "the groom's hands": the owner is filmed
    unsupported_suggestions: dict[str, list[str]] = field(default_factory=dict)
    ambiguous: dict[str, list[str]] = field(default_factory=dict)  # bare word -> what to say instead
    always_abort: set[tuple[str, ...]] = field(default_factory=set)
    wait_units: set[tuple[str, ...]] = field(default_factory=set)  # "a moment": a wait, i.e. a hold
    negations: frozenset[str] = frozenset()  # words that turn a meaning around: never ignored, never flown
    style_heads: set[tuple[str, ...]] = field(default_factory=set)  # "feel" of "a music video feel"
    style_unsupported: frozenset[str] = frozenset()  # unsupported concepts a style description may hold ("golden hour")
    travel_verbs: frozenset[str] = frozenset()  # "fly" of "fly the drone into the crowd": a collision course
    clause_openers: frozenset[str] = frozenset()  # "as" of "as he walks": a clause about the subject follows
    placement_verbs: frozenset[str] = frozenset()  # "put" of "put her left": left/right is then a screen position
    particles: set[tuple[str, ...]] = field(default_factory=set)  # "along" of "track along with the runner"
    openers: set[tuple[str, ...]] = field(default_factory=set)  # "right" of "Right, give me a medium"
    place_words: set[tuple[str, ...]] = field(default_factory=set)  # "down", "on", "from behind": a place follows
    background_scope: set[tuple[str, ...]] = field(default_factory=set)  # "background", "backdrop"
    background_quality: dict[tuple[str, ...], str] = field(default_factory=dict)  # "tack sharp" -> deep
    background_gap: set[tuple[str, ...]] = field(default_factory=set)  # "really", "nice and": may stand between
    background_max_gap: int = 3
    # a movement said without its direction -> direction word -> the movement: "dolly_zoom" -> "toward" -> dolly_zoom_in
    movement_directions: dict[str, dict[str, str]] = field(default_factory=dict)
    words: frozenset[str] = frozenset()  # every word the lexicon knows (typo targets)
    meaning_words: frozenset[str] = frozenset()  # words that say something on their own: never ignored
    control_words: frozenset[str] = frozenset()  # words of control phrases ("hang" of "hang on"): never ignored
    terms: tuple[str, ...] = ()  # the meaningful phrases, as text (suggestion candidates)
    max_phrase_tokens: int = 1
    _indexes: dict[int, tuple[Any, frozenset[str], int]] = field(default_factory=dict, repr=False)

    def match(self, tokens: list[Token], start: int, table: dict[tuple[str, ...], Any] | set[tuple[str, ...]],
              stop: int | None = None) -> tuple[int, Any]:
        """Longest phrase of ``table`` at ``tokens[start]``: (number of tokens, value); (0, None) if none."""
        end = len(tokens) if stop is None else stop
        if start >= end:
            return 0, None
        firsts, longest = self._index(table)
        if tokens[start].text not in firsts:
            return 0, None
        for length in range(min(longest, end - start), 0, -1):
            key = tuple(t.text for t in tokens[start:start + length])
            if key in table:
                return length, (table[key] if isinstance(table, dict) else key)
        return 0, None

    def _index(self, table: dict[tuple[str, ...], Any] | set[tuple[str, ...]]) -> tuple[frozenset[str], int]:
        """First words and longest phrase of a table (cached for the lexicon's own tables)."""
        cached = self._indexes.get(id(table))
        if cached is not None and cached[0] is table:
            return cached[1], cached[2]
        firsts = frozenset(key[0] for key in table)
        longest = max((len(key) for key in table), default=0)
        if len(self._indexes) < 64:
            self._indexes[id(table)] = (table, firsts, longest)
        return firsts, longest


def load_settings() -> LanguageSettings:
    """The numeric settings of ``config/language.yaml``, validated."""
    return load_lexicon().settings


def read_parameters(path: str) -> dict[str, Any]:
    """The ``/**`` ``ros__parameters`` of a parameter file, read with libyaml when it is there.

    The lexicon file is large and parsed again whenever it changes; the C
    loader makes that ~6x faster than :func:`cinempc.config.load_parameters`
    (same document, same result, which a test checks).
    """
    with open(path, encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    try:
        params = document["/**"]["ros__parameters"]
    except (KeyError, TypeError):
        raise LexiconError(f"{path}: not a ROS 2 parameter file with a '/**: ros__parameters' section") from None
    if not isinstance(params, dict):
        raise LexiconError(f"{path}: ros__parameters must be a mapping")
    return params


def load_lexicon() -> Lexicon:
    """The compiled lexicon (rebuilt only when ``config/language.yaml`` changes)."""
    path = config_file(LANGUAGE_FILE)
    return _compile(str(path), path.stat().st_mtime_ns)


def shot_vocabulary() -> ShotVocabulary:
    """``cinempc.shot.vocabulary()``, re-read only when ``config/shots.yaml`` changes."""
    path = config_file("shots.yaml")
    return _vocabulary(str(path), path.stat().st_mtime_ns)


@lru_cache(maxsize=4)
def _vocabulary(path: str, mtime_ns: int) -> ShotVocabulary:
    return vocabulary()


_PATHS: dict[tuple[str, str], Path] = {}


def config_file(name: str) -> Path:
    """Where a config file is, looked up once per config directory setting (parsing runs per keystroke)."""
    key = (name, os.environ.get(CONFIG_ENV, ""))
    path = _PATHS.get(key)
    if path is None or not path.is_file():
        path = _PATHS[key] = resolve_config_path(name)
    return path


@lru_cache(maxsize=4)
def _compile(path: str, mtime_ns: int) -> Lexicon:
    params = read_parameters(path)
    settings = LanguageSettings(**{k: v for k, v in params.items() if k != "lexicon"})
    raw: dict[str, Any] = params["lexicon"]
    lexicon = Lexicon(settings=settings)
    words: set[str] = set(NUMBER_WORDS)
    terms: list[str] = []

    def add(phrase: Any, meaning: Meaning, term: bool = True, known: bool = True) -> None:
        key = phrase_key(str(phrase))
        if not key:
            raise LexiconError(f"{LANGUAGE_FILE}: empty phrase under {meaning.category}.{meaning.value}")
        old = lexicon.phrases.get(key)
        if old is not None and old != meaning:
            raise LexiconError(
                f"{LANGUAGE_FILE}: phrase {phrase!r} means both {old.category}.{old.value} "
                f"and {meaning.category}.{meaning.value}"
            )
        lexicon.phrases[key] = meaning
        if known:
            words.update(key)
        if term:
            terms.append(" ".join(key))

    for category in SHOT_CATEGORIES:
        section = raw.get(category, {})
        if not isinstance(section, dict):
            raise LexiconError(f"{LANGUAGE_FILE}: lexicon.{category} must map values to phrase lists")
        for value, phrases in section.items():
            for phrase in _phrase_list(phrases, f"{category}.{value}"):
                add(phrase, Meaning(category, str(value)), term=category != "intensifier")
    for category, section in raw.get("implied", {}).items():
        if category not in SHOT_CATEGORIES:
            raise LexiconError(f"{LANGUAGE_FILE}: lexicon.implied.{category} is not a shot category")
        for value, phrases in section.items():
            for phrase in _phrase_list(phrases, f"implied.{category}.{value}"):
                add(phrase, Meaning(category, str(value), implied=True))
    _add_side_variants(lexicon, add)
    subjects = raw["subjects"]
    for value in ("all", "both", "primary", "current"):
        for phrase in _phrase_list(subjects[value], f"subjects.{value}"):
            add(phrase, Meaning("subject", value))
    for quantifier in _phrase_list(subjects["all_quantifiers"], "subjects.all_quantifiers"):
        for group in _phrase_list(subjects["group_nouns"], "subjects.group_nouns"):
            # "the whole party" is everyone; "the choir" alone stays an open noun, so "choir" is no vocabulary word
            add(f"{quantifier} {group}", Meaning("subject", "all"), term=False, known=False)
    for phrase in _phrase_list(subjects["nouns"], "subjects.nouns"):
        add(phrase, Meaning("noun", " ".join(phrase_key(str(phrase)))), term=False)
    for phrase in _phrase_list(raw["filler"], "filler"):
        if phrase_key(str(phrase)) not in lexicon.phrases:  # a meaningful phrase wins over the filler list
            add(phrase, Meaning("filler", ""), term=False)
    for concept, entry in raw.get("unsupported", {}).items():
        lexicon.unsupported_suggestions[concept] = [str(s) for s in entry["suggest"]]
        if entry.get("style", False):
            lexicon.style_unsupported |= {str(concept)}
        for phrase in _phrase_list(entry["phrases"], f"unsupported.{concept}"):
            add(phrase, Meaning("unsupported", str(concept)), term=False)
    for name in presets():
        spoken = name.replace("_", " ")
        add(f"preset {spoken}", Meaning("preset", name))
        add(f"{spoken} preset", Meaning("preset", name), term=False)
    for command, phrases in raw["control"].items():
        for phrase in _phrase_list(phrases, f"control.{command}"):
            key = phrase_key(str(phrase))
            words.update(key)
            if command == "filler":
                lexicon.control_filler.add(key)
            elif command == "always_abort":
                lexicon.always_abort.add(key)
            elif command == "wait":
                lexicon.wait_units.add(key)
            else:
                lexicon.control[key] = str(command)
    lexicon.sequence = {phrase_key(str(p)) for p in _phrase_list(raw["sequence"], "sequence")}
    lexicon.openers = {phrase_key(str(p)) for p in _phrase_list(raw["openers"], "openers")}
    lexicon.particles = {phrase_key(str(p)) for p in _phrase_list(raw["particles"], "particles")}
    lexicon.style_heads = {phrase_key(str(p)) for p in _phrase_list(raw["style_heads"], "style_heads")}
    lexicon.travel_verbs = frozenset(str(w) for w in _phrase_list(raw["travel_verbs"], "travel_verbs"))
    lexicon.clause_openers = frozenset(str(w) for w in _phrase_list(raw["clause_openers"], "clause_openers"))
    lexicon.placement_verbs = frozenset(str(w) for w in _phrase_list(raw["placement_verbs"], "placement_verbs"))
    lexicon.reference_words = {phrase_key(str(p)) for p in _phrase_list(subjects["reference_words"], "reference")}
    lexicon.ambiguous = {str(k): [str(s) for s in v] for k, v in raw.get("ambiguous", {}).items()}
    lexicon.slot_before = frozenset(str(w) for w in subjects["slot_before"])
    lexicon.negations = frozenset(w for p in _phrase_list(raw["negations"], "negations") for w in phrase_key(str(p)))
    lexicon.movement_directions = _movement_directions(raw["movement_direction"])
    background = raw["background_focus"]
    lexicon.background_max_gap = int(background["max_gap"])
    lexicon.background_scope = {phrase_key(str(p)) for p in _phrase_list(background["scope"], "background.scope")}
    lexicon.background_gap = {phrase_key(str(p)) for p in _phrase_list(background["gap"], "background.gap")}
    for mode in ("deep", "shallow"):
        for phrase in _phrase_list(background[mode], f"background_focus.{mode}"):
            lexicon.background_quality[phrase_key(str(phrase))] = mode
    for group in (lexicon.background_scope, lexicon.background_quality):
        for key in group:
            words.update(key)
    lexicon.adjectives = frozenset(str(w) for w in subjects["colours"])
    lexicon.parts = {phrase_key(str(p)) for p in _phrase_list(subjects["parts"], "subjects.parts")}
    lexicon.place_words = {phrase_key(str(p)) for p in _phrase_list(subjects["place_before"], "subjects.place_before")}
    for group in (lexicon.sequence, lexicon.reference_words):
        for key in group:
            words.update(key)
    words.update(lexicon.slot_before, lexicon.adjectives, lexicon.negations)
    words.update(UNIT_WORDS)
    lexicon.words = frozenset(w for w in words if w.isalpha() or "'" in w)
    lexicon.meaning_words = frozenset(
        {k[0] for k, m in lexicon.phrases.items() if len(k) == 1 and m.category != "filler"}
        | {k[0] for k in [*lexicon.control, *lexicon.always_abort, *lexicon.reference_words, *lexicon.sequence]
           if len(k) == 1}
        | set(lexicon.ambiguous) | lexicon.adjectives | lexicon.negations | UNIT_WORDS | lexicon.slot_before
    ) & lexicon.words
    fillers = {k[0] for k, m in lexicon.phrases.items() if len(k) == 1 and m.category == "filler"}
    lexicon.control_words = frozenset(
        w for key in [*lexicon.control, *lexicon.always_abort] for w in key
        if w not in fillers and (w,) not in lexicon.control_filler and w.isalpha())
    lexicon.terms = tuple(dict.fromkeys(terms))
    lexicon.max_phrase_tokens = max(
        len(k) for k in [*lexicon.phrases, *lexicon.control, *lexicon.control_filler, *lexicon.sequence]
    )
    _check_defaults(settings)
    return lexicon


def _movement_directions(section: Any) -> dict[str, dict[str, str]]:
    """``lexicon.movement_direction``: per movement said without a direction, direction word -> movement.

    A movement and every movement it may become must be ShotSpec movements (or ``dolly_zoom``), and a
    word may give one movement only: otherwise the parser would guess.
    """
    where = f"{LANGUAGE_FILE}: lexicon.movement_direction"
    if not isinstance(section, dict) or not section:
        raise LexiconError(f"{where} must map movements to direction words")
    table: dict[str, dict[str, str]] = {}
    for movement, targets in section.items():
        if movement not in (*MOVEMENT_TYPES, "dolly_zoom") or not isinstance(targets, dict):
            raise LexiconError(f"{where}.{movement}: not a movement with a map of direction words")
        words: dict[str, str] = {}
        for target, phrases in targets.items():
            if target not in MOVEMENT_TYPES:
                raise LexiconError(f"{where}.{movement}.{target}: not a ShotSpec movement")
            for phrase in _phrase_list(phrases, f"movement_direction.{movement}.{target}"):
                word = " ".join(phrase_key(str(phrase)))
                if words.get(word, target) != target:
                    raise LexiconError(f"{where}.{movement}: {word!r} gives both {words[word]} and {target}")
                words[word] = str(target)
        table[str(movement)] = words
    return table


_SIDE_PREFIXES = ("from the", "from", "the", "on the", "at the")
# a compound side said the other way round: "left front", "the right rear", "from the left back".  "left back" and
# "left-back" alone are not read: back is a movement word too ("truck left back to the start") -- with "the",
# "from" ... before it or "side" after it, it is the side.
_SIDE_DEPTH_WORDS = ("front", "back", "rear")
_SIDE_BARE_REVERSED = ("front", "rear")


def _add_side_variants(lexicon: Lexicon, add: Any) -> None:
    """Every side phrase also with "from", "from the", "the" ... before it and "side" after it, in any combination.

    "from the front left", "the front left side", "at the front left side" must mean what "front left" means;
    a two-word compound of ``front``/``back``/``rear`` and ``left``/``right`` is also read in the other order
    ("left front", "from the right rear"; "left back" only with a prefix or "side", see ``_SIDE_BARE_REVERSED``).
    A variant that already means something else ("on the left" is a screen position) is left alone.
    """
    for key, meaning in list(lexicon.phrases.items()):
        if meaning.category != "side" or key[0] in ("from", "the", "on", "at", "in", "over", "her", "his", "their"):
            continue
        bases = [(" ".join(key), True)]
        if len(key) == 2 and key[0] in _SIDE_DEPTH_WORDS and key[1] in ("left", "right"):
            bases.append((f"{key[1]} {key[0]}", key[0] in _SIDE_BARE_REVERSED))
        for text, bare in bases:
            cores = [text] if key[-1] == "side" else [text, f"{text} side"]
            variants = [*(cores if bare else cores[1:]), *(f"{prefix} {core}" for core in cores
                                                           for prefix in _SIDE_PREFIXES)]
            for variant in variants:
                if phrase_key(variant) not in lexicon.phrases:
                    add(variant, meaning, term=False)


def _phrase_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise LexiconError(f"{LANGUAGE_FILE}: lexicon.{where} must be a non-empty list of phrases")
    return value


def _check_defaults(settings: LanguageSettings) -> None:
    for name, side in settings.defaults.model_dump().items():
        if name.endswith("_side") and side not in SIDES:
            raise LexiconError(f"{LANGUAGE_FILE}: defaults.{name} = {side!r} is not a ShotSpec side")


# Units are definitions, not tuning: their factors to SI live here.
SPEED_UNITS_MPS: dict[tuple[str, ...], float] = {}
DISTANCE_UNITS_M: dict[tuple[str, ...], float] = {}
FOCAL_UNITS_MM: dict[tuple[str, ...], float] = {}
TIME_UNITS_S: dict[tuple[str, ...], float] = {}
ANGLE_UNITS_DEG: dict[tuple[str, ...], float] = {(word,): 1.0 for word in ("deg", "degs", "degree", "degrees", "°")}


def _units() -> None:
    metre = ["m", "meter", "meters", "metre", "metres", "mtr", "mtrs", "meteres"]
    foot = ["ft", "foot", "feet"]
    second = ["s", "sec", "secs", "second", "seconds", "sek"]
    hour = ["h", "hr", "hour", "hours"]
    per = [("/",), ("per",), ("a",), ("an",), ("every",), ("each",)]
    for m in metre:
        DISTANCE_UNITS_M[(m,)] = 1.0
        for p in per:
            for s in second:
                SPEED_UNITS_MPS[(m, *p, s)] = 1.0
    for f in foot:
        DISTANCE_UNITS_M[(f,)] = 0.3048
        for p in per:
            for s in second:
                SPEED_UNITS_MPS[(f, *p, s)] = 0.3048
    for y in ("yd", "yard", "yards"):
        DISTANCE_UNITS_M[(y,)] = 0.9144
    for k in ("km", "kilometer", "kilometers", "kilometre", "kilometres", "k"):
        for p in per:
            for h in hour:
                SPEED_UNITS_MPS[(k, *p, h)] = 1 / 3.6
    for mile in ("mile", "miles", "mi"):
        for p in per:
            for h in hour:
                SPEED_UNITS_MPS[(mile, *p, h)] = 0.44704
    for one_word, factor in (("mps", 1.0), ("kph", 1 / 3.6), ("kmh", 1 / 3.6), ("kmph", 1 / 3.6),
                             ("mph", 0.44704), ("knots", 0.514444), ("knot", 0.514444), ("kts", 0.514444),
                             ("kn", 0.514444), ("fps", None)):
        if factor is not None:
            SPEED_UNITS_MPS[(one_word,)] = factor
    for mm in ("mm", "millimeter", "millimeters", "millimetre", "millimetres", "mil", "mils", "lens",
               "mm lens", "millimeter lens", "millimetre lens"):
        FOCAL_UNITS_MM[tuple(mm.split())] = 1.0
    for s in second:
        TIME_UNITS_S[(s,)] = 1.0
    for minute in ("min", "mins", "minute", "minutes"):
        TIME_UNITS_S[(minute,)] = 60.0
    for h in ("hr", "hrs", "hour", "hours"):
        TIME_UNITS_S[(h,)] = 3600.0


_units()
UNIT_WORDS: frozenset[str] = frozenset(
    w for table in (SPEED_UNITS_MPS, DISTANCE_UNITS_M, FOCAL_UNITS_MM, TIME_UNITS_S, ANGLE_UNITS_DEG) for key in table
    for w in key
    if w.isalpha() and len(w) > 2
)
