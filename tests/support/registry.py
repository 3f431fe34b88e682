"""A small Confluent-API schema registry in the test process, with injectable faults.

It answers the two endpoints the client uses exactly as the Confluent API documents them;
``outage`` makes it answer 503 to the next GETs (a registry restarting), ``texts`` serves
a given schema text for an id (a malformed schema).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["StubRegistry", "running_registry", "serve_registry"]


class StubRegistry:
    """Ids per distinct schema text, subjects with their versions, and a request log."""

    def __init__(self) -> None:
        self.schemas: list[str] = []
        self.subjects: dict[str, list[int]] = {}
        self.requests: list[str] = []
        self.refuse = False
        #: Answer 503 to this many GETs from now on.
        self.outage = 0
        #: Schema texts served for ids above the registered ones (malformed schemas).
        self.texts: dict[int, str] = {}


def _handler(registry: StubRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            registry.requests.append(f"POST {self.path}")
            parts = self.path.split("/")  # /subjects/<subject>/versions
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if registry.refuse:
                message = "Schema being registered is incompatible with an earlier schema"
                return self._answer(409, {"error_code": 409, "message": message})
            if body["schema"] not in registry.schemas:
                registry.schemas.append(body["schema"])
            schema_id = registry.schemas.index(body["schema"]) + 1
            registry.subjects.setdefault(parts[2], []).append(schema_id)
            return self._answer(200, {"id": schema_id})

        def do_GET(self) -> None:
            registry.requests.append(f"GET {self.path}")
            if registry.outage > 0:
                registry.outage -= 1
                return self._answer(503, {"error_code": 50301, "message": "restarting"})
            schema_id = int(self.path.rsplit("/", 1)[1])
            if schema_id in registry.texts:
                return self._answer(200, {"schema": registry.texts[schema_id]})
            if not 0 < schema_id <= len(registry.schemas):
                return self._answer(404, {"error_code": 40403, "message": "Schema not found"})
            return self._answer(200, {"schema": registry.schemas[schema_id - 1]})

    return Handler


def serve_registry(registry: StubRegistry) -> tuple[ThreadingHTTPServer, str]:
    """Serve ``registry`` on a free loopback port; the server and its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(registry))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@contextmanager
def running_registry() -> Iterator[tuple[StubRegistry, str]]:
    """A stub registry served for the block: the registry and its URL."""
    registry = StubRegistry()
    server, url = serve_registry(registry)
    try:
        yield registry, url
    finally:
        server.shutdown()
        server.server_close()
