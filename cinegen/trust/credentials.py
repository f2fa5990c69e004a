"""C2PA content credentials: keys, signing an MP4 as the last step, and reading a manifest back.

Keys. On first use cinegen makes a local development CA and an end-entity signing certificate
under `<data_dir>/credentials/` (C2PA rejects a bare self-signed leaf). The leaf has KeyUsage
digitalSignature, EKU emailProtection + documentSigning, and SKI/AKI, which c2pa-python accepts
offline; its signatures validate as "valid, untrusted" unless the dev CA is given as a trust
anchor. A studio configures its own certificate chain and key (`SigningIdentity.from_files`) or a
signing callback for a KMS/HSM (`SigningIdentity.from_callback`) instead. Private keys are
written with owner-only permissions (0600) in an owner-only directory (0700).

Signing must be the last step: any remux, even a stream copy, strips the manifest. `sign_mp4`
writes to a temporary file beside the target and renames it into place only when signing has
succeeded, so a failure never leaves a file that looks complete.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cinegen.private import private_dir, touch_private

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
# pure algorithm, no training data: the backlot's procedural renders
ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicMedia"
CINEGEN_ASSERTION = "org.cinegen.generation"  # our own assertion: model, mode, settings, training data
DEV_CA_NAME = "cinegen local development CA"
DEV_SIGNER_NAME = "cinegen local development signer"


class CredentialError(ValueError):
    """Keys, certificates or manifests that cannot be used, with the reason."""


# ----------------------------------------------------------------------------- identities
@dataclass(frozen=True)
class SigningIdentity:
    """Who signs: a PEM chain (leaf first) and either a PEM private key or a signing callback."""

    cert_chain_pem: bytes
    private_key_pem: bytes | None = None
    callback: Callable[[bytes], bytes] | None = field(default=None, compare=False)
    alg: str = "es256"
    tsa_url: str | None = None

    def __post_init__(self) -> None:
        if (self.private_key_pem is None) == (self.callback is None):
            raise CredentialError("a signing identity needs exactly one of a private key or a signing "
                                  "callback")
        certs = _load_chain(self.cert_chain_pem, "signing certificate chain")
        now = dt.datetime.now(dt.UTC)
        leaf = certs[0]
        if leaf.not_valid_after_utc < now:
            raise CredentialError(
                f"signing certificate {leaf.subject.rfc4514_string()!r} expired on "
                f"{leaf.not_valid_after_utc:%Y-%m-%d}"
            )
        if leaf.not_valid_before_utc > now:
            raise CredentialError("signing certificate is not valid before "
                                  f"{leaf.not_valid_before_utc:%Y-%m-%d}")
        if self.private_key_pem is not None:
            try:
                key = serialization.load_pem_private_key(self.private_key_pem, password=None)
            except (ValueError, TypeError) as e:
                raise CredentialError(f"cannot read the signing private key: {e}") from e
            pub = key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            leaf_pub = leaf.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            if pub != leaf_pub:
                raise CredentialError("the signing private key does not match the signing certificate")

    @classmethod
    def from_files(cls, cert_chain: Path, private_key: Path, *, alg: str = "es256") -> SigningIdentity:
        """A studio's own certificate chain (PEM, leaf first) and private key (PEM, unencrypted)."""
        for p in (cert_chain, private_key):
            if not Path(p).is_file():
                raise CredentialError(f"no such file: {p}")
        return cls(Path(cert_chain).read_bytes(), Path(private_key).read_bytes(), alg=alg)

    @classmethod
    def from_callback(
        cls, cert_chain: Path | bytes, callback: Callable[[bytes], bytes], *, alg: str = "es256"
    ) -> SigningIdentity:
        """Sign through `callback(data) -> signature` (a KMS or HSM); the key never enters cinegen."""
        pem = cert_chain if isinstance(cert_chain, bytes) else Path(cert_chain).read_bytes()
        return cls(pem, None, callback=callback, alg=alg)

    @property
    def subject(self) -> str:
        return _common_name(_load_chain(self.cert_chain_pem, "signing certificate chain")[0])

    def signer(self) -> c2pa.Signer:
        alg = _ALGS.get(self.alg.lower())
        if alg is None:
            raise CredentialError(f"unknown signing algorithm {self.alg!r}; known: {', '.join(_ALGS)}")
        try:
            if self.callback is not None:
                return c2pa.Signer.from_callback(self.callback, alg, self.cert_chain_pem.decode(),
                                                 self.tsa_url)
            assert self.private_key_pem is not None
            info = c2pa.C2paSignerInfo(
                alg.name.lower().encode(), self.cert_chain_pem, self.private_key_pem,
                (self.tsa_url or "").encode() or None,
            )
            return c2pa.Signer.from_info(info)
        except c2pa.C2paError as e:
            raise CredentialError(f"c2pa rejected the signing identity: {e}") from e


_ALGS = {a.name.lower(): a for a in c2pa.C2paSigningAlg}


def ensure_dev_identity(data_dir: Path) -> SigningIdentity:
    """The local development CA and signer under `data_dir/credentials`, made on first use.

    Safe when several workers publish their first video at once (a file lock serialises the
    first use; files are written whole and renamed into place). An expired dev signer is
    re-issued from the same CA, so anyone who trusts `dev-ca.pem` keeps trusting new outputs.
    """
    import fcntl

    d = Path(data_dir) / "credentials"
    private_dir(d)  # and the `trust/` above it: the data directory is private (cinegen.private)
    chain, key = d / "signer-chain.pem", d / "signer.key"
    with open(touch_private(d / ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if chain.is_file() and key.is_file():
            leaf = x509.load_pem_x509_certificates(chain.read_bytes())[0]
            if leaf.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=1):
                return SigningIdentity.from_files(chain, key)
        pem = serialization.Encoding.PEM
        ca_pem, ca_key_path = d / "dev-ca.pem", d / "dev-ca.key"
        if ca_pem.is_file() and ca_key_path.is_file():
            ca = x509.load_pem_x509_certificate(ca_pem.read_bytes())
            loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise CredentialError(f"{ca_key_path} is not the EC key of a cinegen dev CA")
            ca_key = loaded
        else:
            ca_key = ec.generate_private_key(ec.SECP256R1())
            ca = _dev_ca(ca_key)
            _write_private(ca_key_path, ca_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
            _write_atomic(ca_pem, ca.public_bytes(pem), 0o600)  # public, but under the private data dir
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        leaf = _dev_leaf(leaf_key, ca, ca_key)
        _write_private(key,
                       leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
        _write_atomic(chain, leaf.public_bytes(pem) + ca.public_bytes(pem), 0o600)
        return SigningIdentity.from_files(chain, key)


def _dev_ca(ca_key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DEV_CA_NAME),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cinegen (development)")])
    return (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                       critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _dev_leaf(
    leaf_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    """An end-entity signer C2PA accepts: digitalSignature, EKU emailProtection + documentSigning, SKI/AKI."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    end = min(now + dt.timedelta(days=825), ca.not_valid_after_utc)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DEV_SIGNER_NAME),
                                 x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cinegen (development)")]))
        .issuer_name(ca.subject).public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                       critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION,
                                   x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.12")]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def dev_ca_path(data_dir: Path) -> Path:
    """The development CA certificate: give it as a trust anchor to trust cinegen's dev signatures."""
    return Path(data_dir) / "credentials" / "dev-ca.pem"


def _write_private(path: Path, data: bytes) -> None:
    """Owner-only (0600) from the first byte, written whole and renamed into place."""
    _write_atomic(path, data, 0o600)


def _load_chain(pem: bytes, what: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as e:
        raise CredentialError(f"cannot read the {what} as PEM certificates: {e}") from e
    if not certs:
        raise CredentialError(f"the {what} holds no certificates")
    return certs


def _common_name(cert: x509.Certificate) -> str:
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cn[0].value) if cn else cert.subject.rfc4514_string()


# ----------------------------------------------------------------------------- signing
def build_manifest(
    *,
    title: str,
    model_name: str,
    model_version: str,
    mode: str,
    settings: dict[str, Any],
    training_data: dict[str, Any],
    job_id: str,
    watermark: dict[str, Any],
    digital_source_type: str = TRAINED_ALGORITHMIC_MEDIA,
) -> dict[str, Any]:
    """The manifest definition: a c2pa.created action (trainedAlgorithmicMedia) and our assertion."""
    agent = {"name": "cinegen", "version": model_version, "model": model_name}
    return {
        "claim_generator_info": [{"name": "cinegen", "version": model_version}],
        "title": title,
        "format": "video/mp4",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": digital_source_type,
                            "softwareAgent": agent,
                            "parameters": {"model": model_name, "model_version": model_version, "mode": mode},
                        }
                    ]
                },
            },
            {
                "label": CINEGEN_ASSERTION,
                "data": {
                    "model": {"name": model_name, "version": model_version},
                    "mode": mode,
                    "settings": settings,
                    "job_id": job_id,
                    "training_data": training_data,
                    "watermark": watermark,
                },
            },
        ],
    }


def sign_mp4(
    src: Path,
    dst: Path,
    manifest: dict[str, Any],
    identity: SigningIdentity,
    *,
    ingredients: tuple[Path, ...] = (),
) -> Path:
    """Sign `src` into `dst` atomically: `dst` appears only after a complete, signed write."""
    src, dst = Path(src), Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.stem}.", suffix=".signing.part", dir=dst.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        signer = identity.signer()
        try:
            with c2pa.Builder(manifest) as builder:
                for ing in ingredients:
                    _add_ingredient(builder, Path(ing))
                with open(src, "rb") as s, open(tmp, "w+b") as d:
                    builder.sign(signer, "video/mp4", s, d)
        finally:
            signer.close()
        if tmp.stat().st_size == 0:
            raise CredentialError(f"signing {src} produced an empty file")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp made it 0600; a published video is an ordinary file
        os.replace(tmp, dst)
    except c2pa.C2paError as e:
        tmp.unlink(missing_ok=True)
        raise CredentialError(f"C2PA signing failed for {dst}: {e}") from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dst


_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
         ".mp4": "video/mp4", ".mov": "video/quicktime"}


def _add_ingredient(builder: c2pa.Builder, path: Path) -> None:
    mime = _MIME.get(path.suffix.lower())
    if mime is None:
        raise CredentialError(f"ingredient {path} has an unsupported type; known: {', '.join(_MIME)}")
    if not path.is_file():
        raise CredentialError(f"ingredient {path} does not exist")
    with open(path, "rb") as f:
        builder.add_ingredient({"title": path.name, "relationship": "inputTo"}, mime, f)


# ----------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class CredentialReport:
    present: bool
    valid: bool  # the manifest and the file's hashes check out (trust is separate)
    trusted: bool  # the signer chains to a configured trust anchor
    state: str  # "none", "valid", "trusted", "invalid"
    signer: str | None
    issuer: str | None
    claims: dict[str, Any]
    errors: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "present": self.present,
            "valid": self.valid,
            "trusted": self.trusted,
            "state": self.state,
            "signer": self.signer,
            "issuer": self.issuer,
            "claims": self.claims,
            "errors": list(self.errors),
        }


_UNTRUSTED_CODES = {"signingCredential.untrusted"}


def read_credentials(path: Path, trust_anchors: tuple[Path, ...] = ()) -> CredentialReport:
    """Read and validate the C2PA manifest of an MP4. Raises CredentialError if it is unreadable."""
    path = Path(path)
    if not path.is_file():
        raise CredentialError(f"no such file: {path}")
    if path.stat().st_size == 0:
        raise CredentialError(f"{path} is empty")
    for a in trust_anchors:
        if not Path(a).is_file():
            raise CredentialError(f"no such trust anchor file: {a}")
    pem = b"".join(Path(p).read_bytes() for p in trust_anchors)
    if trust_anchors:
        _load_chain(pem, "trust anchor file")
    settings: dict[str, Any] = {"verify": {"verify_trust": bool(trust_anchors)}}
    if trust_anchors:
        settings["trust"] = {"trust_anchors": pem.decode()}
    try:
        ctx = c2pa.Context.from_dict(settings)
    except c2pa.C2paError as e:
        raise CredentialError(f"bad trust settings: {e}") from e
    try:
        with open(path, "rb") as f:
            reader = c2pa.Reader("video/mp4", f, context=ctx)
    except c2pa.C2paError as e:
        msg = str(e)
        if "ManifestNotFound" in msg or "JumbfNotFound" in msg or "no JUMBF" in msg.lower():
            return CredentialReport(False, False, False, "none", None, None, {}, ())
        if not _decodes(path):
            raise CredentialError(f"{path} is corrupt or not an MP4 video ({msg})") from e
        return CredentialReport(True, False, False, "invalid", None, None, {},
                                (f"unreadable manifest: {msg}",))
    with reader:
        store = json.loads(reader.json())
        state = (reader.get_validation_state() or "").lower()
        results = reader.get_validation_results() or {}
    active = store.get("manifests", {}).get(store.get("active_manifest", ""), {})
    failures = [
        f"{s.get('code')}: {s.get('explanation', '')}".strip()
        for s in _status_entries(results, store, "failure")
    ]
    untrusted = any(f.split(":")[0] in _UNTRUSTED_CODES for f in failures)
    hard = [f for f in failures if f.split(":")[0] not in _UNTRUSTED_CODES]
    sig = active.get("signature_info", {}) or {}
    valid = not hard and state in ("valid", "trusted")
    trusted = valid and bool(trust_anchors) and state == "trusted" and not untrusted
    claims = _claims(active)
    return CredentialReport(
        present=True,
        valid=valid,
        trusted=trusted,
        state="trusted" if trusted else "valid" if valid else "invalid",
        signer=sig.get("common_name") or sig.get("issuer"),
        issuer=sig.get("issuer"),
        claims=claims,
        errors=tuple(hard),
    )


def _decodes(path: Path) -> bool:
    """Whether at least one video frame decodes (tells a corrupt file from a tampered manifest)."""
    from cinegen.media import MediaError, iter_video

    try:
        next(iter_video(path))
        return True
    except (MediaError, StopIteration):
        return False


def _status_entries(results: dict[str, Any], store: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    active = results.get("activeManifest") or {}
    out.extend(active.get(kind, []) or [])
    if kind == "failure" and not results:
        out.extend(store.get("validation_status", []) or [])
    return out


def _claims(manifest: dict[str, Any]) -> dict[str, Any]:
    claims: dict[str, Any] = {"title": manifest.get("title"), "ingredients": [
        i.get("title") for i in manifest.get("ingredients", []) or []
    ]}
    for a in manifest.get("assertions", []) or []:
        label, data = a.get("label", ""), a.get("data", {})
        if label.startswith("c2pa.actions"):
            claims["actions"] = [
                {"action": x.get("action"), "digitalSourceType": x.get("digitalSourceType")}
                for x in data.get("actions", [])
            ]
        elif label == CINEGEN_ASSERTION:
            claims.update({k: data.get(k) for k in ("model", "mode", "settings", "job_id", "training_data",
                                                    "watermark")})
    return claims
