"""Latent banks: backlot clips rendered in the background, encoded once by the frozen VAE, and kept
per bucket (frames x size) on the training device, with their layouts and captions.

Both transformer trainers draw from them (`dit` trains on them, `distill` noises them for the
teacher to denoise): a step samples a bucket by weight, then a batch from its bank, while each
step takes a few fresh clips in, so the data keeps moving without rendering being the bottleneck.
"""

from __future__ import annotations

import logging
import random
import time

import numpy as np
import torch

from cinegen.models.vae import VideoVAE, frames_to_tensor
from cinegen.training.data import Bucket, Clip, ClipSource
from cinegen.trust.licences import TrainingDataLedger

log = logging.getLogger("cinegen.train.latents")


def parse_sizes(sizes: tuple[str, ...]) -> list[tuple[int, int]]:
    """("WxH", ...) -> [(W, H), ...]; each side a multiple of 16 (latent patches)."""
    out = []
    for s in sizes:
        w, _, h = s.partition("x")
        if not (w.isdigit() and h.isdigit() and int(w) % 16 == 0 and int(h) % 16 == 0):
            raise ValueError(f"sizes entries must be 'WxH' with multiples of 16, got {s!r}")
        out.append((int(w), int(h)))
    return out


class LatentBank:
    """A ring buffer of latents, their layouts (uint8) and captions for one bucket, on the training device."""

    def __init__(
        self, capacity: int, shape: tuple[int, ...], device: torch.device, layout_channels: int = 0
    ) -> None:
        self.latents = torch.zeros((capacity, *shape), dtype=torch.bfloat16, device=device)
        self.layouts = torch.zeros((capacity, layout_channels, *shape[1:]), dtype=torch.uint8, device=device)
        self.captions: list[list[str]] = [[] for _ in range(capacity)]
        self.count = 0
        self.pos = 0

    def add(
        self, latents: torch.Tensor, captions: list[list[str]], layouts: torch.Tensor | None = None
    ) -> None:
        for i in range(latents.shape[0]):
            self.latents[self.pos] = latents[i]
            if layouts is not None:
                self.layouts[self.pos] = layouts[i]
            self.captions[self.pos] = captions[i]
            self.pos = (self.pos + 1) % self.latents.shape[0]
            self.count = min(self.count + 1, self.latents.shape[0])

    def sample(self, k: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, list[list[str]]]:
        """k random entries: latents (k, C, N, h, w) bf16, layouts (k, Cl, N, h, w) uint8, captions."""
        idx = torch.randint(0, self.count, (k,), generator=g).to(self.latents.device)
        return self.latents[idx], self.layouts[idx], [self.captions[int(i)] for i in idx]


class LatentBanks:
    """One bank per bucket, fed by a `ClipSource`; every ingested clip is counted in `ledger`."""

    def __init__(
        self,
        vae: VideoVAE,
        *,
        frames: tuple[int, ...],
        frame_weights: tuple[float, ...],
        sizes: tuple[str, ...],
        aspect_weights: tuple[float, ...],
        bank_size: int,
        layout_channels: int,
        seed: int,
        workers: int,
        ledger: TrainingDataLedger,
        device: torch.device,
        bf16: bool,
    ) -> None:
        self.vae, self.device, self.bf16, self.ledger = vae, device, bf16, ledger
        self.buckets: list[Bucket] = []
        self.weights: list[float] = []
        for f, fw in zip(frames, frame_weights, strict=True):
            for (w, h), aw in zip(parse_sizes(sizes), aspect_weights, strict=True):
                if aw > 0:
                    self.buckets.append(Bucket(f, w, h))
                    self.weights.append(fw * aw)
        cz = vae.config.latent_channels
        self.banks = {
            b: LatentBank(
                bank_size,
                (cz, VideoVAE.latent_frames(b.frames), b.height // 8, b.width // 8),
                device,
                layout_channels,
            )
            for b in self.buckets
        }
        self.plan = layout_channels > 0
        self.layout_channels = layout_channels
        self.workers = workers
        self.source = ClipSource(
            self.buckets, self.weights, seed=seed, workers=workers, with_captions=True, with_layout=self.plan
        )

    @torch.no_grad()
    def ingest(self, clips: list[Clip]) -> None:
        by_bucket: dict[Bucket, list[Clip]] = {}
        for c in clips:
            by_bucket.setdefault(c.bucket, []).append(c)
            self.ledger.add(c.licence, 1)
        for b, cs in by_bucket.items():
            for i in range(0, len(cs), 32):
                part = cs[i : i + 32]
                # uint8 to the device first: converting to float on the host was a GPU run's bottleneck
                x = frames_to_tensor(torch.from_numpy(np.stack([c.frames for c in part])).to(self.device))
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                    z = self.vae.encode(x)
                lay = None
                if self.plan:
                    lay = torch.from_numpy(np.stack([np.asarray(c.layout) for c in part])).to(self.device)
                    lay = lay[:, : self.layout_channels]  # a model trained with fewer takes the first ones
                self.banks[b].add(z.to(torch.bfloat16), [c.captions for c in part], lay)

    def fill(self, seconds: float, bank_size: int) -> None:
        """Render for `seconds`, and until every bank holds a few clips (rare buckets, < 5% of draws,
        need one, or the fill waits minutes for them: 4.6 min on 2 cores with two 0.5% buckets)."""
        t_fill = time.time()
        total_w = sum(self.weights)
        fill_min = {
            b: min(8 if w / total_w >= 0.05 else 1, bank_size)
            for b, w in zip(self.buckets, self.weights, strict=True)
        }
        while time.time() - t_fill < seconds or any(self.banks[b].count < fill_min[b] for b in self.buckets):
            # inline (workers=0): one clip at a time
            self.ingest((self.source.drain(256) if self.workers else []) or [self.source.get()])
        log.info(
            "banks filled in %.0fs: %s",
            time.time() - t_fill,
            {f"{b.frames}f{b.width}x{b.height}": self.banks[b].count for b in self.buckets},
        )

    def refresh(self, k: int) -> None:
        """Take up to `k` freshly rendered clips in (all `k` when rendering inline)."""
        self.ingest(self.source.drain(k))

    def draw(
        self, rng: random.Random, gen: torch.Generator, tokens_per_batch: int, max_batch: int
    ) -> tuple[Bucket, int, torch.Tensor, torch.Tensor, list[list[str]]]:
        """A bucket by weight and a batch from its bank of about `tokens_per_batch` transformer tokens:
        (bucket, tokens per clip, latents (B, C, N, h, w) float32, layouts uint8, captions)."""
        b = rng.choices(self.buckets, weights=self.weights)[0]
        n, h, w = VideoVAE.latent_frames(b.frames), b.height // 8, b.width // 8
        tokens = n * (h // 2) * (w // 2)
        bs = max(1, min(max_batch, tokens_per_batch // tokens))
        x0, lay, caps = self.banks[b].sample(bs, gen)
        return b, tokens, x0.float(), lay, caps

    def count(self) -> int:
        """Clips held over all banks."""
        return sum(bank.count for bank in self.banks.values())

    def close(self) -> None:
        self.source.close()
