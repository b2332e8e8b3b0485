"""An SMS provider's HTTP API, as far as the hub uses it, that records instead of sending.

No SMS provider can be reached from the project's machines: this small process is the one
allowed stand-in (issue 17). It takes what `hub.sms.HttpSmsProvider` posts, appends each body,
with its idempotency key and whether the bearer token matched, as one JSON line to a file, and
answers 200 ``{"id": "..."}``. ``--fail-first K`` (or ``POST /fail?count=K``) answers the next
K messages 503 first, to play a provider that is down.

    python -m simulators.sms_recorder --port 8790 --out /tmp/sms.jsonl [--token T]

It prints ``listening http://127.0.0.1:<port>/sms`` once ready (``--port 0`` picks a port).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import signal
from pathlib import Path

from aiohttp import web

HOST = "127.0.0.1"


class Recorder:
    def __init__(self, out: Path, *, token: str = "", fail_first: int = 0) -> None:
        self.out = out
        self.token = token
        self.fail_next = fail_first
        self._ids = itertools.count(1)

    async def sms(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "not json"}, status=400)
        if not isinstance(body, dict) or not {"to", "text", "client_ref"} <= body.keys():
            return web.json_response({"error": "to, text and client_ref are needed"}, status=400)
        authorized = request.headers.get("Authorization", "") == f"Bearer {self.token}"
        if self.token and not authorized:
            return web.json_response({"error": "bad token"}, status=401)
        if self.fail_next > 0:
            self.fail_next -= 1
            self._append({"refused": 503, **body})
            return web.json_response({"error": "unavailable (simulated)"}, status=503)
        message_id = f"sim-{next(self._ids)}"
        self._append(
            {
                "id": message_id,
                "idempotency_key": request.headers.get("Idempotency-Key", ""),
                **body,
            }
        )
        return web.json_response({"id": message_id})

    async def fail(self, request: web.Request) -> web.Response:
        self.fail_next = int(request.query.get("count", "1"))
        return web.json_response({"fail_next": self.fail_next})

    def _append(self, line: dict[str, object]) -> None:
        with self.out.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line, ensure_ascii=False) + "\n")


def read_records(out: Path) -> list[dict[str, object]]:
    """What a recorder wrote to `out`: one dict per message (refused ones have ``refused``)."""
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line]


async def serve(port: int, recorder: Recorder) -> None:
    app = web.Application()
    app.router.add_post("/sms", recorder.sms)
    app.router.add_post("/fail", recorder.fail)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, port)
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    print(f"listening http://{HOST}:{bound}/sms", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.sms_recorder",
        description="A local SMS provider that records the messages it is given.",
    )
    parser.add_argument("--port", type=int, default=8790, help="0: any free port")
    parser.add_argument("--out", type=Path, required=True, help="JSON lines file")
    parser.add_argument("--token", default="", help="the bearer token to require")
    parser.add_argument("--fail-first", type=int, default=0, help="answer 503 this many times")
    arguments = parser.parse_args(argv)
    recorder = Recorder(arguments.out, token=arguments.token, fail_first=arguments.fail_first)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(arguments.port, recorder))


if __name__ == "__main__":
    main()
