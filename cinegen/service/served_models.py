"""The models a service serves: one or several, named, each a model directory (`cinegen serve --model
NAME=PATH ...`, or `CINEGEN_MODELS="name=path,name=path"`); without them, the pipeline backend's
one model under the service's `model_name`.

At start the catalogue reads each directory's `model_index.json` (nothing is loaded here: workers
load weights) for what requests are checked against before anything is queued: the modes the
model's family can do and the qualities it ships. `GET /v1/models` lists the catalogue as OpenAI's
models endpoint does, with cinegen's extras; the `model` field of a create picks one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cinegen.mode import SERVICE_MODES
from cinegen.pipeline.quality import FULL, declared_qualities
from cinegen.service.errors import ApiError
from cinegen.service.settings import Settings


@dataclass(frozen=True)
class ServedModel:
    name: str
    path: Path | None  # None: a backend without a model directory (the fake one)
    family: str
    modes: tuple[str, ...]
    sizes: tuple[str, ...]  # "WxH", the default first
    qualities: tuple[str, ...]
    default_quality: str
    created: int  # unix time of the model_index.json
    family_rules: Any = field(default=None, compare=False)  # an open family's Family (frame rules)
    references: bool = False  # its family takes reference images (Wan VACE): jobs may name characters
    upscale: bool = False  # its directory ships a latent upsampler: jobs may ask for `upscale`

    def to_openai(self) -> dict[str, Any]:
        return {"id": self.name, "object": "model", "created": self.created, "owned_by": "cinegen",
                "family": self.family, "modes": list(self.modes), "sizes": list(self.sizes),
                "qualities": list(self.qualities),
                "default_quality": self.default_quality, "references": self.references,
                "upscale": self.upscale}


def model_paths(settings: Settings) -> dict[str, Path]:
    """Name -> model directory for the pipeline backend (the `models` setting, else its one model)."""
    from cinegen import paths

    if settings.models:
        return {name: paths.model_dir(p) for name, p in settings.models.items()}
    return {settings.model_name: paths.model_dir(settings.backend_options.get("model_dir"))}


def catalogue(settings: Settings, offered: tuple[str, ...]) -> dict[str, ServedModel]:
    """The served models, the default first. A directory that is missing or that no family reads
    fails the start (ValueError naming it), not the first request. `offered`: the sizes the service
    offers for its backend; a model serves those it can render (the built-in model: those of its own
    sizes that are offered, else its own; a family: its default size and the configured sizes that
    fit its rule)."""
    if settings.backend != "pipeline":
        if settings.models:
            raise ValueError(f"--model serves model directories; it needs the pipeline backend, not "
                             f"{settings.backend!r}")
        modes = tuple(str(m) for m in SERVICE_MODES)
        return {settings.model_name: ServedModel(settings.model_name, None, settings.backend, modes,
                                                 offered, (FULL,), FULL, 0)}
    from cinegen.families.family import FamilyError
    from cinegen.families.registry import describe, read_index, recognise

    served = {}
    for name, path in model_paths(settings).items():
        try:
            entry, meta = describe(path), read_index(path)
            qualities, default = declared_qualities(meta)
            family = recognise(path, meta)
        except (FileNotFoundError, FamilyError, ValueError) as e:
            raise ValueError(f"model {name!r} at {path} cannot be served: {e}") from e
        if family is None:
            own = tuple(f"{w}x{h}" for w, h in meta.get("sizes", []))
            sizes = tuple(s for s in own if s in offered) or own
        else:
            w, h = family.default_size
            fits = [s for s in settings.sizes if _fits(family, s)]
            sizes = tuple(dict.fromkeys([f"{w}x{h}", *fits]))
        modes = tuple(m for m in entry.modes if m in {str(s) for s in SERVICE_MODES})
        served[name] = ServedModel(name, path, entry.family, modes, sizes, qualities, default,
                                   int((path / "model_index.json").stat().st_mtime), family,
                                   references=family is not None and family.references,
                                   upscale=family is not None and family.upsampler is not None)
    return served


def check_model_settings(settings: Settings, served: dict[str, ServedModel], *,
                         libraries: bool = True) -> None:
    """Refuse at start (a ValueError naming it: `cinegen serve` exits 2) a device, dtype or switch that
    cannot take effect: on a backend other than the pipeline one, switches with no open-family model
    among the served ones (the built-in model is loaded without them), and, where `libraries` (this
    node runs workers), what `cinegen generate` refuses before a load (a missing accelerate or peft,
    offload on a CPU, a LoRA file that is not there, quantisation)."""
    switches = settings.switches()
    asked = [k for k in ("device", "dtype") if getattr(settings, k) is not None]
    asked += [f"switches ({', '.join(switches.describe())})"] if switches is not None else []
    if asked and settings.backend != "pipeline":
        raise ValueError(f"{' and '.join(asked)} are settings of the pipeline backend, not of backend "
                         f"{settings.backend!r}")
    if switches is None:
        return
    if all(m.family_rules is None for m in served.values()):
        raise ValueError(f"the memory and speed switches ({', '.join(switches.describe())}) apply to open-"
                         f"family models, and none of the served models ({', '.join(served)}) is one (the "
                         "built-in model takes none)")
    if libraries:
        from cinegen.families.family import FamilyError
        from cinegen.families.switches import check_before_load

        try:
            check_before_load(switches, settings.backend_device)
        except FamilyError as e:
            raise ValueError(f"cannot serve with these switches: {e}") from e


def _fits(family: Any, size: str) -> bool:
    from cinegen.families.family import FamilyError
    from cinegen.service.settings import parse_size

    try:
        family.check_size(*parse_size(size))
    except (FamilyError, ValueError):
        return False
    return True


def pick(served: dict[str, ServedModel], settings: Settings, requested: str | None) -> ServedModel:
    """The model a request names. With one model and no `models` setting any name is taken (OpenAI
    clients send their own model names); with several, an unknown name is a 400 listing them."""
    default = next(iter(served.values()))
    if requested is None or requested in served:
        return served[requested] if requested else default
    if not settings.models:
        return default
    raise ApiError(400, "unknown_model", f"model {requested!r} is not served here; choose from "
                   f"{', '.join(served)}", "model")


def check_mode(model: ServedModel, mode: str) -> None:
    if mode not in model.modes:
        raise ApiError(400, "unsupported_mode", f"model {model.name!r} ({model.family}) cannot do mode "
                       f"{mode!r}; it can do {', '.join(model.modes)}", "mode")


def check_references(served: dict[str, ServedModel], model: ServedModel) -> None:
    """400 `references_unsupported` when a request names characters for a model whose family takes no
    reference images, naming the served models that do."""
    if model.references:
        return
    takers = [m.name for m in served.values() if m.references]
    where = f"use one of: {', '.join(takers)}" if takers else "no model served here takes them"
    raise ApiError(400, "references_unsupported", f"model {model.name!r} ({model.family}) takes no reference "
                   f"images, so it cannot render characters; {where}", "characters")


def check_request(model: ServedModel, mode: str, quality: str | None, size: str, frames: int,
                  fps: int, fit: bool, upscale: bool = False) -> None:
    """400 for a mode the model's family cannot do, a quality it does not ship, a size it does not
    render or a frame count it cannot take (unless the request asks to fit it), naming what it has;
    and for `upscale` where the model ships no latent upsampler (or the size's half is not one it takes)."""
    from cinegen.families.family import FamilyError

    if upscale:
        check_upscale(model, size, fit)

    if model.family_rules is not None and mode != "still":
        try:
            model.family_rules.check_frames(frames, fps, fit=fit)
        except FamilyError as e:
            message = str(e).replace("(or ask to fit, --fit)", "(or send fit: true)")
            raise ApiError(400, "invalid_frames", message, "seconds") from None
    if size not in model.sizes:
        raise ApiError(400, "invalid_size", f"model {model.name!r} does not render {size}; use one of "
                       f"{', '.join(model.sizes)}", "size")
    check_mode(model, mode)
    if quality is not None and quality not in model.qualities:
        raise ApiError(400, "invalid_quality", f"model {model.name!r} has no quality {quality!r}; choose "
                       f"from {', '.join(model.qualities)}", "quality")


def check_upscale(model: ServedModel, size: str, fit: bool) -> None:
    """400 `upscale_unsupported` for a model without a latent upsampler, naming the field; 400
    `invalid_size` for a final size whose half the family does not take (unless `fit`)."""
    from cinegen.families.family import FamilyError
    from cinegen.families.upscale import base_size
    from cinegen.service.settings import parse_size

    if not model.upscale:
        raise ApiError(400, "upscale_unsupported", f"model {model.name!r} ({model.family}) ships no latent "
                       "upsampler, so it cannot upscale (an LTX-Video or LTX-2 directory with a "
                       "latent_upsampler/ folder can; GET /v1/models: `upscale`)", "upscale")
    try:
        base_size(model.family_rules, *parse_size(size), fit=fit)
    except FamilyError as e:
        raise ApiError(400, "invalid_size", str(e).replace("(or ask to fit, --fit)", "(or send fit: true)"),
                       "size") from None
