"""Subject names: the director says ``runner``, the tracker says ``#3``; this module remembers ``runner = #3``.

A binding survives what the tracker survives (ByteTrack keeps the ID through a
short occlusion).  When the tracker does lose the subject and starts a new ID,
the name moves to the new track if it appears where the old one was predicted
to be (a chi-square gate on the ground position), so the shot goes on with the
right person -- or stays unbound, and the MPC holds, when nobody plausible shows up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from cinempc.perception.appearance import differs

__all__ = ["SubjectNamer"]

_NAME = re.compile(r"^[a-z][a-z0-9_\- ]{0,39}$")


def _check_name(name: str) -> str:
    clean = str(name).strip().lower()
    if clean == "all" or not _NAME.match(clean):
        raise ValueError(
            f"subject name {name!r} must start with a letter, use letters, digits, '_', '-' or spaces "
            "(up to 40), and not be 'all'"
        )
    return clean


@dataclass
class _Orphan:
    """A name whose track is gone, with where we expect the subject now."""

    position_m: np.ndarray
    covariance_m2: np.ndarray
    appearance: np.ndarray | None = None  # shirt histogram the subject was known by (appearance.py), if any


class SubjectNamer:
    """Name <-> track-ID bindings with gated re-binding after the tracker lost a subject."""

    def __init__(self, rebind_gate_chi2: float = 9.21) -> None:
        self.rebind_gate_chi2 = float(rebind_gate_chi2)
        self._track_of: dict[str, int] = {}
        self._orphans: dict[str, _Orphan] = {}

    # ---------------------------------------------------------------- queries
    @property
    def bindings(self) -> dict[str, int]:
        return dict(self._track_of)

    def name_of(self, track_id: int) -> str | None:
        for name, tid in self._track_of.items():
            if tid == track_id:
                return name
        return None

    def track_of(self, name: str) -> int | None:
        return self._track_of.get(str(name).strip().lower())

    @property
    def orphaned_names(self) -> list[str]:
        return sorted(self._orphans)

    # ---------------------------------------------------------------- changes
    def bind(self, name: str, track_id: int) -> None:
        """``runner = #3``; a name bound elsewhere moves, a track keeps at most one name."""
        name = _check_name(name)
        if int(track_id) < 1:
            raise ValueError(f"track id must be a positive integer, got {track_id!r}")
        previous = self.name_of(int(track_id))
        if previous is not None and previous != name:
            del self._track_of[previous]
        self._track_of[name] = int(track_id)
        self._orphans.pop(name, None)

    def unbind(self, name: str) -> None:
        name = str(name).strip().lower()
        self._track_of.pop(name, None)
        self._orphans.pop(name, None)

    def auto_bind(self, names: list[str], track_ids: list[int]) -> None:
        """Give each still-unbound name the earliest-seen track that has no name yet.

        Why: a shot may name subjects the operator never pointed at; with one
        person in view there is no ambiguity, with several the first one found
        (lowest ID) is the documented, predictable choice.  Orphaned names are not
        auto-bound -- they wait for a gated re-identification.
        """
        free = sorted(t for t in track_ids if self.name_of(t) is None)
        for name in names:
            clean = str(name).strip().lower()
            if clean in ("", "all") or clean.startswith("#") or clean in self._track_of or clean in self._orphans:
                continue
            if not free:
                break
            self.bind(clean, free.pop(0))

    def track_lost(self, track_id: int, position_m, covariance_m2, appearance: np.ndarray | None = None) -> str | None:
        """The tracker gave up on ``track_id``: its name (if any) waits for a re-identification."""
        name = self.name_of(track_id)
        if name is not None:
            del self._track_of[name]
            self._orphans[name] = _Orphan(np.asarray(position_m, float), np.asarray(covariance_m2, float),
                                          appearance)
        return name

    def update_orphan(self, name: str, position_m, covariance_m2) -> None:
        """Move an orphan's expected position along (its filter keeps predicting)."""
        if name in self._orphans:
            self._orphans[name] = _Orphan(np.asarray(position_m, float), np.asarray(covariance_m2, float),
                                          self._orphans[name].appearance)

    def forget_orphan(self, name: str) -> None:
        self._orphans.pop(name, None)

    def try_rebind(self, track_id: int, position_m, covariance_m2,
                   coasting: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
                   appearance: np.ndarray | None = None, veto_distance: float = 1.0) -> str | None:
        """Bind the name whose expected ground position best explains a new track, if inside the gate.

        Candidates are the orphaned names and ``coasting``: named subjects the
        tracker is still predicting but did not see this frame (``name -> (position,
        covariance)``), for when the tracker starts a new ID instead of re-finding.
        An orphan whose known shirt is further than ``veto_distance`` from the new
        track's (``appearance``) is not a candidate: the name of someone who left
        must not jump onto the next person walking through the spot.
        """
        if self.name_of(track_id) is not None:
            return None
        candidates = {name: (o.position_m, o.covariance_m2) for name, o in self._orphans.items()
                      if not differs(o.appearance, appearance, veto_distance)}
        candidates.update(coasting or {})
        best, best_d2 = None, self.rebind_gate_chi2
        z = np.asarray(position_m, float)[:2]
        R = np.asarray(covariance_m2, float)[:2, :2]
        for name, (position, covariance) in candidates.items():
            innovation = z - np.asarray(position, float)[:2]
            S = np.asarray(covariance, float)[:2, :2] + R
            d2 = float(innovation @ np.linalg.solve(S, innovation))
            if d2 <= best_d2:
                best, best_d2 = name, d2
        if best is not None:
            self.bind(best, track_id)
        return best

