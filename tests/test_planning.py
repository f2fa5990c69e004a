"""Shot plans: JSON round trips, the planner's physics, validation naming the field, user paths,
the rasteriser's channels and the loop/anchor helpers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy import ndimage

from cinegen.backlot.render import render_scene
from cinegen.backlot.scene import ObjectSpec, SceneSpec
from cinegen.backlot.vocab import GRAVITY, GROUND_Y
from cinegen.planning.paths import (
    PATH_KINDS,
    PATH_MARGIN,
    SHARP_PIXELS_PER_FRAME,
    apply_path,
    fast_path_note,
    parse_path,
    pixels_per_frame,
    polyline_positions,
    random_path,
)
from cinegen.planning.plan import PlanError, ShotPlan, check_matches
from cinegen.planning.planner import BacklotPlanner, close_loop, locate, plan_from_scene, plan_prompt
from cinegen.planning.raster import (
    CAMERA_PERIOD,
    LAYOUT_CHANNELS,
    OBJECT_CHANNELS,
    PLAN_CHANNELS,
    POSITION_CHANNELS,
    POSITION_RANGE,
    TIMING_CHANNELS,
    frame_layout,
    latent_layout,
    object_mask,
    object_masks,
    view_change,
)

POSITIONS_END = LAYOUT_CHANNELS + POSITION_CHANNELS  # the view change's channels end, sub-frame timing starts


def _plan(
    prompt: str = "a red ball moving right on a grass field", seconds: float = 2.0, seed: int = 0
) -> ShotPlan:
    p = plan_prompt(prompt, seconds=seconds, seed=seed)
    assert p is not None
    return p


# ----------------------------------------------------------------------------- round trips
def test_json_round_trip_is_exact() -> None:
    p = _plan("a red ball left of a blue box at night", seconds=1.5, seed=4)
    assert ShotPlan.from_json(p.to_json()) == p
    assert ShotPlan.from_dict(json.loads(p.to_json(indent=2))) == p
    assert p.num_frames == 24 and len(p.objects) == 2 and all(len(o.boxes) == 24 for o in p.objects)


def test_unplaceable_prompt_gets_no_plan() -> None:
    assert plan_prompt("a cathedral at dawn with choir", seconds=2.0, seed=0) is None


def test_seed_varies_the_plan() -> None:
    a, b = _plan(seed=1), _plan(seed=2)
    assert a.objects[0].boxes[0] != b.objects[0].boxes[0]
    assert _plan(seed=1) == a


# ----------------------------------------------------------------------------- physics
def test_moving_right_is_constant_speed_rightwards() -> None:
    xs = np.array([b.cx for b in _plan("a red ball moving right", seconds=2.0).objects[0].boxes])
    dx = np.diff(xs)
    assert (dx > 0).all() and np.allclose(dx, dx[0], atol=1e-4)
    ys = [b.cy for b in _plan("a red ball moving up", seconds=2.0).objects[0].boxes]
    assert ys[-1] < ys[0] - 0.1


def test_fall_accelerates_with_gravity_and_bounces_lossily() -> None:
    p = _plan("a blue ball falling", seconds=3.0)
    y = np.array([b.cy for b in p.objects[0].boxes])
    r = p.objects[0].boxes[0].size
    fps = p.fps
    # free fall from rest: the second difference is g / fps^2 (world units = frame heights here)
    acc = np.diff(y[:8], n=2) * fps * fps
    assert np.allclose(acc, GRAVITY, rtol=0.05)
    assert y.max() <= GROUND_Y - r + 1e-3  # never below the ground
    lows = [
        i
        for i in range(1, len(y) - 1)
        if y[i] >= y[i - 1] and y[i] >= y[i + 1] and y[i] > GROUND_Y - r - 0.01
    ]
    assert len(lows) >= 2  # it bounced
    apex = y[lows[0] : lows[1]].min()
    assert apex > y[0] + 0.05  # the bounce loses height


def test_grow_and_relations_at_start() -> None:
    g = _plan("a red box growing", seconds=2.0).objects[0].boxes
    assert g[-1].size > 1.5 * g[0].size
    p = _plan("a red ball left of a blue box", seconds=1.0)
    assert p.objects[0].boxes[0].cx < p.objects[1].boxes[0].cx
    q = _plan("a red ball above a blue box", seconds=1.0)
    assert q.objects[0].boxes[0].cy < q.objects[1].boxes[0].cy


def _one_red(shape: str, size: float, camera: str) -> tuple[SceneSpec, ShotPlan, np.ndarray]:
    """A 1 s black scene with one red object moving right: the scene, its exact plan, its frames."""
    scene = SceneSpec(
        objects=(ObjectSpec(shape, "red", "right", x=0.3, y=0.5, size=size),), setting="black", seconds=1.0,
        camera=camera,
    )
    return scene, plan_from_scene(scene), render_scene(scene)


def test_plan_matches_where_the_renderer_draws() -> None:
    _, plan, frames = _one_red("ball", 0.12, "pan_left")
    for i in (0, 8, 15):
        found = locate(frames[i], "red")
        assert found is not None
        b = plan.objects[0].boxes[i]
        assert abs(found.cx - b.cx) < 0.02 and abs(found.cy - b.cy) < 0.02


def test_object_mask_covers_the_drawn_object_and_its_edge() -> None:
    scene, plan, frames = _one_red("star", 0.15, "zoom_in")
    for i in (0, 15):
        background = np.median(frames[i].reshape(-1, 3), axis=0)  # the black setting, flat
        drawn = np.abs(frames[i].astype(np.float32) - background).max(axis=-1) > 20  # the star, outline too
        tight, wide = (object_mask(plan, i, scene.width, scene.height, m) for m in (0.0, 2.0))
        assert drawn.sum() > 50
        assert (drawn & ~wide).sum() <= 0.02 * drawn.sum()  # the star's pixels are inside, antialiasing aside
        assert tight.sum() < wide.sum() < 0.2 * wide.size  # the margin adds the edge, not the frame
        assert not (tight & ~drawn).any()  # margin 0 is the silhouette itself
        near = ndimage.binary_dilation(drawn, iterations=3)
        assert not (wide & ~near).any()  # nothing farther than the margin from the star, points included
    clip = object_masks(plan, 16, scene.width, scene.height)  # (T, H, W), every frame
    assert clip.shape == (16, scene.height, scene.width)
    assert np.array_equal(clip[15], object_mask(plan, 15, scene.width, scene.height))
    with pytest.raises(ValueError, match="margin"):
        object_mask(plan, 0, 64, 64, -1.0)


# ----------------------------------------------------------------------------- validation
def _edit(p: ShotPlan, fn: object) -> dict:
    d = json.loads(p.to_json())
    fn(d)  # type: ignore[operator]
    return d


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda d: d.update(version=7), "plan.version 7"),
        (lambda d: d["objects"][0]["boxes"][3].__setitem__(0, 2.5), "boxes[3] centre (2.5"),
        (lambda d: d["objects"][0]["boxes"][0].__setitem__(2, 0.9), "size 0.9 is out of range"),
        (lambda d: d["objects"][0].update(shape="hexagon"), "shape 'hexagon' is unknown"),
        (lambda d: d["objects"][0].update(color="teal"), "color 'teal' is unknown"),
        (lambda d: d["objects"][0]["boxes"].pop(), "boxes has 31 entries"),
        (lambda d: d.update(extra=1), "unknown plan keys: ['extra']"),
        (lambda d: d["objects"][0]["boxes"].__setitem__(0, "x"), "boxes[0] must be [cx, cy, size]"),
        (lambda d: d["objects"][0]["boxes"][0].__setitem__(0, True), "must be a finite number"),
        (lambda d: d.update(setting="moon"), "plan.setting 'moon'"),
        (lambda d: d.update(objects=[]), "1 to 3 objects"),
    ],
)
def test_bad_plans_name_the_field(change: object, needle: str) -> None:
    with pytest.raises(PlanError, match=None) as e:
        ShotPlan.from_dict(_edit(_plan(), change))
    assert needle in str(e.value)


def test_bad_json_and_duration_mismatch() -> None:
    with pytest.raises(PlanError, match="not valid JSON"):
        ShotPlan.from_json("{nope")
    with pytest.raises(PlanError, match="request is for 3 s"):
        check_matches(_plan(seconds=2.0), 3.0, 16)


# ----------------------------------------------------------------------------- paths
def test_path_parsing_and_errors() -> None:
    assert parse_path("0.1,0.5 0.9,0.5") == [(0.1, 0.5), (0.9, 0.5)]
    for bad, msg in [
        ("0.1,0.5", "at least two points"),
        ("0.1;0.5 1,1", "'x,y'"),
        ("0.1,0.5 1.2,0.5", "outside the frame"),
        ("a,b 1,1", "two numbers"),
    ]:
        with pytest.raises(PlanError, match=msg):
            parse_path(bad)


def test_path_is_travelled_at_constant_speed() -> None:
    xy = polyline_positions([(0.0, 0.0), (0.5, 0.0), (0.5, 0.5)], 21)
    steps = np.linalg.norm(np.diff(xy, axis=0), axis=1)
    assert np.allclose(steps, 0.05) and tuple(xy[0]) == (0.0, 0.0) and np.allclose(xy[-1], (0.5, 0.5))
    p = apply_path(_plan(), parse_path("0.1,0.5 0.9,0.2"))
    assert (p.objects[0].boxes[0].cx, p.objects[0].boxes[0].cy) == (0.1, 0.5)
    assert np.isclose(p.objects[0].boxes[-1].cx, 0.9)


def test_random_paths_stay_inside_the_margin_and_follow_the_seed() -> None:
    import random

    for kind in PATH_KINDS:
        for seed in range(20):
            pts = np.asarray(random_path(kind, random.Random(seed)))
            assert len(pts) >= 2 and pts.min() >= PATH_MARGIN - 1e-9 and pts.max() <= 1 - PATH_MARGIN + 1e-9
        assert random_path(kind, random.Random(3)) == random_path(kind, random.Random(3))
    circle = np.asarray(random_path("circle", random.Random(0)))
    assert np.allclose(circle[0], circle[-1])  # a closed loop
    zig = np.asarray(random_path("zigzag", random.Random(0)))
    assert np.all(np.diff(zig[:, 0]) > 0) and np.all(np.diff(zig[:, 1])[::2] > 0)  # rightwards, up and down
    with pytest.raises(ValueError, match="unknown path kind 'spiral'"):
        random_path("spiral", random.Random(0))


def test_a_path_too_fast_to_draw_sharply_gets_a_note_with_a_duration_that_is_not() -> None:
    across = [(0.1, 0.5), (0.9, 0.5)]  # 0.8 frame widths
    assert np.isclose(pixels_per_frame(across, 2.0, 16, 128, 128), 0.8 * 128 / 31)  # 3.3 pixels a frame
    assert fast_path_note(across, 2.0, 16, 128, 128) is None
    assert np.isclose(pixels_per_frame([(0.1, 0.1), (0.1, 0.9)], 2.0, 16, 176, 96), 0.8 * 96 / 31)  # heights
    zig = [(0.1, 0.2), (0.3, 0.8), (0.5, 0.2), (0.7, 0.8), (0.9, 0.2)]
    note = fast_path_note(zig, 2.0, 16, 128, 128)
    assert note is not None and "10.4 pixels a frame" in note
    slower = float(note.split("--seconds ")[1].split()[0])
    assert pixels_per_frame(zig, slower, 16, 128, 128) <= SHARP_PIXELS_PER_FRAME  # the advice holds
    assert fast_path_note(zig, slower, 16, 128, 128) is None


# ----------------------------------------------------------------------------- raster and helpers
def test_layout_channels_say_where_what_is() -> None:
    p = _plan("a red ball moving right", seconds=2.0)
    lay = latent_layout(p, 0, 9, 128, 128)
    assert lay.shape == (PLAN_CHANNELS, 9, 16, 16) and lay.dtype == torch.float32
    assert float(lay.min()) >= 0.0 and float(lay.max()) <= 1.0
    occ = lay[0]  # (N, h, w)
    cols = (occ.sum(dim=1) * torch.arange(16)).sum(dim=1) / occ.sum(dim=(1, 2))
    assert (torch.diff(cols) > 0).all()  # the occupied cells move right
    assert torch.allclose(lay[1], occ) and lay[2:5].sum() == 0  # ball one-hot
    assert torch.allclose(lay[5], occ) and lay[6:OBJECT_CHANNELS].sum() == 0  # red one-hot
    # a window starting later sees later frames; past the end holds the last frame
    assert torch.equal(
        latent_layout(p, 4, 2, 128, 128)[:LAYOUT_CHANNELS, 1],
        latent_layout(p, 0, 3, 128, 128)[:LAYOUT_CHANNELS, 2],
    )  # frames 5..8 both
    assert lay[LAYOUT_CHANNELS:POSITIONS_END].sum() == 0  # a still camera: no view change
    assert torch.equal(latent_layout(p, 500, 1, 128, 128), latent_layout(p, 31, 1, 128, 128))


def _camera_stripes(prompt: str) -> torch.Tensor:
    lay = latent_layout(_plan(prompt, seconds=2.0), 0, 9, 128, 128)
    return lay[OBJECT_CHANNELS:LAYOUT_CHANNELS]  # (2, N, h, w)


def _phase(row: torch.Tensor) -> float:
    """Where a stripe row's first rising zero crossing lies, in cells (sub-cell by interpolation)."""
    r = row.numpy() - 0.5
    i = next(k for k in range(len(r) - 1) if r[k] < 0 <= r[k + 1])
    return float(i + -r[i] / (r[i + 1] - r[i]))


def test_camera_channels_move_with_the_world() -> None:
    """Static camera: the stripes stand still; a pan slides them against the pan; a zoom spreads them."""
    still = _camera_stripes("a red ball moving right")
    assert still.shape == (2, 9, 16, 16) and float(still.min()) >= 0.0 and float(still.max()) <= 1.0
    assert torch.equal(still[:, 0], still[:, -1]) and float(still[0].std()) > 0.2
    left = _camera_stripes("a red ball moving right, camera pans left")
    right = _camera_stripes("a red ball moving right, camera pans right")
    period = CAMERA_PERIOD * 128 / 8  # cells

    def shift(stripes: torch.Tensor) -> float:  # latent 0 -> 4 (about 1 s), wrapped to half a period
        d = _phase(stripes[0, 4, 0]) - _phase(stripes[0, 0, 0])
        return (d + period / 2) % period - period / 2

    assert shift(left) > 0.5 and shift(right) < -0.5  # a left pan slides the world right on screen
    assert abs(shift(still)) < 1e-6
    assert torch.equal(left[1, 0], left[1, -1])  # a pan moves nothing vertically
    zoom = _camera_stripes("a red ball moving right, camera zooms in")
    first, last = zoom[0, 0, 0], zoom[0, -1, 0]
    crossings = [int(((r[:-1] - 0.5) * (r[1:] - 0.5) < 0).sum()) for r in (first, last)]
    assert crossings[1] < crossings[0]  # fewer stripes across the frame: the world is magnified


def test_loop_and_anchor() -> None:
    p = close_loop(_plan(seconds=2.0), 8)
    assert p.objects[0].boxes[-1] == p.objects[0].boxes[0]
    img = np.zeros((128, 128, 3), np.uint8)
    yy, xx = np.mgrid[:128, :128]
    img[(xx - 32) ** 2 + (yy - 96) ** 2 < 100] = (215, 38, 38)
    a = BacklotPlanner().anchored(_plan(), img)
    b0 = a.objects[0].boxes[0]
    assert abs(b0.cx - 0.25) < 0.02 and abs(b0.cy - 0.75) < 0.02


def test_timing_channels_hold_each_pixel_frames_occupancy_in_order() -> None:
    fall = _plan("a red ball falling", seconds=2.0)
    lay = latent_layout(fall, 0, 9, 128, 128)
    timing = lay[POSITIONS_END:]  # (4, N, h, w)
    assert timing.shape == (TIMING_CHANNELS, 9, 16, 16)
    assert torch.allclose(timing.mean(dim=0), lay[0], atol=1e-6)  # channel 0 is their mean
    assert all(torch.equal(timing[i, 0], timing[0, 0]) for i in range(4))  # latent 0 is one frame
    rows = (timing.sum(dim=3) * torch.arange(16)).sum(dim=2) / timing.sum(dim=(2, 3))  # (4, N) centre rows
    assert (torch.diff(rows[:, 1:4], dim=0) > 0).all()  # within a latent frame the ball is lower each frame
    for k, f in ((1, 1), (2, 8)):  # each one is that pixel frame's own occupancy
        assert torch.allclose(timing[(f - 1) % 4, k], torch.from_numpy(frame_layout(fall, f, 128, 128)[0]))


def test_position_channels_carry_the_view_change_from_the_windows_first_frame() -> None:
    right = _plan("a red ball moving right, camera pans right", seconds=2.0)
    lay = latent_layout(right, 8, 5, 128, 128)[LAYOUT_CHANNELS:POSITIONS_END]  # (4, N, h, w), from frame 8
    assert lay.shape == (4, 5, 16, 16) and torch.equal(lay[:, :, :1, :1].expand(-1, -1, 16, 16), lay)
    assert float(lay[0, 0, 0, 0]) == 0.0 and (torch.diff(lay[0, :, 0, 0]) > 0).all()  # the pan grows
    assert lay[1:].sum() == 0  # nothing behind, no zoom
    pan, scale = view_change(right, 8, 24)
    assert pan == pytest.approx(0.09, abs=0.01) and scale == 0.0  # PAN_SPEED for 1 s
    want = np.mean([view_change(right, 8, f)[0] for f in range(21, 25)]) / POSITION_RANGE  # latent 4
    assert float(lay[0, 4, 0, 0]) == pytest.approx(want, abs=1e-6)
    zoom_in = latent_layout(_plan("a red ball, camera zooms in", seconds=2.0), 0, 9, 128, 128)
    zoom_in = zoom_in[LAYOUT_CHANNELS:POSITIONS_END]
    assert zoom_in[:3].sum() == 0 and (torch.diff(zoom_in[3, :, 0, 0]) > 0).all()  # the view's scale falls
    left = latent_layout(_plan("a red ball, camera pans left", seconds=2.0), 0, 9, 128, 128)
    left = left[LAYOUT_CHANNELS:POSITIONS_END]
    assert left[0].sum() == 0 and float(left[1, -1, 0, 0]) > 0.3
