"""`cinegen train vae|dit|distill`: the trainers' configs as flags (`--resume` continues a run)."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from cinegen.training.configs import DistillConfig, DiTTrainConfig, VAETrainConfig
from cinegen.training.schedule import add_dataclass_args, config_from_args


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("train", help="train the built-in model's VAE or transformer on the backlot")
    tsub = p.add_subparsers(dest="what", metavar="vae|dit|distill")
    tsub.required = True
    for name, cls, helptext in (
        ("vae", VAETrainConfig, "train the video VAE"),
        ("dit", DiTTrainConfig, "train the diffusion transformer on VAE latents"),
        ("distill", DistillConfig, "distil a model's guided sampler into a few-step student"),
    ):
        q = tsub.add_parser(name, help=helptext)
        add_dataclass_args(q, cls)
        q.set_defaults(func=_run, config_cls=cls, what=name)


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    cfg = config_from_args(args.config_cls, args)
    if args.what == "vae":
        from cinegen.training.vae import main as vae_main

        vae_main(cfg)
    elif args.what == "distill":
        from cinegen.training.distill import main as distill_main

        distill_main(cfg)
    else:
        from cinegen.training.dit import main as dit_main

        dit_main(cfg)
    return 0
