"""A storyboard shot generator backed by the model pipeline: each shot is generated, watermarked
and signed exactly as `cinegen generate` would (moderation included), so storyboard shots carry
content credentials naming the model.
"""

from __future__ import annotations

from pathlib import Path

from cinegen.studio.storyboard import ShotRequest


class ModelShots:
    """Callable `ShotRequest -> Path`; loads the pipeline once for the whole board."""

    def __init__(self, model_dir: Path | None = None, *, device: str = "cpu", dtype: str = "auto", data_dir: Path | None = None) -> None:
        from cinegen.generate_command import _data_dir, default_model_dir
        from cinegen.pipeline import CinegenPipeline

        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        self.pipe = CinegenPipeline.from_pretrained(self.model_dir, device=device, dtype=dtype)
        self.data_dir = _data_dir(data_dir)

    def __call__(self, req: ShotRequest) -> Path:
        from cinegen.generate_command import _moderate, _publish
        from cinegen.media import read_image

        decision = _moderate(req.prompt, None, self.data_dir)
        if not decision.allowed:
            raise ValueError(f"shot {req.shot_id} refused ({decision.code}): {decision.message}")
        image = read_image(req.image) if req.image else None
        w, h = req.width, req.height
        if (w, h) not in self.pipe.sizes:
            allowed = ", ".join(f"{a}x{b}" for a, b in self.pipe.sizes)
            raise ValueError(f"shot {req.shot_id}: the model serves {allowed}, not {w}x{h}; set the board's width/height")
        out = self.pipe(
            req.prompt, negative_prompt=req.negative_prompt, seconds=req.seconds, fps=req.fps, width=w, height=h,
            seed=req.seed, image=image,
        )
        ingredients = [Path(req.image)] if req.image else []
        settings = {**out.settings, "shot": req.shot_id}
        _publish(out.frames, out.fps, req.out, self.pipe, self.model_dir, "storyboard-shot", settings, ingredients, self.data_dir)
        return req.out
