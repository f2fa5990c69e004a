"""PipelineBackend: the real pipeline (tiny random weights) behind the job service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from cinegen.media import probe_video, read_video
from cinegen.service.backends import BACKENDS, JobCancelled, JobSpec, backend_class
from cinegen.service.settings import Settings
from tests.tiny_builtin import save_tiny_builtin

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_builtin(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="module")
def backend(model_dir: Path):  # type: ignore[no-untyped-def]
    from cinegen.service.pipeline_backend import PipelineBackend

    return PipelineBackend(model_dir=str(model_dir))


def _job(**kw: object) -> JobSpec:
    base: dict[str, object] = {"id": "video_t", "prompt": "a red ball bounces", "seconds": 1, "fps": 8,
                               "seed": 3,
                               "size": (128, 128), "publish": "plain"}
    return JobSpec(**{**base, **kw})  # type: ignore[arg-type]


def test_registered_with_the_model_sizes_and_modes() -> None:
    cls = backend_class("pipeline")
    assert BACKENDS["pipeline"].endswith(":PipelineBackend")
    assert cls.SIZES == ("128x128", "176x96", "96x176")
    assert {"text", "image", "extend", "connect", "loop", "edit", "remix", "keyframes"} == set(cls.MODES)


def test_modes_frame_counts_progress_and_determinism(
    backend: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # same seed, same video holds at the same thread count; the job's share of the CPU follows other
    # processes' load (tests/test_cpu_share.py), and the tiny random model turns the float rounding of
    # another count into visible change (the shipped model: at most one level in 0.06% of values)
    monkeypatch.setattr(backend, "threads", None)
    seen: list[float] = []
    r = backend.generate(_job(), tmp_path / "a.mp4", seen.append, lambda: False)
    frames, fps = read_video(r.path)
    assert frames.shape == (8, 128, 128, 3) and r.num_frames == 8 and fps == 8
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 2
    again = backend.generate(_job(), tmp_path / "b.mp4", lambda f: None, lambda: False)
    assert np.array_equal(read_video(again.path)[0], frames)  # same seed, same video
    # extend: the source then one more second; remix/edit: the source's length
    ext = backend.generate(_job(mode="extend", source_videos=(r.path,)), tmp_path / "e.mp4", lambda f: None,
                           lambda: False)
    assert probe_video(ext.path).num_frames == 16
    assert np.abs(read_video(ext.path)[0][:8].astype(int) - frames.astype(int)).mean() < 4  # the source leads
    rem = backend.generate(_job(mode="remix", prompt="a blue box", source_videos=(r.path,), remix_of="v"),
                           tmp_path / "r.mp4", lambda f: None, lambda: False)
    assert probe_video(rem.path).num_frames == 8
    img = tmp_path / "ref.png"
    from PIL import Image

    Image.fromarray(frames[0]).save(img)
    i2v = backend.generate(_job(mode="image", input_reference=img), tmp_path / "i.mp4", lambda f: None,
                           lambda: False)
    assert probe_video(i2v.path).num_frames == 8


def test_connect_loop_edit_and_keyframes_modes(backend: Any, tmp_path: Path) -> None:
    a = backend.generate(_job(seed=1), tmp_path / "a.mp4", lambda f: None, lambda: False).path
    b = backend.generate(_job(seed=2), tmp_path / "b.mp4", lambda f: None, lambda: False).path
    for mode, sources, extra in [("connect", (a, b), {}), ("loop", (a,), {}),
                                 ("edit", (a,), {"strength": 0.3}),
                                 ("keyframes", (a, b), {})]:
        r = backend.generate(_job(mode=mode, source_videos=sources, **extra), tmp_path / f"{mode}.mp4",
                             lambda f: None, lambda: False)
        n = probe_video(r.path).num_frames
        assert n == r.num_frames and n >= 1, mode
        if mode in ("edit", "keyframes", "loop"):
            assert n == 8, mode  # 1 s at 8 fps


def test_cancel_in_the_denoising_loop_and_bad_size(backend: Any, tmp_path: Path) -> None:
    from cinegen.service.backends import BackendError

    with pytest.raises(JobCancelled):
        backend.generate(_job(), tmp_path / "c.mp4", lambda f: None, lambda: True)
    assert not (tmp_path / "c.mp4").exists()
    with pytest.raises(BackendError, match="renders 128x128"):
        backend.generate(_job(size=(96, 176)), tmp_path / "d.mp4", lambda f: None, lambda: False)


def test_end_to_end_through_the_server_signed(model_dir: Path, tmp_path: Path) -> None:
    import openai

    from cinegen.service.testing import ThreadServer, make_key
    from cinegen.trust.publish import verify_video

    s = Settings(data_dir=tmp_path / "svc", backend="pipeline", backend_options={"model_dir": str(model_dir)},
                 workers=1, default_fps=8, poll_after_ms=50)
    assert s.publish == "trust"  # the default: every MP4 carries C2PA + watermark
    key = make_key(s, "pipe")
    with ThreadServer(s) as srv:
        # the sizes the model itself declares (the tiny one renders only 128x128): the rest are refused
        # at the edge, before anything is queued
        assert srv.service.sizes == ("128x128",)
        srv.wait_ready(timeout=120)
        c = openai.OpenAI(base_url=srv.base_url + "/v1", api_key=key, max_retries=0)
        # the SDK's types name only OpenAI's sizes and seconds
        v = c.videos.create_and_poll(prompt="a red ball bounces on grass",
                                     seconds="1",  # type: ignore[arg-type]
                                     size="128x128", poll_interval_ms=100)  # type: ignore[arg-type]
        assert v.status == "completed", v.error
        out = tmp_path / "pipe.mp4"
        c.videos.download_content(v.id).write_to_file(out)
        # per-stage timings: on the video object, and as histograms on /metrics
        auth = {"Authorization": f"Bearer {key}"}
        t = httpx.get(f"{srv.base_url}/v1/videos/{v.id}", headers=auth).json()["timings"]
        stages = ("moderation", "model_load", "text", "denoise", "vae_decode", "publish", "previews", "total")
        assert set(stages) <= set(t) and all(t[k] >= 0 for k in stages)
        assert t["denoise"] > 0 and t["model_load"] < t["total"]  # the worker loaded the model before the job
        assert t["total"] >= t["denoise"] + t["vae_decode"] + t["publish"]
        m = httpx.get(f"{srv.base_url}/metrics").text
        assert 'cinegen_job_stage_seconds_count{stage="denoise"} 1' in m
        assert 'cinegen_job_stage_seconds_bucket{stage="publish",le="+Inf"} 1' in m
    assert probe_video(out).num_frames == 8 and (probe_video(out).width, probe_video(out).height) == (128,
                                                                                                      128)
    report = verify_video(out)
    assert report.c2pa.valid and report.c2pa.claims["job_id"] == v.id
    assert report.c2pa.claims["model"] == {"name": "tiny-test", "version": "0.0"}
    assert report.c2pa.claims["training_data"]["declared"] is False  # a random-weight model has no ledger
    # The manifest names the watermark payload. Detecting it from the pixels is not asserted here:
    # random weights make near-noise frames, and 8 of them carry too little evidence (bit accuracy
    # 0.84-0.97 in runs); test_service_api checks detection on the fake backend's clips.
    assert len(report.c2pa.claims["watermark"]["payload"]) == 8


def test_missing_model_dir_names_the_option(tmp_path: Path) -> None:
    from cinegen.service.pipeline_backend import PipelineBackend

    with pytest.raises(FileNotFoundError, match="model_dir"):
        PipelineBackend(model_dir=str(tmp_path / "nope"))


def test_prompt_extension_follows_the_job(model_dir: Path, tmp_path: Path) -> None:
    from cinegen.backlot.extend import PROMPT_EXTENDERS
    from cinegen.pipeline import CinegenPipeline
    from cinegen.service.pipeline_backend import PipelineBackend

    pipe = CinegenPipeline.from_pretrained(model_dir, dtype="float32")
    pipe.prompt_extender = PROMPT_EXTENDERS["backlot-detailed"]
    pipe.save_pretrained(tmp_path / "ext")
    backend = PipelineBackend(model_dir=str(tmp_path / "ext"))
    para = "a crimson orb plummeting at dusk"
    on = backend.generate(_job(prompt=para), tmp_path / "on.mp4", lambda f: None, lambda: False)
    off = backend.generate(_job(prompt=para, extend_prompt=False), tmp_path / "off.mp4", lambda f: None,
                           lambda: False)
    assert on.info["prompt"] == para and on.info["model_prompt"].startswith("A red ball falling and bouncing")
    assert off.info["model_prompt"] == para
    spec = _job(extend_prompt=False)
    assert JobSpec.from_dict(spec.to_dict()) == spec


def test_a_job_runs_on_the_cores_a_busy_neighbour_left_and_gives_them_back(
    backend: Any, tmp_path: Path
) -> None:
    import os
    import time

    import torch

    from cinegen.cpu_share import JobThreads

    hz = os.sysconf("SC_CLK_TCK")
    stat = tmp_path / "stat"
    stat.write_text(f"cpu  {100 * hz} 0 0 {1000 * hz} 0 0 0 0 0 0\n")
    seen: list[int] = []
    before, kept = torch.get_num_threads(), backend.threads
    try:
        torch.set_num_threads(2)
        backend.threads = JobThreads(most=2, stat=stat)
        backend.threads.for_next_job(sleep=time.sleep)  # the window starts here
        time.sleep(0.3)
        stat.write_text(f"cpu  {round((100 + 0.3) * hz)} 0 0 {1000 * hz} 0 0 0 0 0 0\n")  # one core busy
        result = backend.generate(_job(), tmp_path / "v.mp4", lambda f: seen.append(torch.get_num_threads()),
                                  lambda: False)
        assert result.info["threads"] == 1 and set(seen[:-1]) == {1}  # every denoising step on 1 thread
        assert torch.get_num_threads() == 2  # the worker's own count is back after the job
    finally:
        backend.threads = kept
        torch.set_num_threads(before)
