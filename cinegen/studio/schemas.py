"""The studio's request bodies as OpenAPI documents them (for clients and fuzzing).

The routes validate through the library (`Storyboard.from_dict`), whose errors name the shot and
field; these models only describe the same bodies, with the same limits (`cinegen.limits`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from cinegen.limits import MAX_PROMPT_CHARS, MAX_SECONDS
from cinegen.service.schemas import inline_schema


class ShotBody(BaseModel):
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,32}$")
    prompt: str = Field(default="", max_length=MAX_PROMPT_CHARS)
    image: str | None = Field(default=None,
                              description="Set by the image upload route; send back what you got.")
    seconds: float = Field(default=2.0, gt=0, le=MAX_SECONDS)
    camera: Literal["static", "pan_left", "pan_right", "zoom_in", "zoom_out"] = "static"
    transition: Literal["cut", "dissolve"] = "cut"
    transition_seconds: float = Field(default=0.5, gt=0, le=5)
    seed: int | None = Field(default=None, ge=0, lt=2**31)


class StoryboardBody(BaseModel):
    title: str = Field(default="Untitled storyboard", min_length=1, max_length=200)
    style: str = Field(default="", max_length=MAX_PROMPT_CHARS)
    seed: int = Field(default=0, ge=0, lt=2**31)
    characters: list[str | dict[str, str]] = Field(
        default_factory=list, max_length=50,
        description='"Name: description" each, or {"name", "description", "character_id"}: an API character '
                    '(char_...) whose images render the shots that name it')
    shots: list[ShotBody] = Field(default_factory=list, max_length=200)
    fps: Literal[24, 25, 30, 48, 50, 60] = 24
    width: int = Field(default=176, ge=16, le=2048, multiple_of=2)
    height: int = Field(default=96, ge=16, le=2048, multiple_of=2)
    negative_prompt: str = Field(default="", max_length=MAX_PROMPT_CHARS)
    model: str = Field(default="", max_length=64,
                       description="A served model (GET /v1/models); '': the default")
    quality: str = Field(default="", max_length=32, description="A quality of that model; '': its default")


class GenerateBody(BaseModel):
    shot_ids: list[str] | None = Field(default=None, description="Only these shots (default: all)")


def doc(model: type[BaseModel], required: bool = True) -> dict[str, Any]:
    return {"requestBody": {"required": required,
                            "content": {"application/json": {"schema": inline_schema(model)}}}}
