"""What perception tells the director about the subjects it looks for: searching, found again, lost.

The pipeline lists, per frame, the subjects it searches for (``PerceptionPipeline.searching``) and those it
gave up on (``PerceptionPipeline.lost``); the director's tablet wants the changes, said once each.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class SearchReport:
    """One change in what perception searches for, for the director's log."""

    kind: str  # a stable key: "searching", "found" or "lost"
    ref: str  # the subject's name, or "#id"
    level: str  # "info" or "warning"
    message: str  # the sentence shown on the tablet


def search_reports(searched_before: Iterable[str], searching: Mapping[str, float],
                   lost: Iterable[str]) -> list[SearchReport]:
    """Rule: newly searched -> "searching for X"; searched before and now neither searched nor lost -> "X found
    again"; lost -> "X lost" (a warning; "not found" when it was searched for)."""
    before = set(searched_before)
    gone = set(lost)
    reports = [SearchReport("searching", ref, "info", f"searching for {ref} where it is predicted")
               for ref in searching if ref not in before]
    reports += [SearchReport("found", ref, "info", f"{ref} found again")
                for ref in sorted(before) if ref not in searching and ref not in gone]
    reports += [SearchReport("lost", ref, "warning", f"{ref} lost: not found where it was predicted"
                             if ref in before else f"{ref} lost")
                for ref in dict.fromkeys(lost)]
    return reports
