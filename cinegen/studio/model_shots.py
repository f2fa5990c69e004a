"""A storyboard shot generator backed by the model: each shot goes through `cinegen.generate`
exactly as `cinegen generate` would (moderation, watermark, C2PA signature, the same manifest),
so storyboard shots carry content credentials naming the model; the shot id is in the settings.
"""

from __future__ import annotations

from pathlib import Path

from cinegen.studio.storyboard import ShotRequest


class ModelShots:
    """Callable `ShotRequest -> Path`; loads the pipeline once for the whole board."""

    def __init__(self, model_dir: Path | None = None, *, device: str = "cpu", dtype: str = "auto",
                 data_dir: Path | None = None) -> None:
        from cinegen import paths
        from cinegen.generate import LocalModerator, Model, PublishOptions
        from cinegen.trust.publish import TrustSettings

        self.model = Model(paths.model_dir(model_dir), device=device, dtype=dtype)
        self.model.pipe  # noqa: B018 - load now, once for the board (a bad model fails before any shot)
        self.data_dir = paths.data_dir(data_dir)
        self.moderator = LocalModerator(self.data_dir)
        self.publish = PublishOptions(trust=TrustSettings.for_data_dir(self.data_dir))

    def __call__(self, req: ShotRequest) -> Path:
        from cinegen.generate import GenerateError, GenerateRequest, generate
        from cinegen.mode import Mode

        request = GenerateRequest(
            prompt=req.prompt, mode=Mode.IMAGE if req.image else Mode.TEXT,
            negative_prompt=req.negative_prompt,
            seconds=req.seconds, fps=req.fps, width=req.width, height=req.height, seed=req.seed,
            image=Path(req.image) if req.image else None, labels={"shot": req.shot_id},
        )
        try:
            generate(self.model, request, req.out, publish=self.publish, moderator=self.moderator)
        except GenerateError as e:
            hint = "; set the board's width/height" if e.code == "invalid_size" else ""
            verb = "refused" if e.code.startswith("safety") else "failed"
            raise ValueError(f"shot {req.shot_id} {verb} ({e.code}): {e.message}{hint}") from None
        return req.out
