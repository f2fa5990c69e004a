"""The text encoder's travelling copy (training/text_pack.py): small, loadable, and close to the original
on training captions; the distiller reads whichever copy `text_encoder` names."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from cinegen.backlot.captions import captions_for
from cinegen.backlot.scene import random_scene
from cinegen.models.text import TextEncoder
from cinegen.training import distill, text_pack
from cinegen.training.configs import DistillConfig


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("text_pack")
    packed = text_pack.pack(root / "pack", scenes=300)
    assert (packed / text_pack.PACKED).stat().st_size < 13 * 2**20  # fits beside the tree in 64 MiB
    return text_pack.unpack(packed, root / "minilm")


def test_caption_word_pieces_are_few_and_include_the_special_tokens() -> None:
    used = text_pack.caption_tokens(300)
    assert set(text_pack.SPECIAL) <= used and 60 < len(used) < 400


def test_unpacked_encoder_matches_the_package_on_training_captions(unpacked: Path) -> None:
    rng = random.Random(11)  # other scenes than the ones that chose the rows
    caps = [c for _ in range(40) for c in captions_for(random_scene(rng), rng, n=2)] + [""]
    ref, ref_mask = TextEncoder().encode_uncached(caps)
    got, mask = TextEncoder(path=unpacked).encode_uncached(caps)
    assert torch.equal(ref_mask, mask)
    a, b = ref[mask], got[mask]  # (tokens, 384)
    assert ((a - b).pow(2).mean() / a.pow(2).mean()).sqrt() < 0.03
    assert torch.nn.functional.cosine_similarity(a, b, dim=-1).min() > 0.999
    # and it really is the quantised copy that was loaded
    assert not torch.equal(ref, got)


def test_unpack_names_a_missing_pack(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=text_pack.PACKED):
        text_pack.unpack(tmp_path, tmp_path / "out")


def test_distiller_loads_the_text_encoder_it_is_given(tmp_path: Path) -> None:
    from tests.tiny_planned import tiny_planned_pipeline

    teacher = tmp_path / "teacher"
    tiny_planned_pipeline().save_pretrained(teacher)
    cfg = DistillConfig(out=str(tmp_path / "out"), teacher=str(teacher),
                        text_encoder=str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="nowhere"):
        distill.main(cfg)
