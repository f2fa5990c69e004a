"""`--quantize int8|float8` (torchao weight-only through diffusers' TorchAoConfig) and `--fp8-storage`
(diffusers' layerwise casting) on a tiny Wan model, on the CPU: the transformer's weights are stored in
fewer bits, the frames keep their shape and stay close to the unquantised ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cinegen.cli import main
from cinegen.families.family import FamilyError
from cinegen.families.model import DiffusersVideoModel
from cinegen.families.random_models import save, wan_pipeline
from cinegen.families.switches import Switches

NINE = {"seconds": 9 / 16, "fps": 16, "width": 32, "height": 32, "steps": 2}


@pytest.fixture(scope="module")
def wan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save(wan_pipeline("t2v"), tmp_path_factory.mktemp("wan-q") / "wan")


@pytest.fixture(scope="module")
def plain(wan: Path) -> DiffusersVideoModel:
    return DiffusersVideoModel.load(wan)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


@pytest.mark.parametrize(("name", "tensor"), [("int8", "Int8Tensor"), ("float8", "Float8Tensor")])
def test_quantised_transformer(wan: Path, plain: DiffusersVideoModel, name: str, tensor: str) -> None:
    model = DiffusersVideoModel.load(wan, switches=Switches(quantize=name))
    transformer = model.base.transformer
    assert type(transformer.blocks[0].attn1.to_q.weight).__name__ == tensor  # torchao's quantised weight
    assert type(transformer.blocks[0].ffn.net[2].weight).__name__ == tensor
    assert type(model.base.vae.decoder.conv_in.weight) is torch.nn.Parameter  # only the transformer
    assert transformer.get_memory_footprint() < 0.7 * plain.base.transformer.get_memory_footprint()
    out, ref = model("a ball", **NINE), plain("a ball", **NINE)
    assert out.frames.shape == ref.frames.shape == (9, 32, 32, 3)
    assert out.settings["switches"] == {"quantize": name}
    assert psnr(out.frames, ref.frames) > 35  # measured 46 dB on this tiny random model (both)


def test_fp8_storage(wan: Path, plain: DiffusersVideoModel) -> None:
    model = DiffusersVideoModel.load(wan, switches=Switches(fp8_storage=True))
    transformer = model.base.transformer
    assert transformer.blocks[0].attn1.to_q.weight.dtype == torch.float8_e4m3fn
    assert transformer.blocks[0].norm2.weight.dtype == torch.float32  # diffusers keeps norms as they are
    out, ref = model("a ball", **NINE), plain("a ball", **NINE)
    assert out.frames.shape == ref.frames.shape and out.settings["switches"] == {"fp8_storage": True}
    assert psnr(out.frames, ref.frames) > 35  # measured 47 dB
    assert transformer.blocks[0].attn1.to_q.weight.dtype == torch.float8_e4m3fn  # still stored so


def test_switch_values_and_cli(wan: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert Switches.from_options({"quantize": "int8"}) == Switches(quantize="int8")
    assert Switches.from_options({"fp8_storage": "1"}) == Switches(fp8_storage=True)
    with pytest.raises(FamilyError, match="quantize must be one of int8, float8, got 'int4'"):
        Switches.from_options({"quantize": "int4"})
    out = tmp_path / "q.mp4"
    base = ["generate", "a ball", "-o", str(out), "--model", str(wan), "--size", "32x32", "--seconds",
            "0.5625", "--steps", "2"]
    assert main([*base, "--quantize", "int8"]) == 0 and out.exists()
    out.unlink()
    with pytest.raises(SystemExit) as e:  # argparse's own refusal of a value it does not list
        main([*base, "--quantize", "int4"])
    assert e.value.code == 2 and "invalid choice: 'int4'" in capsys.readouterr().err and not out.exists()


def test_quantize_without_torchao_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # torchao is an optional extra (a plain install leaves it out): the refusal says how to get it
    import importlib.util

    from cinegen.families.switches import check_before_load

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torchao" else real(name, *a))
    with pytest.raises(FamilyError, match=r"needs the 'torchao' package.*\[quantize\]"):
        check_before_load(Switches(quantize="int8"), "cpu")
