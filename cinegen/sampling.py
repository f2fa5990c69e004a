"""Flow-matching sampling: pure functions over a velocity model.

Rectified flow (Liu et al. 2022; Lipman et al. 2022; SD3, Esser et al. 2024):
    x_sigma = (1 - sigma) * x0 + sigma * noise,    v = noise - x0,    sigma in [0, 1].
Sampling integrates dx/dsigma = v from sigma = 1 (noise) to 0 (data): `sample_euler` (first
order, written here: four lines) or `sample_unipc` (second order, a port of diffusers' UniPC).

The model contract (k-diffusion style): `v = model(x, sigma)` with x (B, C, N, h, w) latents and
sigma (B, N) a noise level per latent frame. Frames given as conditioning are held at their clean
(or lightly noised) values with their own small sigma at every step (per-token timesteps), which
is how one model serves text-to-video, image-to-video, extension, keyframes, connect and loops.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

VelocityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def shift_sigmas(sigmas: torch.Tensor, shift: float) -> torch.Tensor:
    """Time shift of SD3/Wan: spends more steps at high noise for larger token counts."""
    return shift * sigmas / (1 + (shift - 1) * sigmas)


def shift_for_tokens(num_tokens: int, base_tokens: int = 256, max_tokens: int = 4096, base_shift: float = 1.5,
                     max_shift: float = 4.0) -> float:
    """Resolution/duration-dependent shift (log-linear in token count, as in SD3/Flux)."""
    n = min(max(num_tokens, base_tokens), max_tokens)
    a = (math.log(n) - math.log(base_tokens)) / (math.log(max_tokens) - math.log(base_tokens))
    return base_shift + a * (max_shift - base_shift)


def make_sigmas(num_steps: int, shift: float = 1.0, start: float = 1.0) -> torch.Tensor:
    """Decreasing noise levels (num_steps + 1,) from `start` to 0. `start` < 1 is SDEdit."""
    if num_steps < 1:
        raise ValueError(f"steps must be >= 1, got {num_steps}")
    if not 0.0 < start <= 1.0:
        raise ValueError(f"start sigma must be in (0, 1], got {start}")
    s = torch.linspace(1.0, 0.0, num_steps + 1, dtype=torch.float64)
    s = shift_sigmas(s, shift)
    if start < 1.0:
        s = s * start
    return s.float()


@dataclass(frozen=True)
class Conditioning:
    """Clean latents pinned at some latent frames. mask (N,) bool, latents (B, C, N, h, w)."""

    latents: torch.Tensor
    mask: torch.Tensor
    sigma: float = 0.0  # noise level the pinned frames are held at (a little noise fights drift)

    def apply(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Overwrite pinned frames of x with the (re-noised) conditioning latents."""
        m = self.mask.view(1, 1, -1, 1, 1).to(x.device)
        pinned = (1 - self.sigma) * self.latents + self.sigma * noise
        return torch.where(m, pinned.to(x.dtype), x)

    def frame_sigmas(self, sigma: float, batch: int, num_frames: int, device: torch.device) -> torch.Tensor:
        s = torch.full((batch, num_frames), float(sigma), device=device)
        s[:, self.mask.to(device)] = self.sigma
        return s


def _integrate(
    model: VelocityFn,
    noise: torch.Tensor,
    sigmas: torch.Tensor,
    step: Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    init: torch.Tensor | None,
    cond: Conditioning | None,
    callback: Callable[[int, int], None] | None,
    state_dtype: torch.dtype,
) -> torch.Tensor:
    """The loop every solver shares: start (noise or SDEdit), pin conditioning frames at their own
    sigma before each model call, `x = step(i, x, v)`, report progress, return pinned frames exactly.

    The trajectory is kept in `state_dtype`; the model sees x in the noise's dtype.
    """
    b, _, n = noise.shape[:3]
    s0 = float(sigmas[0])
    x = (noise if init is None else (1 - s0) * init + s0 * noise).to(state_dtype)
    total = len(sigmas) - 1
    for i in range(total):
        s = float(sigmas[i])
        if cond is not None:
            x = cond.apply(x, noise.to(state_dtype))
            frame_sigma = cond.frame_sigmas(s, b, n, x.device)
        else:
            frame_sigma = torch.full((b, n), s, device=x.device)
        v = model(x.to(noise.dtype), frame_sigma).to(state_dtype)
        x = step(i, x, v)
        if callback is not None:
            callback(i + 1, total)
    x = x.to(noise.dtype)
    if cond is not None:  # pinned frames come back exactly as given
        x = torch.where(cond.mask.view(1, 1, -1, 1, 1).to(x.device), cond.latents.to(x.dtype), x)
    return x


def sample_euler(
    model: VelocityFn, noise: torch.Tensor, sigmas: torch.Tensor, *, init: torch.Tensor | None = None,
    cond: Conditioning | None = None, callback: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Euler integration of the flow ODE. noise (B, C, N, h, w) -> x0 estimate (B, C, N, h, w).

    With `init` (SDEdit, Meng et al. 2021) the trajectory starts from init noised to sigmas[0].
    `callback(step, total)` reports progress after each step.
    """

    def step(i: int, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return x + (float(sigmas[i + 1]) - float(sigmas[i])) * v

    return _integrate(model, noise, sigmas, step, init=init, cond=cond, callback=callback,
                      state_dtype=noise.dtype)


def sample_unipc(
    model: VelocityFn, noise: torch.Tensor, sigmas: torch.Tensor, *, init: torch.Tensor | None = None,
    cond: Conditioning | None = None, callback: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """UniPC (Zhao et al. 2023), second order, over the same sigmas and model calls as `sample_euler`.

    The data-prediction (x0) form with B(h) = e^h - 1 ("bh2"), a corrector after every model call and
    first order on the first and last steps: diffusers' `UniPCMultistepScheduler(prediction_type=
    "flow_prediction", use_flow_sigmas=True, solver_order=2, final_sigmas_type="zero")` (Wan's default
    sampler, Apache-2.0), transcribed op for op in float32, so it takes bit-identical steps
    (tests/test_sampling.py). Ported rather than called because importing the scheduler imports
    `diffusers.utils` and through it torch._dynamo: 1.2 s of every CLI run (docs/decisions.md). One
    model call per step, like Euler, but it reuses the previous call's prediction, so the path bends
    with the flow instead of overshooting it.
    """
    sig = sigmas.double().numpy().copy()
    if abs(sig[0] - 1.0) < 1e-6:  # as diffusers: keeps log(alpha) finite on the first steps
        sig[0] -= 1e-6
    sig[-1] = 0.0
    s32 = torch.from_numpy(sig.astype("float32"))  # (steps + 1,)
    total = len(sig) - 1
    preds: list[torch.Tensor] = []  # x0 predictions of earlier calls, the latest last
    state: dict[str, Any] = {"order": 0}

    def step(i: int, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        m = x - s32[i] * v  # x0 prediction
        if i > 0:  # UniC: redo the last step with this call's prediction as well
            x = _unipc_update(state["x"], s32[i - 1], s32[i], preds, s32, i - 1, state["order"], m)
        preds.append(m)
        del preds[:-2]
        state["order"] = min(2, total - i, i + 1)  # first order at the start and on the last step
        state["x"] = x
        return _unipc_update(x, s32[i], s32[i + 1], preds, s32, i, state["order"], None)

    return _integrate(model, noise, sigmas, step, init=init, cond=cond, callback=callback,
                      state_dtype=torch.float32)


def _unipc_update(
    x: torch.Tensor, s0: torch.Tensor, t: torch.Tensor, preds: list[torch.Tensor], s32: torch.Tensor, i: int,
    order: int, m_t: torch.Tensor | None,
) -> torch.Tensor:
    """One UniP (m_t None) or UniC step of order `order` from x at sigma s0 (step i's) to t, with the x0
    predictions `preds` (the latest, step i's, last): diffusers' `multistep_uni_{p,c}_bh_update`."""

    def lam(s: torch.Tensor) -> torch.Tensor:
        return torch.log(1 - s) - torch.log(s)

    alpha_t = 1 - t
    m0 = preds[-1]
    h = lam(t) - lam(s0)
    rks, d1s = [], []
    if order == 2:
        rk = (lam(s32[i - 1]) - lam(s0)) / h
        rks.append(rk)
        d1s.append((preds[-2] - m0) / rk)
    rks.append(torch.ones(()))
    hh = -h
    h_phi_1 = torch.expm1(hh)
    h_phi_k = h_phi_1 / hh - 1
    b_h = torch.expm1(hh)
    r_rows, b = [], []
    factorial = 1
    for k in range(1, order + 1):
        r_rows.append(torch.pow(torch.stack(rks), k - 1))
        b.append(h_phi_k * factorial / b_h)
        factorial *= k + 1
        h_phi_k = h_phi_k / hh - 1 / factorial
    x_t = t / s0 * x - alpha_t * h_phi_1 * m0
    d1 = torch.stack(d1s, dim=1) if d1s else None  # (B, K, C, N, h, w)
    if m_t is None:  # predictor
        if d1 is None:
            return x_t.to(x.dtype)
        rhos_p = torch.ones(1, dtype=x.dtype) * 0.5
        return (x_t - alpha_t * b_h * torch.einsum("k,bkc...->bc...", rhos_p, d1)).to(x.dtype)
    rhos_c = torch.ones(1, dtype=x.dtype) * 0.5 if order == 1 else torch.linalg.solve(
        torch.stack(r_rows), torch.stack(b)).to(x.dtype)
    corr = torch.einsum("k,bkc...->bc...", rhos_c[:-1], d1) if d1 is not None else 0
    return (x_t - alpha_t * b_h * (corr + rhos_c[-1] * (m_t - m0))).to(x.dtype)


def sample_heun(
    model: VelocityFn, noise: torch.Tensor, sigmas: torch.Tensor, *, init: torch.Tensor | None = None,
    cond: Conditioning | None = None, callback: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Heun's method (EDM, Karras et al. 2022, Alg. 1): an Euler step, then the average of the two
    slopes; two model calls per step, one on a last step to sigma 0. Unlike `sample_unipc` it keeps
    no state across steps and ends exactly at `sigmas[-1]`, so it also integrates part of the way
    (the distillation trainer's teacher does, between a student's steps)."""
    pin = cond.apply if cond is not None else None

    def step(i: int, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        x_euler = x + (s_next - s) * v
        if s_next == 0.0:
            return x_euler
        b, _, n = x.shape[:3]
        if pin is not None and cond is not None:
            x_euler = pin(x_euler, noise.to(x.dtype))
            frame_sigma = cond.frame_sigmas(s_next, b, n, x.device)
        else:
            frame_sigma = torch.full((b, n), s_next, device=x.device)
        v_next = model(x_euler.to(noise.dtype), frame_sigma).to(x.dtype)
        return x + (s_next - s) * 0.5 * (v + v_next)

    return _integrate(model, noise, sigmas, step, init=init, cond=cond, callback=callback,
                      state_dtype=torch.float32)


SAMPLERS: dict[str, Callable[..., torch.Tensor]] = {"euler": sample_euler, "heun": sample_heun,
                                                    "unipc": sample_unipc}


def guided(
    model: Callable[..., torch.Tensor],
    text: torch.Tensor,
    uncond_text: torch.Tensor,
    scale: float,
    *,
    layout: torch.Tensor | None = None,
    uncond_layout: torch.Tensor | None = None,
) -> VelocityFn:
    """Classifier-free guidance (Ho & Salimans 2022) as a wrapper: one batched call per step.

    v = v_uncond + scale * (v_cond - v_uncond). With scale == 1 the unconditional pass is skipped.
    A plan-conditioned model also takes `layout` (1, Cl, N, h, w) for the conditional pass and
    `uncond_layout` for the unconditional one (zeros: guidance towards the plan too; the same
    layout: guidance on the text alone).
    """
    if scale == 1.0:
        if layout is None:
            return lambda x, s: model(x, s, text)
        return lambda x, s: model(x, s, text, layout=layout)

    def velocity(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        extra = {}
        if layout is not None:
            other = layout if uncond_layout is None else uncond_layout
            extra["layout"] = torch.cat([layout, other])  # (2, Cl, N, h, w)
        v = model(torch.cat([x, x]), torch.cat([sigma, sigma]), torch.cat([text, uncond_text]), **extra)
        v_cond, v_uncond = v.chunk(2)
        return v_uncond + scale * (v_cond - v_uncond)

    return velocity
