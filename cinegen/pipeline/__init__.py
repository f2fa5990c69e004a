"""The pipeline package: assembling, loading and running pipelines (prompt -> frames, every mode).

- `types.py`     component protocols, `PipelineError`, `VideoOutput`, `Sampling`, `ScheduleEntry`
- `frames.py`    pixel helpers and the documented fitting rules (fit_image, fit_video, retime; the
                 public ones are re-exported here)
- `core.py`      `CinegenPipeline`: numbered steps, one denoising primitive (`_window`), the modes
- `adapters.py`  concrete models -> the component protocols (built-in VAE/MiniLM, Wan VAE/UMT5)
- `loading.py`   model_index.json directories -> a pipeline, and back

`from cinegen.pipeline import CinegenPipeline` is the public entry point.
"""

from cinegen.pipeline.core import MODEL_FPS, OVERLAP_LATENTS, WINDOW_LATENTS, CinegenPipeline
from cinegen.pipeline.frames import SEAM_FADE_FRAMES, carry_residual, fit_image, fit_video, retime
from cinegen.pipeline.types import (
    PipelineError,
    ProgressFn,
    PromptEncoder,
    PromptExtender,
    Sampling,
    ScheduleEntry,
    VideoAutoencoder,
    VideoOutput,
)

__all__ = [
    "MODEL_FPS", "OVERLAP_LATENTS", "SEAM_FADE_FRAMES", "WINDOW_LATENTS", "CinegenPipeline", "PipelineError",
    "ProgressFn", "PromptEncoder", "PromptExtender", "Sampling", "ScheduleEntry", "VideoAutoencoder",
    "VideoOutput",
    "carry_residual", "fit_image", "fit_video", "retime",
]
