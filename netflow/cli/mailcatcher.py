"""`netflow mailcatcher`: a local SMTP server that keeps every message as an .eml file (demo and tests).

It listens on localhost only, accepts everything, delivers nothing onwards, and writes each
message to DIR/<UTC time>-<n>.eml so a person can open it in a mail program.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["register", "EmlFolderHandler", "serve"]


class EmlFolderHandler:
    """aiosmtpd handler: each accepted message becomes one .eml file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.counter = itertools.count(1)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = self.folder / f"{stamp}-{next(self.counter):04d}.eml"
        data = envelope.original_content or envelope.content
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data if isinstance(data, bytes) else str(data).encode("utf-8"))
        tmp.replace(path)
        return "250 Message accepted for delivery"


def serve(folder: Path, host: str, port: int) -> None:
    """Run until interrupted."""
    from aiosmtpd.controller import Controller

    controller = Controller(EmlFolderHandler(folder), hostname=host, port=port, decode_data=False)
    controller.start()
    print(f"mail catcher on smtp://{host}:{port}, writing messages to {folder}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        loop.run_until_complete(stop.wait())
    finally:
        controller.stop()
        loop.close()


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "mailcatcher",
        help="a local SMTP server that writes every message to a folder as .eml (demo)",
        description="A local SMTP server for demos and tests: accepts every message on localhost and "
                    "writes it as an .eml file; nothing is delivered onwards.",
    )
    parser.add_argument("--dir", type=Path, default=Path("var/mail"), help="where to write the .eml files")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=1025, help="port to listen on (default 1025)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print("netflow mailcatcher: error: listens on localhost only", file=sys.stderr)
        return 2
    serve(args.dir, args.host, args.port)
    return 0
