"""ChainActor: every configured underlying x expiry chain, built from REST, kept live from the feed.

One actor owns all chains because they share two scarce things: Dhan's single 3 s queue for
option chains and expiry lists (``DhanRest`` serialises it), and one token -> chain map for
the up-to-25,000 feed tokens. Per chain it does what the design's per-chain ChainActor does;
one owner simply never contends with itself for the queue.

Lifecycle:
1. Serve the last Redis copies at once, marked stale (``optionchain:{U}:{expiry}``).
2. Instrument master (lot sizes, option segment: metadata only).
3. Subscribe the underlyings on the feed; their first ticks give the LTP, else the
   batched REST quote. No LTP or an LTP of 0: that underlying stops (logged, /health).
4. Per underlying: expiry list (the only source of expiries, kept in
   ``optionchain:expiries:{U}``), then one REST chain per active expiry -> skeleton of the
   kind's window around ATM.
5. Shard every token over <= 5 feed connections (``WsShardActor``); ticks merge into the
   chains (LTP/bid/ask/volume only) and move the ATM registry (``optionchain:atm:{U}``).
6. Round-robin REST refreshes of greeks/IV/OI at the configured interval, or as fast as the
   queue allows (the effective interval is in the plan and /health).
Strikes are regenerated only at market open, on an expiry rollover and on
``POST /admin/optionchain/refresh``; never because the ATM moved.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import attrs
import trio

from actors.optionchain.book import ChainBook, ChainKey, Token
from actors.optionchain.cache import ChainCache, publish_chain, write_changed
from actors.optionchain.chain import build_skeleton, from_json
from actors.optionchain.feed_shard import WsShardActor
from actors.optionchain.rest_rows import chain_rows
from actors.optionchain.schedule import (
    IST, RefreshPlan, is_market_open, plan_refresh, refresh_order, regeneration_reason, rollover,
)
from actors.optionchain.shards import MAX_PER_CONNECTION, ShardPlan, TooManyTokens, plan_shards
from actors.optionchain.topics import GET_TOPIC, LIST_TOPIC, REFRESH_TOPIC, RefreshAnswer
from adapters.dhan.errors import DhanAuthError, DhanConfigError, DhanError, DhanTokenExpired
from adapters.http import VenueHttpError, VenueProtocolError, VenueUnavailable
from engine import keys
from engine.bus import Overflow

FEED_TOPIC = "dhan.ticks"
COMPONENT = "optionchain"
REST_ERRORS = (DhanError, VenueUnavailable, VenueProtocolError, VenueHttpError)
FEED_LTP_MAX_AGE_MS = 60_000  # an older feed LTP is not used to centre a build
QUOTE_FAILED = "rest quote (failed)"


@attrs.frozen
class UnderlyingPlan:
    """One configured underlying (``[[optionchain.underlyings]]``)."""

    name: str
    security_id: int
    segment: str
    kind: str
    expiries: int
    chain_segment: str | None = None  # how the chain APIs name it, when not ``segment``

    @property
    def token(self) -> Token:
        return (self.segment, self.security_id)

    @property
    def rest_segment(self) -> str:
        return self.chain_segment or self.segment


@attrs.define(eq=False)
class _Underlying:
    plan: UnderlyingPlan
    meta: Any = None  # adapters.dhan.master.UnderlyingMeta
    expiries: tuple[str, ...] = ()
    stopped: str | None = None
    market_open: bool | None = None
    failed_at_s: float | None = None  # when a build last failed for a venue reason (retried later)


@attrs.define(eq=False)
class ChainActor:
    """See the module docstring. Counters are read by tests: ``builds``, ``refreshes``, ``replans``."""

    underlyings: tuple[UnderlyingPlan, ...] = attrs.field(converter=tuple)
    refresh_interval_s: float = 30.0
    cache_write_interval_s: float = 0.25
    request_code: int = 21
    watchdog_silence_s: float = 15.0
    max_tokens_per_connection: int = MAX_PER_CONNECTION
    feed_backoff_initial_s: float = 1.0
    feed_backoff_max_s: float = 30.0
    reserved_per_minute: int = 2
    market_check_interval_s: float = 30.0
    first_tick_wait_s: float = 5.0
    master_retry_max_s: float = 60.0
    retry_failed_build_s: float = 60.0  # a build the venue failed (timeouts, 5xx, a failed quote) is retried this often
    holidays: frozenset[dt.date] = frozenset()

    book: ChainBook = attrs.field(init=False, factory=ChainBook)
    cache: ChainCache = attrs.field(init=False, factory=ChainCache)
    shards: list[WsShardActor] = attrs.field(init=False, factory=list)
    builds: int = attrs.field(init=False, default=0)
    refreshes: int = attrs.field(init=False, default=0)
    replans: int = attrs.field(init=False, default=0)
    _state: dict[str, _Underlying] = attrs.field(init=False, factory=dict)
    _last_refresh_ms: dict[ChainKey, int] = attrs.field(init=False, factory=dict)
    _manual: set[str] = attrs.field(init=False, factory=set)
    _wake: trio.Event = attrs.field(init=False, factory=trio.Event)
    _plan: ShardPlan | None = attrs.field(init=False, default=None)
    _shard_scope: trio.CancelScope | None = attrs.field(init=False, default=None)
    _shards_done: trio.Event | None = attrs.field(init=False, default=None)
    _nursery: trio.Nursery | None = attrs.field(init=False, default=None)
    _day: dt.date | None = attrs.field(init=False, default=None)
    _log: Any = attrs.field(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        self._state = {u.name: _Underlying(u) for u in self.underlyings}

    # ------------------------------------------------------------------ run
    async def run(self, ctx: Any) -> None:
        self._log = ctx.log.bind(actor=ctx.name)
        dhan = ctx.venues.get("dhan")
        gets = ctx.bus.subscribe(GET_TOPIC, maxlen=256, overflow=Overflow.BLOCK)
        lists = ctx.bus.subscribe(LIST_TOPIC, maxlen=64, overflow=Overflow.BLOCK)
        refreshes = ctx.bus.subscribe(REFRESH_TOPIC, maxlen=16, overflow=Overflow.BLOCK)
        ticks = ctx.bus.subscribe(FEED_TOPIC, maxlen=1024, overflow=Overflow.BLOCK)
        with gets, lists, refreshes, ticks:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._serve_gets, gets)
                nursery.start_soon(self._serve_lists, lists)
                nursery.start_soon(self._serve_refreshes, refreshes)
                await self._serve_stored(ctx)
                if dhan is None:
                    ctx.report(COMPONENT, False, "no Dhan client: set the credentials [venues.dhan] names")
                    self._log.error("optionchain_no_venue", hint="set the variables named by access_token_env "
                                    "and client_id_env, then restart")
                    await trio.sleep_forever()
                nursery.start_soon(self._consume_ticks, ticks, ctx.metrics)
                nursery.start_soon(self._write_cache, ctx)
                await self._manage(ctx, dhan)

    # ------------------------------------------------------------------ the API's questions
    async def _serve_gets(self, sub: Any) -> None:
        async for ask in sub:
            underlying, expiry = ask.payload
            ask.answer(self.cache.texts.get((underlying, expiry)))

    async def _serve_lists(self, sub: Any) -> None:
        async for ask in sub:
            ask.answer([self.cache.listing[key].to_json() for key in sorted(self.cache.listing)])

    async def _serve_refreshes(self, sub: Any) -> None:
        async for ask in sub:
            ask.answer(self.schedule_refresh(ask.payload))

    def schedule_refresh(self, underlying: str | None) -> RefreshAnswer:
        """Queue a manual strike regeneration of one underlying (or all); it runs through the 3 s queue."""
        if underlying is not None and underlying not in self._state:
            return RefreshAnswer(False, error=f"unknown underlying {underlying!r}; configured: "
                                              f"{', '.join(self._state)}")
        names = (underlying,) if underlying is not None else tuple(self._state)
        self._manual.update(names)
        self._wake.set()
        requests = sum(1 + self._state[n].plan.expiries for n in names)
        return RefreshAnswer(True, names, requests, requests * 3.0)

    # ------------------------------------------------------------------ cache and ticks
    async def _serve_stored(self, ctx: Any) -> None:
        """Serve the last Redis copies (stale) until the chains are rebuilt; unreadable ones are skipped."""
        today = self._today(ctx).isoformat()
        served = 0
        for name in self._state:
            try:
                raw = await ctx.store.get(keys.optionchain_expiries(name))
                for expiry in json.loads(raw) if raw else []:
                    text = await ctx.store.get(keys.optionchain(name, expiry)) if expiry >= today else None
                    if text:
                        publish_chain(from_json(json.loads(text)), self.cache, ctx.store, ctx.bus)
                        served += 1
            except Exception as error:  # Redis down or a foreign document: start without it
                self._log.warning("stored_chains_unreadable", underlying=name, error=f"{type(error).__name__}: {error}")
        if served:
            self._log.info("stored_chains_served", chains=served, stale=True)

    async def _consume_ticks(self, sub: Any, metrics: Any) -> None:
        apply = self.book.apply
        received, merged = metrics.ticks_received.labels(COMPONENT), metrics.ticks_merged.labels(COMPONENT)
        async for updates in sub:
            received.inc(len(updates))
            merged.inc(apply(updates))

    async def _write_cache(self, ctx: Any) -> None:
        """A fixed cadence (deadlines, not sleeps after each pass), so a slow pass never stretches the period."""
        deadline_s, writes = ctx.clock.monotonic(), ctx.metrics.cache_writes.labels(COMPONENT)
        while True:
            deadline_s = max(deadline_s + self.cache_write_interval_s, ctx.clock.monotonic())
            await trio.sleep_until(deadline_s)
            written = write_changed(self.book, self.cache, ctx.store, ctx.bus, ctx.clock.time_ms())
            if written:
                writes.inc(written)

    # ------------------------------------------------------------------ the manager
    async def _manage(self, ctx: Any, dhan: Any) -> None:
        await self._load_master(ctx, dhan)
        for state in self._state.values():
            self.book.watch_underlying(state.plan.name, state.plan.token)
        await self._replan(ctx, dhan)
        await self._await_first_ticks(ctx)
        await self._regenerate(ctx, dhan, tuple(self._state), "start")
        self._day = self._today(ctx)
        for state in self._state.values():
            state.market_open = self._is_open(ctx, state)
        next_check_s = ctx.clock.monotonic() + self.market_check_interval_s
        while True:
            if self._manual:
                names = tuple(n for n in self._state if n in self._manual)
                self._manual.clear()
                await self._regenerate(ctx, dhan, names, "manual")
            if ctx.clock.monotonic() >= next_check_s:
                await self._check_calendar(ctx, dhan)
                next_check_s = ctx.clock.monotonic() + self.market_check_interval_s
            key, wait_s = self._next_refresh(ctx.clock.time_ms())
            if key is not None:
                await self._refresh(ctx, dhan, key)
                continue
            wait_s = min(wait_s, max(0.0, next_check_s - ctx.clock.monotonic()))
            with trio.move_on_after(max(wait_s, 0.01)):
                await self._wake.wait()
            self._wake = trio.Event()

    async def _load_master(self, ctx: Any, dhan: Any) -> None:
        """Lot sizes and option segments; retried with a capped backoff (chains need a lot size)."""
        delay_s = 1.0
        while True:
            try:
                result = await dhan.instrument_master([u.name for u in self.underlyings])
                break
            except Exception as error:  # network, HTTP status, a malformed file: all end here
                detail = f"{type(error).__name__}: {error}"
                ctx.report(COMPONENT, False, f"instrument master unavailable: {detail}")
                self._log.warning("instrument_master_failed", error=detail, retry_in_s=delay_s)
                await ctx.clock.sleep(delay_s)
                delay_s = min(delay_s * 2, self.master_retry_max_s)
        for name, state in self._state.items():
            state.meta = result.metas.get(name)
        self._log.info("instrument_master_loaded", rows=result.rows_read, skipped=result.skipped,
                       found=sorted(result.metas), missing=sorted(set(self._state) - set(result.metas)))

    async def _await_first_ticks(self, ctx: Any) -> None:
        wanted = {s.plan.token for s in self._state.values() if s.meta is not None}
        with trio.move_on_after(self.first_tick_wait_s):
            while not wanted <= set(self.book.underlying_ltp):
                await trio.sleep(0.05)

    # ------------------------------------------------------------------ building
    async def _ltps(self, ctx: Any, dhan: Any, names: tuple[str, ...]) -> dict[str, tuple[float | None, str]]:
        """LTP per underlying: a fresh feed tick first, else one batched REST quote for the rest."""
        now_ms, out, missing = ctx.clock.time_ms(), {}, []
        for name in names:
            token = self._state[name].plan.token
            seen = self.book.underlying_ltp.get(token)
            if seen is not None and now_ms - seen[1] <= FEED_LTP_MAX_AGE_MS:
                out[name] = (seen[0], "feed")
            else:
                missing.append(name)
        if missing:
            request: dict[str, list[int]] = {}
            for name in missing:
                segment, sid = self._state[name].plan.token
                request.setdefault(segment, []).append(sid)
            source = "rest quote"
            try:
                prices = await dhan.rest.ltp(request)
            except REST_ERRORS as error:
                self._log.warning("underlying_quote_failed", underlyings=missing, error=str(error))
                prices, source = {}, QUOTE_FAILED
            for name in missing:
                out[name] = (prices.get(self._state[name].plan.token), source)
        return out

    async def _regenerate(self, ctx: Any, dhan: Any, names: tuple[str, ...], reason: str) -> None:
        """Strike regeneration: expiry list, LTP, one REST chain per active expiry, then the feed plan."""
        if not names:
            return
        ltps = await self._ltps(ctx, dhan, names)
        for name in names:
            await self._rebuild(ctx, dhan, self._state[name], ltps[name], reason)
        await self._replan(ctx, dhan)
        self._report_overall(ctx)

    async def _rebuild(self, ctx: Any, dhan: Any, state: _Underlying, ltp_seen: tuple[float | None, str],
                       reason: str) -> None:
        plan, name = state.plan, state.plan.name
        if state.meta is None:
            return self._stop(ctx, state, f"{name} is not in the instrument master: lot size and option segment unknown")
        try:
            expiries = tuple(await dhan.rest.expiry_list(plan.security_id, plan.rest_segment))
        except REST_ERRORS as error:
            return self._rest_failed(ctx, state, "expiry_list", error)
        state.expiries = expiries
        ctx.store.set(keys.optionchain_expiries(name), json.dumps(list(expiries)))
        _, active = rollover(expiries, self._today(ctx), (), plan.expiries)
        ltp, source = ltp_seen
        if not ltp or ltp <= 0:
            self._stop(ctx, state, f"no usable LTP for {name} ({source} gave {ltp!r}): stopped, no ATM guessed")
            if source == QUOTE_FAILED:  # the venue did not answer: not a holiday, try again later
                state.failed_at_s = ctx.clock.monotonic()
            return
        built = []
        for expiry in active:
            if await self._build_chain(ctx, dhan, state, expiry, ltp):
                built.append(expiry)
        for key in set(self.book.chains_of(name)) | {k for k in self.cache.texts if k[0] == name}:
            if key[1] not in active:
                self._drop(ctx, key)
        state.stopped = None
        state.failed_at_s = ctx.clock.monotonic() if len(built) < len(active) else None
        atm = self.book.atm(name)
        centre = f"; ATM {atm.atm:g} from {source} LTP {ltp:g}" if atm is not None else ""
        ctx.report(f"{COMPONENT}:{name}", bool(active) and len(built) == len(active),
                   f"{len(built)}/{len(active)} chains built ({reason}){centre}")
        self._log.info("chains_built", underlying=name, reason=reason, expiries=list(active), built=len(built),
                       ltp=ltp, ltp_source=source, atm=atm.atm if atm else None)

    async def _build_chain(self, ctx: Any, dhan: Any, state: _Underlying, expiry: str, ltp: float) -> bool:
        plan = state.plan
        try:
            snapshot = await dhan.rest.option_chain(plan.security_id, plan.rest_segment, expiry)
        except REST_ERRORS as error:
            self._rest_failed(ctx, state, "option_chain", error, expiry=expiry)
            return False
        lot_size = state.meta.lot_size(expiry)
        now_ms = ctx.clock.time_ms()
        try:
            if lot_size is None:
                raise ValueError("no lot size in the instrument master")
            chain, window = build_skeleton(plan.name, expiry, chain_rows(snapshot), ltp, plan.kind, lot_size, now_ms)
        except ValueError as error:
            self._log.error("chain_build_failed", underlying=plan.name, expiry=expiry, error=str(error))
            return False
        if not window.complete:
            self._log.warning("chain_window_incomplete", underlying=plan.name, expiry=expiry, strikes=len(window.strikes),
                              missing_below=window.missing_below, missing_above=window.missing_above,
                              atm_listed=window.atm_listed, atm=chain.atm_strike)
        self.book.install(chain, state.meta.option_segment, plan.token)
        self._last_refresh_ms[(plan.name, expiry)] = now_ms
        self.builds += 1
        return True

    def _drop(self, ctx: Any, key: ChainKey) -> None:
        """An expiry no longer active (rolled over): forget it everywhere, Redis included."""
        self.book.remove(key)
        self.cache.drop(key)
        self._last_refresh_ms.pop(key, None)
        ctx.store.delete(keys.optionchain(*key))
        self._log.info("chain_dropped", underlying=key[0], expiry=key[1])

    def _stop(self, ctx: Any, state: _Underlying, reason: str) -> None:
        """Take the underlying off the feed; its last chains stay served, marked stale."""
        state.stopped = reason
        for key in self.book.chains_of(state.plan.name):
            chain = self.book.chain(key)
            self.book.remove(key)
            if chain is not None:
                publish_chain(attrs.evolve(chain, stale=True), self.cache, ctx.store, ctx.bus)
        ctx.report(f"{COMPONENT}:{state.plan.name}", False, reason)
        self._log.error("underlying_stopped", underlying=state.plan.name, reason=reason)

    def _rest_failed(self, ctx: Any, state: _Underlying, call: str, error: BaseException, **where: Any) -> None:
        name = state.plan.name
        detail = f"{type(error).__name__}: {error}"
        if isinstance(error, (DhanTokenExpired, DhanAuthError)):
            ctx.report(COMPONENT, False, f"Dhan refused the credentials ({detail}): renew the token and restart")
            self._log.error("venue_credentials_refused", underlying=name, call=call, error=detail)
        elif isinstance(error, DhanConfigError):
            self._stop(ctx, state, f"Dhan refused {call} for {name} ({detail}): check security_id and segment")
        else:
            ctx.report(f"{COMPONENT}:{name}", False, f"{call} failed: {detail}")
            self._log.warning("chain_rest_failed", underlying=name, call=call, error=detail, **where)
            if call != "option_chain refresh":  # a failed build (not a refresh) is retried on its own
                state.failed_at_s = ctx.clock.monotonic()

    # ------------------------------------------------------------------ the feed plan
    async def _replan(self, ctx: Any, dhan: Any) -> None:
        """Shard every token; restart the feed connections only if the plan changed."""
        tokens, group_of = self.book.feed_tokens()
        try:
            plan = plan_shards(tokens, max_per_connection=self.max_tokens_per_connection, group_of=group_of)
        except TooManyTokens as error:
            ctx.report(COMPONENT, False, f"feed plan refused: {error}")
            self._log.error("feed_plan_refused", tokens=len(tokens), error=str(error))
            return
        if self._plan is not None and plan.shards == self._plan.shards:
            return
        await self._stop_shards()
        for index in range(len(plan), len(self._plan or ())):
            ctx.retire(f"dhan_feed:{index}")
        self._plan = plan
        self.replans += 1
        self.shards = [
            WsShardActor(index, shard, (lambda i=index: dhan.new_feed(self._log.bind(shard=i))),
                         request_code=self.request_code, watchdog_silence_s=self.watchdog_silence_s,
                         backoff_initial_s=self.feed_backoff_initial_s, backoff_max_s=self.feed_backoff_max_s,
                         topic=FEED_TOPIC)
            for index, shard in enumerate(plan.shards)
        ]
        self._log.info("feed_plan", connections=len(plan), tokens=plan.token_count,
                       per_connection=[len(s) for s in plan.shards])
        if self.shards:
            self._shard_scope = await self._nursery.start(self._run_shards, ctx, self.shards)  # type: ignore[union-attr]

    async def _run_shards(self, ctx: Any, shards: list[WsShardActor], task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        done = self._shards_done = trio.Event()
        try:
            with trio.CancelScope() as scope:
                task_status.started(scope)
                async with trio.open_nursery() as nursery:
                    for shard in shards:
                        nursery.start_soon(shard.run, attrs.evolve(ctx, name=f"{ctx.name}.feed{shard.shard}"))
        finally:
            done.set()

    async def _stop_shards(self) -> None:
        """Close every feed connection before opening the next plan's (never above the cap)."""
        if self._shard_scope is not None and self._shards_done is not None:
            self._shard_scope.cancel()
            await self._shards_done.wait()
        self._shard_scope = self._shards_done = None

    # ------------------------------------------------------------------ refreshes and the calendar
    def refresh_plan(self) -> RefreshPlan:
        return plan_refresh(len(self.book), self.refresh_interval_s, reserved_per_minute=self.reserved_per_minute)

    def _next_refresh(self, now_ms: int) -> tuple[ChainKey | None, float]:
        """The oldest chain if it is due, else (None, seconds until it is)."""
        keys_ = self.book.keys()
        if not keys_:
            return None, self.market_check_interval_s
        interval_ms = self.refresh_plan().effective_interval_s * 1000
        oldest = refresh_order(keys_, now_ms, self._last_refresh_ms)[0]
        due_in_ms = self._last_refresh_ms.get(oldest, 0) + interval_ms - now_ms
        return (oldest, 0.0) if due_in_ms <= 0 else (None, due_in_ms / 1000)

    async def _refresh(self, ctx: Any, dhan: Any, key: ChainKey) -> None:
        state = self._state[key[0]]
        sent_ms = ctx.clock.time_ms()
        self._last_refresh_ms[key] = sent_ms  # a failure waits its turn too: no hot retry loop
        try:
            snapshot = await dhan.rest.option_chain(state.plan.security_id, state.plan.rest_segment, key[1])
        except REST_ERRORS as error:
            return self._rest_failed(ctx, state, "option_chain refresh", error, expiry=key[1])
        if self.book.refresh(key, chain_rows(snapshot), ctx.clock.time_ms(), sent_ms):
            self.refreshes += 1

    async def _check_calendar(self, ctx: Any, dhan: Any) -> None:
        """Regenerate on an expiry rollover (new IST day), at each market open, and retry failed builds."""
        today = self._today(ctx)
        new_day, self._day = today != self._day, today
        due: dict[str, str] = {}
        for name, state in self._state.items():
            tracked = tuple(e for u, e in self.book.keys() if u == name)
            expired, new = rollover(state.expiries, today, tracked, state.plan.expiries) if new_day else ((), ())
            was_open = state.market_open
            opened = state.market_open = self._is_open(ctx, state)
            failed_for_s = None if state.failed_at_s is None else ctx.clock.monotonic() - state.failed_at_s
            reason = regeneration_reason(new_day=new_day, rolled_over=bool(expired or new),
                                         stopped=state.stopped is not None, market_open=opened, was_open=was_open,
                                         failed_for_s=failed_for_s, retry_after_s=self.retry_failed_build_s)
            if reason is not None:
                due[name] = reason
        for reason in sorted(set(due.values())):
            await self._regenerate(ctx, dhan, tuple(n for n in self._state if due.get(n) == reason), reason)

    def _is_open(self, ctx: Any, state: _Underlying) -> bool:
        return is_market_open(ctx.clock.time_ms(), state.plan.segment, self.holidays)

    @staticmethod
    def _today(ctx: Any) -> dt.date:
        return dt.datetime.fromtimestamp(ctx.clock.time_s(), tz=IST).date()

    def _report_overall(self, ctx: Any) -> None:
        plan = self.refresh_plan()
        connections = len(self._plan) if self._plan is not None else 0
        detail = (f"{len(self.book)} chains live on {connections} feed connection(s); REST refresh: {plan.summary()}")
        ctx.report(COMPONENT, True, detail)
        if not plan.feasible:
            self._log.warning("refresh_interval_stretched", target_s=plan.target_interval_s,
                              effective_s=round(plan.effective_interval_s, 1), chains=plan.chains)
