"""Which kind of model a directory holds, read from its `model_index.json` `_class_name`.

`recognise(path)` is None for the built-in model (`CinegenPipeline`) and a `Family` for a
diffusers pipeline class a family file maps; anything else is refused naming what is known.
`describe(path)` is what `cinegen models` lists: nothing is loaded (parameter counts come from the
safetensors headers).
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import Any

from cinegen.families import cogvideox, hunyuan15, ltx, ltx2, skyreels, wan
from cinegen.families.family import Family, FamilyError

BUILTIN = "CinegenPipeline"
# _class_name -> (model_index.json, the directory) -> Family
BUILDERS: dict[str, Callable[[dict[str, Any], Path], Family]] = {
    **wan.FAMILIES, **cogvideox.FAMILIES, **ltx.FAMILIES, **skyreels.FAMILIES, **hunyuan15.FAMILIES,
    **ltx2.FAMILIES}
# Pipelines diffusers has that cinegen recognises but does not run yet, and why (refused naming it). None
# at present: LTX2ConditionPipeline runs (families/ltx2.py; it refuses only a backward extension itself).
NOT_YET: dict[str, str] = {}
LICENCE_NAMES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "LICENCE", "LICENCE.txt", "LICENCE.md")


def read_index(path: Path) -> dict[str, Any]:
    index = Path(path) / "model_index.json"
    if not index.exists():
        raise FileNotFoundError(f"no model at {path}: model_index.json is missing")
    try:
        meta = json.loads(index.read_text())
    except json.JSONDecodeError as e:
        raise FamilyError("model_unavailable", f"{index} is not valid JSON: {e}") from e
    if not isinstance(meta, dict):
        raise FamilyError("model_unavailable", f"{index} must hold a JSON object")
    return meta


def recognise(path: Path, meta: dict[str, Any] | None = None) -> Family | None:
    """None for the built-in model; the directory's Family; else a FamilyError naming the known classes."""
    meta = read_index(path) if meta is None else meta
    kind = meta.get("_class_name")
    if kind == BUILTIN:
        return None
    if kind in NOT_YET:
        raise FamilyError("unsupported_model",
                          f"{Path(path) / 'model_index.json'} names {kind!r}: {NOT_YET[kind]}")
    if kind not in BUILDERS:
        known = ", ".join([BUILTIN, *sorted(BUILDERS)])
        raise FamilyError("unknown_model", f"{Path(path) / 'model_index.json'} names {kind!r}, which cinegen "
                                           f"cannot run; known: {known}")
    return BUILDERS[str(kind)](meta, Path(path))


def licence_text(path: Path) -> str | None:
    """The licence a model directory ships (LICENSE, LICENCE, .txt/.md), or None."""
    for name in LICENCE_NAMES:
        if (Path(path) / name).is_file():
            return (Path(path) / name).read_text(errors="replace")
    return None


@dataclass(frozen=True)
class ModelEntry:
    """One model as `cinegen models` lists it."""

    name: str
    path: str
    family: str
    class_name: str
    variant: str
    modes: tuple[str, ...]
    sizes: str  # "multiples of 16 (default 832x480)" or the built-in model's list
    frames: str  # "4k+1" or "any"
    fps: int
    parameters: int
    bytes_on_disk: int
    licence: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def describe(path: Path) -> ModelEntry:
    path = Path(path)
    meta = read_index(path)
    family = recognise(path, meta)
    params, size = _weights(path)
    if family is None:
        from cinegen.mode import Mode

        sizes = ", ".join(f"{w}x{h}" for w, h in meta.get("sizes", []))
        return ModelEntry(str((meta.get("info") or {}).get("name") or path.name), str(path), "cinegen",
                          BUILTIN,
                          "built-in", tuple(m.value for m in Mode), sizes, "any", int(meta.get("native_fps",
                                                                                               16)),
                          params, size, licence_text(path))
    w, h = family.default_size
    rule = str(family.buckets) if family.buckets else f"multiples of {family.size_multiple}"
    return ModelEntry(path.name, str(path), family.name, family.class_name, family.variant,
                      tuple(m.value for m in family.modes),
                      f"{rule} (default {w}x{h})", str(family.frames),
                      family.fps,
                      params, size, licence_text(path))


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


def _weight_files(path: Path) -> list[Path]:
    return sorted(f for f in path.rglob("*") if f.suffix in WEIGHT_SUFFIXES and f.is_file())


def _weights(path: Path) -> tuple[int, int]:
    """(parameters in the safetensors files, bytes of all weight files) under `path`."""
    params = size = 0
    for f in _weight_files(path):
        size += f.stat().st_size
        if f.suffix == ".safetensors":
            params += _safetensors_parameters(f)
    return params, size


def weights_digest(path: Path) -> str:
    """SHA-256 over every weight file under `path` (relative name, then content, in name order): the
    weights' identity a manifest records. Reads every byte (about 1 s per GB here), once per load."""
    digest = hashlib.sha256()
    for f in _weight_files(path):
        digest.update(str(f.relative_to(path)).encode() + b"\0")
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()


def _safetensors_parameters(f: Path) -> int:
    with f.open("rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(n))
    return sum(prod(v["shape"]) for k, v in header.items() if k != "__metadata__")


def find_models(models_dir: Path | None, paths: list[Path]) -> list[Path]:
    """The model directories to list: each of `paths`, and every directory under `models_dir`
    (one level) that holds a model_index.json."""
    found = list(paths)
    if models_dir is not None:
        if not models_dir.is_dir():
            raise FileNotFoundError(f"models directory {models_dir} does not exist")
        found += sorted(p for p in models_dir.iterdir() if (p / "model_index.json").is_file())
    return found


def default_fps(path: Path) -> int:
    """The frame rate a model was trained at (its family's, or the built-in model's native_fps)."""
    meta = read_index(path)
    family = recognise(path, meta)
    return int(meta.get("native_fps", 16)) if family is None else family.fps
