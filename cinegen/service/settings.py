"""The service's settings: one frozen object, read once from flags and the environment.

Everything the service writes lives under `data_dir` (job store, inputs, videos, keys), chosen by
the one rule in `cinegen.paths`: `--data-dir`, else `$CINEGEN_HOME`, else a per-user default. This object is
the service's one
global; every component receives it explicitly.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cinegen import paths
from cinegen.config import config_from_dict
from cinegen.limits import MAX_PROMPT_CHARS, MAX_SECONDS

if TYPE_CHECKING:  # the settings module stays light (switches.py imports torch)
    from cinegen.families.switches import Switches

# The union of what the built-in backends render; each backend narrows it to its own `SIZES`
# (the fake backend: 128x128, 192x112, 112x192; the shipped model: 128x128, 176x96, 96x176).
DEFAULT_SIZES: tuple[str, ...] = ("128x128", "192x112", "112x192", "176x96", "96x176")
# Accepted only when the backend declares it can render them (the built-in model cannot).
LARGE_SIZES: tuple[str, ...] = ("1280x720", "720x1280")
DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class Settings:
    """How one service node runs. Unknown keys raise (`Settings.from_dict`)."""

    data_dir: Path = field(default_factory=paths.data_dir)
    host: str = "127.0.0.1"
    port: int = 8000
    # --- execution
    executor: str = "local"  # "local" (process pool) or "ray" (Ray actors)
    workers: int = 1  # worker processes / actors: one per device
    gpus_per_worker: float = 0.0  # Ray resource request per actor (1.0 on a GPU cluster)
    ray_address: str | None = None  # None: start or join a local Ray head
    backend: str = "fake"  # "fake" or "pipeline"; loaded lazily once per worker
    backend_options: dict[str, Any] = field(default_factory=dict)
    # name -> model directory, served side by side (the pipeline backend); empty: its one model
    models: dict[str, str] = field(default_factory=dict)
    # --- the pipeline backend's device and dtype (None: its backend option, else cpu / auto), and the
    # memory and speed switches of its open-family models (`cinegen generate`'s flags; the built-in model
    # is loaded without them, as it takes none)
    device: str | None = None
    dtype: str | None = None  # auto | float32 | bfloat16 | float16
    offload: str | None = None  # model | group | sequential
    vae_tiling: bool = False
    vae_slicing: bool = False
    cache: str | None = None  # first-block | mag | taylorseer | faster
    compile: bool = False
    loras: tuple[str, ...] = ()  # PATH[:SCALE] each
    quantize: str | None = None  # int8 | float8
    fp8_storage: bool = False
    # "trust": watermark + C2PA signature (cinegen.trust); "plain" H.264 only by opt-out
    publish: str = "trust"
    max_attempts: int = 3  # tries per job before it fails with `max_attempts_exceeded`
    lease_seconds: float = 30.0  # a running job's lease; a worker that stops heartbeating loses it
    node_id: str = "node0"  # names this API node's leases (several nodes share a PostgreSQL store)
    # --- what the API accepts
    model_name: str = "cinegen-1"
    sizes: tuple[str, ...] = DEFAULT_SIZES
    default_size: str = "128x128"
    min_seconds: int = 1
    max_seconds: int = int(MAX_SECONDS)
    default_seconds: int = 4
    default_fps: int = 16
    max_fps: int = 30
    max_prompt_chars: int = MAX_PROMPT_CHARS  # the pipeline's limit: never accept what it refuses
    max_upload_bytes: int = 8 * 1024 * 1024
    max_video_upload_bytes: int = 32 * 1024 * 1024  # a source clip uploaded to extensions and edits
    max_upload_pixels: int = 4096 * 4096
    poll_after_ms: int = 1000
    retention_seconds: int = 7 * 24 * 3600  # expires_at = completed_at + this
    # --- moderation (cinegen.trust.moderation), before any job is queued
    moderation: bool = True  # False only by an explicit opt-out (`--no-moderation`, CINEGEN_MODERATION=off)
    moderation_policy: str | None = None  # a policy YAML; None: the one shipped in the package
    # --- keys and quotas
    auth: bool = True  # False: single-user mode, every request acts as the key "local"
    max_concurrent_jobs: int = 4  # defaults for keys created without their own limits
    seconds_per_day: int = 3600
    requests_per_minute: int = 600
    # --- webhooks
    webhook_allow_hosts: tuple[str, ...] = ()  # host or host:port; nothing else is ever contacted
    webhook_max_attempts: int = 8
    webhook_backoff_seconds: float = 5.0  # first retry delay; doubles per attempt, capped at 1 h
    webhook_timeout_seconds: float = 5.0
    # --- housekeeping
    janitor_interval_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.executor not in ("local", "ray"):
            raise ValueError(f"executor must be 'local' or 'ray', got {self.executor!r}")
        if self.publish not in ("plain", "trust"):
            raise ValueError(f"publish must be 'plain' or 'trust', got {self.publish!r}")
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if not 1 <= self.min_seconds <= self.max_seconds:
            raise ValueError("need 1 <= min_seconds <= max_seconds, got "
                             f"{self.min_seconds}..{self.max_seconds}")
        for s in self.sizes:
            parse_size(s)
        if self.default_size not in self.sizes:
            raise ValueError(f"default_size {self.default_size!r} is not among sizes {self.sizes}")
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser())
        if self.dtype is not None and self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        for key in ("device", "dtype"):
            if getattr(self, key) is not None and key in self.backend_options:
                raise ValueError(f"{key} is given twice: as the {key} setting (CINEGEN_{key.upper()}, "
                                 f"--{key}) and as a backend option; give one")
        self.switches()  # a bad value (an unknown cache, a malformed LoRA scale) fails here

    def switches(self) -> Switches | None:
        """The open families' memory and speed switches these settings ask for; None when none is on."""
        if not (self.offload or self.vae_tiling or self.vae_slicing or self.cache or self.compile
                or self.loras or self.quantize or self.fp8_storage):
            return None
        from cinegen.families.switches import Lora, Switches

        return Switches(offload=self.offload, vae_tiling=self.vae_tiling, vae_slicing=self.vae_slicing,
                        cache=self.cache, compile=self.compile,
                        loras=tuple(Lora.parse(t) for t in self.loras), quantize=self.quantize,
                        fp8_storage=self.fp8_storage)

    @property
    def backend_device(self) -> str:
        """The device the pipeline backend loads models on."""
        return str(self.device or self.backend_options.get("device") or "cpu")

    def backend_kwargs(self) -> dict[str, Any]:
        """What each worker's backend is constructed with: the backend options, the served models,
        the device and dtype settings, and the switches."""
        extra = {k: v for k, v in (("device", self.device), ("dtype", self.dtype), ("switches",
                                                                                     self.switches()))
                 if v is not None}
        return {**self.backend_options, **({"models": dict(self.models)} if self.models else {}), **extra}

    # ---------------------------------------------------------------- paths
    @property
    def db_path(self) -> Path:
        return self.data_dir / "jobs.sqlite3"

    @property
    def videos_dir(self) -> Path:
        return self.data_dir / "videos"

    @property
    def inputs_dir(self) -> Path:
        return self.data_dir / "inputs"

    @property
    def trust_dir(self) -> Path:
        """The development signing keys (unless `CINEGEN_SIGN_*` names a studio's signer)."""
        return paths.keys_dir(self.data_dir)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Settings:
        return config_from_dict(cls, d, "settings")

    @classmethod
    def from_env(cls, data_dir: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then `CINEGEN_*` environment variables, then explicit overrides (flags)."""
        d: dict[str, Any] = {}
        env = os.environ
        casts: dict[str, Any] = {
            "CINEGEN_EXECUTOR": ("executor", str),
            "CINEGEN_WORKERS": ("workers", int),
            "CINEGEN_BACKEND": ("backend", str),
            "CINEGEN_BACKEND_OPTIONS": ("backend_options", json.loads),
            "CINEGEN_MODELS": ("models", parse_models),
            "CINEGEN_RAY_ADDRESS": ("ray_address", str),
            "CINEGEN_GPUS_PER_WORKER": ("gpus_per_worker", float),
            "CINEGEN_NODE_ID": ("node_id", str),
            "CINEGEN_SIZES": ("sizes", lambda v: tuple(s.strip() for s in v.split(",") if s.strip())),
            "CINEGEN_AUTH": ("auth", lambda v: v.lower() not in ("0", "off", "false", "no")),
            "CINEGEN_WEBHOOK_ALLOW_HOSTS": (
                "webhook_allow_hosts",
                lambda v: tuple(s.strip() for s in v.split(",") if s.strip()),
            ),
            "CINEGEN_MAX_ATTEMPTS": ("max_attempts", int),
            "CINEGEN_PUBLISH": ("publish", str),
            "CINEGEN_LEASE_SECONDS": ("lease_seconds", float),
            "CINEGEN_MODERATION": ("moderation", lambda v: v.lower() not in ("0", "off", "false", "no")),
            "CINEGEN_MODERATION_POLICY": ("moderation_policy", str),
            "CINEGEN_DEVICE": ("device", str),
            "CINEGEN_DTYPE": ("dtype", str),
            "CINEGEN_OFFLOAD": ("offload", str),
            "CINEGEN_VAE_TILING": ("vae_tiling", parse_flag),
            "CINEGEN_VAE_SLICING": ("vae_slicing", parse_flag),
            "CINEGEN_CACHE": ("cache", str),
            "CINEGEN_COMPILE": ("compile", parse_flag),
            "CINEGEN_LORAS": ("loras", lambda v: tuple(s.strip() for s in v.split(",") if s.strip())),
            "CINEGEN_QUANTIZE": ("quantize", str),
            "CINEGEN_FP8_STORAGE": ("fp8_storage", parse_flag),
        }
        for var, (name, cast) in casts.items():
            if var in env:
                try:
                    d[name] = cast(env[var])
                except ValueError as e:
                    raise ValueError(f"{var}: {e}") from e
        if data_dir is not None:
            d["data_dir"] = Path(data_dir)
        d.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(d)


def parse_flag(value: str) -> bool:
    """A boolean setting: true/false, 1/0, on/off, yes/no; anything else is a ValueError naming it."""
    v = value.strip().lower()
    if v not in ("1", "0", "true", "false", "on", "off", "yes", "no"):
        raise ValueError(f"expected true or false, got {value!r}")
    return v in ("1", "true", "on", "yes")


def parse_models(value: str | list[str] | tuple[str, ...]) -> dict[str, str]:
    """"name=path,name=path" (or a list of "name=path") -> {name: path}, each name once."""
    items = value.split(",") if isinstance(value, str) else list(value)
    out: dict[str, str] = {}
    for item in (i.strip() for i in items if i.strip()):
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ValueError(f"a served model is NAME=PATH, got {item!r}")
        if name.strip() in out:
            raise ValueError(f"model name {name.strip()!r} is given twice")
        out[name.strip()] = path.strip()
    return out


def parse_size(size: str) -> tuple[int, int]:
    """'1280x720' -> (1280, 720); a ValueError naming the bad value otherwise."""
    try:
        w_s, h_s = size.lower().split("x")
        w, h = int(w_s), int(h_s)
    except (ValueError, AttributeError):
        raise ValueError(f"size must look like '128x128', got {size!r}") from None
    if w <= 0 or h <= 0 or w % 2 or h % 2:
        raise ValueError(f"size must have positive even sides, got {size!r}")
    return w, h
