"""publish_video end to end, verify_video, and `cinegen verify` exit codes and JSON."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from cinegen import media
from cinegen.backlot.render import render_scene
from cinegen.backlot.scene import random_scene
from cinegen.cli import main
from cinegen.trust.credentials import CredentialError
from cinegen.trust.publish import (
    EXIT_ERROR,
    EXIT_NONE,
    EXIT_TAMPERED,
    EXIT_VALID,
    ProvenanceInfo,
    TrustSettings,
    publish_video,
    verify_video,
)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, ProvenanceInfo]:
    d = tmp_path_factory.mktemp("pub")
    frames = render_scene(random_scene(random.Random(5), seconds=1.0))
    media.write_image(d / "ref.png", frames[0])
    info = ProvenanceInfo("cinegen-test", "0.0.1", "i2v", "job-9", settings={"steps": 2, "seed": 5},
                          ingredients=(d / "ref.png",), training_data={"total_samples": 3})
    out = publish_video(frames, 16, d / "clip.mp4", info=info, settings=TrustSettings(data_dir=d / "data"))
    return d, out, info


def test_publish_writes_a_signed_watermarked_mp4(published: tuple[Path, Path, ProvenanceInfo]) -> None:
    d, out, info = published
    assert out == d / "clip.mp4" and out.is_file()
    assert sorted(p.name for p in d.iterdir()) == ["clip.mp4", "data", "ref.png"]  # no temporaries left
    r = verify_video(out, trust_anchors=(d / "data" / "credentials" / "dev-ca.pem",))
    assert r.exit_code == EXIT_VALID and r.c2pa.trusted
    assert r.c2pa.claims["job_id"] == "job-9" and r.c2pa.claims["settings"] == {"steps": 2, "seed": 5}
    assert r.watermark is not None and r.watermark.detected and r.watermark.payload == info.payload
    assert r.watermark.bit_accuracy == 1.0 and r.payload_matches() is True


def test_failed_signing_leaves_nothing(published: tuple[Path, Path, ProvenanceInfo], tmp_path: Path) -> None:
    d, _, info = published
    frames = np.zeros((4, 32, 32, 3), np.uint8)
    bad = TrustSettings(data_dir=tmp_path, cert_chain=d / "ref.png", private_key=d / "ref.png")
    with pytest.raises(CredentialError):
        publish_video(frames, 16, tmp_path / "out" / "x.mp4", info=info, settings=bad)
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
    missing = ProvenanceInfo("m", "1", "t2v", "j", ingredients=(tmp_path / "nope.png",))
    with pytest.raises(CredentialError, match="does not exist"):
        publish_video(frames, 16, tmp_path / "out2" / "y.mp4", info=missing,
                      settings=TrustSettings(data_dir=tmp_path))
    assert list((tmp_path / "out2").iterdir()) == []


def test_cli_verify_exit_codes_and_json(published: tuple[Path, Path, ProvenanceInfo], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    d, out, info = published
    assert main(["verify", str(out)]) == EXIT_VALID
    assert "content credentials: valid" in capsys.readouterr().out
    assert main(["verify", "--json", str(out), "--trust-anchor",
                 str(d / "data/credentials/dev-ca.pem")]) == EXIT_VALID
    j = json.loads(capsys.readouterr().out)
    assert {"present", "valid", "signer", "trusted"} <= set(j["c2pa"]) and j["c2pa"]["trusted"] is True
    assert {"detected", "bit_accuracy", "payload"} <= set(j["watermark"])
    assert j["watermark"]["payload"] == f"{info.payload:08x}" and j["watermark"]["bit_accuracy"] == 1.0

    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0x01
    (tmp_path / "tampered.mp4").write_bytes(data)
    assert main(["verify", str(tmp_path / "tampered.mp4")]) == EXIT_TAMPERED
    assert "INVALID" in capsys.readouterr().out

    frames, _ = media.read_video(out)
    media.write_video(tmp_path / "reencoded.mp4", frames, 16, crf=28)  # credentials gone, watermark stays
    assert main(["verify", "--json", str(tmp_path / "reencoded.mp4")]) == EXIT_NONE
    j = json.loads(capsys.readouterr().out)
    assert j["c2pa"]["present"] is False and j["watermark"]["detected"] is True
    assert j["watermark"]["bit_accuracy"] is None  # nothing to compare against without a manifest
    decoded = int(j["watermark"]["payload"], 16)
    assert bin(decoded ^ info.payload).count("1") <= 2  # the model/job payload survives a re-encode

    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 100)
    assert main(["verify", str(tmp_path / "junk.mp4")]) == EXIT_ERROR
    assert "corrupt" in capsys.readouterr().err
    assert main(["verify", str(out), "--trust-anchor", str(d / "ref.png")]) == EXIT_ERROR


def test_studio_settings_from_the_environment(published: tuple[Path, Path, ProvenanceInfo], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    d, out, info = published
    creds = d / "data" / "credentials"
    env = {"CINEGEN_DATA_DIR": str(tmp_path), "CINEGEN_SIGN_CERT": str(creds / "signer-chain.pem"),
           "CINEGEN_SIGN_KEY": str(creds / "signer.key"), "CINEGEN_TRUST_ANCHORS": str(creds / "dev-ca.pem")}
    ts = TrustSettings.from_env(env)
    assert ts.identity().subject == "cinegen local development signer"
    assert not (tmp_path / "credentials").exists()  # a configured studio identity makes no dev CA
    frames = np.zeros((4, 32, 32, 3), np.uint8) + 100
    clip = publish_video(frames, 16, tmp_path / "s.mp4", info=info, settings=ts)
    assert verify_video(clip, trust_anchors=ts.trust_anchors).c2pa.trusted
    monkeypatch.setenv("CINEGEN_TRUST_ANCHORS", str(creds / "dev-ca.pem"))
    assert main(["verify", "--json", str(clip)]) == EXIT_VALID
    with pytest.raises(ValueError, match="module:function"):
        TrustSettings.from_env({"CINEGEN_SIGN_CALLBACK": "nocolon", "CINEGEN_SIGN_CERT": "x"})
    with pytest.raises(ValueError, match="both cert_chain and private_key"):
        TrustSettings(cert_chain=creds / "signer-chain.pem")
