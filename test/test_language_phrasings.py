"""Plain English -> ShotSpec: many phrasings of the same intents, as directors type them.

Each case names only the fields the phrase is about; the rest of the shot is
checked by the edit tests.  The current shot (for edits and "her"/"them") is a
medium follow shot of the bride and groom; "Alice" is a named track.
"""

from __future__ import annotations

import pytest

from cinempc.language import CommandAnswer, ErrorAnswer, ShotsAnswer, parse_command
from cinempc.shot import ShotSpec

CURRENT = ShotSpec(subjects=["bride", "groom"], framing="medium", movement={"type": "follow"})
KNOWN = ["bride", "groom", "alice"]


def field(shot: ShotSpec, path: str):
    value = shot.model_dump()
    for part in path.split("."):
        value = value[part]
    return value


def shots_of(text: str, current: ShotSpec | None = CURRENT) -> list[ShotSpec]:
    answer = parse_command(text, current=current, known_subjects=KNOWN)
    assert isinstance(answer, ShotsAnswer), f"{text!r} -> {answer.to_json()}"
    return answer.shots


# (text, {field path: expected value}) on the first shot
SHOT_CASES = [
    # framing: names, abbreviations, synonyms, filler around them
    ("ECU", {"framing": "extreme_close_up"}),
    ("give me an extreme close-up of Alice", {"framing": "extreme_close_up", "subjects": ["alice"]}),
    ("XCU on her eyes", {"framing": "extreme_close_up", "subjects": ["bride"]}),
    ("CU", {"framing": "close_up"}),
    ("close up", {"framing": "close_up"}),
    ("closeup of the groom", {"framing": "close_up", "subjects": ["groom"]}),
    ("tight on the bride", {"framing": "close_up", "subjects": ["bride"]}),
    ("head and shoulders of Alice", {"framing": "close_up", "subjects": ["alice"]}),
    ("MCU", {"framing": "medium_close_up"}),
    ("medium close-up please", {"framing": "medium_close_up"}),
    ("chest up on the groom", {"framing": "medium_close_up", "subjects": ["groom"]}),
    ("MS", {"framing": "medium"}),
    ("mid shot of the runner", {"framing": "medium", "subjects": ["runner"]}),
    ("from the waist up", {"framing": "medium"}),
    ("MWS", {"framing": "medium_wide"}),
    ("cowboy shot of the rider", {"framing": "medium_wide", "subjects": ["rider"]}),
    ("medium long shot", {"framing": "medium_wide"}),
    ("FS", {"framing": "full"}),
    ("full body shot of the dancer", {"framing": "full", "subjects": ["dancer"]}),
    ("head to toe", {"framing": "full"}),
    ("WS", {"framing": "wide"}),
    ("wide shot", {"framing": "wide"}),
    ("let's get a wide of everyone", {"framing": "wide", "subjects": ["all"]}),
    ("long shot of the skier", {"framing": "wide", "subjects": ["skier"]}),
    ("EWS", {"framing": "extreme_wide"}),
    ("extreme wide establishing shot", {"framing": "extreme_wide"}),
    ("very wide", {"framing": "extreme_wide"}),
    ("two-shot", {"framing": "medium_wide", "subjects": ["bride", "groom"]}),
    ("Alice and Bob in a two shot", {"framing": "medium_wide", "subjects": ["alice", "bob"]}),
    # angles
    ("eye level", {"angle": "eye_level"}),
    ("eye-level MS", {"angle": "eye_level", "framing": "medium"}),
    ("high angle", {"angle": "high"}),
    ("shoot it from above", {"angle": "high"}),
    ("looking down on the couple", {"angle": "high"}),
    ("low angle", {"angle": "low"}),
    ("low-angle hero shot", {"angle": "low"}),
    ("worm's eye view of the tower", {"angle": "low", "subjects": ["tower"]}),
    ("from below", {"angle": "low"}),
    ("overhead", {"angle": "overhead"}),
    ("bird's eye view of everyone", {"angle": "overhead", "subjects": ["all"]}),
    ("birds-eye", {"angle": "overhead"}),
    ("top-down shot", {"angle": "overhead"}),
    ("straight down on the car", {"angle": "overhead", "subjects": ["car"]}),
    # sides
    ("from the front", {"side": "front"}),
    ("head-on", {"side": "front"}),
    ("profile left", {"side": "left"}),
    ("left profile", {"side": "left"}),
    ("profile right", {"side": "right"}),
    ("from her right", {"side": "right"}),
    ("three-quarter", {"side": "front_left"}),
    ("3/4 view", {"side": "front_left"}),
    ("three quarter right, medium close-up", {"side": "front_right", "framing": "medium_close_up"}),
    ("front three-quarter left", {"side": "front_left"}),
    ("from behind", {"side": "back"}),
    ("from the back", {"side": "back"}),
    ("rear view", {"side": "back"}),
    ("back left", {"side": "back_left"}),
    ("over the shoulder shot of the groom", {"side": "back_right", "subjects": ["groom"]}),
    ("side on", {"side": "left"}),
    # composition
    ("rule of thirds left", {"screen_position": "left_third"}),
    ("rule of thirds right", {"screen_position": "right_third"}),
    ("put her on the left", {"screen_position": "left_third", "subjects": ["bride"]}),
    ("subject on the right third", {"screen_position": "right_third"}),
    ("frame left", {"screen_position": "left_third"}),
    ("centred", {"screen_position": "center"}),
    ("centered", {"screen_position": "center"}),
    ("dead centre", {"screen_position": "center"}),
    ("in the middle of the frame", {"screen_position": "center"}),
    # movements
    ("static", {"movement.type": "static"}),
    ("locked-off wide", {"movement.type": "static", "framing": "wide"}),
    ("hold on the bride", {"movement.type": "static", "subjects": ["bride"]}),
    ("don't move", {"movement.type": "static"}),
    ("follow the runner", {"movement.type": "follow", "subjects": ["runner"]}),
    ("track the cyclist", {"movement.type": "follow", "subjects": ["cyclist"]}),
    ("chase the car", {"movement.type": "follow", "subjects": ["car"]}),
    ("stay with Alice", {"movement.type": "follow", "subjects": ["alice"]}),
    ("track alongside the cyclist", {"movement.type": "follow", "side": "left", "subjects": ["cyclist"]}),
    ("track alongside her on the right", {"movement.type": "follow", "side": "right", "subjects": ["bride"]}),
    ("orbit", {"movement.type": "orbit"}),
    ("circle around them", {"movement.type": "orbit", "subjects": ["bride", "groom"]}),
    ("can you do a slow 360 around the car", {"movement.type": "orbit", "movement.speed": "slow",
                                              "subjects": ["car"]}),
    ("orbit clockwise", {"movement.type": "orbit", "movement.direction": "clockwise"}),
    ("circle counter-clockwise", {"movement.type": "orbit", "movement.direction": "counterclockwise"}),
    ("orbit anticlockwise", {"movement.direction": "counterclockwise"}),
    ("clockwise", {"movement.type": "orbit", "movement.direction": "clockwise"}),
    ("orbit the lighthouse", {"movement.type": "orbit", "subjects": ["lighthouse"]}),
    ("push in", {"movement.type": "dolly_in"}),
    ("dolly in on #3", {"movement.type": "dolly_in", "subjects": ["#3"]}),
    ("move in slowly", {"movement.type": "dolly_in", "movement.speed": "slow"}),
    ("creep in on the groom", {"movement.type": "dolly_in", "subjects": ["groom"]}),
    ("pull back", {"movement.type": "dolly_out"}),
    ("pull out fast", {"movement.type": "dolly_out", "movement.speed": "fast"}),
    ("dolly out", {"movement.type": "dolly_out"}),
    ("back away from the bride", {"movement.type": "dolly_out", "subjects": ["bride"]}),
    ("truck left", {"movement.type": "truck_left"}),
    ("crab right", {"movement.type": "truck_right"}),
    ("slide left", {"movement.type": "truck_left"}),
    ("pedestal up", {"movement.type": "pedestal_up"}),
    ("rise up slowly", {"movement.type": "pedestal_up", "movement.speed": "slow"}),
    ("go up", {"movement.type": "pedestal_up"}),
    ("descend", {"movement.type": "pedestal_down"}),
    ("boom up", {"movement.type": "crane_up"}),
    ("jib up", {"movement.type": "crane_up"}),
    ("crane down", {"movement.type": "crane_down"}),
    ("jib down", {"movement.type": "crane_down"}),
    ("fly by the boat fast", {"movement.type": "flyby", "movement.speed": "fast", "subjects": ["boat"]}),
    ("fly-by", {"movement.type": "flyby"}),
    ("fly past the runner", {"movement.type": "flyby", "subjects": ["runner"]}),
    ("reveal", {"movement.type": "reveal"}),
    ("crane up to reveal the valley", {"movement.type": "reveal", "subjects": ["valley"]}),
    ("pull back to reveal the city", {"movement.type": "reveal", "subjects": ["city"]}),
    ("do a dronie", {"movement.type": "dronie"}),
    ("pull back while rising", {"movement.type": "dronie"}),
    ("vertigo", {"movement.type": "dolly_zoom_out"}),
    ("vertigo effect on the groom", {"movement.type": "dolly_zoom_out", "subjects": ["groom"]}),
    ("zolly in", {"movement.type": "dolly_zoom_in"}),
    ("contra-zoom", {"movement.type": "dolly_zoom_out"}),
    ("dolly zoom in on her", {"movement.type": "dolly_zoom_in", "subjects": ["bride"]}),
    ("hitchcock zoom out", {"movement.type": "dolly_zoom_out"}),
    # speeds and durations
    ("slowly", {"movement.speed": "slow"}),
    ("orbit gently", {"movement.speed": "slow"}),
    ("follow quickly", {"movement.speed": "fast"}),
    ("at a moderate speed", {"movement.speed": "normal"}),
    ("at 2 m/s", {"movement.speed_mps": 2.0}),
    ("at 2m/s", {"movement.speed_mps": 2.0}),
    ("follow at two meters per second", {"movement.speed_mps": 2.0}),
    ("pull back at two and a half metres a second", {"movement.speed_mps": 2.5}),
    ("orbit at one point five m/s", {"movement.speed_mps": 1.5}),
    ("follow her at 18 km/h", {"movement.speed_mps": 5.0}),
    ("over 8 seconds", {"duration_s": 8.0}),
    ("push in over eight seconds", {"duration_s": 8.0, "movement.type": "dolly_in"}),
    ("orbit for half a minute", {"duration_s": 30.0}),
    ("for 2 minutes", {"duration_s": 120.0}),
    ("a 10-second push in", {"duration_s": 10.0, "movement.type": "dolly_in"}),
    # distances
    ("orbit the tower at 30m", {"distance_m": 30.0, "subjects": ["tower"]}),
    ("stay 8 m away", {"distance_m": 8.0}),
    ("from twenty metres", {"distance_m": 20.0}),
    ("10 feet back", {"distance_m": 3.048, "side": "front"}),
    # lens
    ("85mm", {"lens.focal_length_mm": 85.0}),
    ("85 mm", {"lens.focal_length_mm": 85.0}),
    ("on an 85 mm lens", {"lens.focal_length_mm": 85.0}),
    ("eighty five millimetre", {"lens.focal_length_mm": 85.0}),
    ("shoot it on a 50", {"lens.focal_length_mm": 50.0}),
    ("tele", {"lens.focal_length_mm": 135.0}),
    ("use a telephoto lens", {"lens.focal_length_mm": 135.0}),
    ("long lens close up of the groom", {"lens.focal_length_mm": 135.0, "framing": "close_up"}),
    ("wide lens", {"lens.focal_length_mm": 24.0, "framing": "medium"}),
    ("wide-angle lens, full shot", {"lens.focal_length_mm": 24.0, "framing": "full"}),
    ("wide shot on a wide lens", {"lens.focal_length_mm": 24.0, "framing": "wide"}),
    ("telephoto 200 mm", {"lens.focal_length_mm": 200.0}),
    # focus
    ("shallow depth of field", {"focus.depth_of_field": "shallow"}),
    ("shallow DOF", {"focus.depth_of_field": "shallow"}),
    ("bokeh", {"focus.depth_of_field": "shallow"}),
    ("blur the background", {"focus.depth_of_field": "shallow"}),
    ("with a blurry background", {"focus.depth_of_field": "shallow"}),
    ("f/2.8", {"focus.depth_of_field": "shallow"}),
    ("f2.8", {"focus.depth_of_field": "shallow"}),
    ("at f 1.4", {"focus.depth_of_field": "shallow"}),
    ("f two point eight", {"focus.depth_of_field": "shallow"}),
    ("f/5.6", {"focus.depth_of_field": "normal"}),
    ("f/11", {"focus.depth_of_field": "deep"}),
    ("deep focus", {"focus.depth_of_field": "deep"}),
    ("everything in focus", {"focus.depth_of_field": "deep"}),
    ("keep everyone sharp", {"focus.depth_of_field": "deep", "focus.target": "all"}),
    ("keep them both in focus", {"focus.depth_of_field": "deep", "focus.target": "all"}),
    ("focus on the groom", {"focus.target": "groom", "subjects": ["bride", "groom"]}),
    ("keep the groom sharp", {"focus.target": "groom"}),
    ("rack focus to the groom", {"focus.rack_to": "groom"}),
    ("pull focus to Alice", {"focus.rack_to": "alice"}),
    ("switch focus to the bride", {"focus.rack_to": "bride"}),
    ("switch focus to her", {"focus.rack_to": "bride"}),
    ("rack focus to #2 over 3 seconds", {"focus.rack_to": "#2", "focus.rack_duration_s": 3.0, "duration_s": None}),
    ("rack focus from the bride to the groom", {"focus.target": "bride", "focus.rack_to": "groom"}),
    ("blur the background and focus on Alice", {"focus.depth_of_field": "shallow", "focus.target": "alice"}),
    # subjects
    ("#3", {"subjects": ["#3"]}),
    ("follow # 12", {"subjects": ["#12"]}),
    ("follow subject 2", {"subjects": ["#2"]}),
    ("follow track number 4", {"subjects": ["#4"]}),
    ("both", {"subjects": ["bride", "groom"]}),
    ("everyone", {"subjects": ["all"]}),
    ("the whole group", {"subjects": ["all"]}),
    ("follow him", {"subjects": ["bride"]}),
    ("them from behind", {"subjects": ["bride", "groom"], "side": "back"}),
    ("Alice", {"subjects": ["alice"]}),
    ("the bride and the groom", {"subjects": ["bride", "groom"]}),
    ("follow the black dog", {"subjects": ["black dog"]}),
    ("follow Rex", {"subjects": ["rex"]}),
    ("orbit Zoë", {"subjects": ["zoe"]}),
    ("close up on the bride's face", {"subjects": ["bride"], "framing": "close_up"}),
    # word order, filler, case
    ("Could you please orbit Alice clockwise at three metres per second for about half a minute?",
     {"subjects": ["alice"], "movement.direction": "clockwise", "movement.speed_mps": 3.0, "duration_s": 30.0}),
    ("i'd like a medium wide of the bride and groom from a low angle",
     {"framing": "medium_wide", "angle": "low", "subjects": ["bride", "groom"]}),
    ("the runner, wide", {"framing": "wide", "subjects": ["runner"]}),
    ("two meters per second follow from behind", {"movement.speed_mps": 2.0, "side": "back"}),
    ("CLOSE UP ON THE BRIDE", {"framing": "close_up", "subjects": ["bride"]}),
    ("Wide Shot Of The Groom", {"framing": "wide", "subjects": ["groom"]}),
    ("okay so let's go with a low angle, wide, orbit slowly for 30 s, from 20 m",
     {"angle": "low", "framing": "wide", "movement.type": "orbit", "movement.speed": "slow", "duration_s": 30.0,
      "distance_m": 20.0}),
    ("CU on #2, shallow focus, 100mm",
     {"framing": "close_up", "subjects": ["#2"], "focus.depth_of_field": "shallow", "lens.focal_length_mm": 100.0}),
    ("preset dronie", {"name": "dronie", "movement.type": "dronie", "angle": "high"}),
    ("the establishing wide preset", {"name": "establishing_wide", "framing": "extreme_wide"}),
    ("Follow the runner, keep her on the left third", {"subjects": ["runner"], "screen_position": "left_third"}),
    ("Keep both of them sharp in a wide two-shot", {"framing": "wide", "focus.target": "all",
                                                    "focus.depth_of_field": "deep"}),
    ("Punch in to a close up", {"framing": "close_up"}),
    ("Rack focus from Alice to Bob over two seconds", {"focus.target": "alice", "focus.rack_to": "bob",
                                                       "focus.rack_duration_s": 2.0}),
    ("Orbit subject 4 counterclockwise at 1 m/s for 45 seconds",
     {"subjects": ["#4"], "movement.direction": "counterclockwise", "movement.speed_mps": 1.0, "duration_s": 45.0}),
    ("orbit clockwise around #1 and #2", {"subjects": ["#1", "#2"]}),
    ("subjects 3 and 5", {"subjects": ["#3", "#5"]}),
    ("follow O'Brien", {"subjects": ["obrien"]}),
    ("follow Jean-Luc", {"subjects": ["jean luc"]}),
    ("Could you fly by the car quickly from the left", {"movement.type": "flyby", "movement.speed": "fast",
                                                        "side": "left", "subjects": ["car"]}),
    ("same but slower", {"movement.speed": "slow"}),
    ("too fast", {"movement.speed": "slow"}),
    ("aerial shot of the beach", {"angle": "high", "subjects": ["beach"]}),
    ("ECU on the ring", {"framing": "extreme_close_up", "subjects": ["ring"]}),
    ("orbit_cw", {"movement.type": "orbit", "movement.direction": "clockwise"}),
    ("framing: close-up; angle: low", {"framing": "close_up", "angle": "low"}),
    ("circle the couple anti-clockwise over 12 seconds", {"subjects": ["bride", "groom"], "duration_s": 12.0,
                                                          "movement.direction": "counterclockwise"}),
    ("keep the bride and groom sharp", {"focus.target": "all", "focus.depth_of_field": "deep"}),
    ("follow the bride at a slow walk", {"movement.speed": "slow", "subjects": ["bride"]}),
    ("zoom into a tight close-up of the groom", {"framing": "close_up", "subjects": ["groom"]}),
    ("pull out slowly to reveal the venue", {"movement.type": "reveal", "movement.speed": "slow"}),
    ("three-quarter back view", {"side": "back_left"}),
    ("hover over the bride", {"movement.type": "static", "subjects": ["bride"]}),
    ("gimme an MWS of the groom", {"framing": "medium_wide", "subjects": ["groom"]}),
    ("rack focus between the bride and the groom", {"focus.target": "bride", "focus.rack_to": "groom"}),
    ("orbit the whole wedding party", {"subjects": ["all"], "movement.type": "orbit"}),
    # typos
    ("clsoe up of the brdie, shallwo depth of field",
     {"framing": "close_up", "subjects": ["bride"], "focus.depth_of_field": "shallow"}),
    ("folow the runer from behnd", {"movement.type": "follow", "subjects": ["runner"], "side": "back"}),
    ("orbit the bride cloclwise", {"movement.direction": "clockwise"}),
    ("orbti slowley", {"movement.type": "orbit", "movement.speed": "slow"}),
    ("tigher", {"framing": "medium_close_up"}),
    ("telephto", {"lens.focal_length_mm": 135.0}),
    ("overheaed", {"angle": "overhead"}),
    ("medum shot", {"framing": "medium"}),
]


@pytest.mark.parametrize("text, expected", SHOT_CASES, ids=[c[0][:40] for c in SHOT_CASES])
def test_phrasing(text, expected):
    shot = shots_of(text)[0]
    for path, value in expected.items():
        assert field(shot, path) == pytest.approx(value) if isinstance(value, float) else \
            field(shot, path) == value, f"{text!r}: {path} = {field(shot, path)!r}, expected {value!r}"


CONTROL_CASES = [
    ("hold", "hold"), ("HOLD!", "hold"), ("Hold position", "hold"), ("stop", "hold"), ("stop the drone now", "hold"),
    ("freeze!", "hold"), ("wait", "hold"), ("pause", "hold"), ("hover", "hold"), ("cut!", "hold"), ("hodl", "hold"),
    ("hold it right there please", "hold"),
    ("resume", "resume"), ("continue", "resume"), ("go", "resume"), ("go ahead", "resume"), ("carry on", "resume"),
    ("ok resume", "resume"), ("keep going", "resume"), ("action!", "resume"),
    ("abort", "abort"), ("ABORT ABORT", "abort"), ("return", "abort"), ("return home", "abort"), ("RTL", "abort"),
    ("return to launch", "abort"), ("come back", "abort"), ("land now", "abort"), ("emergency!", "abort"),
    ("please abort now", "abort"), ("abort the orbit", "abort"), ("mayday mayday", "abort"),
    ("resume, no wait, hold", "hold"),
]


@pytest.mark.parametrize("text, command", CONTROL_CASES, ids=[c[0] for c in CONTROL_CASES])
def test_control_words(text, command):
    answer = parse_command(text, current=CURRENT)
    assert isinstance(answer, CommandAnswer), answer.to_json()
    assert answer.command == command
    assert answer.model_dump() == {"command": command}


@pytest.mark.parametrize("text", ["hold on the bride", "return to the wide shot", "go up", "go back to the close up",
                                  "stop and hold on the groom from behind"])
def test_control_words_inside_a_shot_stay_a_shot(text):
    assert isinstance(parse_command(text, current=CURRENT), ShotsAnswer)


SEQUENCE_CASES = [
    ("wide shot of the bride, then push in", [{"framing": "wide", "subjects": ["bride"]},
                                              {"framing": "wide", "movement.type": "dolly_in", "subjects": ["bride"]}]),
    ("start on a wide shot then push in to a close up",
     [{"framing": "wide"}, {"framing": "close_up", "movement.type": "dolly_in"}]),
    ("orbit Alice; after that push in on Bob", [{"subjects": ["alice"]}, {"subjects": ["bob"]}]),
    ("slowly orbit the bride counterclockwise then fly by the groom fast and finally do a dronie",
     [{"movement.type": "orbit", "movement.speed": "slow", "movement.direction": "counterclockwise"},
      {"movement.type": "flyby", "movement.speed": "fast", "subjects": ["groom"]},
      {"movement.type": "dronie", "movement.speed": "normal", "subjects": ["groom"]}]),
    ("wide shot, slow push in, then tighter, then rack focus to Alice",
     [{"framing": "wide", "movement.speed": "slow"}, {"framing": "full"},
      {"framing": "full", "focus.rack_to": "alice"}]),
    ("close up of the bride. Afterwards, a wide of everyone", [{"framing": "close_up"},
                                                               {"framing": "wide", "subjects": ["all"]}]),
    ("follow her, followed by an orbit", [{"movement.type": "follow"}, {"movement.type": "orbit"}]),
    ("rack focus to the groom, then wider",
     [{"focus.rack_to": "groom"}, {"focus.target": "groom", "focus.rack_to": None, "framing": "medium_wide"}]),
    ("orbit her, then push in on him", [{"subjects": ["bride"]}, {"subjects": ["bride"]}]),
    ("wide \u2192 close up", [{"framing": "wide"}, {"framing": "close_up"}]),
    ("orbit Alice, then push in on her", [{"subjects": ["alice"]}, {"subjects": ["alice"]}]),
]


@pytest.mark.parametrize("text, expected", SEQUENCE_CASES, ids=[c[0][:40] for c in SEQUENCE_CASES])
def test_sequences(text, expected):
    shots = shots_of(text)
    assert len(shots) == len(expected)
    for shot, fields in zip(shots, expected, strict=True):
        for path, value in fields.items():
            assert field(shot, path) == value, f"{text!r}: {path} = {field(shot, path)!r}"


def test_a_phrase_table_large_enough():
    assert len(SHOT_CASES) + len(CONTROL_CASES) + len(SEQUENCE_CASES) >= 150


def test_not_understood_is_never_a_silent_guess():
    answer = parse_command("follow the bride with a handheld feel", current=CURRENT)
    assert isinstance(answer, ErrorAnswer)
    assert answer.error.not_understood == ["handheld feel"]
