"""The moderation gate at the HTTP edge: one check, answered as the API answers a refusal.

Every route that accepts user text or images (create, remix, extensions, edits, characters) calls
`gate_check` from the threadpool: a refusal is logged in the store's `moderation_refusals` table,
counted in the metrics and answered 400 with its `safety.*` code naming the field it came from;
an encoder that cannot load answers 503 (refused rather than let through).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cinegen.service.errors import ApiError
from cinegen.service.moderation import ModerationUnavailable, Refused


def gate_check(svc: Any, owner: str, route: str, text: str, *, mode: str, image: Any = None,
               consent_grant_id: str | None = None, project: str | None = None,
               param: str = "prompt", image_param: str = "input_reference") -> dict[str, Any]:
    """The gate's record for an allowed request; an ApiError (400 `safety.*`, or 503) otherwise."""
    try:
        return svc.gate.check(text, mode=mode, image=None if image is None else np.asarray(image),
                              consent_grant_id=consent_grant_id, project=project)
    except ModerationUnavailable as e:
        raise ApiError(503, "moderation_unavailable", f"moderation is not available: {e}") from None
    except Refused as e:
        svc.store.record_refusal(owner=owner, route=route, mode=mode, prompt=text, decision=e.record)
        svc.metrics.refused(e.code)
        field = image_param if "reference image" in e.message else param
        raise ApiError(400, e.code, f"the request was refused by this deployment's content policy "
                       f"({e.record['category']}): {e.message}", field) from None
