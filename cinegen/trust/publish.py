"""Publishing a generated video: watermark every frame, encode, sign with C2PA, atomically.

    frames --(watermark.embed: luma pattern carrying model id + job hash)--> marked frames
           --(media.write_video: H.264 yuv420p to a temporary file)--> unsigned MP4
           --(credentials.sign_mp4: manifest, the last step; renames into place)--> out_path

`verify_video` reads both back from a file: the C2PA manifest (present, valid, signer, trusted,
claims) and the watermark from the pixels alone. The CLI (`cinegen verify`) and the service use
these same functions.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cinegen import media, paths
from cinegen.trust import watermark
from cinegen.trust.credentials import (
    CredentialReport,
    SigningIdentity,
    build_manifest,
    ensure_dev_identity,
    read_credentials,
    sign_mp4,
)

VERIFY_MAX_FRAMES = 16 * 16  # the watermark needs far fewer; this bounds the cost of verifying


@dataclass(frozen=True)
class ProvenanceInfo:
    """What the manifest claims about a generated video."""

    model_name: str
    model_version: str
    mode: str  # "t2v", "i2v", "v2v", "extend", ...
    job_id: str
    settings: dict[str, Any] = field(default_factory=dict, hash=False)  # steps, guidance, seed, size, ...
    ingredients: tuple[Path, ...] = ()  # reference images / source videos given as inputs
    # the model's declaration: `licences.declaration_for(model_dir)` (from the checkpoint's ledger)
    training_data: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        for name in ("model_name", "model_version", "mode", "job_id"):
            if not str(getattr(self, name)).strip():
                raise ValueError(f"ProvenanceInfo.{name} is empty")

    @property
    def model_id(self) -> str:
        return f"{self.model_name}@{self.model_version}"

    @property
    def payload(self) -> int:
        return watermark.payload_for(self.model_id, self.job_id)


@dataclass(frozen=True)
class TrustSettings:
    """Where keys live and who signs. With no cert/key/callback, a local dev CA signs."""

    data_dir: Path = field(default_factory=paths.keys_dir)  # the development CA (see cinegen.paths)
    cert_chain: Path | None = None  # a studio's PEM chain, leaf first
    private_key: Path | None = None  # its PEM private key
    sign_callback: Callable[[bytes], bytes] | None = field(default=None, compare=False)  # KMS/HSM signing
    signing_alg: str = "es256"
    trust_anchors: tuple[Path, ...] = ()  # PEM CA certificates whose signers count as trusted
    watermark_strength: float = watermark.WatermarkConfig().strength

    def __post_init__(self) -> None:
        if (self.cert_chain is None) != (self.private_key is None) and self.sign_callback is None:
            raise ValueError("TrustSettings needs both cert_chain and private_key (or cert_chain and "
                             "sign_callback)")
        if self.sign_callback is not None and self.cert_chain is None:
            raise ValueError("TrustSettings.sign_callback needs cert_chain (the certificates it signs for)")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> TrustSettings:
        """Settings from the environment (how a studio plugs in its own signer without code):

        CINEGEN_DATA_DIR         the signing keys (default: <data directory>/trust, see cinegen.paths)
        CINEGEN_SIGN_CERT        PEM certificate chain, leaf first
        CINEGEN_SIGN_KEY         PEM private key for it (or:)
        CINEGEN_SIGN_CALLBACK    "package.module:function", a `(bytes) -> signature` KMS/HSM signer
        CINEGEN_SIGN_ALG         es256 (default), es384, es512, ps256, ps384, ps512, ed25519
        CINEGEN_TRUST_ANCHORS    PEM CA files, separated by os.pathsep
        """
        import importlib

        env = dict(os.environ) if env is None else env
        cb = None
        if env.get("CINEGEN_SIGN_CALLBACK"):
            mod, _, fn = env["CINEGEN_SIGN_CALLBACK"].partition(":")
            if not fn:
                raise ValueError("CINEGEN_SIGN_CALLBACK must be 'module:function', got "
                                 f"{env['CINEGEN_SIGN_CALLBACK']!r}")
            cb = getattr(importlib.import_module(mod), fn)
        anchors = tuple(Path(p) for p in env.get("CINEGEN_TRUST_ANCHORS", "").split(os.pathsep) if p)
        return cls(
            data_dir=Path(env["CINEGEN_DATA_DIR"]) if env.get("CINEGEN_DATA_DIR") else paths.keys_dir(),
            cert_chain=Path(env["CINEGEN_SIGN_CERT"]) if env.get("CINEGEN_SIGN_CERT") else None,
            private_key=Path(env["CINEGEN_SIGN_KEY"]) if env.get("CINEGEN_SIGN_KEY") else None,
            sign_callback=cb,
            signing_alg=env.get("CINEGEN_SIGN_ALG", "es256"),
            trust_anchors=anchors,
        )

    @classmethod
    def for_data_dir(cls, data: Path | None = None) -> TrustSettings:
        """`from_env()`, with the development keys under `paths.keys_dir(data)`: the one rule every
        door (CLI, service, studio, backlot renders) signs by."""
        import dataclasses

        return dataclasses.replace(cls.from_env(), data_dir=paths.keys_dir(data))

    def identity(self) -> SigningIdentity:
        if self.sign_callback is not None:
            assert self.cert_chain is not None
            return SigningIdentity.from_callback(self.cert_chain, self.sign_callback, alg=self.signing_alg)
        if self.cert_chain is not None and self.private_key is not None:
            return SigningIdentity.from_files(self.cert_chain, self.private_key, alg=self.signing_alg)
        return ensure_dev_identity(self.data_dir)

    def watermark_config(self) -> watermark.WatermarkConfig:
        return watermark.WatermarkConfig(strength=self.watermark_strength)


def publish_video(
    frames: np.ndarray,
    fps: int,
    out_path: Path,
    *,
    info: ProvenanceInfo,
    settings: TrustSettings | None = None,
    audio: media.AudioTrack | None = None,
) -> Path:
    """Watermark, encode and sign `frames` (T, H, W, 3) uint8 (and `audio`, an AAC track, when given)
    into `out_path`. Returns out_path.

    The file appears only once it is complete and signed; on any failure no file is left there.
    """
    settings = settings or TrustSettings()
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".mp4":
        raise ValueError(f"out_path must end in .mp4, got {out_path}")
    # 1. the identity first: a bad certificate fails before any work
    identity = settings.identity()
    # 2. watermark every frame's luma
    cfg = settings.watermark_config()
    marked = watermark.embed(frames, info.payload, cfg)
    # 3. encode to a temporary file beside the target
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out_path.stem}.", suffix=".unsigned.mp4", dir=out_path.parent)
    os.close(fd)
    unsigned = Path(tmp_name)
    try:
        media.write_video(unsigned, marked, fps, audio=audio)
        # 4. sign last (any remux after this would strip the manifest); atomic rename into place
        manifest = build_manifest(
            title=out_path.name, model_name=info.model_name, model_version=info.model_version, mode=info.mode,
            settings=info.settings,
            training_data=info.training_data or {"declared": False,
                                                 "reason": "the caller gave no training-data declaration"},
            job_id=info.job_id,
            watermark={"scheme": "cinegen-luma-ss-v1", "payload": f"{info.payload:08x}",
                       "bits": watermark.PAYLOAD_BITS},
        )
        sign_mp4(unsigned, out_path, manifest, identity, ingredients=tuple(Path(p) for p in info.ingredients))
    finally:
        unsigned.unlink(missing_ok=True)
    return out_path


# ----------------------------------------------------------------------------- verification
EXIT_VALID = 0  # credentials present and valid
EXIT_TAMPERED = 1  # credentials present but invalid (tampered file, broken signature)
EXIT_ERROR = 2  # not a readable video, bad arguments
EXIT_NONE = 3  # no credentials at all


@dataclass(frozen=True)
class VerifyReport:
    path: Path
    c2pa: CredentialReport
    watermark: watermark.WatermarkResult | None
    watermark_error: str | None = None

    @property
    def exit_code(self) -> int:
        if not self.c2pa.present:
            return EXIT_NONE
        return EXIT_VALID if self.c2pa.valid else EXIT_TAMPERED

    def to_dict(self) -> dict[str, Any]:
        wm: dict[str, Any]
        if self.watermark is None:
            wm = {"detected": False, "bit_accuracy": None, "payload": None, "error": self.watermark_error}
        else:
            wm = self.watermark.to_dict()
            wm["payload_matches_manifest"] = self.payload_matches()
        return {"file": str(self.path), "c2pa": self.c2pa.to_dict(), "watermark": wm,
                "exit_code": self.exit_code}

    def payload_matches(self) -> bool | None:
        claimed = (self.c2pa.claims.get("watermark") or {}).get("payload") if self.c2pa.present else None
        if claimed is None or self.watermark is None or self.watermark.payload is None:
            return None
        return f"{self.watermark.payload:08x}" == claimed


def verify_video(path: Path, *, trust_anchors: tuple[Path, ...] = ()) -> VerifyReport:
    """Check a file's C2PA manifest and look for the watermark in its pixels."""
    path = Path(path)
    cred = read_credentials(path, trust_anchors)
    expected = None
    claimed = (cred.claims.get("watermark") or {}).get("payload") if cred.present else None
    if isinstance(claimed, str):
        try:
            expected = int(claimed, 16)
        except ValueError:
            expected = None
    try:
        frames, _ = media.read_video(path, max_frames=VERIFY_MAX_FRAMES)
    except media.MediaError as e:
        if not cred.present:
            raise
        return VerifyReport(path, cred, None, str(e))
    return VerifyReport(path, cred, watermark.detect(frames, expected_payload=expected))


def sign_composite(
    video: Path, out_path: Path, *, title: str, ingredients: tuple[Path, ...],
    settings: TrustSettings | None = None,
    details: dict[str, Any] | None = None,
) -> Path:
    """Sign an edit made of generated clips (a storyboard reel) with those clips as ingredients.

    The frames are not watermarked again: each shot already carries its own watermark, which
    survives the reel's re-encode. Like `publish_video`, signing is the last step and atomic.
    """
    settings = settings or TrustSettings.from_env()
    identity = settings.identity()
    manifest = build_manifest(
        title=Path(out_path).name, model_name="cinegen-storyboard", model_version="1", mode="storyboard-reel",
        settings={"title": title, **(details or {})}, training_data={"see": "ingredients"},
        job_id=hashlib.sha256(str(sorted(map(str, ingredients))).encode()).hexdigest()[:16],
        watermark={"scheme": "per-ingredient"},
    )
    return sign_mp4(Path(video), Path(out_path), manifest, identity, ingredients=ingredients)
