"""The MPC node's status document <-> ``cinempc_interfaces/PlanStatus`` (missing numbers are NaN on the wire)."""

from __future__ import annotations

import math

import cinempc_interfaces.msg as ci
from std_msgs.msg import Header

from cinempc.nodes.convert.geometry import (
    MAP_FRAME,
    s_to_stamp,
    stamp_to_s,
)

# ------------------------------------------------------------------ MPC status


def _named_values(values: dict) -> list[ci.NamedValue]:
    return [ci.NamedValue(name=str(k), value=float(v)) for k, v in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)]


def _optional(value: float | None) -> float:
    return math.nan if value is None else float(value)


def plan_status_msg(document: dict, time_s: float) -> ci.PlanStatus:
    """The MPC node's status document (see ``MPCNode.status_document``) as ``PlanStatus``."""
    return ci.PlanStatus(
        header=Header(stamp=s_to_stamp(time_s), frame_id=MAP_FRAME), status=str(document["status"]),
        message=str(document.get("message") or ""), holding=bool(document.get("holding")),
        hold_reason=str(document.get("hold_reason") or ""), hold_cause=str(document.get("hold_cause") or ""),
        solve_status=str(document.get("solve_status") or ""), solves=int(document.get("solves", 0)),
        setpoints=int(document.get("setpoints", 0)), solve_ms=_optional(document.get("solve_ms")),
        iterations=int(document.get("iterations") or 0),
        solve_ms_p50=_optional(document.get("solve_ms_p50")), solve_ms_p95=_optional(document.get("solve_ms_p95")),
        cost_breakdown=_named_values(document.get("cost_breakdown") or {}),
        relaxations=[str(r) for r in document.get("relaxations") or []],
        weights=_named_values(document.get("weights") or {}),
        dropped_messages=_named_values(document.get("dropped_messages") or {}),
        subjects=[str(s) for s in document.get("subjects") or []],
    )


def plan_status_from_msg(msg: ci.PlanStatus) -> dict:
    """The status document back (NaN -> None), as the director and the tests read it."""
    def number(value: float) -> float | None:
        return None if math.isnan(value) else float(value)

    return {
        "status": msg.status, "message": msg.message, "holding": msg.holding, "hold_reason": msg.hold_reason,
        "hold_cause": msg.hold_cause, "solve_status": msg.solve_status or None, "solves": msg.solves,
        "setpoints": msg.setpoints, "solve_ms": number(msg.solve_ms), "iterations": msg.iterations,
        "solve_ms_p50": number(msg.solve_ms_p50), "solve_ms_p95": number(msg.solve_ms_p95),
        "cost_breakdown": {v.name: v.value for v in msg.cost_breakdown}, "relaxations": list(msg.relaxations),
        "weights": {v.name: v.value for v in msg.weights},
        "dropped_messages": {v.name: int(v.value) for v in msg.dropped_messages}, "subjects": list(msg.subjects),
        "stamp_s": stamp_to_s(msg.header.stamp),
    }
