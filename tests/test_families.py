"""The model registry, `cinegen models`, the CLI door and the switches, on tiny random-weight
directories of each family (LTX-Video and CogVideoX modes checked against diffusers here too)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cinegen.cli import main
from cinegen.families.family import FamilyError, FrameRule
from cinegen.families.model import DiffusersVideoModel, to_uint8
from cinegen.families.random_models import MAX_TEXT, cogvideox_pipeline, ltx_pipeline, save, wan_pipeline
from cinegen.families.registry import describe, recognise, weights_digest
from cinegen.families.switches import Lora, Switches
from cinegen.generate import GenerateError, GenerateRequest, Model, PublishOptions, generate
from cinegen.mode import Mode

IMAGE = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, Path]]:
    """name -> (the diffusers pipeline in memory, its saved directory), all under one models directory."""
    root = tmp_path_factory.mktemp("models")
    pipes = {"wan": wan_pipeline("t2v"), "ltx": ltx_pipeline(), "cogvideox": cogvideox_pipeline("t2v"),
             "cogvideox-i2v": cogvideox_pipeline("i2v")}
    out = {}
    for name, pipe in pipes.items():
        pipe.set_progress_bar_config(disable=True)
        out[name] = (pipe, save(pipe, root / name))
    (root / "wan" / "LICENSE").write_text("Apache License\nVersion 2.0, January 2004\n")
    return out


def _direct(pipe: Any, **kw: Any) -> np.ndarray:
    call = {"prompt": "a ball", "negative_prompt": None, "num_inference_steps": 2, "output_type": "np",
            "max_sequence_length": MAX_TEXT, "generator": torch.Generator("cpu").manual_seed(0), **kw}
    return to_uint8(pipe(**call).frames[0])


# ----------------------------------------------------------------------------- registry and listing
def test_registry_recognises_each_family(models: dict[str, Any]) -> None:
    wan, ltx, cog = (recognise(models[k][1]) for k in ("wan", "ltx", "cogvideox"))
    assert wan is not None and wan.name == "wan" and wan.frames == FrameRule(4) and wan.size_multiple == 16
    assert ltx is not None and ltx.frames == FrameRule(8) and ltx.size_multiple == 32 and ltx.fps == 24
    assert cog is not None and cog.route(Mode.EDIT) == "CogVideoXVideoToVideoPipeline"
    assert recognise(Path(__file__).parents[1] / "weights" / "backlot-v1") is None  # the built-in model


def test_unknown_class_and_missing_component(models: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "MochiPipeline"}))
    with pytest.raises(FamilyError,
                       match="names 'MochiPipeline', which cinegen cannot run; known: CinegenPipeline"):
        recognise(tmp_path)
    broken = tmp_path / "broken"
    shutil.copytree(models["wan"][1], broken)
    shutil.rmtree(broken / "vae")
    with pytest.raises(FamilyError, match=r"cannot load wan \(WanPipeline\)") as e:
        DiffusersVideoModel.load(broken)
    assert e.value.code == "model_unavailable"
    for f in (broken / "transformer").glob("*.safetensors"):
        f.unlink()
    with pytest.raises(FamilyError, match="component 'transformer' is missing"):
        DiffusersVideoModel.load(broken)


def test_cinegen_models_lists_each_family(models: dict[str, Any], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    root = models["wan"][1].parent
    assert main(["models", "--models-dir", str(root), "--json"]) == 0
    listed = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    assert set(listed) == {"wan", "ltx", "cogvideox", "cogvideox-i2v"}
    assert listed["wan"]["modes"] == ["text", "still", "edit", "remix"] and listed["wan"]["frames"] == "4k+1"
    assert listed["ltx"]["sizes"].startswith("multiples of 32") and listed["ltx"]["fps"] == 24
    assert listed["cogvideox-i2v"]["modes"] == ["image"]
    assert listed["wan"]["licence"].startswith("Apache License") and listed["ltx"]["licence"] is None
    assert listed["wan"]["parameters"] > 0 and listed["wan"]["bytes_on_disk"] > 0
    assert main(["models", str(models["wan"][1])]) == 0
    assert "licence: Apache License" in capsys.readouterr().out
    assert describe(Path(__file__).parents[1] / "weights" / "backlot-v1").family == "cinegen"
    ltx2, mochi = tmp_path / "ltx2", tmp_path / "mochi"
    for folder, kind in ((ltx2, "LTX2ConditionPipeline"), (mochi, "MochiPipeline")):
        folder.mkdir()
        (folder / "model_index.json").write_text(json.dumps({"_class_name": kind}))
    assert main(["models", str(ltx2), str(mochi), str(models["ltx"][1])]) == 0
    out = capsys.readouterr().out
    assert "ltx2  [ltx-2: text, image, keyframes, extend forward; with audio]" in out
    assert "modes: text, image, keyframes, extend" in out and "ltx  [ltx:" in out
    assert "mochi  [cannot run]" in out and "cannot run; known:" in out


# ----------------------------------------------------------------------------- LTX-Video and CogVideoX
def test_ltx_modes_equal_diffusers(models: dict[str, Any]) -> None:
    from diffusers import LTXImageToVideoPipeline
    from PIL import Image

    pipe, path = models["ltx"]
    model = DiffusersVideoModel.load(path)
    call = {"seconds": 9 / 24, "fps": 24, "width": 32, "height": 32, "steps": 2}
    shape = {"num_frames": 9, "height": 32, "width": 32, "guidance_scale": 3.0, "frame_rate": 24}
    assert np.array_equal(model("a ball", **call).frames, _direct(pipe, **shape))
    i2v = LTXImageToVideoPipeline.from_pipe(pipe)
    assert np.array_equal(model("a ball", image=IMAGE, **call).frames,
                          _direct(i2v, image=Image.fromarray(IMAGE), **shape))
    long = {**call, "seconds": 17 / 24}
    assert model("a ball", image=IMAGE, keyframes={16 / 24: IMAGE}, **long).frames.shape == (17, 32, 32, 3)
    source = np.random.default_rng(1).integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    assert model("a ball", extend=source, extend_fps=24, **long).frames.shape == (8, 32, 32, 3)
    with pytest.raises(FamilyError, match=r"8k\+1 frames, not 10: use 9"):
        model("a ball", **{**call, "seconds": 10 / 24})
    with pytest.raises(FamilyError, match="multiples of 32, not 48x32: use 64x32"):
        model("a ball", **{**call, "width": 48})


def test_cogvideox_modes_equal_diffusers(models: dict[str, Any]) -> None:
    from PIL import Image

    call = {"seconds": 9 / 8, "fps": 8, "width": 16, "height": 16, "steps": 2}
    shape = {"num_frames": 9, "height": 16, "width": 16, "guidance_scale": 6.0}
    pipe, path = models["cogvideox"]
    model = DiffusersVideoModel.load(path)
    assert np.array_equal(model("a ball", **call).frames, _direct(pipe, **shape))
    source = np.random.default_rng(1).integers(0, 256, (12, 16, 16, 3), dtype=np.uint8)
    assert model("a ball", edit=source, extend_fps=8, strength=0.5, **call).frames.shape == (9, 16, 16, 3)
    pipe, path = models["cogvideox-i2v"]
    model = DiffusersVideoModel.load(path)
    image = IMAGE[:16, :16]
    assert np.array_equal(model("a ball", image=image, **call).frames,
                          _direct(pipe, image=Image.fromarray(image), **shape))
    with pytest.raises(FamilyError, match="cannot do mode 'text'; it can do: image"):
        model("a ball", **call)


# ----------------------------------------------------------------------------- the doors: generate(), the CLI
def test_generate_core_and_cli(models: dict[str, Any], tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    path = models["wan"][1]
    request = GenerateRequest("a red ball", seconds=9 / 16, fps=16, width=32, height=32, steps=2, seed=1)
    done = generate(Model(path), request, tmp_path / "a.mp4", publish=PublishOptions(sign=False))
    assert done.frames.shape == (9, 32, 32, 3) and done.settings["family"] == "wan"
    assert done.settings["weights_sha256"] == weights_digest(path)  # the manifest's record of the weights
    with pytest.raises(GenerateError, match="cannot do mode 'image'") as e:  # before the inputs are read
        generate(Model(path), GenerateRequest("a ball", mode=Mode.IMAGE, image=tmp_path / "x.png"),
                 tmp_path / "b.mp4", publish=PublishOptions(sign=False))
    assert e.value.code == "unsupported_mode" and not (tmp_path / "b.mp4").exists()
    out = tmp_path / "cli.mp4"
    args = ["generate", "a red ball", "-o", str(out), "--model", str(path), "--size", "32x32", "--steps", "2"]
    assert main([*args, "--seconds", "0.5625", "--vae-tiling", "--cache", "first-block"]) == 0
    assert out.exists() and "9 frames at 16 fps" in capsys.readouterr().out
    refused = tmp_path / "refused.mp4"
    assert main([*args[:3], str(refused), *args[4:], "--seconds", "0.5"]) == 2
    assert "4k+1 frames, not 8" in capsys.readouterr().err and not refused.exists()
    assert main([*args[:3], str(refused), *args[4:], "--seconds", "0.5", "--fit"]) == 0 and refused.exists()


def test_switches_refused_with_what_is_missing(models: dict[str, Any], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = models["wan"][1]
    out = tmp_path / "x.mp4"
    base = ["generate", "a ball", "-o", str(out), "--model", str(path), "--size", "32x32", "--seconds",
            "0.5625"]
    needs = "and needs one (--device cuda or xpu); this run's device is 'cpu'"
    for flags, message in ((["--offload", "model"], needs), (["--offload", "group"], needs),
                           (["--offload", "sequential"], needs),
                           (["--quantize", "int8", "--fp8-storage"], "quantize and fp8 storage each"),
                           (["--cache", "mag"], "MagCache needs magnitude ratios")):
        assert main([*base, *flags]) == 2
        assert message in capsys.readouterr().err and not out.exists()
    builtin = Path(__file__).parents[1] / "weights" / "backlot-v1"
    with pytest.raises(GenerateError, match="built-in model takes no memory or speed switches"):
        Model(builtin, switches=Switches(vae_tiling=True)).pipe  # noqa: B018
    assert Lora.parse("style.safetensors:0.7") == Lora(Path("style.safetensors"), 0.7)
    settings = Switches.from_options({"offload": "group", "vae_tiling": "true",
                                      "lora": "a.safetensors:0.5, b"})
    loras = (Lora(Path("a.safetensors"), 0.5), Lora(Path("b")))
    assert settings == Switches(offload="group", vae_tiling=True, loras=loras)
    with pytest.raises(FamilyError, match="unknown switch setting.s. tiling; known: cache"):
        Switches.from_options({"tiling": "true"})
    with pytest.raises(FamilyError, match="cache must be one of first-block"):
        Switches.from_options({"cache": "tea"})
    assert Lora.parse("C:/loras/style.safetensors") == Lora(Path("C:/loras/style.safetensors"))


def test_lora_and_cache_switches(models: dict[str, Any], tmp_path: Path) -> None:
    """A LoRA loads through diffusers (peft) where peft is installed, else it is refused naming it;
    a cache hook changes nothing at two steps (it starts skipping later) but is attached."""
    import importlib.util

    pipe, path = models["wan"]
    lora = tmp_path / "lora.safetensors"
    lora.write_bytes(b"")
    if importlib.util.find_spec("peft") is None:
        with pytest.raises(FamilyError, match="needs the 'peft' package"):
            DiffusersVideoModel.load(path, switches=Switches(loras=(Lora(lora),)))
    cached = DiffusersVideoModel.load(path, switches=Switches(cache="first-block", vae_tiling=True))
    assert cached.base.transformer.is_cache_enabled and cached.base.vae.use_tiling
    plain = DiffusersVideoModel.load(path)
    call = {"seconds": 9 / 16, "fps": 16, "width": 32, "height": 32, "steps": 2}
    a, b = cached("a ball", **call), plain("a ball", **call)
    assert a.settings["switches"] == {"vae_tiling": True, "cache": "first-block"}
    assert np.abs(a.frames.astype(int) - b.frames.astype(int)).max() <= 8


def test_cache_and_compile_switches_per_family(models: dict[str, Any]) -> None:
    """TaylorSeer runs on LTX-Video; FirstBlockCache needs two blocks (the tiny LTX has one); regional
    compilation needs the repeated blocks a transformer declares (CogVideoX's declares none)."""
    call = {"seconds": 9 / 24, "fps": 24, "width": 32, "height": 32, "steps": 4}
    ltx = DiffusersVideoModel.load(models["ltx"][1], switches=Switches(cache="taylorseer"))
    assert ltx("a ball", **call).settings["switches"] == {"cache": "taylorseer"}
    with pytest.raises(FamilyError, match="FirstBlockCache needs at least two transformer blocks"):
        DiffusersVideoModel.load(models["ltx"][1], switches=Switches(cache="first-block"))
    with pytest.raises(FamilyError, match="declares no repeated blocks"):
        DiffusersVideoModel.load(models["cogvideox"][1], switches=Switches(compile=True))
    compiled = DiffusersVideoModel.load(models["wan"][1], switches=Switches(compile=True))  # compiles lazily
    assert compiled.switches.describe() == {"compile": True}
