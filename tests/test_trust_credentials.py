"""C2PA signing and reading: dev CA, trust anchors, tampering, stripping, bad keys, atomic failure."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import av
import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cinegen import media
from cinegen.trust import credentials as cr


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("cred")
    rng = np.random.default_rng(0)
    media.write_video(d / "raw.mp4", rng.integers(0, 255, (8, 32, 32, 3), dtype=np.uint8), 16)
    media.write_image(d / "ref.png", rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    ident = cr.ensure_dev_identity(d / "data")
    cr.sign_mp4(d / "raw.mp4", d / "out.mp4", _manifest(), ident, ingredients=(d / "ref.png",))
    return d, d / "out.mp4"


def _manifest() -> dict:
    return cr.build_manifest(title="out.mp4", model_name="cinegen-test", model_version="0.0.1", mode="i2v",
                             settings={"steps": 2}, training_data={"total_samples": 5}, job_id="j1",
                             watermark={"payload": "00000001"})


def test_dev_identity_is_a_ca_chain_with_private_keys_0600(signed: tuple[Path, Path]) -> None:
    d = signed[0] / "data" / "credentials"
    for key in ("signer.key", "dev-ca.key"):
        assert stat.S_IMODE(os.stat(d / key).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    chain = x509.load_pem_x509_certificates((d / "signer-chain.pem").read_bytes())
    assert len(chain) == 2 and chain[0].issuer == chain[1].subject  # leaf issued by the local CA
    again = cr.ensure_dev_identity(signed[0] / "data")  # second use reuses the keys
    assert again.cert_chain_pem == (d / "signer-chain.pem").read_bytes()


def test_signed_file_is_valid_and_claims_what_it_should(signed: tuple[Path, Path]) -> None:
    d, out = signed
    r = cr.read_credentials(out)
    assert r.present and r.valid and not r.trusted and r.state == "valid"
    assert r.signer == cr.DEV_SIGNER_NAME
    assert r.claims["actions"][0] == {"action": "c2pa.created",
                                      "digitalSourceType": cr.TRAINED_ALGORITHMIC_MEDIA}
    assert r.claims["model"] == {"name": "cinegen-test", "version": "0.0.1"}
    assert r.claims["mode"] == "i2v" and r.claims["ingredients"] == ["ref.png"]
    assert r.claims["training_data"] == {"total_samples": 5}
    assert stat.S_IMODE(os.stat(out).st_mode) != 0o600  # an ordinary, readable file


def test_trust_anchor_makes_it_trusted_and_a_foreign_anchor_does_not(signed: tuple[Path, Path],
                                                                     tmp_path: Path) -> None:
    d, out = signed
    assert cr.read_credentials(out, (cr.dev_ca_path(d / "data"),)).trusted
    other = cr.ensure_dev_identity(tmp_path)  # another installation's CA
    del other
    r = cr.read_credentials(out, (cr.dev_ca_path(tmp_path),))
    assert r.valid and not r.trusted


def test_one_changed_byte_is_tampered(signed: tuple[Path, Path], tmp_path: Path) -> None:
    data = bytearray(signed[1].read_bytes())
    for off in (len(data) // 2, len(data) - 50):
        bad = bytearray(data)
        bad[off] ^= 0x01
        (tmp_path / "t.mp4").write_bytes(bad)
        r = cr.read_credentials(tmp_path / "t.mp4")
        assert r.present and not r.valid and r.state == "invalid" and r.errors


def test_remux_strips_the_manifest(signed: tuple[Path, Path], tmp_path: Path) -> None:
    with av.open(str(signed[1])) as src, av.open(str(tmp_path / "remux.mp4"), "w") as dst:
        s = dst.add_stream_from_template(src.streams.video[0])
        for pkt in src.demux(src.streams.video[0]):
            if pkt.dts is not None:
                pkt.stream = s
                dst.mux(pkt)
    r = cr.read_credentials(tmp_path / "remux.mp4")
    assert not r.present and r.state == "none"


def test_corrupt_and_empty_files_raise(tmp_path: Path) -> None:
    (tmp_path / "junk.mp4").write_bytes(b"not a video" * 50)
    with pytest.raises(cr.CredentialError, match="corrupt or not an MP4"):
        cr.read_credentials(tmp_path / "junk.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(cr.CredentialError, match="empty"):
        cr.read_credentials(tmp_path / "empty.mp4")
    with pytest.raises(cr.CredentialError, match="no such file"):
        cr.read_credentials(tmp_path / "missing.mp4")


def _self_signed(days: int, cn: str = "x") -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=400))
            .not_valid_after(now + dt.timedelta(days=days))
            .sign(key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return cert.public_bytes(pem), key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption())


def test_expired_wrong_and_mismatched_certificates_are_refused(signed: tuple[Path, Path]) -> None:
    cert, key = _self_signed(days=-1)
    with pytest.raises(cr.CredentialError, match="expired"):
        cr.SigningIdentity(cert, key)
    cert2, _ = _self_signed(days=30)
    with pytest.raises(cr.CredentialError, match="does not match"):
        cr.SigningIdentity(cert2, key)
    with pytest.raises(cr.CredentialError, match="PEM"):
        cr.SigningIdentity(b"garbage", key)
    with pytest.raises(cr.CredentialError, match="exactly one"):
        cr.SigningIdentity(cert2)


def test_failed_signing_leaves_no_file(signed: tuple[Path, Path], tmp_path: Path) -> None:
    d, _ = signed
    cert, key = _self_signed(days=30)  # a bare self-signed leaf: C2PA refuses to sign with it
    ident = cr.SigningIdentity(cert, key)
    with pytest.raises(cr.CredentialError):
        cr.sign_mp4(d / "raw.mp4", tmp_path / "x.mp4", _manifest(), ident)
    assert list(tmp_path.iterdir()) == []
    chain = (d / "data" / "credentials" / "signer-chain.pem").read_bytes()

    def broken_kms(data: bytes) -> bytes:
        raise RuntimeError("KMS unavailable")

    with pytest.raises((cr.CredentialError, RuntimeError)):
        cr.sign_mp4(d / "raw.mp4", tmp_path / "y.mp4", _manifest(),
                    cr.SigningIdentity.from_callback(chain, broken_kms))
    assert list(tmp_path.iterdir()) == []


def test_signing_callback_like_a_kms(signed: tuple[Path, Path], tmp_path: Path) -> None:
    d, _ = signed
    creds = d / "data" / "credentials"
    key = serialization.load_pem_private_key((creds / "signer.key").read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)

    def kms(data: bytes) -> bytes:  # the key stays "inside the KMS": cinegen only sees signatures
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    ident = cr.SigningIdentity.from_callback(creds / "signer-chain.pem", kms)
    cr.sign_mp4(d / "raw.mp4", tmp_path / "kms.mp4", _manifest(), ident)
    assert cr.read_credentials(tmp_path / "kms.mp4").valid


def test_dev_identity_first_use_is_race_free_and_renews_an_expired_signer(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(lambda _: cr.ensure_dev_identity(tmp_path), range(4)))
    assert len({i.cert_chain_pem for i in ids}) == 1  # one signer, made once
    creds = tmp_path / "credentials"
    ca_before = (creds / "dev-ca.pem").read_bytes()
    ca = x509.load_pem_x509_certificate(ca_before)
    ca_key = serialization.load_pem_private_key((creds / "dev-ca.key").read_bytes(), password=None)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    old = (x509.CertificateBuilder().subject_name(ca.subject).issuer_name(ca.subject)
           .public_key(leaf_key.public_key())
           .serial_number(2).not_valid_before(now - dt.timedelta(days=10))
           .not_valid_after(now - dt.timedelta(days=1))
           .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    (creds / "signer-chain.pem").write_bytes(old.public_bytes(serialization.Encoding.PEM) + ca_before)
    renewed = cr.ensure_dev_identity(tmp_path)
    leaf = x509.load_pem_x509_certificates(renewed.cert_chain_pem)[0]
    assert leaf.not_valid_after_utc > now and (creds / "dev-ca.pem").read_bytes() == ca_before
