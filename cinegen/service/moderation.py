"""The moderation gate: every create, remix, extension and edit passes `trust.moderation.moderate`
before a job is queued.

The gate holds the deployment's policy (`moderation_policy`, default the packaged `policy.yaml`)
and the likeness consent registry (`<data dir>/consent.sqlite`, the file `cinegen consent
--data-dir <data dir> ...` edits and `cinegen generate` reads). The policy, and its sentence encoder, load
once
per process: the encoder takes seconds to load, so `warm()` runs in a background thread at start
and requests wait for it (`/readyz` answers 503 until it is done). `check` is CPU work (one
MiniLM forward pass): the routes call it from the threadpool, never on the event loop, and
concurrent requests embed their prompts in one batch (`EmbedBatcher`).

A refusal raises `Refused`; the route answers 400 with the decision's `safety.*` code, logs it in
the store's `moderation_refusals` table and creates no job (so no quota is spent). An allowed
request's record (`Decision.to_dict()` plus the consent it carried and the policy's source) is
stored with the job in the `moderation` column.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from cinegen.mode import Mode
from cinegen.service.settings import Settings

log = logging.getLogger(__name__)

WARM_TIMEOUT_SECONDS = 300.0

_policies: dict[tuple[str, float], Any] = {}  # (path, mtime) -> Policy: loaded (and warmed) once per process
_policies_lock = threading.Lock()


def load_policy_once(path: str | None) -> Any:
    """The policy at `path` (None: the packaged one), loaded once per process and file version.

    Several apps in one process (tests, a studio beside the API) share it, and with it the
    sentence encoder it loads on first use.
    """
    from cinegen.trust.moderation import load_policy

    file = Path(path) if path else None
    found = file is not None and file.is_file()
    key = (str(file.resolve()), file.stat().st_mtime) if file is not None and found else (path or "", 0.0)
    with _policies_lock:
        if key not in _policies:
            _policies[key] = load_policy(path)  # raises PolicyError (a ValueError) naming the file and key
        return _policies[key]


class _Waiter:
    def __init__(self, text: str) -> None:
        self.text = text
        self.event = threading.Event()
        self.lead = False
        self.error: BaseException | None = None


class EmbedBatcher:
    """Coalesces the prompt embeddings of concurrent requests into one encoder call.

    One MiniLM forward pass over 16 prompts costs about as much as three single ones on a busy
    CPU, so under load requests embed together: the first caller leads one batch of whatever is
    pending (its own prompt first), then hands the lead to the oldest waiter still pending. The
    vectors land in the policy's memo, where `moderate` finds them.
    """

    def __init__(self, policy: Any, max_batch: int = 32) -> None:
        self.policy = policy
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._pending: list[_Waiter] = []
        self._busy = False

    def embed(self, text: str) -> None:
        me = _Waiter(text)
        with self._lock:
            self._pending.append(me)
            if not self._busy:  # nobody is encoding: lead now (the pending list was empty)
                self._busy = me.lead = True
                me.event.set()
        me.event.wait()
        if not me.lead:
            if me.error is not None:
                raise me.error
            return
        with self._lock:  # the leader is always the oldest pending waiter, so it is in its batch
            batch = self._pending[: self.max_batch]
            del self._pending[: len(batch)]
        error: BaseException | None = None
        try:
            self.policy.embed([w.text for w in batch])
        except Exception as e:  # every waiter of the batch sees the failure
            error = e
        with self._lock:
            nxt = self._pending[0] if self._pending else None
            if nxt is None:
                self._busy = False
            else:
                nxt.lead = True
        for w in batch:
            if w is not me:
                w.error = error
                w.event.set()
        if nxt is not None:
            nxt.event.set()
        if error is not None:
            raise error


class Refused(Exception):
    """Moderation refused the request; `record` is what was logged."""

    def __init__(self, record: dict[str, Any]) -> None:
        super().__init__(record["message"])
        self.record = record
        self.code: str = record["code"]
        self.message: str = record["message"]


class ModerationUnavailable(Exception):
    """The policy's encoder could not be loaded: requests are refused (503) rather than let through."""


class ModerationGate:
    """One per app: the policy, the consent registry, and the warm-up state."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.moderation
        self.policy: Any = None
        self.registry: Any = None
        self.batcher: EmbedBatcher | None = None
        self._ready = threading.Event()
        self._error: str | None = None
        if not self.enabled:
            log.warning("moderation is OFF for this deployment (explicit opt-out): prompts are not checked")
            self._ready.set()
            return
        from cinegen.trust.consent import ConsentRegistry

        self.policy = load_policy_once(settings.moderation_policy)
        self.registry = ConsentRegistry.in_data_dir(settings.data_dir)
        self.batcher = EmbedBatcher(self.policy)

    # ------------------------------------------------------------------ warm-up
    def start_warming(self) -> None:
        if self._ready.is_set():
            return
        threading.Thread(target=self.warm, name="cinegen-moderation-warm", daemon=True).start()

    def warm(self) -> None:
        """Load the sentence encoder and embed the category descriptions (seconds, once per process)."""
        t0 = time.monotonic()
        try:
            with _policies_lock:  # one load per process, even with several apps warming at once
                if self.policy.embedding:
                    self.policy.description_embeddings()
                    self.policy.embed(["warm-up"])
            log.info("moderation policy %s ready in %.1f s", self.policy.source, time.monotonic() - t0)
        except Exception as e:  # an unloadable encoder: refuse requests rather than skip the check
            log.exception("moderation encoder failed to load")
            self._error = f"{type(e).__name__}: {e}"
        finally:
            self._ready.set()

    def ready(self) -> bool:
        return self._ready.is_set() and self._error is None

    def settled(self) -> bool:
        """The warm-up has finished, loaded or failed."""
        return self._ready.is_set()

    # ------------------------------------------------------------------ the check
    def check(self, prompt: str, *, mode: str, image: np.ndarray | None = None,
              consent_grant_id: str | None = None, project: str | None = None) -> dict[str, Any]:
        """The record to store with an allowed job; raises Refused (or ModerationUnavailable)."""
        if not self.enabled:
            return {"checked": False, "reason": "moderation is disabled for this deployment"}
        if not self._ready.wait(WARM_TIMEOUT_SECONDS) or self._error is not None:
            raise ModerationUnavailable(self._error or "the moderation encoder is still loading")
        from cinegen.trust.consent import ConsentGrant
        from cinegen.trust.moderation import moderate, strip_allowed

        grant = None
        if consent_grant_id is not None:
            # moderate() re-reads the grant from the registry by id (a revocation applies at once);
            # an unknown id is passed on so the refusal can say so.
            grant = self.registry.get_grant(consent_grant_id) or ConsentGrant(
                consent_grant_id, performer="", uses=(), projects=(), expires_at=0.0)
        if self.batcher is not None and self.policy.embedding and prompt.strip():
            self.batcher.embed(strip_allowed(prompt, self.policy.allow_terms))  # the text moderate() embeds
        use = Mode(mode).consent_use  # which consent use (trust.consent.USES) the mode needs
        try:
            decision = moderate(prompt, self.policy, image=image, consent=grant, registry=self.registry,
                                use=use,
                                project=project)
        except KeyError:  # the policy's embedding memo was bounded (cleared) mid-call by another thread
            decision = moderate(prompt, self.policy, image=image, consent=grant, registry=self.registry,
                                use=use,
                                project=project)
        record = {**decision.to_dict(), "checked": True, "use": use,
                  "consent_grant_id": consent_grant_id, "project": project, "policy": self.policy.source}
        if not decision.allowed:
            raise Refused(record)
        return record
