"""`GET /v1/models` and `GET /v1/models/{id}`: the served models (`served_models.py`), listed as
OpenAI's models endpoint lists them, with what each can do."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from cinegen.service.errors import ApiError
from cinegen.service.videos import principal, service

router = APIRouter()


@router.get("/v1/models")
def list_models(request: Request) -> dict[str, Any]:
    principal(request)
    return {"object": "list", "data": [m.to_openai() for m in service(request).models.values()]}


@router.get("/v1/models/{model_id}")
def get_model(request: Request, model_id: str) -> dict[str, Any]:
    principal(request)
    served = service(request).models
    if model_id not in served:
        raise ApiError(404, "model_not_found", f"no model {model_id!r} is served here", "model_id")
    return dict(served[model_id].to_openai())
