"""``cinempc parse``: a director's plain-English command -> shots, a control command or an error.

    cinempc parse "wide shot of the bride, slow orbit clockwise" --json
    cinempc parse "tighter, then rack focus to the groom" --current shot.json --json
    echo "hold" | cinempc parse - --json
    cinempc parse "medium establishing shot of the bass player, documentary vibe" --explain

Exit code 0 for shots or a command, 2 for an error (``{"error": ...}``).
"""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``parse`` sub-command."""
    parser = subparsers.add_parser(
        "parse", help="plain English -> ShotSpec JSON (or hold/resume/abort)",
        description="Parse a director's command. Prints {\"shots\": [...]}, {\"command\": ...} or "
        "{\"error\": ...} (exit code 2); a shot naming a subject nothing known carries adds "
        "\"unknown_subjects\" and \"warning\". See docs/language.md for the vocabulary.",
    )
    parser.add_argument("text", help="the command; '-' reads it from standard input")
    parser.add_argument("--current", help="the shot on air (ShotSpec JSON/YAML file or preset name) for edits")
    parser.add_argument("--subjects", default="", help="comma-separated names of the tracked subjects")
    parser.add_argument("--backend", choices=("rules", "llm"), help="parser backend (default: config)")
    parser.add_argument("--json", action="store_true", help="print only the JSON answer")
    parser.add_argument("--explain", action="store_true",
                        help="print which words set which field, and which words were ignored or not understood")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Parse and print; exit 2 on an error answer."""
    from cinempc.language import ErrorAnswer, NotUnderstood, parse_command
    from cinempc.shot import ShotSpecError, load_shot

    current = None
    if args.current:
        try:
            current = load_shot(args.current)
        except (ShotSpecError, KeyError, FileNotFoundError, OSError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            answer = ErrorAnswer(error=NotUnderstood(reason="refused", message=f"--current: {message}"))
            return _emit(answer, args.json)
    text: str | bytes = sys.stdin.buffer.read() if args.text == "-" else args.text
    subjects = [s.strip() for s in args.subjects.split(",") if s.strip()]
    answer = parse_command(text, current=current, known_subjects=subjects, backend=args.backend)
    code = _emit(answer, args.json)
    if args.explain:
        _explain(answer)
    return code


def _explain(answer) -> None:
    """Which words set which field (implied ones marked), and which were ignored or not understood."""
    from cinempc.language import ErrorAnswer, ShotsAnswer

    print("explain:")
    if isinstance(answer, ShotsAnswer):
        for item in answer.explanation:
            implied = " (implied by a shot name)" if item.implied else ""
            print(f"  shot {item.shot}: {item.words!r} -> {item.field} = {item.value}{implied}")
        for typed, meant in answer.corrections.items():
            print(f"  read {typed!r} as {meant!r}")
        print(f"  ignored: {', '.join(repr(w) for w in answer.ignored) or 'nothing'}")
    elif isinstance(answer, ErrorAnswer):
        print(f"  not understood: {', '.join(repr(w) for w in answer.error.not_understood) or '-'}")
        print(f"  nothing is flown ({answer.error.reason})")
    else:
        print(f"  control command: {answer.command}")


def _emit(answer, as_json: bool) -> int:
    from cinempc.language import ErrorAnswer, ShotsAnswer

    document = answer.model_dump(mode="json")
    if isinstance(answer, ShotsAnswer) and answer.unknown_subjects:
        # the warning travels with the answer a script saves (still a shot file: cinempc.cli.shot.PARSE_ANSWER_KEYS)
        document["unknown_subjects"] = list(answer.unknown_subjects)
        document["warning"] = answer.warning
    if as_json:
        print(json.dumps(document))
    elif isinstance(answer, ShotsAnswer):
        for number, shot in enumerate(answer.shots, 1):
            print(f"shot {number}: {shot.model_dump_json(exclude_defaults=True)}")
        for typed, meant in answer.corrections.items():
            print(f"  (read '{typed}' as '{meant}')")
        if answer.ignored:
            print(f"  ignored: {', '.join(answer.ignored)}")
    elif isinstance(answer, ErrorAnswer):
        error = answer.error
        print(f"error: {error.message}", file=sys.stderr)
        for word, terms in error.suggestions.items():
            if terms:
                print(f"  '{word}': did you mean {', '.join(repr(t) for t in terms)}?", file=sys.stderr)
        for example in error.examples:
            print(f"  e.g. \"{example}\"", file=sys.stderr)
    else:
        print(json.dumps(document))
    return 2 if isinstance(answer, ErrorAnswer) else 0
