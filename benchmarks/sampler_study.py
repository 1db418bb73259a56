"""The diffusion U-Net's sampler steps against what the chapters measure (issue 20, item 4).

Drawing the book's samples (the ancestral DDPM sampler over all 64 noise levels) is about a fifth
of the default book's core-seconds. This study draws the same models' samples (the book's cached
U-Nets, the same sample seeds) with fewer reverse steps and reports what the chapters report:
per task, TV (median over the seeds, the lowest and highest seed) beside its null, plausible
seeds, and the probe kernel's correlation and share / ceiling against each setting's seed-mean
drift, with the time the draws took (none for the book's own samples: they come from the cache).

Settings, declared before any result (``SETTINGS``): the book's sampler; the ancestral sampler
respaced to 32 and to 16 evenly spaced steps (the DDPM posterior between non-consecutive steps,
``beta' = 1 - alpha_bar_t / alpha_bar_s``: Nichol & Dhariwal 2021's respacing, the same sampler
family as the book's); the library's deterministic DDIM on 16 steps. The rule, declared with
them: a setting keeps the book's numbers on a task when its TV median lies within the book
sampler's lowest and highest seed, every seed stays plausible, and the kernel's correlation and
share / ceiling move by less than their bootstrap intervals' half-width. The kernel is the same
for every setting (the book's SDEdit probe over every step, depth by the declared locality rule
per seed, ``kernel_study.probe_study``): what changes is only the drift it is asked to predict.

    python benchmarks/sampler_study.py --tasks cone,maze --json sampler.json

Needs the default book's models in the cache (``$MISGEN_CACHE_DIR`` or ``.misgen_cache``): it
trains nothing. Every row names the host's CPU.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import time

import numpy as np
import torch

import misgen_lib as mg
from misgen_lib.cache import default_store
from misgen_lib.kernel import validate
from misgen_lib.models import get_class
from misgen_lib.seeds import derive
from misgen_lib.studies import kernel_study
from misgen_lib.studies.claims import PLAUSIBLE_FACTOR, plausible
from misgen_lib.studies.suite import Unit, clean_sets

from convergence_study import agreement, cpu_name, keeps, report

MODEL = "diffusion-unet"
#: (sampler, reverse steps), the book's first; declared before any result
SETTINGS = (("ancestral", 64), ("ancestral", 32), ("ancestral", 16), ("ddim", 16))
SUITE_OF = {"sine": "synthetic", "cone": "synthetic", "logistic": "synthetic", "maze": "applied",
            "pendulum": "applied"}


def respaced_ancestral(model, n: int, seed: int, steps: int, batch_size: int = 1000) -> np.ndarray:
    """``n`` samples of a diffusion ``model`` (data units) by the ancestral sampler on ``steps``
    evenly spaced noise levels (the DDPM posterior between consecutive chosen levels; at all
    levels it is the library's sampler, to rounding). It lives here, not in
    ``DiffusionClass.denoise``, until this study says it keeps the book's numbers: the class's
    file is part of every diffusion model's cache key, so moving it there retrains them all."""
    mc, cfg = get_class(model.name), model.config
    ab = mc.schedule(cfg, model.device)["alpha_bar"]
    levels = torch.linspace(cfg.diffusion_steps - 1, 0, steps).round().long().unique_consecutive().tolist()
    gen = torch.Generator(device=model.device).manual_seed(int(seed))
    out = []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            x = torch.randn((min(batch_size, n - start), model.horizon, model.dim), generator=gen, device=model.device)
            for t, s in zip(levels, [*levels[1:], None]):
                x0, _ = mc.predict(model.net, x, t, None, cfg, ab)
                if s is None:
                    x = x0
                    break
                a, a_prev = ab[t], ab[s]
                beta = 1 - a / a_prev
                mean = (a_prev.sqrt() * beta / (1 - a)) * x0 + ((a / a_prev).sqrt() * (1 - a_prev) / (1 - a)) * x
                x = mean + (beta * (1 - a_prev) / (1 - a)).sqrt() * torch.randn(x.shape, generator=gen, device=x.device)
            out.append(x.float().cpu().numpy())
    return model.normaliser.decode_x(np.concatenate(out))


def draw(model, n: int, seed: int, sampler: str, steps: int) -> np.ndarray:
    """The model's samples with ``sampler`` on ``steps`` reverse steps (DDIM is the library's)."""
    if sampler == "ddim":
        model = copy.copy(model)
        model.config = dataclasses.replace(model.config, sampler="ddim", sample_steps=steps)
        return model.sample(n, seed=seed)
    return respaced_ancestral(model, n, seed, steps)


@dataclasses.dataclass
class Resampled(Unit):
    """A suite unit whose samples are drawn by another sampler (never cached)."""
    how: str = "ancestral"
    steps: int = 64

    def samples(self, model, store):
        return draw(model, self.cfg.n_samples, self.sample_seed(), self.how, self.steps)


def task_rows(task_name: str, n_predict: int, n_boot: int) -> list[dict]:
    """The table's rows of one task: every setting, one kernel."""
    cfg = mg.studies.suite_config(SUITE_OF[task_name], "default", tasks=(task_name,), models=(MODEL,))
    store = default_store()
    task = cfg.task(task_name)
    prior = cfg.prior(task)
    units = [Unit(cfg, task, prior, *clean_sets(cfg, task, prior, seed), MODEL, seed) for seed in cfg.seeds]
    trained = [u.fit(store, require_cached=True, progress=False) for u in units]
    book = [u.entry(m, store) for u, m in zip(units, trained)]
    kernel = kernel_study.probe_study(book, n_predict=n_predict, n_boot=n_boot, workers=1)[0]
    vseed = derive(book[0].seed, "validation-pooled", task_name, MODEL)
    rows = []
    for how, steps in SETTINGS:
        start = time.perf_counter()
        entries = book if (how, steps) == SETTINGS[0] else [
            Resampled(**{f.name: getattr(u, f.name) for f in dataclasses.fields(Unit)}, how=how,
                      steps=steps).entry(m, store) for u, m in zip(units, trained)]
        seconds = np.nan if entries is book else time.perf_counter() - start   # the book's: cached
        v = validate(kernel.prediction, kernel_study.pair_drift(entries), n_boot=n_boot, seed=vseed)
        tv = [e.drift.tv for e in entries]
        rows.append({"cpu": cpu_name(), "task": task_name, "sampler": how, "steps": steps,
                     "TV median": float(np.median(tv)), "TV lowest seed": min(tv), "TV highest seed": max(tv),
                     "TV null 95%": float(np.median([e.drift.null_q95("tv") for e in entries])),
                     "plausible seeds": sum(plausible(e, PLAUSIBLE_FACTOR) for e in entries),
                     "depths": "/".join(str(d.depth) for d in kernel.depths),
                     **agreement(v), "draw seconds": round(seconds, 1)})
    for row in rows:
        row["keeps"] = keeps(row, rows[0], len(cfg.seeds))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="sine,cone,logistic,maze,pendulum", help="comma-separated tasks")
    parser.add_argument("--n-predict", type=int, default=5000, help="clean trajectories per seed (probe kernel)")
    parser.add_argument("--n-boot", type=int, default=100, help="bootstrap draws of the validations")
    parser.add_argument("--json", help="write the table here as JSON")
    args = parser.parse_args()
    unknown = sorted(set(args.tasks.split(",")) - set(SUITE_OF))
    if unknown:
        parser.error(f"--tasks: unknown {unknown}; valid: {sorted(SUITE_OF)}")
    with mg.models.torch_threads(1):
        rows = [row for t in args.tasks.split(",") for row in task_rows(t, args.n_predict, args.n_boot)]
    report(rows, args.json)


if __name__ == "__main__":
    main()
