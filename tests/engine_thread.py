"""The whole engine on a trio loop of its own in a background thread.

For synchronous tests (Selenium, hypothesis, a rig several scenarios share) that drive the
engine over HTTP while it runs: pytest-trio gives each test its own ``trio.run``, which an
engine shared across tests must outlive.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Sequence, TypeVar

import trio

from engine.actor import ChildSpec
from engine.config import LoadedConfig
from engine.runtime import run_engine

T = TypeVar("T")


class EngineThread:
    """``run_engine`` with these specs, routers and venue clients; ``start`` waits for the API,
    ``stop`` stops it as a signal would (actors in reverse order, the writer flushed)."""

    def __init__(self, loaded: LoadedConfig, *, venue_specs: Sequence[ChildSpec], extra_specs: Sequence[ChildSpec],
                 routers: Sequence[Any], venue_clients: Callable[..., Any], name: str = "engine") -> None:
        self.loaded = loaded
        self.api_url = ""
        self.exit_code: int | None = None
        self.error: BaseException | None = None
        self._run_args = dict(venue_specs=list(venue_specs), extra_specs=list(extra_specs), routers=list(routers),
                              venue_clients=venue_clients)
        self._listening = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self._thread = threading.Thread(target=self._thread_main, name=name, daemon=True)

    def start(self, timeout_s: float = 60.0) -> str:
        """Start the engine; its API's base URL once it listens."""
        self._thread.start()
        if not self._listening.wait(timeout_s) or not self.api_url:
            raise RuntimeError(f"the engine did not start listening within {timeout_s:g} s: {self.error!r}")
        return self.api_url

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """The orderly stop a signal asks for; the engine's exit code once it is over."""
        if self._stop is not None and self._thread.is_alive():
            try:
                self.call(self._stop.set)
            except trio.RunFinishedError:
                pass
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise RuntimeError(f"the engine did not stop within {timeout_s:g} s")
        if self.error is not None:
            raise RuntimeError(f"the engine failed: {self.error!r}") from self.error
        return self.exit_code

    def alive(self) -> bool:
        return self._thread.is_alive()

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a plain function in the engine's loop (between its tasks' steps) and return its result."""
        return trio.from_thread.run_sync(fn, *args, trio_token=self._token)

    def call_async(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run an async function in the engine's loop and return its result."""
        return trio.from_thread.run(fn, *args, trio_token=self._token)

    def _on_listening(self, binds: list[str]) -> None:
        self.api_url = binds[0]
        self._listening.set()

    async def _main(self) -> None:
        self._token, self._stop = trio.lowlevel.current_trio_token(), trio.Event()
        self.exit_code = await run_engine(self.loaded, on_listening=self._on_listening, handle_signals=False,
                                          stop_event=self._stop, **self._run_args)

    def _thread_main(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as error:  # noqa: BLE001 - reported to the test's thread by start and stop
            self.error = error
        finally:
            self._listening.set()
