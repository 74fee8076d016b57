"""Subject names: the director says ``jogger``, the tracker says ``#3``; this module remembers ``jogger = #3``.

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

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from cinempc.perception.appearance import differs
from cinempc.perception.params import PerceptionParams
from cinempc.state import SubjectTrack

__all__ = ["DirectorNames", "Pin", "SubjectNamer"]

log = logging.getLogger("cinempc.perception.pipeline")

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
        """``jogger = #3``; a name bound elsewhere moves, a track keeps at most one name."""
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

        A shot may be of someone the camera cannot see yet: a pin is framed at once and
        hands its name to whoever the tracker finds there.  Pointing out a name again
        moves it (the name leaves any track it had).
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



class DirectorNames:
    """The director's naming API of :class:`~cinempc.perception.pipeline.PerceptionPipeline`.

    Needs ``names`` (a :class:`SubjectNamer`), ``params`` and ``_subjects`` (ID -> ``Subject``) on the instance.
    """

    names: SubjectNamer
    params: PerceptionParams
    _subjects: dict
    _names_applied: dict[int, str]
    _pins_applied: dict[str, tuple[float, float, float]]

    def bind(self, name: str, track_id: int) -> None:
        """The operator's ``jogger = #3``."""
        self.names.bind(name, track_id)

    def bind_nearest(self, name: str, position_m, max_distance_m: float = 2.0) -> int | None:
        """Bind ``name`` to the unnamed subject nearest ``position_m`` within ``max_distance_m``; its ID or None."""
        target = np.asarray(position_m, dtype=float).reshape(3)
        best, best_d = None, float(max_distance_m)
        for track_id, subject in self._subjects.items():
            if self.names.name_of(track_id) is not None:
                continue
            d = float(np.linalg.norm(subject.kalman.position_m[:2] - target[:2]))
            if d <= best_d:
                best, best_d = track_id, d
        if best is not None:
            self.names.bind(name, best)
        return best

    def point_out(self, name: str, position_m, time_s: float) -> int:
        """``name`` placed on the map at ``position_m``: given to the unnamed subject in the pin's gate, else a pin.

        Returns the track ID now carrying the name, or the pin's (negative) ID.
        """
        p = self.params
        pin = self.names.point_out(name, position_m, time_s, p.point_out_sigma_m, p.point_out_speed_sigma_mps,
                                   p.subject_height_prior_m)
        candidates = {sid: (s.kalman.position_m, s.kalman.position_cov_m2) for sid, s in self._subjects.items()
                      if time_s - s.last_seen_s <= p.visible_coast_s}
        clean = str(name).strip().lower()
        track_id = next((t for n, t in self.names.adopt_pins(candidates, time_s) if n == clean), None)
        if track_id is not None:
            log.info("perception: %s pointed out on subject #%d", clean, track_id)
            return track_id
        log.info("perception: %s pointed out at (%.1f, %.1f), not found yet", name, *pin.position_m[:2])
        return pin.pin_id

    def withdraw_pin(self, name: str) -> bool:
        """Take back a pin not found yet (False, and nothing changes, when none waits)."""
        withdrawn = self.names.withdraw_pin(name)
        if withdrawn:
            log.info("perception: pin %s withdrawn by the operator", str(name).strip().lower())
        return withdrawn

    def apply_director(self, names: Mapping[int, str] | None = None,
                       pins: Mapping[str, tuple[float, float, float]] | None = None) -> None:
        """The director's whole set of names (``{track_id: name}``) and pins (``{name: (x_m, y_m, stamp_s)}``).

        Only what changed is applied; a pin that left the set is withdrawn (a found person keeps the name).
        """
        for track_id, name in (names or {}).items():
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"subject name for #{track_id} must be a non-empty string")
            if self._names_applied.get(int(track_id)) != name:
                self.bind(name, int(track_id))
                self._names_applied[int(track_id)] = name
        if pins is None:
            return
        for name, pin in pins.items():
            if self._pins_applied.get(name) != tuple(pin):
                self.point_out(name, list(pin[:2]), float(pin[2]))
                self._pins_applied[name] = tuple(pin)
        for name in set(self._pins_applied) - set(pins):
            self.withdraw_pin(name)
        self._pins_applied = {name: self._pins_applied[name] for name in pins}

    def _rebind_orphans(self, seen: set[int]) -> None:
        """A name whose subject was lost goes to a confirmed subject, shirt not vetoed, where it was expected."""
        if not self.names.orphaned_names:
            return
        for sid in sorted(seen):
            subject = self._subjects[sid]
            if not subject.confirmed or self.names.name_of(sid) is not None:
                continue
            rebound = self.names.try_rebind(sid, subject.kalman.position_m, subject.kalman.position_cov_m2,
                                            appearance=subject.known_look(self.params),
                                            veto_distance=self.params.appearance_veto_distance)
            if rebound is not None:
                log.info("perception: %s re-identified as #%d", rebound, sid)

    def _adopt_pins(self, seen: set[int], time_s: float) -> None:
        """Pins go to subjects measured this frame that appeared within ``visible_coast_s``, never to old ones."""
        if not self.names.pins:
            return
        newcomers = {sid: (self._subjects[sid].kalman.position_m, self._subjects[sid].kalman.position_cov_m2)
                     for sid in seen if time_s - self._subjects[sid].first_seen_s <= self.params.visible_coast_s}
        for name, sid in self.names.adopt_pins(newcomers, time_s):
            log.info("perception: %s, pointed out on the map, found as subject #%d", name, sid)

    def _pin_tracks(self, time_s: float, horizon_steps: int, dt_s: float) -> list[SubjectTrack]:
        """Pins as the MPC sees them: standing where pointed out, framed (``visible``) though not seen."""
        steps, tracks = horizon_steps + 1, []
        for name, pin in sorted(self.names.pins.items(), key=lambda item: -item[1].pin_id):
            covariance = np.stack([pin.covariance_m2(time_s + k * dt_s) for k in range(steps)])
            tracks.append(SubjectTrack(
                track_id=pin.pin_id, positions_m=np.tile(pin.position_m, (steps, 1)),
                velocities_mps=np.zeros((steps, 3)), height_m=pin.height_m, name=name, dt_s=float(dt_s),
                covariance_m2=covariance, visible=True))
        return tracks
