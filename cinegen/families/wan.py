"""Wan 2.1 / 2.2 (and their VACE) through diffusers' own Wan pipelines.

- `WanPipeline` (Wan 2.1 T2V, Wan 2.2 T2V-A14B with two experts, Wan 2.2 TI2V-5B with
  `expand_timesteps`): text, still, video-to-video edit (`WanVideoToVideoPipeline`, single-expert
  models only); TI2V also image-to-video (`WanImageToVideoPipeline`, which TI2V shares).
- `WanImageToVideoPipeline`: Wan 2.1 I2V image; FLF2V first + last frame (keyframes); Wan 2.2
  I2V-A14B (no CLIP image encoder) both.
- `WanVACEPipeline`: text, image (first frame), keyframes at any frames, extend, still, and
  reference images, all through VACE's video + mask conditioning (grey, masked frames are the
  ones to generate, as diffusers' VACE examples build them).
Frames 4k+1 (the VAE's causal 4x time compression), sizes in multiples of 16 (TI2V: 32), 16 fps.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from PIL import Image

from cinegen.families.family import Family, FamilyError, FrameRule, ModeInputs
from cinegen.mode import Mode

GREY = (128, 128, 128)  # a frame VACE is to generate (0 in the VAE's [-1, 1])


def _t2v_inputs(mode: Mode, x: ModeInputs, common: dict[str, Any]) -> dict[str, Any]:
    if mode in (Mode.EDIT, Mode.REMIX):
        kw = {k: v for k, v in common.items() if k != "num_frames"}  # the source's length is the clip's
        return {**kw, "video": list(x.video), "strength": x.strength}
    if mode is Mode.IMAGE:  # Wan 2.2 TI2V: the same model animates an image
        return {**common, "image": x.image}
    return common


def _i2v_inputs(mode: Mode, x: ModeInputs, common: dict[str, Any]) -> dict[str, Any]:
    pins = dict(x.keyframes)
    if x.image is not None:
        pins[0] = x.image
    last = x.num_frames - 1
    if 0 not in pins or not set(pins) <= {0, last}:
        raise FamilyError("invalid_keyframes",
                          f"Wan image-to-video pins the first frame, and optionally the last (frame {last}); "
                          f"got frames {sorted(pins)}")
    kw = {**common, "image": pins[0]}
    if mode is Mode.KEYFRAMES and last in pins:
        kw["last_image"] = pins[last]
    return kw


def _flf_inputs(mode: Mode, x: ModeInputs, common: dict[str, Any]) -> dict[str, Any]:
    kw = _i2v_inputs(mode, x, common)
    if "last_image" not in kw:
        raise FamilyError("invalid_keyframes",
                          f"Wan FLF2V takes a first and a last frame (frame {x.num_frames - 1}); "
                                               "give both (an image and a keyframe at the clip's end)")
    return kw


def _vace_inputs(mode: Mode, x: ModeInputs, common: dict[str, Any]) -> dict[str, Any]:
    kw: dict[str, Any] = dict(common)
    if x.references:
        kw["reference_images"] = list(x.references)
    if mode in (Mode.TEXT, Mode.STILL):
        return kw
    n, size = x.num_frames, (x.width, x.height)
    known: dict[int, Image.Image] = dict(x.keyframes)
    if x.image is not None:
        known[0] = x.image
    if mode is Mode.EXTEND:  # the source's frames nearest the joint are the clip's known context
        context = vace_context(len(x.video), n)
        if x.direction == "forward":
            known = {i: f for i, f in enumerate(x.video[-context:])}
        else:
            known = {n - context + i: f for i, f in enumerate(x.video[:context])}
    grey, keep, make = Image.new("RGB", size, GREY), Image.new("L", size, 0), Image.new("L", size, 255)
    kw["video"] = [known.get(i, grey) for i in range(n)]
    kw["mask"] = [keep if i in known else make for i in range(n)]
    return kw


def vace_context(source_frames: int, num_frames: int) -> int:
    """How many source frames a VACE extension keeps as context: a multiple of 4 (so the whole
    window stays 4k+1), at most 16 and under half the window."""
    context = min(source_frames, 16, (num_frames - 1) // 2) // 4 * 4
    if context < 4:
        raise FamilyError("invalid_request",
                          "extending with Wan VACE needs a source of at least 4 frames and at least 9 "
                          f"frames in the window, got {source_frames} and {num_frames}")
    return context


def without_ftfy(pipe: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Wan's pipelines other than `WanPipeline` (and SkyReels-V2's, copied from them) call `ftfy`
    (an optional diffusers dependency) unguarded when they clean a prompt. Without it, the prompt
    is embedded by `WanPipeline.encode_prompt` (the same copied code, ftfy guarded) and passed as
    embeddings, which is what the pipeline would compute for a prompt ftfy leaves unchanged."""
    from diffusers import WanPipeline

    if importlib.util.find_spec("ftfy") is not None or type(pipe) is WanPipeline or "prompt" not in kwargs:
        return kwargs
    encoder: Any = WanPipeline(tokenizer=pipe.tokenizer, text_encoder=pipe.text_encoder, vae=None,
                               transformer=None, scheduler=pipe.scheduler)
    kw = {k: v for k, v in kwargs.items() if k != "negative_prompt"}
    kw["prompt"] = None  # given as embeddings (SkyReels' text-to-video takes `prompt` positionally)
    kw["prompt_embeds"], kw["negative_prompt_embeds"] = encoder.encode_prompt(
        kwargs["prompt"], kwargs.get("negative_prompt"),
        do_classifier_free_guidance=kwargs["guidance_scale"] > 1.0,
        max_sequence_length=kwargs.get("max_sequence_length", 512), device=pipe._execution_device)
    return kw


def _family(class_name: str, routes: dict[Mode, str], inputs: Any, variant: str, size_multiple: int = 16,
            **extra: Any) -> Family:
    return Family(name="wan", class_name=class_name, routes=routes, inputs=inputs, frames=FrameRule(4),
                  size_multiple=size_multiple, fps=16, steps=50, guidance=5.0, default_size=(832, 480),
                  variant=variant, prepare=without_ftfy, **extra)


def text_to_video(meta: dict[str, Any], path: Path) -> Family:
    routes = {Mode.TEXT: "WanPipeline", Mode.STILL: "WanPipeline"}
    if meta.get("expand_timesteps"):
        # the TI2V VAE compresses 16x in space, the transformer patches 2x2: sizes in multiples of 32
        return _family("WanPipeline", {**routes, Mode.IMAGE: "WanImageToVideoPipeline"}, _t2v_inputs,
                       "Wan 2.2 TI2V (text- and image-to-video)", size_multiple=32)
    if meta.get("boundary_ratio") is not None:  # two experts: video-to-video would run one of them
        return _family("WanPipeline", routes, _t2v_inputs, "Wan 2.2 A14B text-to-video (two experts)")
    edit = {Mode.EDIT: "WanVideoToVideoPipeline", Mode.REMIX: "WanVideoToVideoPipeline"}
    return _family("WanPipeline", {**routes, **edit}, _t2v_inputs, "text-to-video")


def image_to_video(meta: dict[str, Any], path: Path) -> Family:
    """First + last frame where the checkpoint was trained for it: FLF2V (its image embedder has
    positions for two images) or Wan 2.2 I2V (no CLIP image encoder: frames enter as latents)."""
    image, both = {Mode.IMAGE: "WanImageToVideoPipeline"}, {Mode.KEYFRAMES: "WanImageToVideoPipeline"}
    config = path / "transformer" / "config.json"
    transformer = json.loads(config.read_text()) if config.is_file() else {}
    if transformer.get("pos_embed_seq_len"):  # FLF2V embeds exactly two images
        return _family("WanImageToVideoPipeline", both, _flf_inputs, "first + last frame (FLF2V)")
    if not transformer.get("image_dim"):
        return _family("WanImageToVideoPipeline", {**image, **both}, _i2v_inputs,
                       "image-to-video, first + last frame")
    return _family("WanImageToVideoPipeline", image, _i2v_inputs, "image-to-video")


def vace(meta: dict[str, Any], path: Path) -> Family:
    modes = (Mode.TEXT, Mode.STILL, Mode.IMAGE, Mode.KEYFRAMES, Mode.EXTEND)
    return _family("WanVACEPipeline", {m: "WanVACEPipeline" for m in modes}, _vace_inputs,
                   "VACE (reference images, keyframes, extension)", references=True,
                   extension_context=vace_context)


FAMILIES = {"WanPipeline": text_to_video, "WanImageToVideoPipeline": image_to_video, "WanVACEPipeline": vace}
