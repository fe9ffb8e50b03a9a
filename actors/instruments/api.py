"""POST /instruments: regenerate every market now, answered from the InstrumentsActor."""

from __future__ import annotations

from typing import Any, Callable

import attrs
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from actors.instruments.actor import REGENERATE_TOPIC
from engine.actor import ActorContext
from engine.requests import NoReply, ask


def instruments_router(ctx: ActorContext, require_admin: Callable[[Request], None],
                       timeout_s: float = 120.0) -> APIRouter:
    router = APIRouter()

    @router.post("/instruments", summary="Regenerate the instrument names of every market (empty body only)",
                 dependencies=[Depends(require_admin)])
    async def regenerate(request: Request) -> JSONResponse:
        if (await request.body()).strip():
            return JSONResponse({"error": "POST /instruments takes an empty body"}, status_code=400)
        try:
            results = await ask(ctx.bus, REGENERATE_TOPIC, "regenerate", timeout_s)
        except NoReply as error:
            return JSONResponse({"error": f"instrument update did not run: {error}"}, status_code=500)
        body: dict[str, Any] = {"markets": {r.market: attrs.asdict(r) for r in results}}
        if results and not any(r.ok for r in results):
            body["error"] = "every market failed"
            return JSONResponse(body, status_code=500)
        return JSONResponse(body)

    return router
