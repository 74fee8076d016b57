"""Frame + current intrinsics + drone pose + gimbal -> ``list[SubjectTrack]`` for the MPC.

This is the drop-in replacement for the simulator's ground-truth subjects::

    pipeline = PerceptionPipeline.from_config(camera)              # once per run
    subjects = pipeline.process_frame(frame, sim.rig_state(), mpc.horizon_steps, mpc.dt_s)

Each frame: detect -> track (ultralytics ByteTrack/BoT-SORT) -> estimate the
feet point of every tracked box -> Kalman update -> predict over the horizon.
A subject the tracker does not see this frame keeps being predicted
(``visible=False``) for up to ``lost_timeout_s``; after that it is reported in
:attr:`PerceptionPipeline.lost` and dropped from the list, so a shot that
references it finds no subject and the MPC holds (DEVELOPERS.md, reliability).
A corrupted frame counts as a frame with nothing in it.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from cinempc.config import CameraProfile
from cinempc.perception.appearance import blend, differs, matches, torso_histogram
from cinempc.perception.detector import Detections, Detector, build_detector, inside_matrix, iou_matrix, validate_image
from cinempc.perception.estimation import CameraView, estimate_subject
from cinempc.perception.filtering import ConstantVelocityKalman
from cinempc.perception.groups import covers_two, pair_boxes
from cinempc.perception.naming import SubjectNamer
from cinempc.perception.params import PerceptionParams, load_perception_params
from cinempc.perception.tracking import SubjectTracker, TrackedBox
from cinempc.state import RigState, SubjectTrack

__all__ = ["PerceptionPipeline"]

log = logging.getLogger(__name__)

CONFIRM_MEASUREMENTS = 3  # whole-person sightings before an unnamed subject is reported
PERSON_EXTENT_M = 0.3  # spread of feet points from different boxes on one person (owner test)
# A stature is a constant: the height is the median of the heights measured on this person's boxes (a
# box's head row against a position that did not itself come from a stature: the feet ray or depth).
# Boxes with the feet in view measure it best; once STATURE_WHOLE_VIEWS of those exist, boxes cut by the
# frame's bottom no longer count.  Why: at 100 mm in stop_and_go's last pauses the detector drew waist-cut
# boxes 25-30 px above the head for 3 s on end (1.90-1.95 m for a 1.76 m person); averaged in, the person
# was framed as 1.88 m, head at 16 % of the frame instead of 8 %, composition 0.06-0.08 for the pause.  Why
# they count before that: single_walker's medium shot never shows the feet after the first second, and
# its one standing view at 35 mm and 6 m said 1.68 m; its cut boxes while walking say 1.72 m, her height.
STATURE_WHOLE_VIEWS = 10
STATURE_HISTORY = 300  # measurements kept per kind (30 s at 10 Hz)


def _box_of(view: CameraView, feet_m, height_m: float) -> np.ndarray | None:
    """The box of a person standing at ``feet_m`` in this view (feet to head, a third as wide as tall), or None."""
    feet = np.asarray(feet_m, dtype=float)
    u, v_feet, z_feet = view.project(feet)
    _, v_head, z_head = view.project(feet + np.array([0.0, 0.0, height_m]))
    if z_feet <= 0 or z_head <= 0 or not np.isfinite([u, v_feet, v_head]).all() or v_feet <= v_head:
        return None
    half = (v_feet - v_head) / 6.0
    return np.array([u - half, v_head, u + half, v_feet])


@dataclass
class _Subject:
    track_id: int
    kalman: ConstantVelocityKalman
    height_m: float
    last_seen_s: float
    box_xyxy: np.ndarray
    # the last ground estimate its filter took, and when (motion-bounded re-identification)
    last_measured_m: np.ndarray
    updates: int = 0  # whole-person sightings so far (a partial box is judged against them)
    # heights measured with the feet in view / with them cut (depth placed the person): height_m's median
    stature_whole_m: deque = field(default_factory=lambda: deque(maxlen=STATURE_HISTORY))
    stature_cut_m: deque = field(default_factory=lambda: deque(maxlen=STATURE_HISTORY))
    # Seen CONFIRM_MEASUREMENTS times as a whole person (a box whose rows imply a person's height), with boxes
    # shaped like one (PerceptionPipeline._confirm, which can also withdraw it).  Only confirmed or named
    # subjects are reported: open_field_dolly_zoom's marker poles, boxed as people at 14 m, never imply a
    # person's height (crossing's far post did once in 12 s), and as subjects they joined the shot's ``all``.
    confirmed: bool = False
    appearance: np.ndarray | None = None  # shirt histogram from clean whole-person views (appearance.py)
    views: int = 0  # clean views blended into ``appearance``
    first_seen_s: float = 0.0
    # width / height of its boxes that showed it whole (and of cut ones already too wide): a standing person's
    # box is far taller than wide
    box_aspects: deque = field(default_factory=lambda: deque(maxlen=STATURE_HISTORY))
    last_measured_s: float = 0.0  # when last_measured_m was taken
    # time since it was last seen with its prediction where the picture could show it (PerceptionPipeline._visible)
    unseen_in_view_s: float = 0.0
    reported_s: float | None = None  # the frame it was last judged visible or not in


class PerceptionPipeline:
    """Detector + tracker + estimator + filters + names, stateful across frames of one run."""

    def __init__(self, camera: CameraProfile, params: PerceptionParams | None = None,
                 detector: Detector | None = None, tracker: SubjectTracker | None = None) -> None:
        self.camera = camera
        self.params = params or load_perception_params()
        self._detector = detector
        self.tracker = tracker or SubjectTracker.from_params(self.params)
        self.names = SubjectNamer(self.params.rebind_gate_chi2)
        self._subjects: dict[int, _Subject] = {}
        self._alias: dict[int, int] = {}  # tracker ID -> subject ID it was re-identified as
        self.last_subject_boxes: dict[int, np.ndarray] = {}  # subject ID -> box seen this frame
        self.lost: list[str] = []  # refs/names reported lost by the latest update
        self.last_detections = Detections.empty()
        self.last_tracks: list[TrackedBox] = []
        self.seen_ids: set[int] = set()  # subjects measured in the latest frame (the rest are predicted)
        self._names_applied: dict[int, str] = {}  # the director's names and pins as last applied (apply_director)
        self._pins_applied: dict[str, tuple[float, float, float]] = {}

    @classmethod
    def from_config(cls, camera: CameraProfile, backend: str | None = None,
                    config: str = "perception.yaml") -> PerceptionPipeline:
        """Everything from ``config/perception.yaml``; ``backend`` picks ultralytics or onnx."""
        params = load_perception_params(config)
        return cls(camera, params, build_detector(params, backend))

    @property
    def detector(self) -> Detector:
        if self._detector is None:
            self._detector = build_detector(self.params)
        return self._detector

    def reset(self) -> None:
        """New scene: forget tracks, filters and names."""
        self.tracker.reset()
        self.names = SubjectNamer(self.params.rebind_gate_chi2)
        self._subjects.clear()
        self._alias.clear()
        self.lost = []
        self._names_applied, self._pins_applied = {}, {}

    def bind(self, name: str, track_id: int) -> None:
        """The operator's ``runner = #3``."""
        self.names.bind(name, track_id)

    def bind_nearest(self, name: str, position_m, max_distance_m: float = 2.0) -> int | None:
        """Bind ``name`` to the unnamed subject standing nearest ``position_m`` (the operator tapping a person).

        Returns the track ID, or None when nobody is within ``max_distance_m``.
        """
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
        """The operator places ``name`` on the map at ``position_m`` (ground x, y): a person, seen or not.

        The name goes at once to the unnamed subject inside the pin's gate (a tap on
        someone the tracker already has), else it waits as a pin that is framed like
        a subject until the tracker finds someone there (:class:`naming.Pin`).
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
        """The operator takes back a person pointed out and not found yet: no longer framed or searched for.

        Returns False (and changes nothing) when no such pin waits, e.g. it was already found.
        """
        withdrawn = self.names.withdraw_pin(name)
        if withdrawn:
            log.info("perception: pin %s withdrawn by the operator", str(name).strip().lower())
        return withdrawn

    def apply_director(self, names: Mapping[int, str] | None = None,
                       pins: Mapping[str, tuple[float, float, float]] | None = None) -> None:
        """The director's current names (``{track_id: name}``) and map pins (``{name: (x_m, y_m, stamp_s)}``).

        Both are the whole set the tablet holds, sent again on every change (a latched ROS topic,
        or each step of a simulated live run), so only what changed is applied: a pin applied
        again would restart its gate.  A pin that left the set was found, named, expired or taken
        back: withdrawn, which only drops a pin still waiting (a found person keeps the name).
        The pin's time is the tap's stamp, so a restarted node does not make an old pin new.
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

    # ------------------------------------------------------------------ entry points
    def process_frame(self, frame, rig_state: RigState, horizon_steps: int = 20, dt_s: float = 0.1,
                      use_depth: bool = True, names: list[str] | None = None,
                      point_out: list[SubjectTrack] | None = None) -> list[SubjectTrack]:
        """A simulator ``Frame`` (rgb, depth_m, time_s, focal_length_mm) -> subjects.

        The frame's own focal length is the intrinsics used (the lens at exposure
        time), falling back to the rig state's.  ``point_out``: named subjects
        (e.g. the simulator's ground truth at the start of a shot) the operator
        places on the map (:meth:`point_out`) -- names bound or waiting already are
        left alone.
        """
        focal = getattr(frame, "focal_length_mm", None) or rig_state.focal_length_mm
        depth = getattr(frame, "depth_m", None) if use_depth else None
        if point_out:
            for reference in point_out:
                if reference.name and self.names.track_of(reference.name) is None \
                        and not self.names.waiting(reference.name):
                    self.point_out(reference.name, reference.positions_m[0], float(frame.time_s))
        subjects = self.process(frame.rgb, rig_state, float(frame.time_s), focal_length_mm=focal, depth_m=depth,
                                horizon_steps=horizon_steps, dt_s=dt_s, names=None)
        if names:
            self.names.auto_bind(names, sorted(self._subjects))
            subjects = [replace(s, name=self.names.name_of(s.track_id)) for s in subjects]
        return subjects

    def process(self, rgb, rig_state: RigState, time_s: float, *, focal_length_mm: float | None = None,
                depth_m: np.ndarray | None = None, horizon_steps: int = 20, dt_s: float = 0.1,
                names: list[str] | None = None) -> list[SubjectTrack]:
        """An RGB image -> subjects; a corrupted image is a frame without detections."""
        image = validate_image(rgb)
        if image is None:
            detections = Detections.empty()
            size = None
        else:
            size = (image.shape[1], image.shape[0])
            detections = self._detect(image, self._camera_view(rig_state, focal_length_mm, *size), float(time_s))
        return self.process_detections(detections, rig_state, time_s, image_size=size,
                                       focal_length_mm=focal_length_mm, depth_m=depth_m,
                                       horizon_steps=horizon_steps, dt_s=dt_s, names=names,
                                       image_bgr=None if image is None else image[..., ::-1])

    def process_detections(self, detections: Detections, rig_state: RigState, time_s: float, *,
                           image_size: tuple[int, int] | None = None, focal_length_mm: float | None = None,
                           depth_m: np.ndarray | None = None, horizon_steps: int = 20, dt_s: float = 0.1,
                           names: list[str] | None = None, image_bgr: np.ndarray | None = None,
                           ) -> list[SubjectTrack]:
        """Boxes already found (by any detector, or scripted) -> subjects."""
        time_s = float(time_s)
        detections = self._without_pair_boxes(detections)
        self.last_detections = detections
        tracks = self.tracker.update(detections, image_bgr)
        self.last_tracks = tracks
        width, height = image_size or detections.image_size
        if tracks and (width <= 0 or height <= 0):
            raise ValueError("process_detections needs the image size (image_size or detections.image_size)")
        view = None
        if tracks:
            view = self._camera_view(rig_state, focal_length_mm, width, height)
        seen: set[int] = set()
        self.last_subject_boxes = {}
        boxes = [t.xyxy for t in tracks]
        everything = boxes + [np.asarray(b, float) for b in detections.xyxy]
        # tracks of known subjects first, so a newcomer can never take over a subject seen in this frame;
        # the most confident box first, so a subject with two boxes (a merged box over two people, a box on
        # a leg) is measured with its best one
        predicted = self._predicted_boxes(view, time_s) if view is not None else []
        for track in sorted(tracks, key=lambda t: (self._resolve(t.track_id) is None, -t.conf)):
            if covers_two(track.xyxy, predicted, self.params.pair_box_inside):
                continue  # a box around two people standing side by side measures neither
            others = [b for b in boxes if b is not track.xyxy]
            sid = self._resolve(track.track_id)
            known = self._subjects.get(sid) if sid is not None else None
            stature_m, speed_mps = None, 0.0
            if known is not None and (known.stature_whole_m or known.stature_cut_m):
                stature_m = known.height_m
                speed_mps = float(np.linalg.norm(known.kalman.velocity_mps[:2]))
            estimate = estimate_subject(track.xyxy, view, self.params, depth_m, others=others, stature_m=stature_m,
                                        speed_mps=speed_mps)
            if estimate is None:
                continue
            # (a box on part of a person -- a leg, a box taller than the person -- has no shirt where a torso is)
            look = self._look(image_bgr, track.xyxy, everything) if estimate.height_measured else None
            if sid is not None and sid not in seen:
                owner = self._owner(sid, estimate, time_s, seen, look)
                if owner is None:
                    continue  # the track's box is on someone already measured this frame
                if owner != sid:
                    self._alias[track.track_id] = owner
                    log.info("perception: tracker #%d moved from subject #%d to #%d", track.track_id, sid, owner)
                    sid = owner
            if sid is not None and sid in seen and self._vetoed(self._subjects[sid], look):
                # not a second box on that subject: someone else's shirt -- the tracker swapped two people,
                # and the other person's track was just moved onto this subject
                other = self._other_in_gate(sid, estimate, time_s, look, need_match=True)
                if other is not None and other not in seen:
                    self._alias[track.track_id] = other
                    log.info("perception: tracker #%d moved from subject #%d to #%d (appearance)",
                             track.track_id, sid, other)
                    sid = other
            if sid is not None and sid in seen:
                continue  # a second box on a subject already updated this frame
            if sid is None:
                part_of = self._part_of(track.xyxy, estimate, seen)
                if part_of is not None:
                    # a second box on someone already measured this frame (legs, an arm, a half body in a
                    # close-up): the same subject from now on, never a new one
                    self._alias[track.track_id] = part_of
                    log.info("perception: tracker #%d is a part of subject #%d", track.track_id, part_of)
                    continue
                sid = self._reidentify(estimate, time_s, seen, look=look)
                if sid is not None:
                    self._alias[track.track_id] = sid
                    log.info("perception: tracker #%d re-identified as subject #%d", track.track_id, sid)
            if sid is None:
                sid = self._new_subject(track, estimate, time_s, look).track_id
            else:
                subject = self._subjects[sid]
                whole = self._measure(subject, estimate, time_s)
                self._learn_look(subject, whole, look)
                subject.last_seen_s = time_s
                subject.box_xyxy = track.xyxy
            seen.add(sid)
            self.last_subject_boxes[sid] = track.xyxy
        self._update_from_unreported(detections, tracks, rig_state, image_size, focal_length_mm, time_s, depth_m,
                                     seen, image_bgr)
        self._rebind_orphans(seen)
        if self.names.pins:
            # only someone who has just appeared can be the person pointed out: a pin's gate grows with the
            # time since the tap, and after 2 s it took in a walker seen all along 9 m away
            newcomers = {sid: (self._subjects[sid].kalman.position_m, self._subjects[sid].kalman.position_cov_m2)
                         for sid in seen if time_s - self._subjects[sid].first_seen_s <= self.params.visible_coast_s}
            for name, sid in self.names.adopt_pins(newcomers, time_s):
                log.info("perception: %s, pointed out on the map, found as subject #%d", name, sid)
        self._expire(time_s)
        if names:
            self.names.auto_bind(names, sorted(self._subjects))
        self.seen_ids = set(seen)
        frame_view = view
        if frame_view is None and width > 0 and height > 0:
            frame_view = self._camera_view(rig_state, focal_length_mm, width, height)
        found = [self._subject_track(s, time_s, self._visible(s, time_s, seen, frame_view), horizon_steps, dt_s)
                 for s in sorted(self._subjects.values(), key=lambda s: s.track_id)
                 if self._reported(s.track_id)]
        return found + [self._pin_track(name, pin, time_s, horizon_steps, dt_s)
                        for name, pin in sorted(self.names.pins.items(), key=lambda item: -item[1].pin_id)]

    def _update_from_unreported(self, detections: Detections, tracks: list[TrackedBox], rig_state: RigState,
                                image_size, focal_length_mm, time_s: float, depth_m, seen: set[int],
                                image_bgr: np.ndarray | None = None) -> None:
        """Detections the tracker did not report this frame still update a coasting subject they can only be.

        Why: ByteTrack reports a track only once it is confirmed, so every time it
        loses the image-space association (a zooming, panning camera moves the box
        further than its image-plane Kalman filter expects; a low-confidence frame)
        the person is missing for at least one frame and comes back under a new ID.
        Measured in ``occlusion_trees`` at 130-140 mm: a third of the frames had a
        good box and no track.  A box that overlaps no reported track and falls
        inside the ground-plane gate (or the reach) of a subject not seen this frame
        is a measurement of that subject; no new subject is ever made from it.
        """
        if not len(detections) or not self._subjects:
            return
        width, height = image_size or detections.image_size
        if width <= 0 or height <= 0:
            return
        view = self._camera_view(rig_state, focal_length_mm, width, height)
        reported = [t.xyxy for t in tracks]
        all_boxes = [np.asarray(b, float) for b in detections.xyxy]
        predicted = self._predicted_boxes(view, time_s)
        order = np.argsort(-np.asarray(detections.conf))
        for i in order:
            box = all_boxes[i]
            if float(detections.conf[i]) < self.params.unreported_min_confidence:
                continue
            if reported and iou_matrix(box, np.array(reported)).max() > 0.3:
                continue
            if covers_two(box, predicted, self.params.pair_box_inside):
                continue
            others = [b for j, b in enumerate(all_boxes) if j != i]
            estimate = estimate_subject(box, view, self.params, depth_m, others=others)
            if estimate is None:
                continue
            if self._part_of(box, estimate, seen) is not None:
                continue  # a second box on someone measured this frame (a leg, half a body), not a coasting subject
            look = self._look(image_bgr, box, all_boxes) if estimate.height_measured else None
            sid = self._reidentify(estimate, time_s, seen, allow_reach=False, look=look)
            if sid is None:
                continue
            subject = self._subjects[sid]
            whole = self._measure(subject, estimate, time_s)
            self._learn_look(subject, whole, look)
            subject.last_seen_s = time_s
            subject.box_xyxy = box
            seen.add(sid)
            self.last_subject_boxes[sid] = box
            reported.append(box)

    # ------------------------------------------------------------------ internals
    def _detect(self, image: np.ndarray, view: CameraView | None = None, time_s: float | None = None) -> Detections:
        """The detector on the frame, plus a zoomed-out pass for people taller than it knows and zoomed-in
        passes around subjects expected smaller than it finds well (with ``view`` and ``time_s``).

        Why zoom out: the detector learnt people 20-200 px high.  A medium shot at 100-150 mm
        makes the person taller than the frame, cut at the waist; on the frames the
        default shots of ``wind``, ``single_walker`` and ``occlusion_trees`` produce
        (ground-truth flights) it found them in 48-72 % of the frames, often as a box on
        a leg or an arm.  The same frames shrunk to half size on a grey canvas: 100 %,
        mean IoU 0.91.  So when a subject's box (this frame's or the last one's) is
        taller than ``zoom_out_min_box_fraction`` of the frame, the frame is also
        searched at ``zoom_out_scale`` and the two sets of boxes merged (NMS).

        Why zoom in: see :meth:`_zoom_in_windows`.
        """
        detections = self.detector.detect(image)
        height, width = image.shape[:2]
        passes = []
        scale = self.params.zoom_out_scale
        tall = [b for b in detections.xyxy] + [s.box_xyxy for s in self._subjects.values()]
        if scale < 1.0 and any((b[3] - b[1]) >= self.params.zoom_out_min_box_fraction * height for b in tall):
            small_w, small_h = max(1, int(round(width * scale))), max(1, int(round(height * scale)))
            small = cv2.resize(image, (small_w, small_h), interpolation=cv2.INTER_AREA)
            canvas = np.full_like(image, 114)
            y0, x0 = (height - small_h) // 2, (width - small_w) // 2
            canvas[y0:y0 + small_h, x0:x0 + small_w] = small
            zoomed = self.detector.detect(canvas)
            boxes = (zoomed.xyxy - np.array([x0, y0, x0, y0], np.float32)) / scale
            passes.append((np.clip(boxes, 0, [width, height, width, height]), zoomed.conf, zoomed.cls))
        if view is not None and time_s is not None:
            for x0, y0, crop_w, crop_h in self._zoom_in_windows(view, time_s, detections):
                crop = cv2.resize(image[y0:y0 + crop_h, x0:x0 + crop_w], (width, height),
                                  interpolation=cv2.INTER_LINEAR)
                zoomed = self.detector.detect(crop)
                boxes = zoomed.xyxy * np.array([crop_w / width, crop_h / height] * 2, np.float32) \
                    + np.array([x0, y0, x0, y0], np.float32)
                # a box cut by the window's edge inside the picture is part of a person: the full frame has them
                margin = self.params.border_margin_px
                cut = ((boxes[:, 0] <= x0 + margin) & (x0 > 0)) | ((boxes[:, 1] <= y0 + margin) & (y0 > 0)) \
                    | ((boxes[:, 2] >= x0 + crop_w - margin) & (x0 + crop_w < width)) \
                    | ((boxes[:, 3] >= y0 + crop_h - margin) & (y0 + crop_h < height))
                passes.append((boxes[~cut], zoomed.conf[~cut], zoomed.cls[~cut]))
        passes = [found for found in passes if len(found[0])]
        if not passes:
            return detections
        xyxy = np.concatenate([detections.xyxy] + [found[0] for found in passes]).astype(np.float32)
        conf = np.concatenate([detections.conf] + [found[1] for found in passes])
        cls = np.concatenate([detections.cls] + [found[2] for found in passes])
        top_left = np.column_stack([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]])
        keep = np.asarray(cv2.dnn.NMSBoxes(top_left.tolist(), conf.tolist(), 0.0, self.params.nms_iou), int).reshape(-1)
        keep = keep[np.argsort(-conf[keep], kind="stable")]  # best first, as the detector returns them
        return Detections(xyxy[keep], conf[keep], cls[keep], (width, height))

    def _zoom_in_windows(self, view: CameraView, time_s: float,
                         detections: Detections) -> list[tuple[int, int, int, int]]:
        """Windows (x0, y0, width, height) of the frame to search again enlarged ``zoom_in_scale`` times.

        Why: at the widest lens the people of a wide shot are 15-30 px tall and the
        detector misses most of them -- ``crossing`` at 18 mm, seed 0, every frame of the
        closed loop (shipped weights): recall 0.27 under 20 px, 0.47 at 20-30 px, 0.74 at
        30-45 px, 0.97 at 45-80 px.  The same frames cropped to half size around each person
        and enlarged twice: 0.99, 0.99, 1.00, 1.00.  Missed, carol and dave were lost and the
        camera swung to the others.  A window is searched around every subject not yet lost
        whose predicted box (Kalman prediction to this frame, its own height) is shorter than
        ``zoom_in_max_box_px`` and overlaps no box of the frame itself, the smallest first,
        at most ``zoom_in_max_windows`` (each is one more detector run); a window holding
        several of them serves them all.  A pin (someone the operator pointed out on the map,
        not found yet) gets a window where it stands; anyone else never yet detected does not.
        Subjects the shot can frame (confirmed or named) and pins come before candidates not
        yet confirmed: in ``crossing`` (ONNX, seed 11) a 10 px box seen once 20 m away, the
        smallest, took one of the two windows every frame from 15.7 s, and carol at the left
        edge -- found at confidence 0.75 in her window, under 0.15 in the whole frame -- went
        unseen for 2 s and was lost.
        """
        p = self.params
        if p.zoom_in_scale <= 1.0 or p.zoom_in_max_windows <= 0 or not (self._subjects or self.names.pins):
            return []
        width, height = view.image_width_px, view.image_height_px
        crop_w, crop_h = int(round(width / p.zoom_in_scale)), int(round(height / p.zoom_in_scale))
        found = np.asarray(detections.xyxy, float).reshape(-1, 4)
        # (0 for a subject the shot may frame, 1 for a candidate not yet confirmed, box)
        expected = [(0 if self._reported(subject.track_id) else 1, self._expected_box(subject, view, time_s))
                    for subject in self._subjects.values()
                    if subject.updates >= 1 and time_s - subject.last_seen_s <= p.lost_timeout_s]
        # where the operator pointed someone out on the map and nobody has been found yet
        expected += [(0, _box_of(view, pin.position_m, pin.height_m)) for pin in self.names.pins.values()]
        wanted = []
        for rank, box in expected:
            if box is None or box[3] - box[1] >= p.zoom_in_max_box_px:
                continue
            u, v = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            if not (0 <= u < width and 0 <= v < height):
                continue  # out of the picture: nothing to find
            if len(found) and iou_matrix(box, found).max() > 0.3:
                continue  # boxed in the frame itself
            wanted.append((rank, box[3] - box[1], u, v))
        windows: list[tuple[int, int, int, int]] = []
        for _, _, u, v in sorted(wanted):
            if any(x0 + 0.15 * crop_w <= u <= x0 + 0.85 * crop_w and y0 + 0.15 * crop_h <= v <= y0 + 0.85 * crop_h
                   for x0, y0, _, _ in windows):
                continue
            if len(windows) >= p.zoom_in_max_windows:
                break
            x0 = int(np.clip(round(u - crop_w / 2), 0, width - crop_w))
            y0 = int(np.clip(round(v - crop_h / 2), 0, height - crop_h))
            windows.append((x0, y0, crop_w, crop_h))
        return windows

    def _without_pair_boxes(self, detections: Detections) -> Detections:
        """This frame's boxes less those drawn around two people who also have a box each (groups.py)."""
        p = self.params
        if p.pair_box_max_width <= 0:
            return detections
        pairs = pair_boxes(detections.xyxy, p.pair_box_inside, p.pair_box_min_height, p.pair_box_max_width)
        return detections[~pairs] if pairs.any() else detections

    def _camera_view(self, rig_state: RigState, focal_length_mm: float | None, width: int, height: int) -> CameraView:
        """The camera of one frame: the rig's pose and gimbal with the frame's own (zoomed) focal length."""
        return CameraView(
            position_m=rig_state.position_m.copy(), yaw_rad=rig_state.yaw_rad, pitch_rad=rig_state.pitch_rad,
            focal_length_mm=float(focal_length_mm or rig_state.focal_length_mm),
            sensor_width_mm=self.camera.sensor_width_mm, image_width_px=int(width), image_height_px=int(height),
        )

    def _predicted_boxes(self, view: CameraView, time_s: float) -> list[np.ndarray]:
        """Where the subjects seen lately should appear in this frame: feet to head, a third as wide as tall."""
        boxes: list[np.ndarray] = []
        if self.params.pair_box_max_width <= 0:
            return boxes  # (the pair-box rules are off)
        for subject in self._subjects.values():
            if subject.updates < 1 or time_s - subject.last_seen_s > self.params.visible_coast_s:
                continue
            box = self._expected_box(subject, view, time_s)
            if box is not None:
                boxes.append(box)
        return boxes

    @staticmethod
    def _expected_box(subject: _Subject, view: CameraView, time_s: float) -> np.ndarray | None:
        """The box a subject should have in this frame (its prediction to ``time_s``), or None."""
        subject.kalman.predict_to(time_s)
        return _box_of(view, subject.kalman.position_m, subject.height_m)

    def _resolve(self, tracker_id: int) -> int | None:
        """The subject a tracker ID belongs to (itself, or the subject it re-identified), if alive."""
        sid = self._alias.get(tracker_id, tracker_id)
        return sid if sid in self._subjects else None

    def _reidentify(self, estimate, time_s: float, taken: set[int], allow_reach: bool = True,
                    look: np.ndarray | None = None) -> int | None:
        """The coasting subject whose predicted ground position explains a new tracker ID, inside the gate.

        Why: the image-space tracker loses a person who walked behind something for a
        second when their box reappears too far from its image-plane prediction (a
        moving, zooming camera makes that worse); the ground-plane Kalman prediction
        of the same person is still good, so the subject -- and the ID the MPC and the
        shot use -- continues.  A subject whose shirt is not the box's (``look``) is never a
        candidate: a gate grown over a second of coasting takes in the next person too.
        (A subject found by reach keeps its filter: the filter's own
        outlier rule re-initialises it on the new measurements within ``max_consecutive_outliers``
        frames; restarting it at once from zero velocity lost the runner again two seconds later.)

        A subject seen within ``visible_coast_s`` is also a candidate when its filter would take
        the box as a maneuver (a sudden stop or start), and a known subject (confirmed or named)
        goes before a blip: stop_and_go's jogger stopped dead as the tracker lost his box, his
        prediction ran on at 3 m/s, and a box seen once on his leg 0.7 s earlier took the
        measurement; the camera followed the prediction and lost him for 5 s.

        A box on part of something (its top row is not a head at a person's height: legs, a tree
        trunk, a post) never re-identifies a subject whose shirt is known: it shows no shirt to
        check, and position alone is what such a box gets wrong.  In ``crossing`` a false box on a
        tree trunk, 34 px tall, took carol 0.9 s after she had walked out of the frame's edge: the
        filter's speed fell from 1.2 to 0 m/s, her prediction stayed 2-4 m behind her and the
        camera never found her again (composition 0.18 instead of 0.03).
        """
        best, best_key = None, (2, 0.0)
        z = estimate.position_m[:2]
        reachable = []
        for sid, subject in self._subjects.items():
            if sid in taken or subject.last_seen_s >= time_s or self._vetoed(subject, look):
                continue
            if estimate.partial_box and subject.views >= self.params.appearance_min_views:
                continue  # a box whose top is not a head shows no shirt to tell this subject from a trunk
            subject.kalman.predict_to(time_s)
            S = subject.kalman.position_cov_m2[:2, :2] + estimate.covariance_m2[:2, :2]
            innovation = z - subject.kalman.position_m[:2]
            d2 = float(innovation @ np.linalg.solve(S, innovation))
            known = self._reported(sid)
            inside = d2 <= self.params.rebind_gate_chi2 or (
                time_s - subject.last_seen_s <= self.params.visible_coast_s
                and subject.kalman.accepts(estimate.position_m, estimate.covariance_m2, time_s))
            key = (0 if known else 1, d2)
            if inside and key < best_key and self._reachable(subject, estimate, time_s):
                best, best_key = sid, key
            if not self._reachable(subject, estimate, time_s, with_noise=False):
                continue
            if known:
                # (not a blip seen once: crossing's red ball, boxed once at 20 m, was "the only one that could
                # have got there" 1.6 s later and took the next person's box -- a second subject on him)
                reachable.append(sid)
        if best is None and allow_reach and len(reachable) == 1:
            # The prediction missed (a runner turned a corner while the filter coasted straight on), but
            # only one coasting subject could have reached this spot in the time it was unseen: measured
            # in the runner scenario with perfect boxes, the name was otherwise lost for good at the turn.
            return reachable[0]
        return best

    def _measure(self, subject: _Subject, estimate, time_s: float) -> bool:
        """Kalman update with one estimate; a box that is only part of the person counts for little.

        Why: in close shots the detector's only box on a person is often a leg, an arm or
        the lower half; its bottom row is not the feet and its top row not the head, so
        its feet point is off by a metre (``wind`` at 125 mm: a box on the arm put the
        walker 1.2 m further away, the filter's velocity jumped and its prediction ran
        off).  Such a box is recognised by the height it implies: far from the height
        this subject has shown so far.  Returns True when the box was a whole person.
        """
        covariance = estimate.covariance_m2
        measured = estimate.height_measured and estimate.head_top_m is not None
        height = estimate.height_m
        if measured:
            # the head top of someone walking or jogging rides lower than their standing height
            speed = float(np.linalg.norm(subject.kalman.velocity_mps[:2]))
            height = estimate.head_top_m / self.params.head_top_fraction(speed)
            if subject.updates >= 3 and abs(height - subject.height_m) > self.params.partial_height_tolerance_m:
                covariance = covariance * self.params.partial_box_variance_factor
                measured = False
        if subject.kalman.update(estimate.position_m, covariance, time_s):
            # Where the filter put the subject with this measurement, not the measurement itself: crossing ONNX
            # seed 11, a box over something 32 m behind carol (so uncertain her filter barely moved) became her
            # "last measured" spot, and from it none of her own boxes was reachable: she went unmeasured until
            # she walked out of the frame.
            subject.last_measured_m = subject.kalman.position_m.copy()
            subject.last_measured_s = float(time_s)
        if measured:
            subject.updates += 1
            if estimate.measures_stature:
                self._add_stature(subject, height, estimate.feet_in_view)
            self._confirm(subject, estimate)
        return measured

    def _confirm(self, subject: _Subject, estimate) -> None:
        """Confirmed after ``CONFIRM_MEASUREMENTS`` whole-person boxes -- if those boxes are shaped like a person.

        Why the shape: crossing's red ball (1.2 m across, 33 m away) was boxed 14-27 px and its rows
        implied a person's height; confirmed, it joined ``all`` and pulled the camera off carol, who was
        lost (seed 14).  Its boxes were as wide as tall (aspect 0.88-1.07).  Measured on crossing's frames
        (seeds 0 and 3): the detector's 851 boxes on whole people had aspect p50 0.43, p99 0.73, max 0.84;
        its 192 boxes on no one p50 0.84.  The median aspect of a subject's whole boxes must not exceed
        ``max_person_box_aspect``; a subject never seen whole (a close-up) is judged on height alone.

        Until ``CONFIRM_MEASUREMENTS`` whole boxes are in, every one of them must be shaped like a person
        (the median of two is their mean).  Why: crossing seed 6, the ball's two whole boxes (aspect 0.72
        and 0.85) passed at their mean 0.785, and a third sighting with its bottom hidden (no shape to
        judge) confirmed it; it joined ``all``, the camera turned to it and carol, pushed out of the other
        side of the frame, went unseen for 2.5 s.  A person seen whole only once or twice (walking in
        towards a close-up) is still confirmed: their boxes are all narrow.

        A box that shows the head but not the whole body counts only when it is already too wide for a
        person (``SubjectEstimate.cut_box_aspect``: cut parts only narrow a box).  Why: crossing seed 27,
        the ball behind bob, its bottom hidden by him, was boxed 34 x 32 px three times and confirmed on
        those (no whole box to judge): it joined ``all`` at 2.4 s and carol was pushed out of the frame.

        From ``CONFIRM_MEASUREMENTS`` such shapes on, their median decides both ways: a subject confirmed
        before its shape was known is withdrawn when it turns out wide.  Why: crossing seed 21, the ball,
        confirmed on one whole box and two with the bottom hidden, later showed whole boxes of median 0.84
        and stayed in ``all`` to the end.
        """
        max_aspect = self.params.max_person_box_aspect
        if estimate.whole_box_aspect is not None:
            subject.box_aspects.append(estimate.whole_box_aspect)
        elif estimate.cut_box_aspect is not None and estimate.cut_box_aspect > max_aspect:
            subject.box_aspects.append(estimate.cut_box_aspect)
        aspects = subject.box_aspects
        measured = subject.updates >= CONFIRM_MEASUREMENTS
        if len(aspects) >= CONFIRM_MEASUREMENTS:
            subject.confirmed = measured and float(np.median(aspects)) <= max_aspect
        else:
            subject.confirmed = subject.confirmed or (measured and max(aspects, default=0.0) <= max_aspect)

    @staticmethod
    def _add_stature(subject: _Subject, height_m: float, feet_in_view: bool) -> None:
        """One more measurement of the subject's stature; ``height_m`` is the median of the best kind."""
        (subject.stature_whole_m if feet_in_view else subject.stature_cut_m).append(float(height_m))
        if len(subject.stature_whole_m) >= STATURE_WHOLE_VIEWS:
            subject.height_m = float(np.median(subject.stature_whole_m))
        else:
            subject.height_m = float(np.median([*subject.stature_whole_m, *subject.stature_cut_m]))

    def _owner(self, sid: int, estimate, time_s: float, seen: set[int],
               look: np.ndarray | None = None) -> int | None:
        """Which subject a tracked box measures: its own, another one's (the tracker swapped), or None.

        Why: ByteTrack can hand a track over to the person next to it (two_depths: a box
        that merged the far person's head with the near person's body kept the far
        person's ID).  Outside its own subject's gate and inside another's, the box is
        that other subject (None when that one was already measured this frame); counted
        as an outlier instead, three such frames re-initialised the far person's filter
        onto the near person and the names swapped for good.

        Two people passing close (``crossing``, 0.3 m) sit inside each other's gates, so
        a tracker that swaps their boxes goes unnoticed by position alone: a box inside
        its own gate whose shirt is not its subject's (``look``) goes to the other
        subject inside the gate whose shirt it is.  Appearance only vetoes or confirms
        what the gates allow; with no such other subject the box stays where it was --
        unless it lies where its subject could not have got to (:meth:`_reachable`).
        """
        own = self._subjects[sid].kalman
        reachable = self._reachable(self._subjects[sid], estimate, time_s)
        inside_own = reachable and own.accepts(estimate.position_m, estimate.covariance_m2, time_s)
        if inside_own and not self._vetoed(self._subjects[sid], look):
            return sid
        other = self._other_in_gate(sid, estimate, time_s, look, need_match=inside_own)
        if other is None:
            return sid if reachable else None  # (where no person could have got to: not a measurement of them)
        return None if other in seen else other

    def _other_in_gate(self, sid: int, estimate, time_s: float, look: np.ndarray | None,
                       need_match: bool) -> int | None:
        """Another subject seen lately whose gate holds this box and whose shirt does not rule it out.

        ``need_match``: the shirt must positively be theirs (the box also fits its own subject's gate).
        """
        # a person is not a point: two boxes on the same body give feet points up to a few tenths apart
        body = np.diag([PERSON_EXTENT_M**2, PERSON_EXTENT_M**2, 0.0])
        gate = self._subjects[sid].kalman.gate_chi2
        reported = self._reported(sid)
        for other, subject in self._subjects.items():
            if other == sid or time_s - subject.last_seen_s > self.params.visible_coast_s:
                continue  # (a subject long unseen has a gate wide enough to take anyone: runner, 8 s)
            if reported and not self._reported(other):
                # a candidate seen on a few partial boxes has a gate metres wide: crossing (ONNX, seed 7), one
                # stray box of dave's own track fell in such a gate 4.5 m from him, the track moved there, and
                # the candidate -- confirmed on dave's boxes -- coasted off with his speed and became the ball
                continue
            if self._vetoed(subject, look) or (need_match and not self._looks_like(subject, look)):
                continue
            subject.kalman.predict_to(time_s)
            if subject.kalman.mahalanobis2(estimate.position_m, estimate.covariance_m2 + body) <= gate:
                return other
        return None

    def _part_of(self, box: np.ndarray, estimate, seen: set[int]) -> int | None:
        """The subject seen this frame that a new track's box is a piece of, if any.

        Why: in medium and close shots (100-150 mm, the person filling the frame) the
        detector also draws boxes on a leg, an arm or the lower half.  As new subjects
        they joined the shot's ``all`` and dragged the framing off the person (``wind``,
        ``single_walker``).  A new box lying mostly inside a seen subject's box with its feet
        point within 2 x ``reidentify_radius_m`` of theirs, or any new box whose feet point is
        within ``duplicate_radius_m`` of theirs, is that subject.
        """
        best, best_d = None, self.params.duplicate_radius_m
        for sid in seen:
            d = float(np.linalg.norm(self._subjects[sid].kalman.position_m[:2] - estimate.position_m[:2]))
            other = self.last_subject_boxes.get(sid)
            if other is not None and d <= 2.0 * self.params.reidentify_radius_m:
                # inside their box and standing about where they stand (two_depths: the far person's box lies
                # 70 % inside the near one's, but 8 m behind)
                if inside_matrix(box, other)[0, 0] >= self.params.duplicate_box_overlap:
                    return sid
            if d <= best_d:
                best, best_d = sid, d
        return best

    def _look(self, image_bgr: np.ndarray | None, box: np.ndarray, boxes: list[np.ndarray]) -> np.ndarray | None:
        """The shirt histogram of a box, when the view is clean (no other box over its torso, head in frame)."""
        if image_bgr is None:
            return None
        box = np.asarray(box, dtype=float)
        others = [b for b in boxes if float(iou_matrix(box[None], np.asarray(b, float)[None]).max()) < 0.7]
        return torso_histogram(image_bgr, box, others, head_in_frame=box[1] > self.params.border_margin_px)

    def _reachable(self, subject: _Subject, estimate, time_s: float, with_noise: bool = True) -> bool:
        """Could this subject have got to the estimate since it was last measured (a sprinter, plus noise)?

        Why: the Kalman gate with the maneuver rule (20 m/s^2 since the last update) grows
        by metres while a subject is unseen: in ``two_depths`` a box on the far person's
        head and the near person's legs put "far" 7.9 m nearer after 0.5 s unseen, well
        inside that gate; the filter took it (-30 m/s) and the rack focus followed a ghost.
        No person covers 7.9 m in 0.5 s (``max_subject_speed_mps``), and nobody standing
        still is at a sprinter's speed a moment later either (``max_subject_accel_mps2``):
        in ``crossing`` a false box 11.5 m from dave, who had stood still for 15 s and
        was unseen for 0.7 s, passed the speed bound alone (9 m/s x 0.7 s + noise) and
        dave flew off at 16 m/s.  The reach is a sprint from the subject's speed: accelerate,
        then run at the top speed.  The measurement's noise counts along the jump only (a far
        box is uncertain in depth, not sideways), and without the factor a partial box's
        covariance carries: that factor says how little such a box may move a filter, not
        where a person can be -- with it, 3 sigma of a box over a far person and what stood
        behind them reached 12 m, and it took dave from where he had stood all along.
        """
        p = self.params
        unseen_s = max(time_s - subject.last_measured_s, 0.0)
        speed = min(float(np.linalg.norm(subject.kalman.velocity_mps[:2])), p.max_subject_speed_mps)
        to_top_speed_s = min((p.max_subject_speed_mps - speed) / p.max_subject_accel_mps2, unseen_s)
        reach_m = speed * to_top_speed_s + 0.5 * p.max_subject_accel_mps2 * to_top_speed_s**2 + \
            p.max_subject_speed_mps * (unseen_s - to_top_speed_s) + p.reidentify_radius_m
        jump = np.asarray(estimate.position_m, float)[:2] - subject.last_measured_m[:2]
        distance = float(np.linalg.norm(jump))
        if with_noise and distance > 1e-9:
            along = jump / distance
            covariance = estimate.covariance_m2[:2, :2]
            if estimate.partial_box:
                covariance = covariance / p.partial_box_variance_factor
            reach_m += 3.0 * float(np.sqrt(max(along @ covariance @ along, 0.0)))
        return distance <= reach_m

    def _reported(self, sid: int) -> bool:
        """A subject the MPC is told about: confirmed as a person, or named by the operator."""
        return self._subjects[sid].confirmed or self.names.name_of(sid) is not None

    def _vetoed(self, subject: _Subject, look: np.ndarray | None) -> bool:
        """True when a clean view's shirt is clearly not this subject's (both known well enough)."""
        if subject.views < self.params.appearance_min_views:
            return False
        return differs(subject.appearance, look, self.params.appearance_veto_distance)

    def _looks_like(self, subject: _Subject, look: np.ndarray | None) -> bool:
        """True when a clean view's shirt positively matches this well-known subject's."""
        if subject.views < self.params.appearance_min_views:
            return False
        return matches(subject.appearance, look, self.params.appearance_veto_distance)

    def _learn_look(self, subject: _Subject, whole: bool, look: np.ndarray | None) -> None:
        """Blend a clean whole-person view into the subject's shirt histogram (never one it vetoes)."""
        if look is None or not whole or self._vetoed(subject, look):
            return
        subject.appearance = blend(subject.appearance, look, self.params.appearance_rate)
        subject.views += 1

    def _new_filter(self, estimate, time_s: float) -> ConstantVelocityKalman:
        p = self.params
        return ConstantVelocityKalman(
            estimate.position_m, estimate.covariance_m2, time_s, p.accel_sigma_mps2, p.vertical_accel_sigma_mps2,
            p.initial_speed_sigma_mps, p.gate_chi2, p.max_consecutive_outliers, p.maneuver_accel_sigma_mps2,
        )

    def _new_subject(self, track: TrackedBox, estimate, time_s: float, look: np.ndarray | None = None) -> _Subject:
        kalman = self._new_filter(estimate, time_s)
        subject = _Subject(track.track_id, kalman, estimate.height_m, time_s, track.xyxy,
                           np.asarray(estimate.position_m, dtype=float).copy(),
                           updates=int(bool(estimate.height_measured)), first_seen_s=time_s,
                           last_measured_s=time_s)
        if estimate.measures_stature:
            self._add_stature(subject, estimate.height_m, estimate.feet_in_view)
        if estimate.height_measured:
            self._confirm(subject, estimate)
        self._learn_look(subject, bool(estimate.height_measured), look)
        self._subjects[track.track_id] = subject
        return subject

    def _rebind_orphans(self, seen: set[int]) -> None:
        """A name whose subject was given up (lost timeout) follows a confirmed subject where it was expected.

        Only a confirmed subject (``CONFIRM_MEASUREMENTS`` whole-person boxes) can take it, and
        one who wears what the named subject wore.  Why not the first box: in ``crossing`` a
        box drawn over bob and the tree behind him (confidence 0.31) started a track that took
        "dave" on the frame it appeared, 10 m from where dave stood; the phantom was framed as
        dave for 3.5 s while the real dave, tracked under another ID all along, stood unnamed.
        A subject tracked all along may take the name too: two IDs on one person, the named
        one given up.
        """
        if not self.names.orphaned_names:
            return
        for sid in sorted(seen):
            subject = self._subjects[sid]
            if not subject.confirmed or self.names.name_of(sid) is not None:
                continue
            known = subject.appearance if subject.views >= self.params.appearance_min_views else None
            rebound = self.names.try_rebind(sid, subject.kalman.position_m, subject.kalman.position_cov_m2,
                                            appearance=known, veto_distance=self.params.appearance_veto_distance)
            if rebound is not None:
                log.info("perception: %s re-identified as #%d", rebound, sid)

    def _expire(self, time_s: float) -> None:
        """Report and drop subjects unseen for longer than the lost timeout, and pins nobody was found at."""
        self.lost = []
        for name in self.names.expire_pins(time_s, self.params.point_out_timeout_s):
            self.lost.append(name)
            log.warning("perception: %s, pointed out on the map, not found within %.1f s", name,
                        self.params.point_out_timeout_s)
        for track_id, subject in list(self._subjects.items()):
            if time_s - subject.last_seen_s <= self.params.lost_timeout_s:
                continue
            subject.kalman.predict_to(time_s)
            known = subject.appearance if subject.views >= self.params.appearance_min_views else None
            name = self.names.track_lost(track_id, subject.kalman.position_m, subject.kalman.position_cov_m2,
                                         appearance=known)
            self.lost.append(name or f"#{track_id}")
            log.warning("perception: subject %s lost for more than %.1f s", name or f"#{track_id}",
                        self.params.lost_timeout_s)
            del self._subjects[track_id]
            self._alias = {t: s for t, s in self._alias.items() if s != track_id}

    def _visible(self, subject: _Subject, time_s: float, seen: set[int], view: CameraView | None) -> bool:
        """Report the subject as visible (the MPC frames it)?  Seen, or missed only briefly where it could be seen.

        A subject is missed after ``visible_coast_s`` of frames, since it was last seen, whose
        picture could show it (its prediction inside; every frame when there is no view) and
        did not find it.  Time with its prediction outside the picture does not count -- the
        camera cannot see there -- so it stays framed until ``lost_timeout_s``: the MPC then
        turns the camera after it, as an operator pans after someone who walked out of the
        side of the frame.  Why: in ``crossing`` carol walked out of the frame's left edge 20 m
        away; reported not visible after 1 s, she was dropped from the framing of ``all``, the
        camera stayed on the other two and she was lost for good (composition 0.28 against
        0.03 on ground truth).  Why the time is summed rather than the outside test taken
        frame by frame: a subject missed at the edge of the picture flipped each frame (ONNX,
        seed 11) -- dropped, the camera turned away and she was outside, framed again; the
        camera turned back and she was inside, dropped again -- and the camera swung 8 degrees
        back and forth every 0.1-0.2 s until she was lost.
        """
        previous_s, subject.reported_s = subject.reported_s, time_s
        if previous_s is None or subject.last_seen_s > previous_s:  # seen since it was last judged: count from then
            subject.unseen_in_view_s, previous_s = 0.0, subject.last_seen_s
        if subject.track_id in seen:
            return True
        if time_s - subject.last_seen_s > self.params.lost_timeout_s:
            return False
        if view is None or not self._outside_picture(subject, view, time_s):
            subject.unseen_in_view_s += max(time_s - previous_s, 0.0)
        return subject.unseen_in_view_s <= self.params.visible_coast_s + 1e-9

    def _outside_picture(self, subject: _Subject, view: CameraView, view_time_s: float) -> bool:
        """True when the subject's predicted body is where this frame cannot show it whole."""
        feet = subject.kalman.position_at(view_time_s)
        u, v_feet, z_feet = view.project(feet)
        _, v_head, z_head = view.project(feet + np.array([0.0, 0.0, subject.height_m]))
        if z_feet <= 0 or z_head <= 0 or not np.isfinite([u, v_feet, v_head]).all():
            return True
        margin = self.params.border_margin_px
        return u < margin or u > view.image_width_px - margin or v_head > view.image_height_px or v_feet < 0

    def _pin_track(self, name: str, pin, time_s: float, horizon_steps: int, dt_s: float) -> SubjectTrack:
        """A pin as the MPC sees it: standing where it was pointed out, framed (``visible``) though not seen."""
        steps = horizon_steps + 1
        covariance = np.stack([pin.covariance_m2(time_s + k * dt_s) for k in range(steps)])
        return SubjectTrack(
            track_id=pin.pin_id, positions_m=np.tile(pin.position_m, (steps, 1)), velocities_mps=np.zeros((steps, 3)),
            height_m=pin.height_m, name=name, dt_s=float(dt_s), covariance_m2=covariance, visible=True,
        )

    def _subject_track(self, subject: _Subject, time_s: float, visible: bool, horizon_steps: int,
                       dt_s: float) -> SubjectTrack:
        prediction = subject.kalman.predict_horizon(horizon_steps, dt_s, from_time_s=time_s)
        return SubjectTrack(
            track_id=subject.track_id, positions_m=prediction.positions_m, velocities_mps=prediction.velocities_mps,
            height_m=float(np.clip(subject.height_m, 0.5, 2.5)), name=self.names.name_of(subject.track_id),
            dt_s=float(dt_s), covariance_m2=prediction.covariance_m2, visible=visible,
        )
