"""Language benchmark: corpus accuracy (training part, held-out fifth, later sets) and time per command.

    .venv/bin/python -m cinempc.language.bench [CORPUS_DIR]

Prints numbers, asserts nothing (``test/test_language_corpus.py`` holds the bar).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from cinempc.language.corpus import accuracy, load_cases, run_case

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "test" / "data" / "language"
# train: tuned on; validation: the held-out fifth of the issue 27 corpus; heldout: a second set written
# later, before the parser was changed for it (neither held-out set is tuned on); fresh: a third set written
# after those changes and measured once before the parser was changed for its classes
CORPORA = ("train", "validation", "heldout", "fresh")


def run(args: Any = None, corpus_dir: Path = DEFAULT_DIR, rounds: int = 3) -> dict[str, float]:
    """Accuracy per corpus file and per-command parse times (ms) over ``rounds`` passes after a warm-up."""
    from cinempc.language import parse_command

    start = time.perf_counter()
    parse_command("wide")  # compiles the lexicon and loads the word list once
    numbers: dict[str, float] = {"first_call_ms": 1000 * (time.perf_counter() - start)}
    times: list[float] = []
    for name in CORPORA:
        path = corpus_dir / f"corpus_{name}.yaml"
        if not path.is_file():
            continue  # a corpus folder of one's own may hold only some of them
        cases = load_cases(path)
        verdicts = [run_case(case) for case in cases]
        numbers[f"{name}_cases"] = len(cases)
        numbers[f"{name}_accuracy"] = round(accuracy(verdicts), 4)
        for _ in range(rounds):
            times.extend(run_case(case).seconds for case in cases)
    times_ms = sorted(1000 * t for t in times)
    numbers.update(parse_median_ms=round(statistics.median(times_ms), 3),
                   parse_p99_ms=round(times_ms[int(0.99 * (len(times_ms) - 1))], 3),
                   parse_max_ms=round(times_ms[-1], 3))
    return numbers


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DIR
    print(json.dumps(run(corpus_dir=folder), indent=2))
