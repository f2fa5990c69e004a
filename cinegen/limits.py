"""The limits every door enforces, in one place: the CLI, the service and the studio read them here.

The pipeline refuses what is outside them (`PipelineError`); the service's schemas and settings
use the same numbers, so the API never accepts (and charges for) a request the pipeline refuses.
"""

from __future__ import annotations

MAX_PROMPT_CHARS = 2000  # prompt, negative prompt, schedule entries, storyboard text
MAX_SECONDS = 60.0  # one clip
MIN_FPS, MAX_FPS = 1, 60  # what the pipeline renders (the service offers up to its own max_fps)
MAX_STEPS = 200
MAX_GUIDANCE = 30.0
