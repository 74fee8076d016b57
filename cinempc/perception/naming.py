"""Subject names: the director says ``runner``, the tracker says ``#3``; this module remembers ``runner = #3``.

A binding survives what the tracker survives (ByteTrack keeps the ID through a
short occlusion).  When the tracker does lose the subject and starts a new ID,
the name moves to the new track if it appears where the old one was predicted
to be (a chi-square gate on the ground position), so the shot goes on with the
right person -- or stays unbound, and the MPC holds, when nobody plausible shows up.

A name can also wait for a track that does not exist yet: the operator points a
person out on the map before the camera has seen them (:meth:`SubjectNamer.point_out`).
Such a *pin* is framed like a subject (the shot includes someone the camera is
not showing yet) until the first track that appears inside its gate takes the
name (:meth:`SubjectNamer.adopt_pins`), or until it expires unfound.
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


@dataclass
class Pin:
    """A name the operator placed on the map, waiting for the tracker to find that person.

    Where the person is now is uncertain by the tap's own error plus how far a
    walker can have gone since: the covariance grows with the time since the tap,
    so the gate that adopts a track widens as the pin ages.
    """

    pin_id: int  # negative: never a tracker's ID
    position_m: np.ndarray
    time_s: float
    sigma_m: float
    speed_sigma_mps: float
    height_m: float

    def covariance_m2(self, time_s: float) -> np.ndarray:
        elapsed = max(float(time_s) - self.time_s, 0.0)
        variance = self.sigma_m**2 + (self.speed_sigma_mps * elapsed) ** 2
        return np.diag([variance, variance, 0.0])


class SubjectNamer:
    """Name <-> track-ID bindings with gated re-binding after the tracker lost a subject."""

    def __init__(self, rebind_gate_chi2: float = 9.21) -> None:
        self.rebind_gate_chi2 = float(rebind_gate_chi2)
        self._track_of: dict[str, int] = {}
        self._orphans: dict[str, _Orphan] = {}
        self._pins: dict[str, Pin] = {}
        self._next_pin_id = -1

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

    @property
    def pins(self) -> dict[str, Pin]:
        """Names pointed out on the map and not found yet."""
        return dict(self._pins)

    def waiting(self, name: str) -> bool:
        """True when ``name`` waits for a track: lost and not re-found, or pointed out and not found yet."""
        clean = str(name).strip().lower()
        return clean in self._orphans or clean in self._pins

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
        self._pins.pop(name, None)

    def unbind(self, name: str) -> None:
        name = str(name).strip().lower()
        self._track_of.pop(name, None)
        self._orphans.pop(name, None)
        self._pins.pop(name, None)

    def point_out(self, name: str, position_m, time_s: float, sigma_m: float, speed_sigma_mps: float,
                  height_m: float) -> Pin:
        """The operator says ``name`` is standing at ``position_m`` (a tap on the map); no track there yet.

        Why: a shot may be of someone the camera cannot see yet (``crossing``: the
        third person is 50 degrees off the lens axis at the start).  Knowing only the
        people in the picture, the drone framed two of three for 5 s; a pin is framed
        at once and hands its name to whoever the tracker finds there.  Pointing out
        a name again moves it (the name leaves any track it had).
        """
        name = _check_name(name)
        position = np.asarray(position_m, dtype=float).reshape(-1)
        if position.size not in (2, 3) or not np.isfinite(position).all():
            raise ValueError(f"pointed-out position for {name!r} must be finite [x, y] or [x, y, z] metres, "
                             f"got {position_m!r}")
        self.unbind(name)
        pin = Pin(self._next_pin_id, np.array([position[0], position[1], 0.0]), float(time_s), float(sigma_m),
                  float(speed_sigma_mps), float(height_m))
        self._next_pin_id -= 1
        self._pins[name] = pin
        return pin

    def withdraw_pin(self, name: str) -> bool:
        """The operator takes a pin back; True if ``name`` was a pin nobody had been found at.

        A name a track already carries (the pin was found) is left bound: the director's
        set of pins shrinks when a pin is found too, and that must not unname the person.
        """
        return self._pins.pop(str(name).strip().lower(), None) is not None

    def adopt_pins(self, candidates: dict[int, tuple[np.ndarray, np.ndarray]], time_s: float) -> list[tuple[str, int]]:
        """Give pins to the unnamed tracks found where they were pointed out; returns ``(name, track_id)`` pairs.

        ``candidates``: track ID -> (ground position, covariance) of tracks measured
        this frame.  Pairs are taken best first (smallest Mahalanobis distance inside
        ``rebind_gate_chi2``), so two pins near each other each get their own person.
        """
        pairs = []
        for name, pin in self._pins.items():
            pin_covariance = pin.covariance_m2(time_s)[:2, :2]
            for track_id, (position, covariance) in candidates.items():
                if self.name_of(track_id) is not None:
                    continue
                innovation = np.asarray(position, float)[:2] - pin.position_m[:2]
                S = pin_covariance + np.asarray(covariance, float)[:2, :2]
                d2 = float(innovation @ np.linalg.solve(S, innovation))
                if d2 <= self.rebind_gate_chi2:
                    pairs.append((d2, name, track_id))
        adopted: list[tuple[str, int]] = []
        for _, name, track_id in sorted(pairs):
            if name in self._pins and self.name_of(track_id) is None:
                self.bind(name, track_id)
                adopted.append((name, track_id))
        return adopted

    def expire_pins(self, time_s: float, timeout_s: float) -> list[str]:
        """Pins nobody was found at within ``timeout_s``: their names wait as orphans (a gated re-binding)."""
        expired = [name for name, pin in self._pins.items() if time_s - pin.time_s > timeout_s]
        for name in expired:
            pin = self._pins.pop(name)
            self._orphans[name] = _Orphan(pin.position_m, pin.covariance_m2(time_s))
        return expired

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
            if clean in ("", "all") or clean.startswith("#") or clean in self._track_of or self.waiting(clean):
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

