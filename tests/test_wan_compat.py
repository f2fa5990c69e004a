"""A diffusers-format Wan 2.1 text-to-video directory runs through CinegenPipeline (--model PATH).

The checkpoint is built offline with tiny random weights (the sizes diffusers' own Wan tests use),
saved by `diffusers.WanPipeline.save_pretrained`, and loaded by `CinegenPipeline.from_pretrained`
through the WanVAE / T5Prompts adapters.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cinegen.models.text import minilm_path
from cinegen.pipeline import CinegenPipeline, PipelineError
from cinegen.pipeline.adapters import T5Prompts, WanVAE

SIZE: dict[str, Any] = {"width": 32, "height": 32}


@pytest.fixture(scope="module")
def wan_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from diffusers import (
        AutoencoderKLWan,
        FlowMatchEulerDiscreteScheduler,
        WanPipeline,
        WanTransformer3DModel,
    )
    from transformers import AutoTokenizer, UMT5Config, UMT5EncoderModel

    torch.manual_seed(0)
    # no hub: MiniLM's BERT vocab
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()), local_files_only=True)
    text_encoder = UMT5EncoderModel(
        UMT5Config(vocab_size=tokenizer.vocab_size, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                   relative_attention_num_buckets=8)
    ).eval()
    vae: Any = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                                temperal_downsample=[False, True, True])
    vae.eval()
    transformer: Any = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
        text_dim=32,
        freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
    )
    transformer.eval()
    pipe: Any = WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                            scheduler=FlowMatchEulerDiscreteScheduler())
    path = tmp_path_factory.mktemp("wan") / "tiny-wan2.1"
    pipe.save_pretrained(str(path))
    index = path / "model_index.json"
    meta = json.loads(index.read_text())
    assert meta["_class_name"] == "WanPipeline"
    meta.update({"cinegen_sizes": [[32, 32], [48, 32]], "cinegen_max_sequence_length": 16,
                 "cinegen_window_latents": 3})
    index.write_text(json.dumps(meta))
    return path


@pytest.fixture(scope="module")
def wan(wan_dir: Path) -> CinegenPipeline:
    return CinegenPipeline.from_pretrained(wan_dir)


def test_loads_through_the_adapters(wan: CinegenPipeline) -> None:
    assert isinstance(wan.vae, WanVAE) and wan.vae.latent_channels == 16
    assert isinstance(wan.encode_prompt, T5Prompts)
    assert wan.sizes == ((32, 32), (48, 32)) and wan.window_latents == 3
    assert wan.info["family"] == "wan"


def test_prompt_embeddings_zero_padding(wan: CinegenPipeline) -> None:
    emb = wan.encode_prompt(["a red ball", ""])
    assert emb.shape == (2, 16, 32)
    assert torch.all(emb[1, 2:] == 0) and emb[0, :3].abs().sum() > 0


def test_vae_adapter_round_trip_shapes(wan: CinegenPipeline) -> None:
    video = torch.rand(1, 3, 5, 32, 32) * 2 - 1
    with torch.no_grad():
        z = wan.vae.encode_video(video)
        assert z.shape == (1, 16, 2, 4, 4)
        assert wan.vae.decode_video(z).shape == (1, 3, 5, 32, 32)


def test_text_to_video(wan: CinegenPipeline) -> None:
    out = wan("a red ball rolls", seconds=0.5, steps=2, **SIZE)
    assert out.frames.shape == (8, 32, 32, 3) and out.frames.dtype == np.uint8
    other = wan("a red ball rolls", seconds=0.25, steps=2, width=48, height=32)
    assert other.frames.shape == (4, 32, 48, 3)


def test_deterministic(wan: CinegenPipeline) -> None:
    a = wan("a red ball rolls", seconds=0.25, steps=2, seed=1, **SIZE)
    b = wan("a red ball rolls", seconds=0.25, steps=2, seed=1, **SIZE)
    c = wan("a red ball rolls", seconds=0.25, steps=2, seed=2, **SIZE)
    assert np.array_equal(a.frames, b.frames)
    assert not np.array_equal(a.frames, c.frames)


def test_image_to_video_through_wan(wan: CinegenPipeline) -> None:
    image = np.random.default_rng(0).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    out = wan("a ball", seconds=0.5, steps=2, image=image, **SIZE)
    assert out.frames.shape == (8, 32, 32, 3)


def test_sizes_are_enforced(wan: CinegenPipeline) -> None:
    with pytest.raises(PipelineError, match="size"):
        wan("a ball", seconds=0.25, width=832, height=480)


def test_default_sizes_without_cinegen_keys(wan_dir: Path, tmp_path: Path) -> None:
    meta = json.loads((wan_dir / "model_index.json").read_text())
    for k in ("cinegen_sizes", "cinegen_max_sequence_length", "cinegen_window_latents"):
        meta.pop(k)
    (tmp_path / "model_index.json").write_text(json.dumps(meta))
    for sub in ("tokenizer", "text_encoder", "vae", "transformer", "scheduler"):
        (tmp_path / sub).symlink_to(wan_dir / sub)
    p = CinegenPipeline.from_pretrained(tmp_path)
    assert (832, 480) in p.sizes and p.window_latents == 21


def test_saving_a_wan_pipeline_is_refused(wan: CinegenPipeline, tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="Wan"):
        wan.save_pretrained(tmp_path)
