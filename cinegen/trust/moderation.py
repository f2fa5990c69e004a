"""Moderation before generation: named categories, offline, configurable per deployment.

A prompt (and, where it can, a reference image) is checked against the policy's categories:
sexual content, minors, graphic violence, hate, and real-person likeness. Each text category
combines two offline signals:

* **terms**: deny-terms matched as whole words after the policy's allow-terms are cut out
  ("a shot of a bullet train" loses "bullet train" before "shot" could matter);
* **embedding**: cosine similarity of the prompt's sentence embedding (all-MiniLM-L6-v2, shipped
  in the package, loaded offline) to the category's descriptions, against a per-category
  threshold.

`minors` is also triggered by a sexual prompt that mentions a minor. Likeness: person names are
found offline (a registered name or alias anywhere; or a capitalised given name from a list
followed by a capitalised surname); a registered performer needs a consent grant that covers the
request *as the registry holds it now*; an unregistered real name is refused by default.

The decision goes with the job (`Decision.to_dict`); refusals happen before any quota is spent.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from cinegen.trust.consent import ConsentGrant, ConsentRegistry, normalise_name
from cinegen.trust.names import NameIndex, plain_capitals, public_figures, skeleton

if TYPE_CHECKING:
    from cinegen.models.traced import TraceCache

TEXT_CATEGORIES = ("minors", "sexual", "violence", "hate")  # checked in this order of precedence


class PolicyError(ValueError):
    """A malformed moderation policy file, naming the key at fault."""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    category: str | None  # "sexual", "minors", "violence", "hate", "likeness"; None when allowed
    code: str | None  # "safety.sexual", ...; None when allowed
    message: str
    scores: dict[str, float] = field(default_factory=dict)
    names: tuple[str, ...] = ()  # person names found in the prompt

    def to_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "category": self.category, "code": self.code,
                "message": self.message,
                "scores": {k: round(v, 4) for k, v in self.scores.items()}, "names": list(self.names)}


@dataclass(frozen=True)
class CategoryPolicy:
    name: str
    code: str
    message: str
    threshold: float
    deny_terms: tuple[str, ...]
    descriptions: tuple[str, ...]
    mention_terms: tuple[str, ...] = ()  # minors: words that mention a minor
    context_terms: tuple[str, ...] = ()  # minors: words that, with a mention, make the prompt harmful


@dataclass(frozen=True)
class Policy:
    categories: dict[str, CategoryPolicy]
    allow_terms: tuple[str, ...] = ()
    embedding: bool = True
    likeness_code: str = "safety.likeness"
    refuse_unregistered: bool = True
    allow_names: tuple[str, ...] = ()
    max_skin_fraction: float = 0.7
    source: str = "<default>"
    traces: TraceCache | None = field(default=None, compare=False)  # run the encoder's TorchScript trace
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def encoder(self) -> Any:
        """The sentence encoder, loaded on first use (offline) and kept with this policy."""
        if "encoder" not in self._cache:
            from cinegen.models.text import SentenceEmbedder

            self._cache["encoder"] = SentenceEmbedder(traces=self.traces)
        return self._cache["encoder"]

    def embed(self, texts: list[str]) -> np.ndarray:
        """(N, 384) unit-norm sentence embeddings, memoised per text (batch many prompts in one call)."""
        memo: dict[str, np.ndarray] = self._cache.setdefault("memo", {})
        todo = list(dict.fromkeys(t for t in texts if t not in memo))
        fresh: dict[str, np.ndarray] = {}
        if todo:
            vecs = self.encoder().encode(todo).numpy()
            fresh = dict(zip(todo, vecs, strict=True))
            if len(memo) > 50_000:  # bound the memory of a long-running service
                memo.clear()
            memo.update(fresh)
        # read this call's own results first: another thread may clear the memo meanwhile
        return np.stack([fresh[t] if t in fresh else memo[t] for t in texts])

    def description_embeddings(self) -> dict[str, np.ndarray]:
        """Each category's description embeddings; with a trace cache, kept on disk beside the traces
        (keyed by the descriptions and the encoder's weights), which saves ~0.2 s of every command."""
        if "descriptions" not in self._cache:
            texts = {name: list(c.descriptions) for name, c in self.categories.items() if c.descriptions}
            stored = None
            if self.traces is not None:
                import torch  # the encoder's own key in the trace cache names its weights, code and versions

                trace = self.traces.path_for("minilm", self.encoder().minilm.sources, torch.float32).name
                key = json.dumps([texts, trace]).encode()
                stored = self.traces.root / f"policy-descriptions-{hashlib.sha256(key).hexdigest()[:20]}.npz"
            if stored is not None and stored.exists():
                with np.load(stored) as saved:
                    self._cache["descriptions"] = {name: saved[name] for name in texts}
            else:
                self._cache["descriptions"] = {name: self.embed(t) for name, t in texts.items()}
                if stored is not None:
                    stored.parent.mkdir(parents=True, exist_ok=True)
                    tmp = stored.with_name(f"{stored.stem}.{os.getpid()}.part.npz")
                    np.savez(tmp, **self._cache["descriptions"])
                    tmp.replace(stored)  # atomic: a concurrent process reads all of it or nothing
        return dict(self._cache["descriptions"])


# ----------------------------------------------------------------------------- loading
_TOP_KEYS = {"version", "allow_terms", "embedding", "categories", "likeness", "image"}
_CAT_KEYS = {"code", "message", "threshold", "deny_terms", "descriptions", "mention_terms", "context_terms"}


def load_policy(path: str | os.PathLike[str] | None = None, *, traces: TraceCache | None = None) -> Policy:
    """Read a policy YAML (default: the one shipped in the package). Raises PolicyError. `traces`: a
    trace cache directory for its sentence encoder (models/traced.py)."""
    if path is None:
        text = resources.files("cinegen.trust").joinpath("policy.yaml").read_text()
        source = "<default policy.yaml>"
    else:
        p = Path(path)
        if not p.is_file():
            raise PolicyError(f"no such policy file: {p}")
        text, source = p.read_text(), str(p)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise PolicyError(f"{source} is not valid YAML: {e}") from e
    if not isinstance(raw, dict):
        raise PolicyError(f"{source}: the policy must be a mapping, got {type(raw).__name__}")
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise PolicyError(f"{source}: unknown keys {sorted(unknown)}; known: {sorted(_TOP_KEYS)}")
    if raw.get("version", 1) != 1:
        raise PolicyError(f"{source}: unsupported policy version {raw.get('version')!r} (expected 1)")
    cats_raw = raw.get("categories")
    if not isinstance(cats_raw, dict) or not cats_raw:
        raise PolicyError(f"{source}: 'categories' must be a non-empty mapping")
    cats = {}
    for name, c in cats_raw.items():
        where = f"{source}: categories.{name}"
        if not isinstance(c, dict):
            raise PolicyError(f"{where} must be a mapping")
        bad = set(c) - _CAT_KEYS
        if bad:
            raise PolicyError(f"{where}: unknown keys {sorted(bad)}; known: {sorted(_CAT_KEYS)}")
        code = c.get("code", f"safety.{name}")
        if not isinstance(code, str) or not code.startswith("safety."):
            raise PolicyError(f"{where}.code must be a string starting with 'safety.', got {code!r}")
        thr = c.get("threshold", 0.55)
        if not isinstance(thr, int | float) or not 0.0 < float(thr) <= 1.0:
            raise PolicyError(f"{where}.threshold must be a number in (0, 1], got {thr!r}")
        cats[name] = CategoryPolicy(
            name=name, code=code, message=str(c.get("message", f"{name} content is not allowed")),
            threshold=float(thr),
            deny_terms=_strings(c.get("deny_terms", []), f"{where}.deny_terms"),
            descriptions=_strings(c.get("descriptions", []), f"{where}.descriptions"),
            mention_terms=_strings(c.get("mention_terms", []), f"{where}.mention_terms"),
            context_terms=_strings(c.get("context_terms", []), f"{where}.context_terms"),
        )
    emb = raw.get("embedding", {}) or {}
    if not isinstance(emb, dict) or set(emb) - {"enabled", "model"}:
        raise PolicyError(f"{source}: 'embedding' takes only 'enabled' and 'model'")
    lk = raw.get("likeness", {}) or {}
    if not isinstance(lk, dict) or set(lk) - {"code", "refuse_unregistered", "allow_names"}:
        raise PolicyError(f"{source}: 'likeness' takes only 'code', 'refuse_unregistered', 'allow_names'")
    img = raw.get("image", {}) or {}
    if not isinstance(img, dict) or set(img) - {"max_skin_fraction"}:
        raise PolicyError(f"{source}: 'image' takes only 'max_skin_fraction'")
    skin = img.get("max_skin_fraction", 0.7)
    if not isinstance(skin, int | float) or not 0.0 < float(skin) <= 1.0:
        raise PolicyError(f"{source}: image.max_skin_fraction must be in (0, 1], got {skin!r}")
    return Policy(
        categories=cats,
        allow_terms=_strings(raw.get("allow_terms", []), f"{source}: allow_terms"),
        embedding=bool(emb.get("enabled", True)),
        likeness_code=str(lk.get("code", "safety.likeness")),
        refuse_unregistered=bool(lk.get("refuse_unregistered", True)),
        allow_names=_strings(lk.get("allow_names", []), f"{source}: likeness.allow_names"),
        max_skin_fraction=float(skin),
        source=source,
        traces=traces,
    )


def _strings(v: Any, where: str) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(s, str) and s.strip() for s in v):
        raise PolicyError(f"{where} must be a list of non-empty strings")
    return tuple(s.strip() for s in v)


# ----------------------------------------------------------------------------- text signals
def _term_regex(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    if not terms:
        return None
    alts = sorted((re.escape(t.lower()).replace(r"\ ", r"[\s-]+") for t in terms), key=len, reverse=True)
    return re.compile(r"(?<![\w])(?:" + "|".join(alts) + r")(?:s|es)?(?![\w])")


def strip_allowed(text: str, allow_terms: tuple[str, ...]) -> str:
    """Lower-case `text` with every allow-term cut out (replaced by a space)."""
    low = text.lower()
    rx = _term_regex(allow_terms)
    return rx.sub(" ", low) if rx else low


def term_hits(text: str, terms: tuple[str, ...]) -> list[str]:
    rx = _term_regex(terms)
    return [m.group(0) for m in rx.finditer(text)] if rx else []


def first_names() -> frozenset[str]:
    """Given names from resources/first_names.txt (lines starting '@mononyms' list single-name people)."""
    text = resources.files("cinegen.trust").joinpath("resources/first_names.txt").read_text()
    return frozenset(w for line in text.splitlines() if not line.startswith(("#", "@")) for w in line.split())


def mononyms() -> frozenset[str]:
    text = resources.files("cinegen.trust").joinpath("resources/first_names.txt").read_text()
    lines = (line for line in text.splitlines() if line.startswith("@mononyms"))
    return frozenset(w for line in lines for w in line.split()[1:])


_NAME_RX = re.compile(r"\b([A-Z][a-z]+(?:-[A-Z][a-z]+)?)\s+(?:[A-Z]\.\s+)?"
                      r"((?:O')?[A-Z][a-z]+(?:[A-Z][a-z]+)?(?:-[A-Z][a-z]+)?)\b")


def find_person_names(prompt: str, known: dict[str, str], given_names: frozenset[str],
                      allow_names: tuple[str, ...] = (),
                      single_names: frozenset[str] = frozenset(),
                      public: NameIndex | None = None) -> list[str]:
    """Person names in `prompt`: registered names/aliases and listed public figures however they are
    written (`names.skeleton`: case, spacing, punctuation, diacritics, digits for letters), then
    capitalised 'Given Surname' pairs whose given name is on the list, then capitalised single-name
    figures. Returns display names, de-duplicated."""
    allowed = {skeleton(a) for a in allow_names}
    found = NameIndex.of(known.items()).find(prompt)
    registered = {skeleton(k) for k in known} | {skeleton(n) for n in found}
    for name in public.find(prompt) if public is not None else ():
        if skeleton(name) not in allowed | registered and name not in found:
            found.append(name)
    for m in _NAME_RX.finditer(plain_capitals(prompt)):
        given, surname = m.group(1), m.group(2)
        full = f"{given} {surname}"
        key = normalise_name(full)
        is_name = given in given_names and surname not in given_names | {"The", "And"}
        listed = any(skeleton(full) == skeleton(n) for n in found)
        if is_name and skeleton(full) not in allowed and key not in known and not listed:
            found.append(full)
    for m in re.finditer(r"\b[A-Z][a-z]+\b", prompt):
        if m.group(0) in single_names and normalise_name(m.group(0)) not in known and m.group(0) not in found:
            found.append(m.group(0))
    return found


def skin_fraction(image: np.ndarray) -> float:
    """Share of pixels in a common skin-tone range (YCbCr box, Chai & Ngan 1999). (H, W, 3) uint8."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    rgb = image.astype(np.float32)
    cb = 128 - 0.168736 * rgb[..., 0] - 0.331264 * rgb[..., 1] + 0.5 * rgb[..., 2]
    cr = 128 + 0.5 * rgb[..., 0] - 0.418688 * rgb[..., 1] - 0.081312 * rgb[..., 2]
    return float(np.mean((cb >= 77) & (cb <= 127) & (cr >= 133) & (cr <= 173)))


def warm(policy: Policy, prompts: list[str]) -> None:
    """Embed many prompts in one batch ahead of `moderate` calls (evaluation, bulk checks)."""
    if policy.embedding:
        policy.embed([strip_allowed(p, policy.allow_terms) for p in prompts if p.strip()])


# ----------------------------------------------------------------------------- the decision
def moderate(
    prompt: str,
    policy: Policy,
    *,
    image: np.ndarray | None = None,
    consent: ConsentGrant | None = None,
    registry: ConsentRegistry | None = None,
    use: str = "text-to-video",
    project: str | None = None,
) -> Decision:
    """Decide whether a generation request may run. Never raises for a refusal: see `allowed`.

    `consent` is the grant the request carries; with a `registry` it is re-read from there, so a
    revocation applies to the very next job. `project` defaults to the grant's only project.
    """
    if not isinstance(prompt, str):
        raise ValueError(f"prompt must be a string, got {type(prompt).__name__}")
    stripped = strip_allowed(prompt, policy.allow_terms)
    sims: dict[str, float] = {}
    if policy.embedding and prompt.strip():
        vec = policy.embed([stripped])[0]  # (384,) allow-terms cut out, as for the deny-terms
        sims = {name: float(np.max(e @ vec)) for name, e in policy.description_embeddings().items()}
    hits = {name: term_hits(stripped, c.deny_terms) for name, c in policy.categories.items()}
    scores = {name: max(sims.get(name, 0.0), 1.0 if hits[name] else 0.0) for name in policy.categories}
    refusal = _text_refusal(policy, stripped, hits, sims, scores) or _image_refusal(policy, image, scores)
    if refusal is not None:
        return refusal
    return _likeness(policy, prompt, consent, registry, use, project, scores)


def _text_refusal(policy: Policy, stripped: str, hits: dict[str, list[str]], sims: dict[str, float],
                  scores: dict[str, float]) -> Decision | None:
    """1. text categories. A category with `mention_terms` (minors) fires when a minor is mentioned
    together with a context term, or with content another category (or its own embedding) flags;
    then deny-terms in order of precedence; then the embedding's clearest margin over threshold."""

    def flagged(name: str) -> bool:
        c = policy.categories[name]
        return bool(hits[name]) or sims.get(name, 0.0) >= c.threshold

    order = [n for n in TEXT_CATEGORIES if n in policy.categories] + [
        n for n in policy.categories if n not in TEXT_CATEGORIES
    ]
    for name in order:
        c = policy.categories[name]
        mentions = term_hits(stripped, c.mention_terms) if c.mention_terms else []
        if mentions:
            context = term_hits(stripped, c.context_terms)
            harmful = [n for n in order if n != name and flagged(n)]
            if hits[name] or context or harmful or sims.get(name, 0.0) >= c.threshold:
                what = (repr(hits[name][0]) if hits[name] else repr(context[0]) if context
                        else f"{harmful[0]} content" if harmful else "similar content")
                return Decision(False, name, c.code,
                                f"{c.message}: mentions a minor ({mentions[0]!r}) with {what}", scores)
    for name in order:
        c = policy.categories[name]
        if hits[name]:
            return Decision(False, name, c.code, f"{c.message}: matched {hits[name][0]!r}", scores)
    margins = {n: sims[n] - c.threshold for n,
               c in policy.categories.items() if n in sims and not c.mention_terms}
    if margins and max(margins.values()) >= 0:
        name = max(margins, key=lambda n: margins[n])
        c = policy.categories[name]
        return Decision(False, name, c.code, f"{c.message}: similar to {name} content ({sims[name]:.2f})",
                        scores)
    return None


def _image_refusal(policy: Policy, image: np.ndarray | None, scores: dict[str, float]) -> Decision | None:
    """2. a reference image: mostly skin tones is refused as likely nudity."""
    if image is None:
        return None
    sf = skin_fraction(image)
    scores["image_skin_fraction"] = sf
    if sf > policy.max_skin_fraction and "sexual" in policy.categories:
        c = policy.categories["sexual"]
        return Decision(False, "sexual", c.code,
                        f"{c.message}: the reference image is {sf:.0%} skin tones (likely nudity)", scores)
    return None


def _likeness(policy: Policy, prompt: str, consent: ConsentGrant | None, registry: ConsentRegistry | None,
              use: str,
              project: str | None, scores: dict[str, float]) -> Decision:
    """3. likeness: registered performers need a covering grant; unregistered real names are refused."""
    known = registry.known_names() if registry is not None else {}
    if "first_names" not in policy._cache:
        policy._cache["first_names"] = (first_names(), mononyms(), NameIndex.of(public_figures()))
    given, single, public = policy._cache["first_names"]
    names = find_person_names(prompt, known, given, policy.allow_names, single, public)
    for name in names:
        performer = registry.performer(name) if registry is not None else None
        if performer is not None:
            grant_id = consent.grant_id if consent is not None else None
            only = consent.projects[0] if consent and len(consent.projects) == 1 else None
            proj = project if project is not None else only
            reason = registry.check(grant_id, performer.name, use, proj) if registry is not None else None
            if reason:
                return Decision(False, "likeness", policy.likeness_code,
                                f"the prompt names {performer.name}: {reason}", scores, tuple(names))
        elif (consent is not None and registry is None
              and normalise_name(consent.performer) == normalise_name(name)):
            reason = consent.covers(name, use, project if project is not None else (
                consent.projects[0] if len(consent.projects) == 1 else None))
            if reason:
                return Decision(False, "likeness", policy.likeness_code, f"the prompt names {name}: {reason}",
                                scores, tuple(names))
        elif policy.refuse_unregistered:
            return Decision(False, "likeness", policy.likeness_code,
                            f"the prompt names {name}, a real person who is not in the consent registry",
                            scores,
                            tuple(names))
    return Decision(True, None, None, "allowed", scores, tuple(names))
