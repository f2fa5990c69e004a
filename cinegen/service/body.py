"""Reading a request at the edge: JSON or multipart bodies (capped before parsing), the pydantic
schema, and the checks on fields whose limits come from the settings (seconds, size, prompt,
uploaded images). Every failure is an `ApiError` naming the field.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.formparsers import MultiPartParser

from cinegen.service import strict_json
from cinegen.service.errors import ApiError, from_validation
from cinegen.service.settings import Settings

INT_FIELDS = ("seed", "fps", "steps")
FLOAT_FIELDS = ("guidance", "strength")
BOOL_FIELDS = ("extend_prompt", "use_plan", "fit", "upscale")
# What a form field may hold for a number: ASCII digits only (`int()` also takes '٣' and '𝟒').
_INT_TEXT = re.compile(r"-?[0-9]{1,12}")
_FLOAT_TEXT = re.compile(r"-?[0-9]{1,12}(\.[0-9]{0,12})?([eE][-+]?[0-9]{1,3})?")
IMAGE_FORMATS = {"PNG", "JPEG", "WEBP"}
JSON_BODY_LIMIT = 256 * 1024


@dataclass
class Upload:
    data: bytes
    filename: str
    content_type: str


class _InMemoryMultiPartParser(MultiPartParser):
    """Starlette's parser, keeping parts in memory (bodies are capped before parsing), so uploads
    never spill to the system temp directory: the service writes only under its data directory."""

    spool_max_size = 64 * 1024 * 1024


async def _read_capped(request: Request, limit: int, code: str, message: str, declared: int) -> bytes:
    """The whole body, refusing (413) as soon as it exceeds `limit`, declared or streamed."""
    if declared > limit:
        raise ApiError(413, code, message)
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > limit:
            raise ApiError(413, code, message)
    return bytes(buf)


def _declared_length(request: Request) -> int:
    try:
        return int(request.headers.get("content-length", "0") or 0)
    except ValueError:
        raise ApiError(400, "invalid_content_length", "Content-Length is not a number") from None


async def read_json(request: Request, limit: int = JSON_BODY_LIMIT,
                    empty: dict[str, Any] | None = None) -> dict[str, Any]:
    """A JSON object body, read only up to `limit` bytes and parsed strictly (`parse_json_object`).
    An empty body answers `empty` (None: refused). Call it after authenticating the caller."""
    raw = await _read_capped(request, limit, "request_too_large", f"JSON bodies are limited to {limit} bytes",
                             _declared_length(request))
    if not raw.strip():
        if empty is None:
            raise ApiError(400, "invalid_json", "the body is empty; send a JSON object")
        return dict(empty)
    return parse_json_object(raw)


async def read_body(request: Request, max_upload_bytes: int, *, repeatable: str = "",
                    max_files: int = 2) -> tuple[dict[str, Any], dict[str, Upload]]:
    """The request body as fields (+ uploaded files), for JSON and multipart/form-data alike.
    The file field named `repeatable` (also sent as `name[]`) may come several times (up to
    `max_files` files in all): its files are keyed `name[0]`, `name[1]`, ... in the order sent."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    length = _declared_length(request)
    if ctype == "application/json" or (ctype == "" and length == 0):
        return await read_json(request, empty={}), {}
    if ctype == "multipart/form-data":
        limit = max_upload_bytes
        raw = await _read_capped(request, limit + JSON_BODY_LIMIT, "file_too_large",
                                 f"uploads are limited to {limit} bytes", length)

        async def body() -> AsyncGenerator[bytes, None]:
            yield raw
            yield b""

        try:
            parser = _InMemoryMultiPartParser(request.headers, body(), max_files=max_files, max_fields=64,
                                              max_part_size=JSON_BODY_LIMIT)
            form = await parser.parse()
        except Exception as e:  # starlette raises several kinds for malformed multipart
            raise ApiError(400, "invalid_multipart", f"cannot parse multipart body: {e}") from None
        fields: dict[str, Any] = {}
        files: dict[str, Upload] = {}
        try:
            for name, value in form.multi_items():
                if isinstance(value, str):
                    if name in ("video_ids", "video_ids[]", "characters", "characters[]"):
                        key = name.removesuffix("[]")
                        fields.setdefault(key, []).extend(v.strip() for v in value.split(",") if v.strip())
                    elif name == "video[id]":
                        fields["video"] = {"id": value}
                    else:
                        fields[name] = value
                else:
                    data = await value.read(limit + 1)
                    if len(data) > limit:
                        raise ApiError(413, "file_too_large", f"uploads are limited to {limit} bytes", name)
                    if repeatable and name.removesuffix("[]") == repeatable:
                        name = f"{repeatable}[{sum(k.startswith(repeatable + '[') for k in files)}]"
                    files[name] = Upload(data, value.filename or "", value.content_type or "")
        finally:
            await form.close()
        return typed_form_fields(fields), files
    raise ApiError(415, "unsupported_media_type", "send application/json or multipart/form-data")


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """A JSON body that must be an object: depth and number size capped (`strict_json`); a field
    holding an over-long number is refused naming the field."""
    try:
        body = strict_json.loads(raw)
    except strict_json.JsonRefused as e:
        raise ApiError(400, "invalid_json", str(e)) from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the JSON body must be an object")
    huge = strict_json.huge_field(body)
    if huge is not None:
        field, number = huge
        code = f"invalid_{field}" if field.isidentifier() and len(field) <= 40 else "invalid_json"
        raise ApiError(400, code, f"{field} holds {number!r}; numbers are limited to "
                       f"{strict_json.MAX_INT_DIGITS} digits", field[:100])
    return body


def typed_form_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Form fields are text: numbers must be ASCII digits, flags `true`/`false`, a plan JSON text
    within the JSON limits. Converted to the types the JSON body would carry."""
    out = dict(fields)
    for names, pattern, cast, what in ((INT_FIELDS, _INT_TEXT, int, "an integer"),
                                       (FLOAT_FIELDS, _FLOAT_TEXT, float, "a number")):
        for f in (f for f in names if f in out):
            if not pattern.fullmatch(out[f]):
                raise ApiError(400, f"invalid_{f}", f"{f} must be {what} written in ASCII digits, "
                               f"got {out[f][:40]!r}", f)
            out[f] = cast(out[f])
    for f in (f for f in BOOL_FIELDS if f in out):
        if out[f] not in ("true", "false"):
            raise ApiError(400, f"invalid_{f}", f"{f} must be true or false, got {out[f][:40]!r}", f)
        out[f] = out[f] == "true"
    if isinstance(out.get("plan"), str):
        try:
            strict_json.loads(out["plan"])
        except strict_json.JsonRefused as e:
            raise ApiError(400, "invalid_plan", f"plan: {e}", "plan") from None
    return out


def validate(model: type[BaseModel], fields: dict[str, Any]) -> Any:
    try:
        return model.model_validate(fields)
    except ValidationError as e:
        raise from_validation(e, model) from None


def check_seconds(value: str | int | None, s: Settings) -> int:
    if value is None:
        return s.default_seconds
    in_range = f"seconds must be in {s.min_seconds}..{s.max_seconds}"
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ApiError(400, "invalid_seconds", f"seconds must be a whole number of seconds as a string "
                       f"('4') or an integer, got {value!r}", "seconds")
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[0-9]+", text):  # ASCII digits only: str.isdigit() takes '²' and '٣'
            raise ApiError(400, "invalid_seconds", f"seconds must be a whole number of seconds in ASCII "
                           f"digits, got {value[:40]!r}", "seconds")
        if len(text) > 6:
            raise ApiError(400, "invalid_seconds", f"{in_range}, got {text[:40]}", "seconds")
        value = int(text)
    if not s.min_seconds <= value <= s.max_seconds:
        raise ApiError(400, "invalid_seconds", f"{in_range}, got {value}", "seconds")
    return value


def check_size(value: str | None, sizes: tuple[str, ...], default: str) -> str:
    if value is None:
        return default
    if value not in sizes:
        raise ApiError(400, "invalid_size", f"size {value!r} is not offered; use one of {', '.join(sizes)}",
                       "size")
    return value


def check_prompt(value: str, s: Settings, field: str = "prompt") -> str:
    p = value.strip()
    if not p:
        raise ApiError(400, f"invalid_{field}", f"{field} is empty", field)
    if len(p) > s.max_prompt_chars:
        raise ApiError(400, f"invalid_{field}", f"{field} exceeds {s.max_prompt_chars} characters", field)
    if "\x00" in p:
        raise ApiError(400, f"invalid_{field}", f"{field} contains a NUL character", field)
    return p


def inspect_image(data: bytes, settings: Settings, field: str = "input_reference") -> Any:
    """Decode an uploaded image fully, refusing bombs, truncation and non-images (errors name `field`).
    Returns RGB PIL."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ApiError(400, "invalid_image", f"{field} is empty", field)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            if im.format not in IMAGE_FORMATS:
                raise ApiError(400, "invalid_image",
                               f"{field} must be PNG, JPEG or WebP, got {im.format}",
                               field)
            w, h = im.size
            if w * h > settings.max_upload_pixels or w > 16384 or h > 16384:
                raise ApiError(400, "image_too_large", f"{field} is {w}x{h}; the limit is "
                               f"{settings.max_upload_pixels} pixels", field)
            im.load()
            return im.convert("RGB")
    except ApiError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ApiError(400, "image_too_large", f"{field} is a decompression bomb",
                       field) from None
    except UnidentifiedImageError:
        raise ApiError(400, "invalid_image", f"{field} is not an image", field) from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ApiError(400, "invalid_image", f"{field} is truncated or corrupt: {e}",
                       field) from None


