"""The Request class of every route: Litestar's, with JSON bodies that fail the way bad input does.

msgspec decodes a JSON body without a depth limit of its own; nesting deeper than the
interpreter's recursion limit (a few kilobytes of `[[[[`) raises RecursionError, which no
framework handler expects: it became a 500 with a traceback in the log. Here it is wrapped where
it enters, into the 400 every other malformed body gets.
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from server.domain.errors import BadRequestError


class TetherRequest(Request[Any, Any, Any]):
    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError as exc:
            raise BadRequestError("the JSON body is nested too deeply") from exc
