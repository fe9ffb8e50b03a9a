"""``connect_ws`` over real loopback sockets: the upgrade request, rejections, timeouts, frames
that arrive with the answer, and wss:// with certificate checks and SNI (a throwaway CA made
with the openssl command)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import pytest
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, RejectConnection, Request

from adapters.dhan.wsclient import WsClosed, WsHandshakeError, WsRejected, connect_ws


@attrs.define
class Server:
    port: int
    requests: list[Request] = attrs.field(factory=list)
    server_names: list[str | None] = attrs.field(factory=list)


Answer = Callable[[trio.abc.Stream, WSConnection, Request], Awaitable[None]]


@asynccontextmanager
async def ws_server(answer: Answer, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    """A one-purpose websocket server on 127.0.0.1: reads the upgrade request, then ``answer``s."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    server = Server(listeners[0].socket.getsockname()[1])
    if ssl_context is not None:
        ssl_context.sni_callback = lambda sock, name, ctx: server.server_names.append(name)  # type: ignore[assignment]
        listeners = [trio.SSLListener(listener, ssl_context) for listener in listeners]

    async def handle(stream: trio.abc.Stream) -> None:
        ws = WSConnection(ConnectionType.SERVER)
        try:
            while True:
                data = await stream.receive_some(65_536)
                if not data:
                    return
                ws.receive_data(data)
                request = next((e for e in ws.events() if isinstance(e, Request)), None)
                if request is not None:
                    break
            server.requests.append(request)
            await answer(stream, ws, request)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await trio.aclose_forcefully(stream)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, handle, listeners)
        yield server
        nursery.cancel_scope.cancel()


async def accept_then_stream(stream: trio.abc.Stream, ws: WSConnection, request: Request) -> None:
    """101, two binary frames and a close, all in ONE send (they reach the client with the answer)."""
    await stream.send_all(ws.send(AcceptConnection()) + ws.send(BytesMessage(data=b"one"))
                          + ws.send(BytesMessage(data=b"two")) + ws.send(CloseConnection(code=1000, reason="done")))
    await stream.receive_some(65_536)  # the client's close reply


def reject_with(status: int) -> Answer:
    async def answer(stream: trio.abc.Stream, ws: WSConnection, request: Request) -> None:
        await stream.send_all(ws.send(RejectConnection(status_code=status, has_body=False)))
    return answer


async def never_answer(stream: trio.abc.Stream, ws: WSConnection, request: Request) -> None:
    await trio.sleep_forever()


async def hang_up(stream: trio.abc.Stream, ws: WSConnection, request: Request) -> None:
    await stream.send_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n")  # then nothing


async def test_request_target_host_and_frames_that_came_with_the_answer() -> None:
    async with ws_server(accept_then_stream) as server:
        url = f"ws://127.0.0.1:{server.port}/feed?version=2&token=SECRET-JWT&authType=2"
        ws = await connect_ws(url, connect_timeout_s=5)
        with trio.fail_after(5):
            assert await ws.receive_batch() == [b"one", b"two"]
            with pytest.raises(WsClosed) as raised:
                await ws.receive_batch()
        await ws.aclose()
    (request,) = server.requests
    assert request.target == "/feed?version=2&token=SECRET-JWT&authType=2"
    assert request.host == f"127.0.0.1:{server.port}"
    assert (raised.value.code, raised.value.reason) == (1000, "done")


@pytest.mark.parametrize("status", [429, 403, 500])
async def test_a_rejected_handshake_carries_its_status(status: int) -> None:
    async with ws_server(reject_with(status)) as server:
        with pytest.raises(WsRejected) as raised, trio.fail_after(5):
            await connect_ws(f"ws://127.0.0.1:{server.port}/?token=SECRET")
    assert raised.value.status_code == status and "SECRET" not in str(raised.value)


async def test_timeouts_hang_ups_and_unreachable_servers_are_handshake_errors() -> None:
    async with ws_server(never_answer) as server:
        with pytest.raises(WsHandshakeError, match="within 0.3s"), trio.fail_after(5):
            await connect_ws(f"ws://127.0.0.1:{server.port}/", connect_timeout_s=0.3)
    async with ws_server(hang_up) as server:
        with pytest.raises(WsHandshakeError, match="closed the connection"), trio.fail_after(5):
            await connect_ws(f"ws://127.0.0.1:{server.port}/")
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    with pytest.raises(WsHandshakeError), trio.fail_after(5):
        await connect_ws(f"ws://127.0.0.1:{port}/")
    with pytest.raises(ValueError, match="ws://"):
        await connect_ws(f"http://127.0.0.1:{port}/")


# --------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A throwaway CA and a localhost certificate signed by it."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    d = tmp_path_factory.mktemp("tls")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (d / "san.ext").write_text("subjectAltName=DNS:localhost\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "san.ext")
    return {"ca": d / "ca.pem", "cert": d / "server.pem", "key": d / "server.key"}


def server_context(certificates: dict[str, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates["cert"], certificates["key"])
    return context


async def test_wss_verifies_the_certificate_and_sends_the_host_as_sni(certificates: dict[str, Path]) -> None:
    async with ws_server(accept_then_stream, server_context(certificates)) as server:
        trusted = ssl.create_default_context(cafile=str(certificates["ca"]))
        ws = await connect_ws(f"wss://localhost:{server.port}/?token=SECRET", ssl_context=trusted)
        with trio.fail_after(5):
            assert await ws.receive_batch() == [b"one", b"two"]
        await ws.aclose()
        # The default context (the system's CAs) refuses the test CA's certificate.
        with pytest.raises(WsHandshakeError, match="CERTIFICATE_VERIFY_FAILED"), trio.fail_after(5):
            await connect_ws(f"wss://localhost:{server.port}/")
    assert server.server_names[0] == "localhost"
    assert server.requests[0].host == f"localhost:{server.port}"
