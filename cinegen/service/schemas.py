"""Request and response schemas, split by role (create / public), with the limits in the schema.

The public shapes follow OpenAI's Videos API field for field so its SDK works unchanged; our
extensions (seed, fps, negative_prompt, mode, source videos, strength) are optional fields that
OpenAI clients never send and safely ignore when they come back.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from cinegen.limits import MAX_FPS, MAX_PROMPT_CHARS, MIN_FPS
from cinegen.mode import Mode

Status = Literal["queued", "in_progress", "completed", "failed"]
MAX_PROMPT = MAX_PROMPT_CHARS  # the pipeline's limit: the API never accepts a prompt it would refuse
VideoId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
Seconds = Annotated[
    StrictStr | StrictInt,
    Field(
        description="Clip length in whole seconds: a string like OpenAI's ('4') or an integer; 1..60.",
        examples=["4"],
    ),
]


ConsentGrantId = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$",
          description="A likeness consent grant (`cinegen consent grant` prints it); needed when the prompt "
          "names a "
                      "registered performer. Re-checked against the registry on every request.",
          examples=["cg_5f2c0a9e1b7d3c44"]),
]
CharacterId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
Project = Annotated[
    str,
    Field(min_length=1, max_length=200,
          description="The project this video is for; a consent grant covers only the projects it names "
                      "(default: the grant's only project)."),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Consent(_Strict):
    """Fields every generating request takes: the likeness consent it carries, and the model, quality
    and frame fitting it renders with."""

    consent_grant_id: ConsentGrantId | None = None
    project: Project | None = None
    model: str | None = Field(
        default=None, max_length=64,
        description="A served model (GET /v1/models); omitted: the first. A service with one model takes "
                    "any name here, as OpenAI clients send their own.")
    quality: str | None = Field(
        default=None, max_length=32, pattern=r"^[a-z0-9_\-]+$", examples=["fast"],
        description="A quality the model ships (GET /v1/models lists them): 'full', or a distilled "
                    "few-step student such as 'fast'; omitted: the model's default.")
    fit: StrictBool | None = Field(
        default=None,
        description="Open model families only: round the frame count and size to the nearest the family "
                    "takes (Wan's 4k+1 frames, say) instead of refusing them.")
    upscale: StrictBool | None = Field(
        default=None,
        description="Models that ship a latent upsampler only (GET /v1/models: `upscale`): render at half "
                    "the size and double it with the upsampler; `size` is the final size.")
    characters: list[CharacterId] | None = Field(
        default=None, max_length=4, examples=[["char_0123abcd"]],
        description="Your characters (POST /v1/videos/characters) whose images the video is rendered with "
                    "(a JSON list, or comma-separated in a multipart form); only for models that take "
                    "reference images (GET /v1/models: `references`).")


class VideoCreate(_Consent):
    """`POST /v1/videos` body (JSON, or multipart/form-data with an `input_reference` image)."""

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT, description="What the video shows.")
    seconds: Seconds | None = None
    size: str | None = Field(default=None, max_length=16, pattern=r"^[0-9]{1,5}x[0-9]{1,5}$",
                             examples=["128x128"])
    # --- cinegen extensions
    negative_prompt: str | None = Field(default=None, max_length=MAX_PROMPT)
    seed: StrictInt | None = Field(default=None, ge=0, le=2**31 - 1)
    fps: StrictInt | None = Field(default=None, ge=MIN_FPS, le=MAX_FPS)
    steps: StrictInt | None = Field(default=None, ge=1, le=200)
    guidance: StrictFloat | None = Field(default=None, ge=0.0, le=30.0)
    mode: Mode | None = Field(default=None, description="Generation mode; inferred when omitted.")
    video_ids: list[VideoId] | None = Field(
        default=None, max_length=8, description="Source videos for extend/connect/loop/edit/keyframes."
    )
    strength: StrictFloat | None = Field(default=None, ge=0.0, le=1.0)
    extend_prompt: StrictBool | None = Field(
        default=None,
        description="Let the model's prompt extender rewrite the prompt into its caption language (default "
        "true; "
        "false gives the model the words as written).",
    )
    plan: dict[str, Any] | str | None = Field(
        default=None,
        description="A shot plan (JSON object, or its text in a multipart form; `cinegen plan` writes "
        "one): where each object is, frame by frame. Omitted: the model's planner plans the prompt. "
        "Its seconds must match the video's.",
    )
    use_plan: StrictBool | None = Field(default=None,
                                        description="false: text only, no shot plan (default true).")
    path: str | None = Field(
        default=None, max_length=4000, examples=["0.1,0.5 0.5,0.2 0.9,0.5"],
        description="Move the first object along these points at constant speed: 'x,y' pairs separated "
        "by spaces, x in frame widths from the left edge, y in frame heights from the top edge "
        "(at least two).",
    )


class VideoRemix(_Consent):
    """`POST /v1/videos/{id}/remix` body: a new prompt for a completed video."""

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT)
    negative_prompt: str | None = Field(default=None, max_length=MAX_PROMPT)
    seed: StrictInt | None = Field(default=None, ge=0, le=2**31 - 1)
    strength: StrictFloat | None = Field(default=None, ge=0.0, le=1.0)


class VideoRef(_Strict):
    id: VideoId


class VideoExtend(_Consent):
    """`POST /v1/videos/extensions` (the SDK's `videos.extend`): continue a completed video, or the
    caller's own clip uploaded as the multipart file `video`."""

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT)
    seconds: Seconds
    video: VideoRef | None = Field(default=None, description="A completed video by id (or upload a file).")
    seed: StrictInt | None = Field(default=None, ge=0, le=2**31 - 1)


class VideoEdit(_Consent):
    """`POST /v1/videos/edits` (the SDK's `videos.edit`): re-render a completed video, or the
    caller's own clip uploaded as the multipart file `video`."""

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT)
    video: VideoRef | None = Field(default=None, description="A completed video by id (or upload a file).")
    strength: StrictFloat | None = Field(default=None, ge=0.0, le=1.0)
    seed: StrictInt | None = Field(default=None, ge=0, le=2**31 - 1)


class VideoError(BaseModel):
    code: str
    message: str


class Video(BaseModel):
    """The video object, as OpenAI's, plus optional cinegen fields."""

    id: str
    object: Literal["video"] = "video"
    model: str
    status: Status
    progress: int = Field(ge=0, le=100)
    created_at: int
    completed_at: int | None = None
    expires_at: int | None = None
    prompt: str | None = None
    seconds: str
    size: str
    remixed_from_video_id: str | None = None
    error: VideoError | None = None
    # --- extensions
    mode: str | None = None
    seed: int | None = None
    fps: int | None = None
    negative_prompt: str | None = None
    cancel_requested: bool = False
    has_plan: bool = Field(default=False, description="A shot plan is readable at GET /v1/videos/{id}/plan.")
    timings: dict[str, float] | None = Field(
        default=None,
        description="Completed videos: seconds per generation stage (moderation, model_load, text, denoise, "
                    "vae_decode, publish, previews, total, ...), as the worker measured them.")


class VideoList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Video]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False


class VideoDeleted(BaseModel):
    id: str
    object: Literal["video.deleted"] = "video.deleted"
    deleted: bool = True


class CharacterCreate(_Strict):
    """`POST /v1/videos/characters` form fields (multipart, with a `video` clip or 1..4 `images`)."""

    name: str = Field(min_length=1, max_length=80, description="The character's name; moderated as a prompt "
                      "(a registered performer's name needs a consent grant).")
    consent_grant_id: ConsentGrantId | None = None
    project: Project | None = None


class VideoCharacter(BaseModel):
    """A named set of reference images (the SDK's `videos.create_character` / `get_character`)."""

    id: str
    object: Literal["video.character"] = "video.character"
    name: str
    created_at: int
    images: int = Field(description="How many reference images the character holds (1..4).")


class VideoCharacterList(BaseModel):
    object: Literal["list"] = "list"
    data: list[VideoCharacter]


class VideoCharacterDeleted(BaseModel):
    id: str
    object: Literal["video.character.deleted"] = "video.character.deleted"
    deleted: bool = True


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str


class ErrorResponse(BaseModel):
    error: ErrorBody


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with every `$ref` replaced by the definition it names, so the schema
    stands alone wherever it is placed in the OpenAPI document (pydantic's `#/$defs/...` refs
    dangle once the schema is nested under a path's requestBody)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, list):
            return [inline(v) for v in node]
        if not isinstance(node, dict):
            return node
        out = {k: inline(v) for k, v in node.items() if k != "$ref"}
        if "$ref" in node:
            out = {**inline(defs[node["$ref"].rsplit("/", 1)[-1]]), **out}
        return out

    result: dict[str, Any] = inline(schema)
    return result


def multipart_schema(model: type[BaseModel], files: tuple[str, ...]) -> dict[str, Any]:
    """The model's JSON schema as a multipart/form-data body with binary file fields."""
    schema = inline_schema(model)
    props = {k: v for k, v in schema.get("properties", {}).items() if k not in ("video_ids", "video")}
    for f in files:
        what = ("A video file (MP4/MOV/WebM, H.264/HEVC/VP9/AV1)" if f == "video"
                else "An image file (PNG, JPEG or WebP)")
        props[f] = {"type": "string", "format": "binary", "description": what + "."}
    return {"type": "object", "properties": props, "required": schema.get("required", [])}
