"""Read-your-writes with a read replica (GRIDMAP_READ_DATABASE_URL): a client that just wrote reads its write.

After a write (a POST, PUT, PATCH or DELETE whose transaction committed) on the primary, the answer carries the
primary's WAL position in a `Gridmap-LSN` header and a `gridmap_lsn` cookie. The pages send the cookie back by
themselves (same origin); other clients may send the header. A read route given a position uses the replica only
when it has replayed that far, else the primary (api.deps.get_read_session). Without a position a read may see
the replica a few milliseconds behind another client's write: replication is asynchronous.

A WAL position rather than a sticky time window: it is exact whatever the lag (a window is wrong whenever the
replica lags longer than it, and needlessly sends reads to the primary when it does not), and it costs one
comparison on the replica, only for clients that wrote in the last minutes. A position sent by anyone costs no
more than sending reads to the primary, which is where they would go without a replica.

Pure ASGI middleware (like api/headers.py): it only looks at `http.response.start`, so streaming answers stay
streaming.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gis.db.engine import parse_lsn

HEADER = "Gridmap-LSN"
COOKIE = "gridmap_lsn"
# Long past any healthy replica's lag; after it the client's reads go to the replica without a comparison.
COOKIE_MAX_AGE_S = 300
WRITTEN_LSN = "written_lsn"  # request.state key, set by api.deps.get_session after a write committed


def read_after(request: Request) -> str | None:
    """The WAL position of the client's last write, from the header or else the cookie; None without a valid one."""
    return parse_lsn(request.headers.get(HEADER)) or parse_lsn(request.cookies.get(COOKIE))


def _cookie(lsn: str, *, secure: bool) -> str:
    # HttpOnly: no script needs it. SameSite=Lax: sent on the app's own requests and top-level navigation.
    attributes = f"Path=/; Max-Age={COOKIE_MAX_AGE_S}; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
    return f"{COOKIE}={lsn}; {attributes}"


class WrittenPosition:
    """Adds the header and cookie to the answer of a request whose write committed on the primary."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_position(message: Message) -> None:
            if message["type"] == "http.response.start":
                # request.state lives in scope["state"]; the session's dependency sets it before the answer starts.
                lsn = scope.get("state", {}).get(WRITTEN_LSN)
                if lsn is not None:
                    headers = MutableHeaders(scope=message)
                    headers.append(HEADER, lsn)
                    headers.append("set-cookie", _cookie(lsn, secure=scope.get("scheme") == "https"))
            await send(message)

        await self.app(scope, receive, send_position)


def install(app: FastAPI) -> None:
    app.add_middleware(WrittenPosition)
