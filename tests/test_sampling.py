"""Flow-matching samplers against analytic velocities: schedules, Euler, conditioning, guidance."""

from __future__ import annotations

import pytest
import torch

from cinegen.sampling import (
    SAMPLERS,
    Conditioning,
    guided,
    make_sigmas,
    sample_euler,
    sample_heun,
    sample_unipc,
    shift_for_tokens,
    shift_sigmas,
)

SHAPE = (2, 3, 4, 2, 2)  # (B, C, N, h, w)


def _noise(seed: int = 0) -> torch.Tensor:
    return torch.randn(SHAPE, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- schedules
@pytest.mark.parametrize("shift", [1.0, 3.0, 0.5])
def test_make_sigmas_endpoints_and_monotonic(shift: float) -> None:
    s = make_sigmas(10, shift=shift)
    assert s.shape == (11,) and s.dtype == torch.float32
    assert s[0] == 1.0 and s[-1] == 0.0
    assert torch.all(s[1:] < s[:-1])


def test_shift_spends_more_steps_at_high_noise() -> None:
    plain, shifted = make_sigmas(8), make_sigmas(8, shift=3.0)
    assert torch.all(shifted[1:-1] > plain[1:-1])
    torch.testing.assert_close(shift_sigmas(torch.tensor([0.0, 0.5, 1.0]), 3.0),
                               torch.tensor([0.0, 0.75, 1.0]))


def test_make_sigmas_start_below_one() -> None:
    s = make_sigmas(4, start=0.6)
    assert s[0] == pytest.approx(0.6) and s[-1] == 0.0
    assert torch.all(s[1:] < s[:-1])


@pytest.mark.parametrize(("steps", "start"), [(0, 1.0), (4, 0.0), (4, 1.5), (4, -0.1)])
def test_make_sigmas_rejects_bad_arguments(steps: int, start: float) -> None:
    with pytest.raises(ValueError):
        make_sigmas(steps, start=start)


def test_shift_for_tokens_monotonic_and_clamped() -> None:
    values = [shift_for_tokens(n) for n in (1, 256, 512, 1024, 4096, 100_000)]
    assert values[0] == values[1] == 1.5
    assert values[-1] == values[-2] == 4.0
    assert all(a < b for a, b in zip(values[1:-1], values[2:-1], strict=False))


# ----------------------------------------------------------------------------- Euler
def _point_mass(c: torch.Tensor):  # type: ignore[no-untyped-def]
    """Exact velocity for data = the point c: x_s = (1-s)c + s*eps, v = eps - c = (x_s - c)/s."""

    def v(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        s = sigma[:, None, :, None, None]
        return (x - c) / s.clamp_min(1e-12)

    return v


@pytest.mark.parametrize("shift", [1.0, 4.0])
def test_euler_reaches_point_mass(shift: float) -> None:
    c = torch.full(SHAPE, 0.3)
    x = sample_euler(_point_mass(c), _noise(), make_sigmas(3, shift=shift))
    torch.testing.assert_close(x, c, atol=1e-5, rtol=0)


def test_euler_linear_path_is_exact_in_one_step() -> None:
    c, noise = torch.linspace(-1, 1, 96).view(SHAPE), _noise()
    x = sample_euler(lambda x, s: noise - c, noise, make_sigmas(1))
    torch.testing.assert_close(x, c)


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_sdedit_starts_from_init(sampler: str) -> None:
    c, init, noise = torch.full(SHAPE, -0.5), torch.full(SHAPE, 0.7), _noise()
    seen: list[torch.Tensor] = []

    def v(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        seen.append(x.clone())
        return _point_mass(c)(x, sigma)

    sigmas = make_sigmas(3, start=0.4)
    x = SAMPLERS[sampler](v, noise, sigmas, init=init)
    torch.testing.assert_close(seen[0], 0.6 * init + 0.4 * noise)
    torch.testing.assert_close(x, c, atol=1e-4, rtol=0)


def test_euler_callback_and_sigma_shape() -> None:
    calls: list[tuple[int, int]] = []
    sig: list[torch.Tensor] = []

    def v(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        sig.append(sigma)
        return torch.zeros_like(x)

    sample_euler(v, _noise(), make_sigmas(4), callback=lambda i, n: calls.append((i, n)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert all(s.shape == (2, 4) for s in sig)
    assert sig[0].eq(1.0).all()


def test_euler_is_deterministic() -> None:
    c = torch.zeros(SHAPE)
    v = _point_mass(c)
    a = sample_euler(lambda x, s: v(x, s) * 0.5, _noise(3), make_sigmas(5))
    b = sample_euler(lambda x, s: v(x, s) * 0.5, _noise(3), make_sigmas(5))
    assert torch.equal(a, b)


# ----------------------------------------------------------------------------- UniPC
def _gaussian_flow(m: float, a: float):  # type: ignore[no-untyped-def]
    """Exact velocity when data ~ N(m, a^2): the flow carries noise e to exactly m + a * e."""

    def v(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        s = sigma[:, None, :, None, None]
        mean_x0 = m + (1 - s) * a * a / ((1 - s) ** 2 * a * a + s * s) * (x - (1 - s) * m)
        return (x - mean_x0) / s

    return v


@pytest.mark.parametrize("shift", [1.0, 2.0])
def test_unipc_is_far_more_accurate_than_euler_on_a_curved_flow(shift: float) -> None:
    noise = _noise(4)
    exact = 0.4 + 0.3 * noise
    sigmas = make_sigmas(24, shift=shift)
    err_euler = (sample_euler(_gaussian_flow(0.4, 0.3), noise, sigmas) - exact).abs().max()
    err_unipc = (sample_unipc(_gaussian_flow(0.4, 0.3), noise, sigmas) - exact).abs().max()
    assert err_unipc < 0.2 * err_euler  # measured 0.09x (shift 1) and 0.15x (shift 2)


@pytest.mark.parametrize(("steps", "shift"), [(1, 1.0), (2, 1.0), (12, 2.23), (24, 3.0)])
def test_unipc_equals_diffusers_scheduler(steps: int, shift: float) -> None:
    """The port takes exactly diffusers' UniPCMultistepScheduler steps (flow prediction, bh2, order 2),
    from pure noise and from SDEdit, on a flow whose velocity depends on x and sigma."""
    from diffusers.schedulers.scheduling_unipc_multistep import UniPCMultistepScheduler

    noise = _noise(4)
    flow = _gaussian_flow(0.4, 0.3)  # velocity (B, C, N, h, w) from x and sigma (B, N)
    for start in (1.0, 0.6):
        sigmas = make_sigmas(steps, shift=shift, start=start)
        sched = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                        flow_shift=1.0, solver_order=2, final_sigmas_type="zero")
        sched.set_timesteps(sigmas=sigmas[:-1].double().numpy(), device=noise.device)
        init = 0.4 + 0.3 * _noise(5) if start < 1.0 else None
        x = noise if init is None else (1 - sigmas[0]) * init + sigmas[0] * noise
        for i in range(steps):
            v = flow(x, torch.full(x.shape[:1] + x.shape[2:3], float(sigmas[i])))
            x = sched.step(v, sched.timesteps[i], x, return_dict=False)[0]
        assert torch.equal(sample_unipc(flow, noise, sigmas, init=init), x)  # bit for bit


def test_heun_is_second_order_and_integrates_part_of_the_way() -> None:
    """Heun beats Euler on a curved flow at equal steps; from sigma 0.8 to 0.3 it lands where the
    exact flow does (the distillation teacher's use: a piece of the path between two student steps)."""
    noise = _noise(4)
    exact = 0.4 + 0.3 * noise
    sigmas = make_sigmas(24)
    err_euler = (sample_euler(_gaussian_flow(0.4, 0.3), noise, sigmas) - exact).abs().max()
    err_heun = (sample_heun(_gaussian_flow(0.4, 0.3), noise, sigmas) - exact).abs().max()
    assert err_heun < 0.2 * err_euler  # measured 0.10x
    # part of the way: the flow of N(m, a^2) at sigma s is m(1-s) + sqrt(a^2 (1-s)^2 + s^2) e
    def at(s: float) -> torch.Tensor:
        return 0.4 * (1 - s) + (0.09 * (1 - s) ** 2 + s * s) ** 0.5 * noise
    part = sample_heun(_gaussian_flow(0.4, 0.3), at(0.8), torch.linspace(0.8, 0.3, 5))
    fine = sample_heun(_gaussian_flow(0.4, 0.3), at(0.8), torch.linspace(0.8, 0.3, 41))
    torch.testing.assert_close(fine, at(0.3), atol=2e-3, rtol=0)
    assert (part - at(0.3)).abs().max() < 0.02


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_every_sampler_reaches_a_point_mass_and_keeps_pinned_frames(sampler: str) -> None:
    c = torch.full(SHAPE, 0.25)
    latents = torch.randn(SHAPE, generator=torch.Generator().manual_seed(9))
    mask = torch.tensor([True, False, False, True])
    cond = Conditioning(latents, mask)
    x = SAMPLERS[sampler](_point_mass(c), _noise(), make_sigmas(6, shift=2.0), cond=cond)
    assert torch.equal(x[:, :, mask], latents[:, :, mask])
    torch.testing.assert_close(x[:, :, ~mask], c[:, :, ~mask], atol=1e-4, rtol=0)


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_every_sampler_reports_progress_and_is_deterministic(sampler: str) -> None:
    calls: list[tuple[int, int]] = []
    fn = SAMPLERS[sampler]
    a = fn(_gaussian_flow(0.1, 0.5), _noise(3), make_sigmas(5), callback=lambda i, n: calls.append((i, n)))
    b = fn(_gaussian_flow(0.1, 0.5), _noise(3), make_sigmas(5))
    assert calls == [(i, 5) for i in range(1, 6)]
    assert torch.equal(a, b)


# ----------------------------------------------------------------------------- conditioning
def test_conditioning_keeps_pinned_frames_exactly() -> None:
    latents = torch.randn(SHAPE, generator=torch.Generator().manual_seed(9))
    mask = torch.tensor([True, False, False, True])
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def v(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        seen.append((x.clone(), sigma.clone()))
        return torch.ones_like(x)  # drifts every frame

    for cs in (0.0, 0.05):
        seen.clear()
        cond = Conditioning(latents, mask, sigma=cs)
        noise = _noise()
        x = sample_euler(v, noise, make_sigmas(3), cond=cond)
        assert torch.equal(x[:, :, mask], latents[:, :, mask])
        assert not torch.equal(x[:, :, ~mask], latents[:, :, ~mask])
        for xi, si in seen:  # the model sees pinned frames at their own (small) sigma
            assert torch.all(si[:, mask] == cs)
            torch.testing.assert_close(xi[:, :, mask], ((1 - cs) * latents + cs * noise)[:, :, mask])
        assert torch.all(seen[0][1][:, ~mask] == 1.0)


def test_conditioning_frame_sigmas() -> None:
    cond = Conditioning(torch.zeros(SHAPE), torch.tensor([False, True, False, False]), sigma=0.02)
    s = cond.frame_sigmas(0.7, 2, 4, torch.device("cpu"))
    assert s.shape == (2, 4)
    torch.testing.assert_close(s, torch.tensor([[0.7, 0.02, 0.7, 0.7]] * 2))


def test_pinned_point_mass_still_reaches_target_elsewhere() -> None:
    c = torch.full(SHAPE, 0.25)
    cond = Conditioning(c.clone(), torch.tensor([True, False, False, False]))
    x = sample_euler(_point_mass(c), _noise(), make_sigmas(4), cond=cond)
    torch.testing.assert_close(x, c, atol=1e-5, rtol=0)


# ----------------------------------------------------------------------------- guidance
def _model(calls: list[int]):  # type: ignore[no-untyped-def]
    def m(x: torch.Tensor, sigma: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        calls.append(x.shape[0])
        return x * 0.1 + text.mean(dim=(1, 2)).view(-1, 1, 1, 1, 1) + sigma.mean(dim=1).view(-1, 1, 1, 1, 1)

    return m


def test_guided_scale_one_is_the_conditional_model() -> None:
    calls: list[int] = []
    m = _model(calls)
    text, uncond = torch.full((2, 5, 8), 2.0), torch.zeros((2, 5, 8))
    x, s = _noise(), torch.full((2, 4), 0.5)
    assert torch.equal(guided(m, text, uncond, 1.0)(x, s), m(x, s, text))
    assert calls == [2, 2]  # no unconditional pass


@pytest.mark.parametrize("scale", [0.0, 3.0, 7.5])
def test_guided_cfg_formula(scale: float) -> None:
    calls: list[int] = []
    m = _model(calls)
    text, uncond = torch.full((2, 5, 8), 2.0), torch.full((2, 5, 8), -1.0)
    x, s = _noise(), torch.full((2, 4), 0.5)
    v = guided(m, text, uncond, scale)(x, s)
    vc, vu = m(x, s, text), m(x, s, uncond)
    torch.testing.assert_close(v, vu + scale * (vc - vu))
    assert calls[0] == 4  # one batched call for both branches


def test_guided_passes_each_pass_its_layout() -> None:
    from cinegen.sampling import guided

    seen: list[torch.Tensor] = []

    def model(x: torch.Tensor, s: torch.Tensor, t: torch.Tensor, layout: torch.Tensor) -> torch.Tensor:
        seen.append(layout)
        return x * 0 + layout.mean(dim=(1, 2, 3, 4), keepdim=True)  # v = the layout's mean per sample

    x, s, t = torch.zeros(1, 2, 3, 4, 4), torch.ones(1, 3), torch.zeros(1, 5, 8)
    lay = torch.ones(1, 6, 3, 4, 4)
    v = guided(model, t, t, 3.0, layout=lay, uncond_layout=torch.zeros_like(lay))(x, s)
    assert seen[-1].shape == (2, 6, 3, 4, 4) and torch.allclose(v, torch.full_like(v, 3.0))  # 0 + 3 * (1 - 0)
    v = guided(model, t, t, 3.0, layout=lay)(x, s)  # the same layout in both passes: guidance on text alone
    assert torch.allclose(v, torch.ones_like(v))
    assert torch.equal(guided(model, t, t, 1.0, layout=lay)(x, s), torch.ones_like(x))
