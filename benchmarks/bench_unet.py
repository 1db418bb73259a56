"""Our temporal U-Net diffusion against diffusers' ``UNet1DModel`` (Diffuser-style blocks
``DownResnetBlock1D`` / ``UpResnetBlock1D`` / ``MidResTemporalBlock1D``), in one run on this
machine: training steps per second, parameter counts, sampling throughput, and their ratios.

Both networks are trained with the same DDPM loss (ours: cosine schedule, x0-prediction) and
sampled with the same ancestral sampler, so the comparison is of the networks only. The diffusers
network's base width is chosen so that its parameter count is the closest to ours.

Scheduler choice (recorded): the library computes the cosine schedule itself instead of using
``diffusers.DDPMScheduler(beta_schedule="squaredcos_cap_v2")``; the two give the same betas
(checked in ``tests/test_models_diffusion.py``) and the core library stays free of diffusers.

    python benchmarks/bench_unet.py [--width 32] [--mults 1,2] [--batch 64] [--horizon 64] [--dim 2]
"""
from __future__ import annotations

import argparse
import json
import time

import torch
from torch import nn

from misgen_lib.models import get_class, make_config


class DiffusersDenoiser(nn.Module):
    """diffusers ``UNet1DModel`` behind our denoiser signature ``net(x_t (B, T, d), t, q)``."""

    def __init__(self, dim: int, width: int, horizon: int, mults: tuple[int, ...]):
        super().__init__()
        from diffusers import UNet1DModel
        self.net = UNet1DModel(
            sample_size=horizon, in_channels=dim, out_channels=dim, extra_in_channels=0,
            time_embedding_type="positional", flip_sin_to_cos=False, use_timestep_embedding=True,
            freq_shift=1, down_block_types=("DownResnetBlock1D",) * len(mults),
            up_block_types=("UpResnetBlock1D",) * (len(mults) - 1), mid_block_type="MidResTemporalBlock1D",
            out_block_type="OutConv1DBlock", block_out_channels=tuple(width * m for m in mults),
            act_fn="mish", norm_num_groups=8, layers_per_block=1, downsample_each_block=False)

    def forward(self, x, t, q=None):
        return self.net(x.transpose(1, 2), t).sample.transpose(1, 2)


def n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def matched_diffusers(dim: int, horizon: int, mults: tuple[int, ...], target: int) -> DiffusersDenoiser:
    """The diffusers network with the same levels whose parameter count is closest to ``target``."""
    best = None
    for width in range(8, 129, 8):
        net = DiffusersDenoiser(dim, width, horizon, mults)
        if best is None or abs(n_params(net) - target) < abs(n_params(best) - target):
            best = net
    return best


def time_training(mc, cfg, net, x, steps: int) -> float:
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    for i in range(steps + 3):
        if i == 3:
            start = time.perf_counter()
        loss = mc.loss(net, x, None, cfg, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps / (time.perf_counter() - start)


def time_sampling(mc, cfg, net, n: int, horizon: int, dim: int) -> float:
    net.eval()
    with torch.no_grad():
        start = time.perf_counter()
        mc.sample(net, n, None, cfg, horizon, dim, torch.Generator().manual_seed(0))
    return n / (time.perf_counter() - start)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--mults", type=str, default="", help="channel multipliers, e.g. 1,2,4 (default: the class's)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--horizon", type=int, default=64)
    p.add_argument("--dim", type=int, default=2)
    p.add_argument("--steps", type=int, default=30, help="timed training steps per network")
    p.add_argument("--n-sample", type=int, default=256, help="trajectories sampled per network")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default)")
    args = p.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    mc = get_class("diffusion-unet")
    overrides = {"width": args.width}
    if args.mults:
        overrides["mults"] = [int(m) for m in args.mults.split(",")]
    cfg = make_config("diffusion-unet", overrides)
    ours = mc.build(cfg, args.horizon, args.dim, conditional=False)
    theirs = matched_diffusers(args.dim, args.horizon, tuple(cfg.mults), n_params(ours))
    x = torch.randn(args.batch, args.horizon, args.dim)
    result = {"mults": list(cfg.mults), "width_ours": cfg.width, "batch": args.batch, "horizon": args.horizon, "dim": args.dim, "threads": torch.get_num_threads(),
              "diffusion_steps": cfg.diffusion_steps,
              "params_ours": n_params(ours), "params_diffusers": n_params(theirs)}
    # interleave the two networks so that load changes on a shared machine hit both alike
    for name, net in (("ours", ours), ("diffusers", theirs), ("ours_2", ours), ("diffusers_2", theirs)):
        result[f"train_steps_per_s_{name}"] = time_training(mc, cfg, net, x, args.steps)
    for name, net in (("ours", ours), ("diffusers", theirs)):
        result[f"samples_per_s_{name}"] = time_sampling(mc, cfg, net, args.n_sample, args.horizon, args.dim)
    for key in ("ours", "diffusers"):
        result[f"train_steps_per_s_{key}"] = max(result[f"train_steps_per_s_{key}"],
                                                 result.pop(f"train_steps_per_s_{key}_2"))
    result["train_speed_ratio_ours_over_diffusers"] = (result["train_steps_per_s_ours"]
                                                       / result["train_steps_per_s_diffusers"])
    result["sampling_speed_ratio_ours_over_diffusers"] = (result["samples_per_s_ours"]
                                                          / result["samples_per_s_diffusers"])
    result["param_ratio_ours_over_diffusers"] = result["params_ours"] / result["params_diffusers"]
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
