"""`cinegen plan` and the plan flags of `cinegen generate` on a tiny plan-conditioned model: the
plan written, read back and rendered; bad plans and paths exit 2 naming the field, with no file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from cinegen.cli import main
from cinegen.media import read_video
from cinegen.planning.plan import ShotPlan

sys.path.insert(0, str(Path(__file__).parent))
from tiny_planned import tiny_planned_pipeline  # noqa: E402

PROMPT = "a red ball moving right"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pipe = tiny_planned_pipeline()
    path = tmp_path_factory.mktemp("model") / "tiny-planned"
    pipe.save_pretrained(path)
    return path


def gen(model: Path, out: Path, *args: str) -> int:
    return main(
        [
            "generate",
            PROMPT,
            "-o",
            str(out),
            "--model",
            str(model),
            "--size",
            "64x64",
            "--dtype",
            "float32",
            "--seconds",
            "0.5",
            *args,
        ]
    )


def test_plan_command_writes_a_readable_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "p.json"
    assert (
        main(
            [
                "plan",
                "a red ball bouncing left of a blue box",
                "-o",
                str(out),
                "--seconds",
                "2",
                "--seed",
                "7",
            ]
        )
        == 0
    )
    plan = ShotPlan.from_json(out.read_text())
    assert plan.num_frames == 32 and [o.phrase for o in plan.objects] == [
        "red ball bouncing",
        "blue box staying still",
    ]
    assert "red ball bouncing" in capsys.readouterr().out
    assert (
        main(["plan", PROMPT, "-o", str(tmp_path / "q.json"), "--path", "0.1,0.1 0.9,0.9", "--seconds", "1"])
        == 0
    )
    q = ShotPlan.from_json((tmp_path / "q.json").read_text())
    assert (q.objects[0].boxes[0].cx, q.objects[0].boxes[-1].cy) == (0.1, 0.9)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["a cathedral at dawn"], "could not place"),
        ([PROMPT, "--path", "0.1,0.1"], "at least two points"),
        ([PROMPT, "--seconds", "90"], "--seconds must be in"),
    ],
)
def test_plan_command_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    out = tmp_path / "p.json"
    assert main(["plan", *args, "-o", str(out)]) == 2
    assert needle in capsys.readouterr().err and not out.exists()


def test_generate_renders_a_plan_a_path_or_none(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_path = tmp_path / "plan.json"
    assert (
        main(["plan", PROMPT, "-o", str(plan_path), "--seconds", "0.5", "--size", "64x64", "--seed", "3"])
        == 0
    )
    capsys.readouterr()

    def frames(
        name: str, *args: str
    ) -> np.ndarray:  # the frames before the watermark (its payload is per job)
        assert (
            gen(model, tmp_path / f"{name}.mp4", "--seed", "3", "--frames-dir", str(tmp_path / name), *args)
            == 0
        )
        assert read_video(tmp_path / f"{name}.mp4")[0].shape == (8, 64, 64, 3)
        return np.stack([np.asarray(Image.open(f)) for f in sorted((tmp_path / name).glob("*.png"))])

    a = frames("a", "--plan", str(plan_path))
    assert "plan: red ball moving right" in capsys.readouterr().out
    b = frames("b")  # the planner's own plan for the same prompt, seed and size
    assert np.array_equal(a, b)
    c = frames("c", "--path", "0.9,0.1 0.1,0.9")
    err = capsys.readouterr().err  # 72 pixels in 8 frames: faster than the VAE draws sharply
    assert "path: the object travels 10.3 pixels a frame" in err and "--seconds 1 or more" in err
    d = frames("d", "--no-plan")
    assert "plan:" not in capsys.readouterr().out.split("wrote")[-2]
    assert not np.array_equal(a, c) and not np.array_equal(a, d)


def test_generate_refuses_bad_plans_with_no_file(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.json"
    assert main(["plan", PROMPT, "-o", str(good), "--seconds", "0.5", "--size", "64x64"]) == 0
    d = json.loads(good.read_text())
    cases: list[tuple[str, Any, str]] = [
        ("bad.json", "{not json", "not valid JSON"),
        ("version.json", {**d, "version": 3}, "plan.version 3"),
        (
            "outside.json",
            {**d, "objects": [{**d["objects"][0], "boxes": [[3.0, 0.5, 0.1]] * 8}]},
            "outside the frame",
        ),
        ("size.json", {**d, "objects": [{**d["objects"][0], "boxes": [[0.5, 0.5, 0.9]] * 8}]}, "size 0.9"),
        ("shape.json", {**d, "objects": [{**d["objects"][0], "shape": "cube"}]}, "shape 'cube'"),
        ("long.json", {**d, "seconds": 1.0}, "has 8 entries; the plan has 16 frames"),
    ]
    for name, body, needle in cases:
        f = tmp_path / name
        f.write_text(body if isinstance(body, str) else json.dumps(body))
        out = tmp_path / f"{name}.mp4"
        assert gen(model, out, "--plan", str(f)) == 2, name
        assert needle in capsys.readouterr().err, name
        assert not out.exists()
    for args, needle in [
        (["--plan", str(good), "--seconds", "1"], "request is for 1 s"),
        (["--path", "0.5,0.5"], "at least two points"),
        (["--path", "0.5,0.5 2,2"], "outside the frame"),
        (["--plan", str(good), "--no-plan"], "use_plan=False"),
        (["--plan", str(tmp_path / "missing.json")], "cannot read plan"),
    ]:
        out = tmp_path / "x.mp4"
        assert gen(model, out, *args) == 2, args
        assert needle in capsys.readouterr().err, args
        assert not out.exists()
