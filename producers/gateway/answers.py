"""How the gateway writes JSON answers."""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse

__all__ = ["GatewayJSONResponse"]


class GatewayJSONResponse(JSONResponse):
    """JSON with Vietnamese text kept readable; text that is not valid Unicode (a lone
    surrogate a client sent as ``"\\ud800"``, echoed in a reason) falls back to ``\\u``
    escapes instead of failing the answer."""

    def render(self, content: Any) -> bytes:
        try:
            return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")
