"""Mentions of one segment + the shot before it -> the new ShotSpec.

Every command edits a shot: the current one (``--current``), the previous
shot of a sequence, or the default ShotSpec.  What the director does not
mention stays as it was; relative words ("tighter", "slower", "lower", "more
to the left", "zoom in") step from the value before.  Two different absolute
values for one field in one shot ("wide ... close-up") are a conflict and are
reported, never resolved by picking one -- except that an explicit word beats
one implied by a shot name ("medium establishing shot" is a medium).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from cinempc.language.answers import Explained
from cinempc.language.grammar import DISTANCE_TAILS, Mention, SegmentReading, subject_name
from cinempc.language.lexicon import LanguageSettings
from cinempc.language.normalise import Token
from cinempc.shot import (
    ANGLES,
    FRAMINGS,
    MOVEMENT_EXTENTS,
    SCREEN_POSITIONS,
    SIDES,
    SPEEDS,
    ShotSpec,
    ShotVocabulary,
    preset,
)

# Movements that say more than a second one in the same breath: "pull back to
# reveal" is a reveal, "follow her with a slow orbit" is an orbit.
_ABSORBS: dict[str, frozenset[str]] = {
    "reveal": frozenset({"dolly_out", "crane_up", "pedestal_up", "truck_left", "truck_right", "follow", "dronie"}),
    "dronie": frozenset({"dolly_out", "pedestal_up", "crane_up", "follow"}),
    "dolly_zoom_in": frozenset({"dolly_in", "follow", "dolly_zoom"}),
    "dolly_zoom_out": frozenset({"dolly_out", "follow", "dolly_zoom"}),
    "flyby": frozenset({"follow", "truck_left", "truck_right"}),
}
_DOLLY_ZOOM_OF = {"dolly_in": "dolly_zoom_in", "dolly_out": "dolly_zoom_out"}  # with a zoom the other way
_OPPOSITE_MOVES = {a: b for pair in (("truck_left", "truck_right"), ("pedestal_up", "pedestal_down"),
                                      ("crane_up", "crane_down"), ("dolly_in", "dolly_out"),
                                      ("dolly_zoom_in", "dolly_zoom_out")) for a, b in (pair, pair[::-1])}
_OPPOSITE_ORBIT = {"clockwise": "counterclockwise", "counterclockwise": "clockwise"}
_EDIT_STEPS = {"reverse": ("direction", 1), "opposite_side": ("side", 1),
               "tighter": ("framing", 1), "wider": ("framing", -1), "lower": ("angle", -1), "higher": ("angle", 1),
               "slower": ("speed", -1), "faster": ("speed", 1), "screen_left": ("screen", -1),
               "screen_right": ("screen", 1), "zoom_in": ("zoom", 1), "zoom_out": ("zoom", -1)}
_ANGLE_ORDER = ("low", "eye_level", "high", "overhead")
_SIDE_QUALIFIED = {  # a qualifier side with a plain left/right: "three quarter, from the right"
    ("three_quarter", "left"): "front_left", ("three_quarter", "right"): "front_right",
    ("back_three_quarter", "left"): "back_left", ("back_three_quarter", "right"): "back_right",
    ("profile", "left"): "left", ("profile", "right"): "right",
}
_SIDE_PARTS = {"front_left": ("front", "left"), "front_right": ("front", "right"), "back_left": ("back", "left"),
               "back_right": ("back", "right")}
_FIELD_OF = {
    "framing": "framing", "angle": "angle", "side": "side", "screen_position": "screen_position",
    "movement": "movement.type", "direction": "movement.direction", "speed": "movement.speed",
    "speed_mps": "movement.speed_mps", "depth_of_field": "focus.depth_of_field", "f_number": "focus.depth_of_field",
    "lens": "lens.focal_length_mm", "focal_length_mm": "lens.focal_length_mm", "distance_m": "distance_m",
    "time_s": "duration_s", "preset": "name", "focus": "focus",
    "orbit_extent": "movement.extent", "angle_deg": "movement.extent", "extent_m": "movement.extent",
}
_EDIT_FIELD = {"framing": "framing", "angle": "angle", "speed": "movement.speed", "screen": "screen_position",
               "zoom": "lens.focal_length_mm", "direction": "movement", "side": "side"}
_ALONGSIDE_SIDE_WORDS = {"on the left": "left", "to the left": "left", "on the right": "right",
                         "to the right": "right"}


class ShotConflict(ValueError):
    """One shot given two different values for the same field."""


@dataclass
class Context:
    """What the parser knows besides the words: settings, shot vocabulary, subjects on screen."""

    settings: LanguageSettings
    vocabulary: ShotVocabulary
    known_subjects: list[str] = field(default_factory=list)
    # a movement said without its direction -> direction word -> movement ("dolly_zoom" -> "toward" -> dolly_zoom_in)
    movement_directions: dict[str, dict[str, str]] = field(default_factory=dict)


def settled(shot: ShotSpec) -> ShotSpec:
    """The shot as it stands after it ran: a rack focus has ended on its new target."""
    if shot.focus.rack_to is None:
        return shot
    focus = shot.focus.model_copy(update={"target": shot.focus.rack_to, "rack_to": None, "rack_duration_s": None})
    return shot.model_copy(update={"focus": focus, "name": None})


def compose(reading: SegmentReading, base: ShotSpec, ctx: Context
            ) -> tuple[ShotSpec, list[str], list[Explained]]:
    """The new shot, the parts that need a word more ("rack focus" with no target), and which word set what."""
    reading.mentions[:] = lengths_of_moves(reading)
    content = dolly_against_zoom(directed(reading, ctx))
    mentions = explicit_beats_implied(content)
    overridden = [m for m in content if m not in mentions]
    missing: list[str] = []
    if any(m.category == "preset" for m in mentions):
        names = {m.value for m in mentions if m.category == "preset"}
        _single(names, "preset")
        chosen = preset(names.pop())
        if base.subjects != ["all"]:
            chosen = chosen.model_copy(update={"subjects": list(base.subjects)})
        base = chosen
    doc: dict[str, Any] = base.model_dump()
    if not any(m.category == "preset" for m in mentions):
        doc["name"] = None
    roles = _subject_roles(reading.mentions, base, ctx)
    two_shot = any(m.category == "framing" and m.value == "two_shot" for m in mentions)
    if roles["subjects"]:
        doc["subjects"] = _merge_refs(roles["subjects"])
        if doc["focus"]["target"] not in (None, "all", *doc["subjects"]):
            doc["focus"]["target"] = None  # new subjects: focus follows them, not someone off the shot
    elif two_shot and len([s for s in base.subjects if s != "all"]) < 2:
        pair = [s for s in ctx.known_subjects if s != "all"]
        doc["subjects"] = pair if len(pair) == 2 else ["all"]
    if roles["target"]:
        doc["focus"]["target"] = _one_ref(roles["target"])
        several = len(set(roles["target"])) > 1 or "all" in roles["target"]
        if several and not any(m.category in ("depth_of_field", "f_number") for m in mentions):
            doc["focus"]["depth_of_field"] = "deep"  # several subjects sharp at once needs deep focus
    rack_markers = [m for m in mentions if m.category == "focus" and m.value in ("rack", "rack_from")]
    if roles["rack"]:
        doc["focus"]["rack_to"] = _one_ref(roles["rack"])
    elif rack_markers:
        missing.append("rack focus")

    _apply_framing(doc, mentions, base, ctx)
    _apply_angle_side_screen(doc, mentions, base, ctx, reading.tokens)
    _apply_movement(doc, mentions, base, ctx, reading.tokens)
    _apply_focus_and_lens(doc, mentions, base, ctx)
    _apply_quantities(doc, [m for m in reading.mentions if m not in overridden], base)
    shot = ShotSpec(**doc)
    return shot, missing, explain(reading, shot, overridden, content)


def directed(reading: SegmentReading, ctx: Context) -> list[Mention]:
    """A movement said without its direction takes it from a direction word of the same shot.

    The direction word is one no other phrase used ("zolly toward her": a dolly zoom in; "crane shot
    down to the bride": a crane down, an explicit movement then, so it beats the crane up the shot
    name implies) or a movement said by that direction word alone ("boom shot rising": a crane up,
    not a crane and a pedestal; "pedestal up" says more than a direction and stays a pedestal).
    Two different directions leave the movement as it was said (the default, or a conflict later).
    """
    content = reading.content
    covered = {k for m in content for k in range(m.start, m.end)}
    free = [t.text for k, t in enumerate(reading.tokens) if k not in covered]
    out = list(content)
    for index, mention in enumerate(content):
        words = ctx.movement_directions.get(str(mention.value)) if mention.category == "movement" else None
        if not words:
            continue
        spoken = [w for w in free if w in words]
        only_direction = [m for m in content if m is not mention and m.category == "movement"
                          and " ".join(t.text for t in reading.tokens[m.start:m.end]) in words]
        spoken += [" ".join(t.raw for t in reading.tokens[m.start:m.end]) for m in only_direction]
        said = {words[w.lower()] for w in spoken}
        if len(said) == 1:
            out[index] = Mention("movement", said.pop(), mention.start, mention.end,
                                 direction_from=", ".join(dict.fromkeys(spoken)))
            out = [m for m in out if not any(m is o for o in only_direction)]
    return out


def lengths_of_moves(reading: SegmentReading) -> list[Mention]:
    """A length right after a truck or pedestal (or after "by") is how far it moves, not the stand-off.

    "Truck left 10 m", "rise 5 metres", "pedestal up by 2 m": the move's extent (``extent_m``); a length
    after "at", or with "away", stays the camera's distance ("truck left at 10 m", "8 m away").
    """
    out = list(reading.mentions)
    tokens = reading.tokens
    for index, mention in enumerate(out):
        if mention.category != "distance_m" or tokens[mention.end - 1].text in DISTANCE_TAILS:
            continue
        start = mention.start - 1 if mention.start > 0 and tokens[mention.start - 1].text == "by" else mention.start
        moves = [m for m in out if m.category == "movement" and m.end == start
                 and MOVEMENT_EXTENTS.get(str(m.value), ("",))[0] == "m"]
        if moves:
            out[index] = replace(mention, category="extent_m")
    return out


def dolly_against_zoom(mentions: list[Mention]) -> list[Mention]:
    """A dolly in (out) said with a zoom the other way in the same shot is a dolly zoom in (out).

    "Push in while zooming out" describes the vertigo effect, not a push-in plus a wider framing; a zoom
    the same way as the dolly ("dolly in and zoom in") stays a dolly and a zoom.
    """
    dollies = [m for m in mentions if m.category == "movement" and m.value in _DOLLY_ZOOM_OF]
    zooms = [m for m in mentions if m.category == "edit" and _EDIT_STEPS[str(m.value)][0] == "zoom"]
    if len(dollies) != 1 or not zooms:
        return mentions
    dolly = dollies[0]
    zoom_sign = sum(_EDIT_STEPS[str(m.value)][1] for m in zooms)
    dolly_sign = 1 if dolly.value == "dolly_in" else -1
    if zoom_sign * dolly_sign >= 0:
        return mentions
    merged = replace(dolly, value=_DOLLY_ZOOM_OF[str(dolly.value)])
    return [merged if m is dolly else m for m in mentions if not any(m is z for z in zooms)]


def explicit_beats_implied(mentions: list[Mention]) -> list[Mention]:
    """Drop what a shot name implies for a field that a word of the same shot sets explicitly."""
    explicit = {m.category for m in mentions if not m.implied}
    return [m for m in mentions if not (m.implied and m.category in explicit)]


def explain(reading: SegmentReading, shot: ShotSpec, overridden: list[Mention],
            content: list[Mention] | None = None) -> list[Explained]:
    """Which words set which field, with the value the field ended up with.

    ``content`` holds the mentions as :func:`directed` left them: a movement that took its
    direction from another word is shown with that word ('crane shot + down').
    """
    document = shot.model_dump(mode="json")
    directed_at = {(m.start, m.end): m for m in content or [] if m.direction_from}
    out: list[Explained] = []
    for mention in reading.mentions:
        if mention.category in ("link", "filler", "ignored", "unknown", "unsupported", "intensifier"):
            continue
        words = " ".join(t.raw for t in reading.tokens[mention.start:mention.end])
        directed_mention = directed_at.get((mention.start, mention.end))
        if directed_mention is not None and mention.category == "movement":
            mention, words = directed_mention, f"{words} + {directed_mention.direction_from}"
        path = _explained_field(mention, document)
        value = "(an explicit word wins)" if mention in overridden else str(_at(document, path))
        out.append(Explained(shot=1, words=words, field=path, value=value, implied=mention.implied))
    return out


def _explained_field(mention: Mention, document: dict[str, Any]) -> str:
    if mention.category == "edit":
        return _EDIT_FIELD[_EDIT_STEPS[str(mention.value)][0]]
    if mention.category in ("subject", "subject_word"):
        focus = document["focus"]
        if focus["rack_to"] is not None and str(mention.value) == focus["rack_to"]:
            return "focus.rack_to"
        if focus["target"] is not None and str(mention.value) == focus["target"] \
                and focus["target"] not in document["subjects"]:
            return "focus.target"
        return "subjects"
    if mention.category == "focus":
        return "focus.rack_to" if mention.value in ("rack", "rack_from") else "focus.target"
    return _FIELD_OF.get(mention.category, mention.category)


def _at(document: dict[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


# ------------------------------------------------------------------ subjects


def _subject_roles(mentions: list[Mention], base: ShotSpec, ctx: Context) -> dict[str, list[str]]:
    """Which subjects the shot is about, which one is in focus, which one the focus racks to.

    A focus marker ("focus on", "rack focus to") gives its role to the subjects
    right after it; "rack focus from A to B" gives A the focus and B the rack;
    "keep the bride sharp" makes the subjects just before "sharp" the focus target.
    """
    roles: dict[str, list[str]] = {"subjects": [], "target": [], "rack": []}
    role = "subjects"
    group: list[tuple[str, list[str]]] = []  # the subjects since the last other mention, with their role
    named: list[str] = []  # subjects named so far in this shot: what "her"/"them" refer to
    for mention in mentions:
        if mention.category in ("subject", "subject_word"):
            if mention.category == "subject_word" and mention.value in ("primary", "current") and named:
                refs = named[:1] if mention.value == "primary" else list(named)
            else:
                refs = _resolve(mention, base, ctx)
                if mention.category == "subject":
                    named.extend(refs)
            if mention.owned:  # "her father": the father of the subject "her" means
                refs = [_owned_by(ref, mention.owned) for ref in refs]
            target_role = "target" if role == "rack_from" else role
            roles[target_role].extend(refs)
            group.append((target_role, refs))
            continue
        if mention.category == "link":
            if role == "rack_from" and group:
                role = "rack"
                group = []
            continue
        if mention.category in ("filler", "ignored"):
            continue
        if mention.category == "focus":
            if mention.value == "keep_sharp":
                for old_role, refs in group:
                    for ref in refs:
                        roles[old_role].remove(ref)
                    roles["target"].extend(refs)
                group = []
                role = "subjects"
                continue
            role = {"target": "target", "rack": "rack", "rack_from": "rack_from"}[mention.value]
            group = []
            continue
        if mention.category == "depth_of_field" and mention.value == "deep_all":
            group = []
            continue
        role = "subjects"
        group = []
    return roles


def _owned_by(owner: str, owned: str) -> str:
    """The subject name of what ``owner`` has: "bride" + "father" -> "brides father" (as "the bride's father")."""
    if owner == "all" or owner.startswith("#"):
        return owned
    return subject_name(f"{owner}'s {owned}") or owned


def _resolve(mention: Mention, base: ShotSpec, ctx: Context) -> list[str]:
    if mention.category == "subject":
        return [str(mention.value)]
    named = [s for s in base.subjects if s != "all"]
    if mention.value == "all":
        return ["all"]
    if mention.value == "both":
        pair = named if len(named) == 2 else [s for s in ctx.known_subjects if s != "all"]
        return list(pair) if len(pair) == 2 else ["all"]
    if mention.value == "primary":
        return [base.primary_subject]
    return list(base.subjects)  # "them": the current subjects


def _merge_refs(refs: list[str]) -> list[str]:
    unique = list(dict.fromkeys(refs))
    return ["all"] if "all" in unique else unique[:16]


def _one_ref(refs: list[str]) -> str:
    unique = list(dict.fromkeys(refs))
    return unique[0] if len(unique) == 1 else "all"


def _single(values: set[Any], field_name: str) -> Any:
    if len(values) > 1:
        shown = ", ".join(sorted(str(v) for v in values))
        raise ShotConflict(f"one shot cannot have two {field_name} values ({shown}); use 'then' for a sequence")
    return next(iter(values)) if values else None


def _one_side(sides: set[str]) -> str | None:
    """The one side a shot's side words name, or a conflict naming them all.

    Rules: a compound side absorbs the plain sides that agree with it ("front left, from the front",
    "the front left, her left" -> front_left); one front/back word with one left/right word is that compound
    ("from the front, left side" -> front_left; "from behind, on her left" -> back_left); anything else with two
    sides is a conflict ("front left ... from the right", "from the front ... from behind").
    """
    compounds = sides & set(_SIDE_PARTS)
    if len(compounds) == 1:
        sides = sides - set(_SIDE_PARTS[next(iter(compounds))])
    depth, lateral = sides & {"front", "back"}, sides & {"left", "right"}
    if not compounds and len(depth) == 1 and len(lateral) == 1:
        sides = (sides - depth - lateral) | {f"{next(iter(depth))}_{next(iter(lateral))}"}
    if len(sides) > 1:
        shown = ", ".join(sorted(sides))
        raise ShotConflict(f"one shot cannot be filmed from two sides ({shown}): say one, e.g. 'from the front left' "
                           "or 'from behind', or use 'then' for a sequence")
    return next(iter(sides)) if sides else None


def _values(mentions: list[Mention], category: str, exclude: tuple[str, ...] = ()) -> set[str]:
    return {str(m.value) for m in mentions if m.category == category and m.value not in exclude}


def _steps(mentions: list[Mention], kind: str, ctx: Context) -> int:
    """Sum of the relative edits of one kind; "much"/"way" before an edit makes it bigger."""
    total = 0
    for index, mention in enumerate(mentions):
        if mention.category != "edit" or _EDIT_STEPS[mention.value][0] != kind:
            continue
        strong = index > 0 and mentions[index - 1].category == "intensifier" and \
            mentions[index - 1].end >= mention.start - 1
        total += _EDIT_STEPS[mention.value][1] * (ctx.settings.edits.strong_steps if strong else 1)
    return total


def _step(order: tuple[str, ...], value: str, steps: int) -> str:
    return order[max(0, min(len(order) - 1, order.index(value) + steps))]


# ------------------------------------------------------------------ fields


def _apply_framing(doc: dict[str, Any], mentions: list[Mention], base: ShotSpec, ctx: Context) -> None:
    sizes = _values(mentions, "framing")
    if len(sizes) > 1:
        sizes.discard("two_shot")  # "a wide two-shot": two-shot says who, "wide" says how big
    framing = _single({"medium_wide" if v == "two_shot" else v for v in sizes}, "framing")
    if framing:
        doc["framing"] = framing
    # "open up to a wide", "tighter, to a close-up", "zoom in to a close-up": the framing named is where it ends
    steps = 0 if framing else _steps(mentions, "framing", ctx) + _steps(mentions, "zoom", ctx)
    if steps:
        doc["framing"] = _step(FRAMINGS, doc["framing"], steps)


def _apply_angle_side_screen(doc: dict[str, Any], mentions: list[Mention], base: ShotSpec, ctx: Context,
                             tokens: list[Token]) -> None:
    defaults = ctx.settings.defaults
    angle = _single(_values(mentions, "angle"), "angle")
    if angle:
        doc["angle"] = angle
    if steps := _steps(mentions, "angle", ctx):
        doc["angle"] = _step(_ANGLE_ORDER, doc["angle"], steps)
    assert set(_ANGLE_ORDER) == set(ANGLES)

    sides = set()
    named = _values(mentions, "side")
    plain = named & {"left", "right"}
    for qualifier in named & {"three_quarter", "back_three_quarter", "profile"}:
        if len(plain) == 1:
            named = (named - {qualifier} - plain) | {_SIDE_QUALIFIED[(qualifier, next(iter(plain)))]}
    for side in named:
        if side == "three_quarter":
            side = base.side if base.side in ("front_left", "front_right") else defaults.three_quarter_side
        elif side == "back_three_quarter":
            side = base.side if base.side in ("back_left", "back_right") else defaults.back_three_quarter_side
        elif side == "profile":
            side = base.side if base.side in ("left", "right") else defaults.profile_side
        elif side == "over_the_shoulder":
            side = defaults.over_the_shoulder_side
        sides.add(side)
    if "track_alongside" in _values(mentions, "movement") and not sides:
        sides.add(base.side if base.side in ("left", "right") else defaults.alongside_side)
    if side := _one_side(sides):
        doc["side"] = side
    if _steps(mentions, "side", ctx) % 2:  # "the reverse angle": the side across the subject
        doc["side"] = SIDES[(SIDES.index(doc["side"]) + len(SIDES) // 2) % len(SIDES)]

    screen = [m for m in mentions if m.category == "screen_position"]
    if "track_alongside" in _values(mentions, "movement") and not _values(mentions, "side"):
        # "track alongside her on the right": the side of the subject, not the side of the frame
        for mention in list(screen):
            words = " ".join(t.text for t in tokens[mention.start:mention.end])
            if words in _ALONGSIDE_SIDE_WORDS:
                doc["side"] = _ALONGSIDE_SIDE_WORDS[words]
                screen.remove(mention)
    positions = set()
    for position in {str(m.value) for m in screen}:
        if position == "rule_of_thirds":
            position = base.screen_position if base.screen_position != "center" else \
                defaults.rule_of_thirds_position
        positions.add(position)
    if position := _single(positions, "screen position"):
        doc["screen_position"] = position
    if steps := _steps(mentions, "screen", ctx):
        doc["screen_position"] = _step(SCREEN_POSITIONS, doc["screen_position"], steps)


def _apply_movement(doc: dict[str, Any], mentions: list[Mention], base: ShotSpec, ctx: Context,
                    tokens: list[Token]) -> None:
    movement = doc["movement"]
    types = {"follow" if v == "track_alongside" else v for v in _values(mentions, "movement")}
    if "dolly_zoom" in types:
        types.discard("dolly_zoom")
        if "dolly_in" in types:
            types = (types - {"dolly_in"}) | {"dolly_zoom_in"}
        elif "dolly_out" in types:
            types = (types - {"dolly_out"}) | {"dolly_zoom_out"}
        elif not types & {"dolly_zoom_in", "dolly_zoom_out"}:
            types.add(ctx.settings.defaults.dolly_zoom)  # no direction word (see :func:`directed`)
    if any(m.category == "orbit_extent" for m in mentions) and not types:
        types.add("orbit")  # "a half circle round her": how far round says it is an orbit
    if "dolly_out" in types and types & {"pedestal_up", "crane_up"}:
        types = (types - {"dolly_out", "pedestal_up", "crane_up"}) | {"dronie"}  # back and up: a dronie
    for strong, weak in _ABSORBS.items():
        if strong in types:
            types -= weak
    if len(types) > 1 and "follow" in types:
        types.discard("follow")  # every moving shot keeps the subject framed: "follow ... push in" = push in
    new_type = _single(types, "movement")
    direction = _single(_values(mentions, "direction"), "orbit direction")
    if direction and new_type is None and movement["type"] != "orbit":
        new_type = "orbit"  # "clockwise" on its own can only mean an orbit
    if direction and new_type not in (None, "orbit"):
        raise ShotConflict(f"an orbit direction ({direction}) was given for a {new_type} movement")
    if new_type and new_type != movement["type"]:
        # Speed and length belong to a movement: a new movement starts from the
        # defaults unless this command gives them ("orbit slowly, then push in").
        movement.update(type=new_type, speed="normal", speed_mps=None, extent=None)
        doc["duration_s"] = None
    if movement["type"] != "orbit":
        movement["direction"] = None
    if direction:
        movement["direction"] = direction
    if _steps(mentions, "direction", ctx) % 2:
        _reverse(movement)
    _apply_extent(movement, mentions)

    speed = _single(_values(mentions, "speed"), "speed")
    if speed:
        movement["speed"] = speed
        movement["speed_mps"] = None
    if steps := _steps(mentions, "speed", ctx):
        factor = ctx.settings.edits.speed_factor
        if movement["speed_mps"] is not None:
            movement["speed_mps"] = movement["speed_mps"] * factor ** steps
        else:
            index = SPEEDS.index(movement["speed"]) + steps
            if 0 <= index < len(SPEEDS):
                movement["speed"] = SPEEDS[index]
            else:  # past "fast" or "slow": keep going in m/s
                edge = SPEEDS[-1] if index >= len(SPEEDS) else SPEEDS[0]
                beyond = index - (len(SPEEDS) - 1) if index >= len(SPEEDS) else index
                movement["speed"] = edge
                movement["speed_mps"] = ctx.vocabulary.speed_mps[edge] * factor ** beyond


def _apply_focus_and_lens(doc: dict[str, Any], mentions: list[Mention], base: ShotSpec, ctx: Context) -> None:
    settings = ctx.settings
    modes = set()
    for mode in _values(mentions, "depth_of_field"):
        if mode == "deep_all":
            mode = "deep"
            doc["focus"]["target"] = "all"
        modes.add(mode)
    for m in mentions:
        if m.category == "f_number":
            if m.value <= settings.f_number.shallow_at_or_below:
                modes.add("shallow")
            elif m.value >= settings.f_number.deep_at_or_above:
                modes.add("deep")
            else:
                modes.add("normal")
    if mode := _single(modes, "depth of field"):
        doc["focus"]["depth_of_field"] = mode

    lens = doc["lens"]
    explicit = _single({float(m.value) for m in mentions if m.category == "focal_length_mm"}, "focal length")
    word = _single(_values(mentions, "lens"), "lens")
    if explicit is not None:
        lens["focal_length_mm"] = explicit
    elif word:
        lens["focal_length_mm"] = getattr(settings.lens, f"{word}_focal_length_mm")
    zoom = _steps(mentions, "zoom", ctx)
    if zoom and explicit is None and not word:
        # A zoom changes the lens, not the camera position: keep the stand-off the
        # shot had and scale the focal length by how much bigger the subject gets.
        old, new = base.framing, doc["framing"]
        vocab = ctx.vocabulary
        ratio = vocab.framing_height_fraction[new] / vocab.framing_height_fraction[old]
        if ratio == 1.0:
            ratio = settings.edits.zoom_factor_at_limit ** (1 if zoom > 0 else -1)
        start = base.lens.focal_length_mm or settings.lens.normal_focal_length_mm
        lens["focal_length_mm"] = round(min(1200.0, max(1.5, start * ratio)), 1)
        if doc["distance_m"] is None or doc["distance_m"] == base.distance_m:
            doc["distance_m"] = base.distance_m or vocab.default_distance_m[old]


def _apply_extent(movement: dict[str, Any], mentions: list[Mention]) -> None:
    """How far the move goes: degrees for an orbit or a crane, metres for a truck or a pedestal, else a conflict."""
    said = {"deg": {round(float(m.value), 6) for m in mentions if m.category in ("orbit_extent", "angle_deg")},
            "m": {round(float(m.value), 6) for m in mentions if m.category == "extent_m"}}
    for unit, values in said.items():
        extent = _single(values, "extent")
        if extent is None:
            continue
        kind = movement["type"]
        if MOVEMENT_EXTENTS.get(kind, ("",))[0] != unit:
            movers = " or ".join(sorted({k.split("_")[0] for k, (u, _) in MOVEMENT_EXTENTS.items() if u == unit}))
            raise ShotConflict(f"an extent in {unit} is how far a {movers} goes, not a {kind}")
        movement["extent"] = extent


def _reverse(movement: dict[str, Any]) -> None:
    """"The other way": an orbit turns the other way round, a move with an opposite flies that opposite."""
    kind = movement["type"]
    if kind == "orbit":  # an orbit without a direction turns counterclockwise (moves.plan_move)
        movement["direction"] = _OPPOSITE_ORBIT[movement["direction"] or "counterclockwise"]
    elif kind in _OPPOSITE_MOVES:
        movement["type"] = _OPPOSITE_MOVES[kind]
    else:
        raise ShotConflict(f"a {kind} has no direction to reverse")


def _apply_quantities(doc: dict[str, Any], mentions: list[Mention], base: ShotSpec) -> None:
    speed = _single({round(m.value, 6) for m in mentions if m.category == "speed_mps"}, "speed")
    if speed is not None:
        doc["movement"]["speed_mps"] = speed
    distance = _single({round(m.value, 6) for m in mentions if m.category == "distance_m"}, "distance")
    if distance is not None:
        doc["distance_m"] = distance
    durations, racks = set(), set()
    last = None  # the last mention that a duration could belong to
    for m in mentions:
        if m.category == "time_s":
            (racks if last == "rack" else durations).add(round(m.value, 6))
        elif m.category == "focus" and m.value in ("rack", "rack_from"):
            last = "rack"
        elif m.category not in ("subject", "subject_word", "link", "filler", "intensifier", "ignored", "speed"):
            last = m.category
    if (duration := _single(durations, "duration")) is not None:
        doc["duration_s"] = duration
    if (rack := _single(racks, "rack duration")) is not None:
        if doc["focus"]["rack_to"] is None:
            doc["duration_s"] = rack if doc["duration_s"] is None else doc["duration_s"]
        else:
            doc["focus"]["rack_duration_s"] = rack
