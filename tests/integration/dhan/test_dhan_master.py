"""The instrument master over real HTTP from the simulated Dhan: through ``fetch_master``
and ``DhanClient`` (lots per listed expiry, feed segments, no auth headers sent), retries
of a slow answer, and ``open_venue_clients`` with and without Dhan credentials.

The simulator's master route consults only the ``delay_s`` fault (a ``5xx`` burst
applies to the data APIs, not to the CDN file), so the retry is tested with a slow
answer that times out once; a 404 stands for the errors that are not retried."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import structlog
import trio
from structlog.testing import capture_logs

from adapters.clients import open_venue_clients
from adapters.dhan.client import DhanClient
from adapters.dhan.feed import DhanFeedConnection
from adapters.dhan.master import fetch_master
from adapters.dhan.rest import DhanRest
from adapters.http import RetryPolicy, VenueHttpError, VenueUnavailable
from adapters.sim.dhan_universe import DEFAULT_UNDERLYINGS
from engine.config import DhanVenue, VenuesSection
from engine.metrics import EngineMetrics
from tests.integration.dhan.dhan_support import CLIENT_ID, NIFTY, TOKEN, DhanBed, dhan_bed, dhan_rest

MASTER_PATH = "/v2/instruments/api-scrip-master-detailed.csv"
UNDERLYINGS = ("NIFTY", "BANKNIFTY", "SENSEX", "CRUDEOIL", "RELIANCE")
SPECS = {spec.symbol: spec for spec in DEFAULT_UNDERLYINGS}
FAST_RETRY = RetryPolicy(max_retries=2, backoff_initial_s=0.05, backoff_max_s=0.1)


def master_url(bed: DhanBed) -> str:
    return bed.urls["dhan"] + MASTER_PATH


def master_requests(bed: DhanBed) -> dict[str, int]:
    """Master downloads per client id as the simulator counted them."""
    clients = bed.venues.accounting("dhan").clients
    return {client: stats.endpoints["instruments"] for client, stats in clients.items()
            if stats.endpoints["instruments"]}


@asynccontextmanager
async def dhan_client(bed: DhanBed, url: str | None = None, sent: list[httpx.Request] | None = None,
                      **options: Any) -> AsyncIterator[DhanClient]:
    async def record(request: httpx.Request) -> None:
        if sent is not None:
            sent.append(request)

    async with dhan_rest(bed) as rest, httpx.AsyncClient(event_hooks={"request": [record]}) as master_http:
        yield DhanClient(rest, bed.feed_url, url or master_url(bed), master_http, TOKEN, CLIENT_ID, bed.clock,
                         structlog.get_logger(), **{"master_retry": FAST_RETRY, "jitter_seed": 1, **options})


async def test_lots_segments_and_ticks_match_the_venue_for_every_listed_expiry() -> None:
    async with dhan_bed(underlyings=UNDERLYINGS) as bed:
        sent: list[httpx.Request] = []
        async with dhan_client(bed, sent=sent) as client:
            result = await client.instrument_master([*UNDERLYINGS, "NOPE"])
        market = bed.market
        assert set(result.metas) == set(UNDERLYINGS) and result.missing([*UNDERLYINGS, "NOPE"]) == ["NOPE"]
        assert result.skipped == 0 and result.rows_read == sum(1 for _ in market.listed_contracts()) + 5
        for symbol in UNDERLYINGS:
            meta, spec = result.metas[symbol], SPECS[symbol]
            expiries = [expiry.isoformat() for expiry in market.expiries(symbol)]
            assert list(meta.lot_sizes) == expiries  # ascending, every listed expiry
            assert all(meta.lot_size(expiry) == spec.lot_size for expiry in expiries)
            assert meta.option_segment == spec.option_segment and meta.tick_size == spec.option_tick
            contracts = sum(len(legs) for expiry in market.expiries(symbol) for _, legs in market.chain(symbol, expiry))
            assert meta.option_count == contracts
    assert result.metas["NIFTY"].option_segment == "NSE_FNO" and result.metas["NIFTY"].lot_size(expiries[0]) == 75
    assert result.metas["SENSEX"].option_segment == "BSE_FNO"
    assert result.metas["CRUDEOIL"].option_segment == "MCX_COMM"
    # the master is public: neither credential travels with it
    assert len(sent) == 1 and "access-token" not in sent[0].headers and "client-id" not in sent[0].headers
    assert master_requests(bed) == {"anonymous": 1}


async def test_fetch_master_streams_the_file_and_a_bad_path_is_an_http_error() -> None:
    async with dhan_bed() as bed, httpx.AsyncClient() as http:
        result = await fetch_master(http, master_url(bed), ["nifty"])
        assert set(result.metas) == {"NIFTY"} and result.metas["NIFTY"].lot_sizes.keys() == set(bed.expiries())
        with pytest.raises(VenueHttpError) as raised:
            await fetch_master(http, bed.urls["dhan"] + "/v2/instruments/nope.csv", ["NIFTY"])
    assert raised.value.status == 404 and not raised.value.retryable


async def test_a_slow_answer_times_out_once_and_is_retried() -> None:
    async with dhan_bed() as bed:
        faults = bed.faults()
        faults.delay_s = 2.0
        async with dhan_client(bed, master_timeout_s=0.5) as client, trio.open_nursery() as nursery:
            results: list[Any] = []

            async def fetch() -> None:
                results.append(await client.instrument_master(["NIFTY"]))

            nursery.start_soon(fetch)
            with trio.fail_after(5):
                while not master_requests(bed):
                    await trio.sleep(0.01)
            faults.delay_s = 0.0  # the first answer is already sleeping; the retry is served at once
        assert results[0].metas["NIFTY"].lot_size(bed.expiries()[0]) == 75
        assert master_requests(bed) == {"anonymous": 2}


async def test_retries_run_out_and_4xx_is_not_retried() -> None:
    async with dhan_bed() as bed:
        bed.faults().delay_s = 2.0
        async with dhan_client(bed, master_timeout_s=0.2) as client:
            with pytest.raises(VenueUnavailable) as unavailable:
                await client.instrument_master(["NIFTY"])
        assert unavailable.value.attempts == 3 and "Timeout" in unavailable.value.last_error
        bed.faults().delay_s = 0.0
        sent: list[httpx.Request] = []
        async with dhan_client(bed, bed.urls["dhan"] + "/v2/instruments/nope.csv", sent) as client:
            with pytest.raises(VenueHttpError):
                await client.instrument_master(["NIFTY"])
        assert len(sent) == 1


def dhan_section(bed: DhanBed) -> VenuesSection:
    return VenuesSection(dhan=DhanVenue(rest_url=bed.rest_url, feed_url=bed.feed_url,
                                        instrument_master_url=master_url(bed)))


async def test_open_venue_clients_builds_the_dhan_client_from_the_environment() -> None:
    secret = "sim-secret-jwt-7f3a"
    environ = {"DHAN_ACCESS_TOKEN": secret, "DHAN_CLIENT_ID": CLIENT_ID}
    async with dhan_bed(access_token=secret) as bed:
        async with open_venue_clients(dhan_section(bed), bed.clock, structlog.get_logger(), EngineMetrics(),
                                      environ=environ) as venues:
            client = venues["dhan"]
            assert isinstance(client, DhanClient) and isinstance(client.rest, DhanRest)
            assert client.feed_url == bed.feed_url
            chain, quotes = client.rest.chain_lane, client.rest.quote_lane
            assert (chain.bucket.capacity, chain.bucket.refill_per_s, chain.spacing_s) == (1, 1 / 3, 3.0)
            assert (quotes.bucket.capacity, quotes.bucket.refill_per_s) == (1, 1.0)
            assert await client.rest.expiry_list(*NIFTY) == bed.expiries()
            assert set((await client.instrument_master(["NIFTY"])).metas) == {"NIFTY"}
            feed = client.new_feed(structlog.get_logger())
            assert isinstance(feed, DhanFeedConnection)
            async with feed.connect():
                assert await feed.subscribe(bed.option_ids(2)) == 1
            assert secret not in repr(client) + repr(client.rest) + repr(feed)
        assert client.rest.http.is_closed and client.master_http.is_closed
        assert bed.stats().rejected == 0 and bed.stats().throttled == 0


async def test_without_credentials_there_is_no_dhan_client_and_the_variable_is_named() -> None:
    environ = {"DHAN_ACCESS_TOKEN": "secret-value-123"}
    async with dhan_bed() as bed:
        with capture_logs() as logs:
            async with open_venue_clients(dhan_section(bed), bed.clock, structlog.get_logger(), EngineMetrics(),
                                          environ=environ) as venues:
                assert "dhan" not in venues
    missing = [entry for entry in logs if entry["event"] == "venue_credentials_missing"]
    assert missing == [{"event": "venue_credentials_missing", "venue": "dhan", "variable": "DHAN_CLIENT_ID",
                        "log_level": "error"}]
    assert "secret-value-123" not in repr(logs)
