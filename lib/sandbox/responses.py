"""The contract's response bodies (docs/contract.md, "Environments and sign-in" / "Sessions" / "Refusals"), shared by every part of the sandbox."""
from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from starlette.responses import Response

from lib.common.jsonutil import dumps
from lib.fields.validation import Problem

VALIDATION_TITLE = "Your request parameters did not pass our validation."

# status → (error_type, title), docs/contract.md, "Refusals"; other codes fall back to the HTTP reason phrase.
ERRORS: dict[int, tuple[str, str]] = {
    401: ("unauthorized", "Authentication with the API failed, please check your details and try again."),
    403: ("forbidden", "You do not have access to the requested resource, please check your details and try again."),
    404: ("not_found", "Unable to find the requested resource, please check your request and try again."),
    409: ("conflict", "There was a conflict when trying to complete your request."),
    # Ours: the documented error types include bad_request; the title names the limit (see the app).
    413: ("bad_request", "The request body is too large."),
    500: ("internal_server_error", "An error occurred, we are investigating the reason."),
}


class JSONBody(Response):
    """JSON written by ``lib.common.jsonutil.dumps``, so Decimal amounts go out as exact JSON numbers."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content).encode("utf-8")


def error_response(status: int, instance: str, headers: Mapping[str, str] | None = None, *,
                   title: str | None = None) -> JSONBody:
    """The error body (docs/contract.md, "Refusals") for ``status``; ``instance`` is the request path, as the API reports it.
    ``title`` replaces the standard one where the answer must say more (a size limit)."""
    error_type, standard = ERRORS.get(status) or _fallback(status)
    title = title or standard
    body = {"status": "error", "error_type": error_type, "title": title, "instance": instance}
    return JSONBody(body, status_code=status, headers=headers)


def validation_response(instance: str, problems: list[Problem]) -> JSONBody:
    """The 400 body (docs/contract.md, "Refusals") listing every problem at once."""
    body = {"status": "error", "error_type": "validation", "title": VALIDATION_TITLE,
            "instance": instance, "invalid_parameters": problems}
    return JSONBody(body, status_code=400)


def _fallback(status: int) -> tuple[str, str]:
    phrase = HTTPStatus(status).phrase
    return phrase.lower().replace(" ", "_").replace("-", "_"), f"{phrase}."


def conflict_response(instance: str, problems: list[Problem]) -> JSONBody:
    """The 409 body (docs/contract.md, "Payments"): a refusal for the state of a transaction or a
    session, naming the field as a validation refusal does."""
    error_type, title = ERRORS[409]
    body = {"status": "error", "error_type": error_type, "title": title, "instance": instance,
            "invalid_parameters": problems}
    return JSONBody(body, status_code=409)
