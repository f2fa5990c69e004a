"""Watermark robustness, false positives and invisibility on backlot renders.

    .venv/bin/python benchmarks/watermark_robustness.py --clips 100 --null 1000 --workers 2

Watermarked clips: `--clips` backlot renders (half 128x128, half 192x112, 16 fps, 1-8 s), each with
a random 32-bit payload. Attacks: H.264 yuv420p CRF 23 and CRF 28; downscale to half size then
CRF 23; crop 10% per side then CRF 23; trim to the first 1 s then CRF 23. Bit accuracy is over the
32 payload bits. False positives: `--null` unwatermarked renders (1-4 s) through CRF 23; the FPR
is the share whose detection score reaches the threshold. PSNR is of the watermarked frames vs
the unwatermarked ones (uint8, before encoding). Prints a table and writes JSON to --out.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import time
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import av
import numpy as np

from cinegen.backlot.render import render_scene
from cinegen.backlot.scene import random_scene
from cinegen.trust import watermark as wm

ATTACKS = ("none", "crf23", "crf28", "half", "crop10", "trim1s")


def h264(frames: np.ndarray, crf: int, fps: int = 16) -> np.ndarray:
    """Encode (T, H, W, 3) uint8 with libx264 yuv420p at `crf` and decode it again."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        s.options = {"crf": str(crf), "preset": "medium"}
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    buf.seek(0)
    with av.open(buf, mode="r") as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def downscale(frames: np.ndarray, factor: float) -> np.ndarray:
    h, w = frames.shape[1:3]
    nh, nw = int(h * factor) // 2 * 2, int(w * factor) // 2 * 2
    return np.stack([
        av.VideoFrame.from_ndarray(f, format="rgb24")
        .reformat(width=nw, height=nh, interpolation="AREA").to_ndarray(format="rgb24")
        for f in frames
    ])


def attack(frames: np.ndarray, name: str) -> np.ndarray:
    t, h, w, _ = frames.shape
    if name == "none":
        return frames
    if name == "crf23":
        return h264(frames, 23)
    if name == "crf28":
        return h264(frames, 28)
    if name == "half":
        return h264(downscale(frames, 0.5), 23)
    if name == "crop10":
        ch, cw = round(h * 0.1), round(w * 0.1)
        cropped = frames[:, ch : h - ch, cw : w - cw]
        return h264(cropped[:, : cropped.shape[1] // 2 * 2, : cropped.shape[2] // 2 * 2], 23)
    if name == "trim1s":
        return h264(frames[:16], 23)
    raise ValueError(name)


def clip(i: int, *, null: bool) -> tuple[np.ndarray, int]:
    rng = random.Random(("null" if null else "mark", i).__repr__())
    w, h = (128, 128) if i % 2 == 0 else (192, 112)
    seconds = rng.choice([1, 2, 4]) if null else rng.choice([1, 2, 4, 8])
    return render_scene(random_scene(rng, seconds=seconds, width=w, height=h)), rng.getrandbits(32)


def run_marked(i: int) -> dict[str, Any]:
    frames, payload = clip(i, null=False)
    marked = wm.embed(frames, payload)
    row: dict[str, Any] = {"clip": i, "size": f"{frames.shape[2]}x{frames.shape[1]}", "frames": len(frames),
                              "psnr": wm.psnr(frames, marked)}
    for a in ATTACKS:
        r = wm.detect(attack(marked, a), expected_payload=payload)
        row[a] = {"acc": r.bit_accuracy, "score": r.score, "detected": r.detected, "crc_ok": r.crc_ok}
    return row


def run_null(i: int) -> float:
    frames, _ = clip(i, null=True)
    return wm.detect(h264(frames, 23)).score


def baseline_imwatermark(n: int) -> None:
    """`invisible-watermark` (dwtDct, as SDXL uses it) on n backlot clips at 256x256 (it skips
    smaller frames): 32 bits, decoded per frame with a majority vote. Needs `imwatermark`, cv2 and
    pywt importable (not a cinegen dependency), e.g. pip install --target DIR invisible-watermark
    opencv-python-headless PyWavelets --no-deps; PYTHONPATH=DIR."""
    from imwatermark import WatermarkDecoder, WatermarkEncoder

    accs: dict[str, list[float]] = {"raw": [], "crf23": []}
    psnrs = []
    for i in range(n):
        rng = random.Random(i)
        frames = render_scene(random_scene(rng, seconds=1, width=256, height=256))
        bits = [rng.getrandbits(1) for _ in range(32)]
        enc = WatermarkEncoder()
        enc.set_watermark("bits", bits)
        # BGR in/out
        marked = np.stack([enc.encode(f[..., ::-1].copy(), "dwtDct")[..., ::-1] for f in frames])
        psnrs.append(wm.psnr(frames, marked))
        dec = WatermarkDecoder("bits", 32)
        for name, seen in (("raw", marked), ("crf23", h264(marked, 23))):
            votes = np.mean([dec.decode(f[..., ::-1].copy(), "dwtDct") for f in seen], axis=0) > 0.5
            accs[name].append(float(np.mean(votes == np.array(bits, dtype=bool))))
    print(f"invisible-watermark dwtDct, {n} clips 256x256: PSNR {np.mean(psnrs):.1f} dB; " + ", ".join(
        f"{k} bit accuracy mean {np.mean(v):.3f} min {np.min(v):.3f}" for k, v in accs.items()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=100)
    ap.add_argument("--null", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("runs/watermark_robustness.json"))
    ap.add_argument("--baseline-imwatermark", type=int, default=0, metavar="N",
                    help="only measure invisible-watermark on N clips (see baseline_imwatermark)")
    args = ap.parse_args()
    if args.baseline_imwatermark:
        baseline_imwatermark(args.baseline_imwatermark)
        return
    thr = wm.WatermarkConfig().threshold
    t0 = time.time()
    with Pool(args.workers) as pool:
        rows = pool.map(run_marked, range(args.clips), chunksize=1)
        null = pool.map(run_null, range(args.null), chunksize=4)
    print(f"{args.clips} watermarked clips, {args.null} unwatermarked clips, {time.time() - t0:.0f} s")
    psnrs = np.array([r["psnr"] for r in rows], dtype=np.float64)
    print(f"PSNR (watermarked vs original, uint8): mean {psnrs.mean():.2f} dB, min {psnrs.min():.2f} dB")
    print(f"{'attack':8s} {'bit acc mean':>12s} {'p10':>6s} {'min':>6s} {'clips>=0.95':>11s} "
          f"{'detected':>9s} {'crc ok':>7s}")
    summary: dict[str, object] = {"psnr_mean": psnrs.mean(), "psnr_min": psnrs.min(), "threshold": thr}
    for a in ATTACKS:
        acc = np.array([r[a]["acc"] for r in rows], dtype=np.float64)
        det = np.mean([r[a]["detected"] for r in rows])
        crc = np.mean([r[a]["crc_ok"] for r in rows])
        print(f"{a:8s} {acc.mean():12.4f} {np.percentile(acc, 10):6.3f} {acc.min():6.3f} "
              f"{np.mean(acc >= 0.95):11.2f} {det:9.2f} {crc:7.2f}")
        summary[a] = {"bit_accuracy_mean": acc.mean(), "bit_accuracy_min": acc.min(),
                      "share_ge_0.95": np.mean(acc >= 0.95),
                      "detection_rate": det, "crc_ok_rate": crc}
    ns = np.array(null)
    fpr = float(np.mean(ns >= thr))
    print(f"null scores: mean {ns.mean():.2f}, p99 {np.percentile(ns, 99):.2f}, p99.9 "
          f"{np.percentile(ns, 99.9):.2f}, max {ns.max():.2f}")
    print(f"false-positive rate at threshold {thr}: {fpr:.4f} ({int((ns >= thr).sum())}/{len(ns)})")
    summary.update({"null_max": ns.max(), "null_p999": np.percentile(ns, 99.9), "fpr": fpr, "n_null": len(ns),
                    "n_clips": len(rows)})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "rows": rows, "null_scores": list(map(float, ns))},
                                   default=float, indent=1))


if __name__ == "__main__":
    main()
