"""`--lora PATH[:SCALE]` on a tiny Wan model: frames equal to diffusers' own call with the same LoRAs
loaded and scaled, and LoRAs that do not fit refused naming the file, before anything is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from cinegen.cli import main
from cinegen.families.family import FamilyError
from cinegen.families.lora import Lora
from cinegen.families.model import DiffusersVideoModel, to_uint8
from cinegen.families.random_models import MAX_TEXT, save, save_random_lora, wan_pipeline
from cinegen.families.switches import Switches

NINE = {"seconds": 9 / 16, "fps": 16, "width": 32, "height": 32, "steps": 2}
LORA_FILE = "pytorch_lora_weights.safetensors"  # diffusers' name for a LoRA in a directory


@pytest.fixture(scope="module")
def wan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny Wan directory and two random LoRAs for it (directories in diffusers' format)."""
    root = tmp_path_factory.mktemp("wan-lora")
    pipe = wan_pipeline("t2v")
    return {"model": save(pipe, root / "wan"), "a": save_random_lora(pipe, root / "a", seed=1),
            "b": save_random_lora(pipe, root / "b", seed=2, targets=("to_q", "ffn.net.0.proj"))}


def direct(loras: dict[Path, float]) -> np.ndarray:
    """diffusers' own call on a fresh tiny Wan with `loras` loaded and set to their scales."""
    pipe = wan_pipeline("t2v")
    pipe.set_progress_bar_config(disable=True)
    for i, path in enumerate(loras):
        pipe.load_lora_weights(str(path), adapter_name=f"x{i}")
    if loras:
        pipe.set_adapters([f"x{i}" for i in range(len(loras))], list(loras.values()))
    out = pipe(prompt="a ball", negative_prompt=None, num_frames=9, height=32, width=32,
               num_inference_steps=2, guidance_scale=5.0, output_type="np", max_sequence_length=MAX_TEXT,
               generator=torch.Generator("cpu").manual_seed(0))
    return to_uint8(out.frames[0])


def _frames(model_dir: Path, *loras: str) -> Any:
    switches = Switches(loras=tuple(Lora.parse(t) for t in loras))
    return DiffusersVideoModel.load(model_dir, switches=switches)("a ball", **NINE)


def test_one_lora_equals_diffusers_and_changes_the_frames(wan: dict[str, Path]) -> None:
    out = _frames(wan["model"], f"{wan['a']}:0.7")
    assert out.settings["switches"] == {"loras": ["a:0.7"]}
    assert np.array_equal(out.frames, direct({wan["a"]: 0.7}))
    assert not np.array_equal(out.frames, direct({}))
    file = _frames(wan["model"], f"{wan['a'] / LORA_FILE}:0.7")  # the file itself, not its directory
    assert np.array_equal(file.frames, out.frames)


def test_two_loras_with_their_scales_equal_diffusers(wan: dict[str, Path]) -> None:
    out = _frames(wan["model"], f"{wan['a']}:0.7", f"{wan['b']}:-0.3")
    assert out.settings["switches"] == {"loras": ["a:0.7", "b:-0.3"]}
    assert np.array_equal(out.frames, direct({wan["a"]: 0.7, wan["b"]: -0.3}))
    assert not np.array_equal(out.frames, direct({wan["a"]: 0.7}))


def test_scale_parsing() -> None:
    assert Lora.parse("style.safetensors:0.7") == Lora(Path("style.safetensors"), 0.7)
    assert Lora.parse("style:1e-1") == Lora(Path("style"), 0.1)
    assert Lora.parse("C:/loras/style.safetensors") == Lora(Path("C:/loras/style.safetensors"))
    with pytest.raises(FamilyError, match="the scale after ':' must be a number, got 'strong'"):
        Lora.parse("style.safetensors:strong")


def test_cli_lora_and_what_it_refuses(wan: dict[str, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.mp4"
    base = ["generate", "a ball", "-o", str(out), "--model", str(wan["model"]), "--size", "32x32",
            "--seconds", "0.5625", "--steps", "2"]
    assert main([*base, "--lora", f"{wan['a']}:0.7", "--lora", str(wan["b"])]) == 0 and out.exists()
    out.unlink()
    good = load_file(str(wan["a"] / LORA_FILE))
    shapes = tmp_path / "shapes.safetensors"  # every matrix one row and column too wide
    save_file({k: torch.zeros(v.shape[0] + 1, v.shape[1] + 1) for k, v in good.items()}, str(shapes))
    nothing = tmp_path / "nothing.safetensors"  # keys of layers this transformer does not have
    save_file({k.replace("attn1", "attn9"): v for k, v in good.items()}, str(nothing))
    cases = {f"{shapes}:0.5": f"LoRA {shapes} does not fit this model: Error(s) in loading state_dict",
             str(nothing): f"LoRA {nothing} does not fit this model: 8 of its layers are not in "
                           "WanTransformer3DModel (e.g. blocks.0.attn9.to_k",
             f"{wan['a']}:strong": "the scale after ':' must be a number, got 'strong'",
             str(tmp_path / "absent.safetensors"): "absent.safetensors does not exist"}
    for flag, message in cases.items():
        assert main([*base, "--lora", flag]) == 2
        assert message in capsys.readouterr().err and not out.exists()
    builtin = Path(__file__).parents[1] / "weights" / "backlot-v1"
    args = ["generate", "a ball", "-o", str(out), "--model", str(builtin), "--lora", str(wan["a"])]
    assert main(args) == 2
    assert "built-in model takes no memory or speed switches (loras)" in capsys.readouterr().err
    assert not out.exists()
