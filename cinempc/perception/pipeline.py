"""Frame + current intrinsics + drone pose + gimbal -> ``list[SubjectTrack]`` for the MPC.

The drop-in replacement for the simulator's ground-truth subjects::

    pipeline = PerceptionPipeline.from_config(camera)              # once per run
    subjects = pipeline.process_frame(frame, sim.rig_state(), mpc.horizon_steps, mpc.dt_s)

Each frame: detect at the scales needed (:mod:`multiscale`) -> track boxes in the image
(ultralytics ByteTrack / BoT-SORT, :mod:`tracking`) -> a ground estimate per box
(:mod:`estimation`) -> match boxes to subjects (:mod:`association`) -> Kalman update and state
(:mod:`subjects`) -> names and pins (:mod:`naming`) -> predict over the horizon.
A subject unseen for ``lost_timeout_s`` is reported in :attr:`PerceptionPipeline.lost` and
dropped.  A corrupted frame is a frame with nothing in it.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from cinempc.config import CameraProfile
from cinempc.perception.appearance import clean_look
from cinempc.perception.association import Measurement, associate
from cinempc.perception.boxes import outside_picture, person_box
from cinempc.perception.detector import Detections, Detector, build_detector, iou_matrix, validate_image
from cinempc.perception.estimation import CameraView, estimate_subject
from cinempc.perception.groups import covers_two, without_pair_boxes
from cinempc.perception.multiscale import ExpectedBox, MultiScaleDetector
from cinempc.perception.naming import DirectorNames, SubjectNamer
from cinempc.perception.params import PerceptionParams, load_perception_params
from cinempc.perception.subjects import Event, Subject, SubjectState
from cinempc.perception.tracker_choice import build_tracker
from cinempc.perception.tracking import SubjectTracker, TrackedBox
from cinempc.state import RigState, SubjectTrack

__all__ = ["PerceptionPipeline"]

log = logging.getLogger(__name__)


class PerceptionPipeline(DirectorNames):
    """Detector + tracker + estimator + association + filters + names, stateful across the frames of one run."""

    def __init__(self, camera: CameraProfile, params: PerceptionParams | None = None,
                 detector: Detector | None = None, tracker: SubjectTracker | None = None) -> None:
        self.camera = camera
        self.params = params or load_perception_params()
        self._detector = detector
        self.tracker = tracker or build_tracker(self.params)
        self.names = SubjectNamer(self.params.rebind_gate_chi2)
        self._subjects: dict[int, Subject] = {}
        self._alias: dict[int, int] = {}  # tracker ID -> subject ID it was re-identified as
        self.last_subject_boxes: dict[int, np.ndarray] = {}  # subject ID -> box seen this frame
        self.lost: list[str] = []  # refs/names reported lost by the latest update
        self.searching: dict[str, float] = {}  # refs/names searched for -> seconds so far (SubjectState.SEARCHING)
        self.last_detections = Detections.empty()
        self.last_tracks: list[TrackedBox] = []
        self.seen_ids: set[int] = set()  # subjects measured in the latest frame (the rest are predicted)
        self._names_applied: dict[int, str] = {}  # the director's names and pins as last applied
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

    @property
    def states(self) -> dict[int, str]:
        """Subject ID -> its :class:`~cinempc.perception.subjects.SubjectState` value."""
        return {sid: s.state.value for sid, s in self._subjects.items()}

    def reset(self) -> None:
        """New scene: forget tracks, filters and names."""
        self.tracker.reset()
        self.names = SubjectNamer(self.params.rebind_gate_chi2)
        self._subjects.clear()
        self._alias.clear()
        self.lost = []
        self._names_applied, self._pins_applied = {}, {}

    # ------------------------------------------------------------------ entry points
    def process_frame(self, frame, rig_state: RigState, horizon_steps: int = 20, dt_s: float = 0.1,
                      use_depth: bool = True, names: list[str] | None = None,
                      point_out: list[SubjectTrack] | None = None) -> list[SubjectTrack]:
        """A simulator ``Frame`` (rgb, depth_m, time_s, focal_length_mm) -> subjects.

        The frame's own focal length is the lens used; ``point_out``: named subjects the operator
        places on the map (:meth:`point_out`) unless their names are bound or waiting already.
        """
        focal = getattr(frame, "focal_length_mm", None) or rig_state.focal_length_mm
        depth = getattr(frame, "depth_m", None) if use_depth else None
        for reference in point_out or []:
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
            detections, size = Detections.empty(), None
        else:
            size = (image.shape[1], image.shape[0])
            view = self._camera_view(rig_state, focal_length_mm, *size)
            detections = MultiScaleDetector(self.detector, self.params).detect(
                image, [s.box_xyxy for s in self._subjects.values()], self._expected_boxes(view, float(time_s)))
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
        detections = without_pair_boxes(detections, self.params)
        self.last_detections = detections
        tracks = self.tracker.update(detections, image_bgr)
        self.last_tracks = tracks
        width, height = image_size or detections.image_size
        if tracks and (width <= 0 or height <= 0):
            raise ValueError("process_detections needs the image size (image_size or detections.image_size)")
        view = self._camera_view(rig_state, focal_length_mm, width, height) if width > 0 and height > 0 else None
        tracked, unreported = self._measurements(detections, tracks, view, time_s, depth_m, image_bgr)
        result = associate(self._subjects, tracked, unreported, time_s, self.params, self._reported)
        self._alias.update(result.aliases)
        for sid, m in result.measured.items():
            self._subjects[sid].measure(m.estimate, m.box, time_s, self.params, m.look)
        for m in result.new:
            self._subjects[m.track_id] = Subject.start(m.track_id, m.estimate, m.box, time_s, self.params, m.look)
        seen = set(result.measured) | {m.track_id for m in result.new}
        self.last_subject_boxes = {sid: self._subjects[sid].box_xyxy for sid in seen}
        self._rebind_orphans(seen)
        self._adopt_pins(seen, time_s)
        self._expire(time_s)
        if names:
            self.names.auto_bind(names, sorted(self._subjects))
        self.seen_ids = set(seen)
        found = []
        for subject in sorted(self._subjects.values(), key=lambda s: s.track_id):
            in_picture = view is None or not self._outside_picture(subject, view, time_s)
            visible = subject.judge_visibility(time_s, subject.track_id in seen, in_picture, self.params)
            if self._reported(subject.track_id):
                found.append(self._subject_track(subject, time_s, visible, horizon_steps, dt_s))
        return found + self._pin_tracks(time_s, horizon_steps, dt_s)

    # ------------------------------------------------------------------ steps
    def _measurements(self, detections: Detections, tracks: list[TrackedBox], view: CameraView | None,
                      time_s: float, depth_m, image_bgr) -> tuple[list[Measurement], list[Measurement]]:
        """Ground estimates of the tracked boxes and of the confident boxes the tracker did not report."""
        if view is None or not (tracks or len(detections)):
            return [], []
        predicted = self._predicted_boxes(view, time_s)
        everything = [t.xyxy for t in tracks] + [np.asarray(b, float) for b in detections.xyxy]
        tracked = []
        for track in tracks:
            if covers_two(track.xyxy, predicted, self.params.pair_box_inside):
                continue  # a box around two people standing side by side measures neither
            owner = self._resolve(track.track_id)
            known = self._subjects.get(owner) if owner is not None else None
            stature = known.stature_m if known is not None else None
            speed = float(np.linalg.norm(known.kalman.velocity_mps[:2])) if stature is not None else 0.0
            others = [t.xyxy for t in tracks if t is not track]
            estimate = estimate_subject(track.xyxy, view, self.params, depth_m, others=others, stature_m=stature,
                                        speed_mps=speed)
            if estimate is not None:
                look = self._look(image_bgr, track.xyxy, everything) if estimate.height_measured else None
                tracked.append(Measurement(track.xyxy, float(track.conf), estimate, look, track.track_id, owner))
        unreported = []
        if not self._subjects:
            return tracked, unreported
        reported = [t.xyxy for t in tracks]
        boxes = [np.asarray(b, float) for b in detections.xyxy]
        for i in np.argsort(-np.asarray(detections.conf)):
            box, conf = boxes[i], float(detections.conf[i])
            if conf < self.params.unreported_min_confidence or covers_two(box, predicted, self.params.pair_box_inside):
                continue
            if reported and iou_matrix(box, np.array(reported)).max() > 0.3:
                continue
            estimate = estimate_subject(box, view, self.params, depth_m, others=[b for b in boxes if b is not box])
            if estimate is not None:
                look = self._look(image_bgr, box, boxes) if estimate.height_measured else None
                unreported.append(Measurement(box, conf, estimate, look))
        return tracked, unreported

    def _expire(self, time_s: float) -> None:
        """Report and drop subjects unseen for longer than the lost timeout, and pins nobody was found at."""
        self.lost, self.searching = [], {}
        for name in self.names.expire_pins(time_s, self.params.point_out_timeout_s):
            self.lost.append(name)
            log.warning("perception: %s, pointed out on the map, not found within %.1f s", name,
                        self.params.point_out_timeout_s)
        for track_id, subject in list(self._subjects.items()):
            unseen_s, p = time_s - subject.last_seen_s, self.params
            if unseen_s <= p.lost_timeout_s:
                continue
            searched_s = unseen_s - p.lost_timeout_s
            if p.search_timeout_s > 0 and subject.confirmed and searched_s <= p.search_timeout_s:
                if subject.state is not SubjectState.SEARCHING:
                    subject.fire(Event.SEARCH_STARTED)
                    log.info("perception: searching for %s where it is predicted", self._ref(track_id))
                self.searching[self._ref(track_id)] = searched_s
                continue
            subject.kalman.predict_to(time_s)
            subject.fire(Event.TIMED_OUT)
            name = self.names.track_lost(track_id, subject.kalman.position_m, subject.kalman.position_cov_m2,
                                         appearance=subject.known_look(self.params))
            self.lost.append(name or f"#{track_id}")
            log.warning("perception: subject %s lost for more than %.1f s", name or f"#{track_id}", unseen_s)
            del self._subjects[track_id]
            self._alias = {t: s for t, s in self._alias.items() if s != track_id}

    # ------------------------------------------------------------------ helpers
    def _reported(self, sid: int) -> bool:
        """A subject the MPC is told about: confirmed as a person, or named by the operator."""
        return self._subjects[sid].confirmed or self.names.name_of(sid) is not None

    def _ref(self, sid: int) -> str:
        return self.names.name_of(sid) or f"#{sid}"

    def _resolve(self, tracker_id: int) -> int | None:
        """The subject a tracker ID belongs to (itself, or the subject it was re-identified as), if alive."""
        sid = self._alias.get(tracker_id, tracker_id)
        return sid if sid in self._subjects else None

    def _camera_view(self, rig_state: RigState, focal_length_mm: float | None, width: int, height: int) -> CameraView:
        """The camera of one frame: the rig's pose and gimbal with the frame's own (zoomed) focal length."""
        return CameraView(
            position_m=rig_state.position_m.copy(), yaw_rad=rig_state.yaw_rad, pitch_rad=rig_state.pitch_rad,
            focal_length_mm=float(focal_length_mm or rig_state.focal_length_mm),
            sensor_width_mm=self.camera.sensor_width_mm, image_width_px=int(width), image_height_px=int(height),
        )

    def _expected_box(self, subject: Subject, view: CameraView, time_s: float) -> np.ndarray | None:
        """The box a subject should have in this frame (its prediction to ``time_s``), or None."""
        subject.kalman.predict_to(time_s)
        return person_box(view.project, subject.kalman.position_m, subject.height_m)

    def _expected_boxes(self, view: CameraView, time_s: float) -> list[ExpectedBox]:
        """Where subjects not lost and pins should appear: what the shot may frame ranks before candidates."""
        expected = [ExpectedBox(0 if self._reported(s.track_id) else 1, self._expected_box(s, view, time_s))
                    for s in self._subjects.values()
                    if s.updates >= 1 and (time_s - s.last_seen_s <= self.params.lost_timeout_s
                                           or s.state is SubjectState.SEARCHING)]
        expected += [ExpectedBox(0, person_box(view.project, pin.position_m, pin.height_m))
                     for pin in self.names.pins.values()]
        return expected

    def _predicted_boxes(self, view: CameraView, time_s: float) -> list[np.ndarray]:
        """Expected boxes of the subjects seen lately (for the pair-box rule)."""
        if self.params.pair_box_max_width <= 0:
            return []
        boxes = [self._expected_box(s, view, time_s) for s in self._subjects.values()
                 if s.updates >= 1 and time_s - s.last_seen_s <= self.params.visible_coast_s]
        return [b for b in boxes if b is not None]

    def _look(self, image_bgr: np.ndarray | None, box: np.ndarray, boxes: list[np.ndarray]) -> np.ndarray | None:
        return clean_look(image_bgr, box, boxes, self.params.border_margin_px)

    def _outside_picture(self, subject: Subject, view: CameraView, time_s: float) -> bool:
        return outside_picture(view.project, subject.kalman.position_at(time_s), subject.height_m,
                               view.image_width_px, view.image_height_px, self.params.border_margin_px)

    def _subject_track(self, subject: Subject, time_s: float, visible: bool, horizon_steps: int,
                       dt_s: float) -> SubjectTrack:
        """A subject as reported: its prediction over the horizon, name, visibility and state."""
        prediction = subject.kalman.predict_horizon(horizon_steps, dt_s, from_time_s=time_s)
        return SubjectTrack(
            track_id=subject.track_id, positions_m=prediction.positions_m, velocities_mps=prediction.velocities_mps,
            height_m=float(np.clip(subject.height_m, 0.5, 2.5)), name=self.names.name_of(subject.track_id),
            dt_s=float(dt_s), covariance_m2=prediction.covariance_m2, visible=visible,
            track_state=subject.state.value,
        )
