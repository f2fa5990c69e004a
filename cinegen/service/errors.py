"""The error envelope, in one place: OpenAI's `{"error": {message, type, param, code}}`.

`ApiError` is any 4xx (or 5xx) a route raises; `error_json` builds the body; `install_handlers`
renders ApiError, request-validation errors and Starlette's 404/405 in it for the whole app, the
studio's routes included (the studio raises ApiError too).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from cinegen.service.metrics import Metrics

log = logging.getLogger(__name__)

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
               405: "invalid_request_error", 409: "conflict_error", 413: "invalid_request_error",
               415: "invalid_request_error",
               422: "invalid_request_error", 429: "rate_limit_error"}


def error_json(status: int, code: str, message: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": ERROR_TYPES.get(status, "server_error"), "param": param,
                      "code": code}}


def error_response(status: int, code: str, message: str, param: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_json(status, code, message, param), status, headers=headers)


class ApiError(Exception):
    """Any 4xx: rendered as OpenAI's `{"error": {message, type, param, code}}`."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param
        self.headers = headers or {}


def install_handlers(app: FastAPI, metrics: Metrics) -> None:
    @app.middleware("http")
    async def timing(request: Request, call_next: Callable[[Request], Any]) -> Response:
        t0 = time.perf_counter()
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in request.scope.get("path", "")):
            # control characters (NUL included) in a decoded path are never a valid id or route
            bad = JSONResponse(error_json(400, "invalid_path", "the path contains control characters"), 400)
            metrics.request(400, time.perf_counter() - t0)
            return bad
        try:
            response: Response = await call_next(request)
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            response = JSONResponse(error_json(500, "internal_error", "internal server error"), 500)
        metrics.request(response.status_code, time.perf_counter() - t0)
        return response

    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError) -> JSONResponse:
        return JSONResponse(error_json(e.status, e.code, e.message, e.param), e.status, headers=e.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, e: RequestValidationError) -> JSONResponse:
        err = e.errors()[0] if e.errors() else {"loc": (), "msg": "invalid request"}
        field = str(err["loc"][-1]) if err.get("loc") else None
        code = f"invalid_{field}" if field and field.isidentifier() else "invalid_request"
        return JSONResponse(error_json(400, code, f"{field}: {err['msg']}", field), 400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(e.status_code, "http_error")
        headers = dict(e.headers or {})
        if e.status_code == 405:  # RFC 9110: name every method of the path (Starlette names one route's)
            headers["Allow"] = ", ".join(allowed_methods(request))
        return JSONResponse(error_json(e.status_code, code, str(e.detail)), e.status_code, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """The methods the app's routes accept at this request's path (each asked through the routes'
    public `matches`, which sees through included routers)."""
    from starlette.routing import Match

    routes = request.app.router.routes
    return [m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
            if any(r.matches({**request.scope, "method": m})[0] is Match.FULL for r in routes)]


def from_validation(e: ValidationError, model: type[BaseModel] | None = None) -> ApiError:
    """The first validation error as an ApiError naming the field, what it must be (read from the
    model's schema: type, range, length, choices) and what it got; never pydantic's own path."""
    err = e.errors()[0]
    loc = [str(x) for x in err.get("loc", ())]
    field = loc[0] if loc else None
    if err.get("type") == "extra_forbidden":
        return ApiError(400, "unknown_parameter", f"unknown parameter {'.'.join(loc)[:100]!r}", field)
    if err.get("type") == "missing":
        return ApiError(400, f"missing_{field}", f"{'.'.join(loc)} is required", field)
    if model is None or field is None:
        return ApiError(400, f"invalid_{field}" if field else "invalid_request",
                        f"{'.'.join(loc)}: {err['msg']}", field)
    name, expected = expectation(model.model_json_schema(), loc)
    got = repr(err.get("input"))
    got = got if len(got) <= 60 else got[:57] + "..."
    return ApiError(400, f"invalid_{field}", f"{name} must be {expected}, got {got}", field)


_TYPES = {"integer": "an integer", "number": "a number", "string": "a string", "boolean": "true or false",
          "object": "an object", "array": "a list", "null": "null"}


def expectation(schema: dict[str, Any], loc: list[str]) -> tuple[str, str]:
    """(the field's dotted name, what it must be in words) for a validation error at `loc`,
    following the schema's properties and `$defs` as far as `loc` names them."""
    defs = schema.get("$defs", {})

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("$ref", "")
        return resolve(defs.get(ref.rsplit("/", 1)[-1], {})) if ref else node

    def flat(node: dict[str, Any]) -> list[dict[str, Any]]:
        node = resolve(node)
        return [leaf for o in node["anyOf"] for leaf in flat(o)] if "anyOf" in node else [node]

    node, name = schema, ""
    for part in loc:
        options = flat(node)
        if part.isdigit() and any("items" in o for o in options):
            node, name = next(o["items"] for o in options if "items" in o), f"{name}[{part}]"
            continue
        nxt = next((o["properties"][part] for o in options if part in o.get("properties", {})), None)
        if nxt is None:
            break
        node, name = nxt, f"{name}.{part}" if name else part
    options = [o for o in flat(node) if o.get("type") != "null"]
    return name or (loc[0] if loc else "body"), " or ".join(_describe(o) for o in options)


def _describe(node: dict[str, Any]) -> str:
    if "enum" in node:
        return "one of " + ", ".join(repr(v) for v in node["enum"])
    if "const" in node:
        return repr(node["const"])
    text = _TYPES.get(node.get("type", ""), "valid")
    lo = node.get("minimum", node.get("exclusiveMinimum"))
    hi = node.get("maximum", node.get("exclusiveMaximum"))
    if lo is not None or hi is not None:
        text += f" in {'' if lo is None else lo}..{'' if hi is None else hi}"
        text += " (exclusive)" if "exclusiveMinimum" in node or "exclusiveMaximum" in node else ""
    if "maxLength" in node or "minLength" in node:
        text += f" of {node.get('minLength', 0)}..{node.get('maxLength', '')} characters"
    if "maxItems" in node:
        text += f" of at most {node['maxItems']} items"
    if "pattern" in node:
        text += f" matching {node['pattern']}"
    return text
