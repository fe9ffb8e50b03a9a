"""The simulator's control HTTP API: arm faults, move markets, read the accounting."""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

FAULT_FIELDS = {
    "delay_s": (int, float),
    "silent": (bool,),
    "malformed_frames": (int,),
    "reject_orders": (int,),
    "timeout_orders": (int,),
    "drop_connections": (bool,),
    "clear": (bool,),
    "burst": (dict,),
}


class ControlError(ValueError):
    """A bad control request: answered 400 with the message."""


def apply_faults(faults: Any, body: dict[str, Any]) -> None:
    """Arm the faults a control request names; validate everything before changing anything."""
    for key, value in body.items():
        if key not in FAULT_FIELDS:
            raise ControlError(f"{key}: unknown fault (known: {', '.join(sorted(FAULT_FIELDS))})")
        types = FAULT_FIELDS[key]
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            raise ControlError(f"{key}: wrong type {type(value).__name__}")
        if key in ("delay_s", "malformed_frames", "reject_orders", "timeout_orders") and value < 0:
            raise ControlError(f"{key}: must be >= 0")
    burst = body.get("burst")
    if burst is not None:
        kind, count = burst.get("kind"), burst.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ControlError("burst.count: must be an integer >= 1")
        try:
            faults.burst(kind, 0)  # validates the kind without arming
        except ValueError as exc:
            raise ControlError(f"burst.kind: {exc}") from None
    if body.get("clear"):
        faults.clear()
    if "delay_s" in body:
        faults.delay_s = float(body["delay_s"])
    if "silent" in body:
        faults.set_silent(body["silent"])
    for key in ("malformed_frames", "reject_orders", "timeout_orders"):
        if key in body:
            setattr(faults, key, body[key])
    if burst is not None:
        faults.burst(burst["kind"], burst.get("count", 1))
    if body.get("drop_connections"):
        faults.drop_connections()


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ControlError(f"body: invalid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ControlError("body: must be a JSON object")
    return body


def build_control_app(sim: Any) -> Starlette:
    """``sim`` is a SimVenues: every route answers from it."""

    def venue_of(request: Request) -> str:
        venue = request.path_params["venue"]
        if venue not in sim.controls:
            raise KeyError(venue)
        return venue

    async def state(_: Request) -> JSONResponse:
        return JSONResponse({
            "seed": sim.seed, "urls": sim.urls,
            "venues": {name: {"faults": c.faults.snapshot(), "accounting": c.accounting.snapshot()}
                       for name, c in sim.controls.items()},
        })

    async def faults(request: Request) -> JSONResponse:
        venue = venue_of(request)
        apply_faults(sim.faults(venue), await _json_body(request))
        return JSONResponse(sim.faults(venue).snapshot())

    async def action(request: Request) -> JSONResponse:
        venue = venue_of(request)
        try:
            result = sim.action(venue, request.path_params["action"], await _json_body(request))
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        return JSONResponse(result)

    async def accounting(request: Request) -> JSONResponse:
        return JSONResponse(sim.accounting(venue_of(request)).snapshot())

    async def bad_request(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    async def unknown_venue(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": f"unknown venue {exc}; known: {', '.join(sim.controls)}"}, status_code=404)

    return Starlette(
        routes=[
            Route("/control", state, methods=["GET"]),
            Route("/control/{venue}/faults", faults, methods=["POST"]),
            Route("/control/{venue}/actions/{action}", action, methods=["POST"]),
            Route("/control/{venue}/accounting", accounting, methods=["GET"]),
        ],
        exception_handlers={ControlError: bad_request, KeyError: unknown_venue},
    )
