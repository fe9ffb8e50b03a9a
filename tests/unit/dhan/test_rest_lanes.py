"""DhanRest's retry loop and serial lanes over a scripted transport on trio's MockClock:
chain-family requests never closer than 3 s (concurrent callers and retries included),
which errors are retried, and which stop at once."""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import httpx
import pytest
import structlog
import trio

from adapters.dhan.errors import DhanAuthError, DhanConfigError, DhanTokenExpired
from adapters.dhan.rest import DhanRest
from adapters.http import VenueUnavailable
from engine.clock import Clock
from engine.metrics import EngineMetrics
from engine.ratelimit import TokenBucket

OK_EXPIRIES = {"status": "success", "data": ["2024-10-31", "2024-11-07"]}


def failed(code: int, status: int) -> tuple[int, Any]:
    return status, {"status": "failed", "data": {str(code): "message"}}


class Script:
    """Answers in order (the last one repeats); records when each request arrived."""

    def __init__(self, *answers: tuple[int, Any] | Callable[[], Any]) -> None:
        self.answers = list(answers)
        self.arrived_s: list[float] = []
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.arrived_s.append(trio.current_time())
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if callable(answer):
            return answer()
        status, body = answer
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(status, content=content)


def rest(script: Script, **options: Any) -> tuple[DhanRest, httpx.AsyncClient]:
    clock = Clock()
    metrics = EngineMetrics()
    http = httpx.AsyncClient(transport=httpx.MockTransport(script))
    chain = TokenBucket(clock=clock, venue="dhan", capacity=1, refill_per_s=1 / 3, metrics=metrics)
    quotes = TokenBucket(clock=clock, venue="dhan", capacity=1, refill_per_s=1, metrics=metrics)
    client = DhanRest("http://dhan.test/v2", http, chain, quotes, "tok", "cid", clock, structlog.get_logger(),
                      metrics, jitter_seed=1, **{"backoff_initial_s": 0.5, "backoff_max_s": 2.0, **options})
    return client, http


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in pairwise(times)]


async def test_headers_and_body(autojump_clock: Any) -> None:
    script = Script((200, OK_EXPIRIES))
    client, http = rest(script)
    assert await client.expiry_list(13, "IDX_I") == ["2024-10-31", "2024-11-07"]
    request = script.requests[0]
    assert request.url.path == "/v2/optionchain/expirylist" and request.method == "POST"
    assert request.headers["access-token"] == "tok" and request.headers["client-id"] == "cid"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"UnderlyingScrip": 13, "UnderlyingSeg": "IDX_I"}
    assert "tok" not in repr(client)
    await http.aclose()


async def test_concurrent_chain_family_calls_are_serialised_3s_apart(autojump_clock: Any) -> None:
    script = Script((200, OK_EXPIRIES))
    client, http = rest(script)
    async with trio.open_nursery() as nursery:
        for _ in range(4):
            nursery.start_soon(client.expiry_list, 13, "IDX_I")
    assert len(script.arrived_s) == 4
    assert all(gap >= 3.0 for gap in gaps(script.arrived_s))
    await http.aclose()


async def test_retries_stay_3s_apart_and_805_pauses_the_bucket(autojump_clock: Any) -> None:
    script = Script(failed(805, 429), failed(805, 429), (200, {"status": "failure", "data": ""}),
                    (500, b"<html>oops</html>"), (200, OK_EXPIRIES))
    client, http = rest(script)
    assert await client.expiry_list(13, "IDX_I") == ["2024-10-31", "2024-11-07"]
    assert len(script.arrived_s) == 5
    assert all(gap >= 3.0 for gap in gaps(script.arrived_s))
    assert client.chain_lane.bucket.stats().pauses == 2
    await http.aclose()


@pytest.mark.parametrize("code,status,error", [(807, 401, DhanTokenExpired), (808, 401, DhanAuthError),
                                               (810, 401, DhanAuthError), (811, 400, DhanConfigError),
                                               (813, 400, DhanConfigError)])
async def test_permanent_errors_are_not_retried(autojump_clock: Any, code: int, status: int, error: type) -> None:
    script = Script(failed(code, status))
    client, http = rest(script)
    with pytest.raises(error):
        await client.option_chain(13, "IDX_I", "2024-10-31")
    assert len(script.arrived_s) == 1
    await http.aclose()


async def test_retries_run_out_into_venue_unavailable(autojump_clock: Any) -> None:
    def timeout() -> Any:
        raise httpx.ReadTimeout("slow")
    script = Script(failed(800, 500), (200, b'{"status":"succ'), timeout)
    client, http = rest(script, max_retries=3)
    with pytest.raises(VenueUnavailable) as raised:
        await client.ltp({"IDX_I": [13]})
    assert raised.value.attempts == 4 and len(script.arrived_s) == 4
    assert all(gap >= 1.0 for gap in gaps(script.arrived_s))
    await http.aclose()


async def test_ltp_is_batched_by_1000(autojump_clock: Any) -> None:
    def answer() -> httpx.Response:
        body = json.loads(script.requests[-1].content)
        data = {seg: {str(sid): {"last_price": float(sid)} for sid in ids} for seg, ids in body.items()}
        return httpx.Response(200, json={"status": "success", "data": data})
    script = Script(answer)
    client, http = rest(script)
    prices = await client.ltp({"NSE_FNO": list(range(2500))})
    assert len(prices) == 2500 and prices[("NSE_FNO", 2499)] == 2499.0
    assert [len(json.loads(r.content)["NSE_FNO"]) for r in script.requests] == [1000, 1000, 500]
    assert all(gap >= 1.0 for gap in gaps(script.arrived_s))
    await http.aclose()
