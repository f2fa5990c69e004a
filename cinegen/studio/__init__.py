"""The studio: a browser app for prompts, a gallery and storyboards, with export to editors.

`mount(app)` adds it to the service's FastAPI app (`cinegen serve` does, in `cinegen.server`):
the static page at `/studio/`, the storyboard routes under `/v1/storyboards`, and the one
exception handler for the studio's library errors. The page speaks only the public HTTP API (the same one
the OpenAI SDK uses), with the API key the person types once (kept in the browser's localStorage).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing the package (as `cinegen storyboard` does) must not import FastAPI
    from fastapi import FastAPI

STATIC_DIR = Path(__file__).parent / "static"


def mount(app: FastAPI) -> None:
    """Serve the studio page at `/studio/` and add the `/v1/storyboards` routes to `app`."""
    from fastapi.staticfiles import StaticFiles

    from cinegen.studio.export import ExportError
    from cinegen.studio.routes import router, storyboard_error
    from cinegen.studio.storyboard import StoryboardError

    app.include_router(router)
    app.add_exception_handler(StoryboardError, storyboard_error)
    app.add_exception_handler(ExportError, storyboard_error)
    app.mount("/studio", StaticFiles(directory=STATIC_DIR, html=True), name="studio")
