"""The book's interventions (chapter 06), registered in this order (the order of its tables):

* ``reweight``: importance weights ``w = p*/p_hat_A`` (clipped) in the loss (weighted mini-batches);
* ``resample``: the curated set resampled with the same weights to the same size;
* ``resample-2``: one more iteration, after ``resample``: weights ``w * p*/p_hat_B`` from the
  resampled model B (no role: C5a's rule counts the first round; its history: claims.RULE_HISTORY);
* ``condition``: a conditional model, sampled at ``q ~ p*``; the kernel predicts no change (the
  model's local errors are unchanged);
* ``precompensate``: trained on a prior ``pi`` with ``P pi ~ p*`` (Richardson-Lucy), its support
  one bin beyond the range on each side where the task's generator is defined there (the
  companion's alternative to the paper's intervention: C5c shows it beside, uncounted);
* ``transform``: trained in coordinates where the measurement is linear (``transforms``; tasks
  without a transform skip it); the probe's locality index is carried into the new coordinates
  as white noise (an approximation). The paper's kernel-informed intervention, by the secondary
  summaries: the one C5c counts (``studies.claims.PAPERS_INTERVENTION``);
* ``first-step`` (transformer) and ``latent-mixture`` (VAE): the fixes that follow from where
  these classes' drift comes from (chapter 03's origin experiments, ``studies.origins``): model A
  sampled with its first step drawn from the data, or with latents from a mixture fitted to its
  aggregate posterior; nothing is trained, and other classes skip them. For a class whose drift
  is not made by local errors they are the companion's informed fix: C5c shows them beside the
  paper's intervention, uncounted.

Seeds: named streams of model A's seed (``misgen_lib.seeds``), one label per intervention.
"""
from __future__ import annotations

import numpy as np

from ..seeds import derive
from .base import Context, Intervention, Plan, register
from .precompensation import histogram_prior, precompensate
from .transforms import TRANSFORMS, predicted_masses
from .weights import resample, reweighting_weights, weighted_masses


def _weights_note(ctx: Context) -> str:
    return f"w = p*/p_hat_A per bin, clipped to [1/{ctx.clip:g}, {ctx.clip:g}]"


@register
class Reweight(Intervention):
    name, role = "reweight", "reweighting"
    description = "importance weights p*/p_hat_A of model A (clipped) in the training loss"

    def plan(self, ctx):
        masses = weighted_masses(ctx.unit.data.q, ctx.weights, ctx.edges)
        return self.through_kernel(ctx, masses, self.treat(ctx, weights=ctx.weights), _weights_note(ctx))


@register
class Resample(Intervention):
    name, role = "resample", "reweighting"
    description = "the curated set resampled to its size with the weights p*/p_hat_A of model A"

    def plan(self, ctx):
        unit = ctx.unit
        train = resample(unit.data, ctx.weights, derive(unit.seed, "resample", unit.task.name))
        masses = weighted_masses(unit.data.q, ctx.weights, ctx.edges)
        return self.through_kernel(ctx, masses, self.treat(ctx, train_data=train), _weights_note(ctx))


@register
class ResampleTwice(Intervention):
    name, after = "resample-2", "resample"
    description = "resampled once more, the weights times p*/p_hat_B of the resampled model B"

    def plan(self, ctx):
        unit, clip = ctx.unit, ctx.clip
        w = ctx.weights * reweighting_weights(unit.data.q, ctx.previous.q_hat, unit.prior, ctx.edges, clip)
        w = np.clip(w / w.mean(), 1.0 / clip, clip)
        train = resample(unit.data, w, derive(unit.seed, "resample-2", unit.task.name))
        return self.through_kernel(ctx, weighted_masses(unit.data.q, w, ctx.edges), self.treat(ctx, train_data=train),
                                   f"weights p*/p_hat_A times p*/p_hat_B, clipped to [1/{clip:g}, {clip:g}]")


@register
class Condition(Intervention):
    name, role = "condition", "conditioning"
    description = "a conditional model of the same class, sampled at q ~ p*"

    def plan(self, ctx):
        return self.through_kernel(ctx, ctx.p_star, self.treat(ctx, conditional=True),
                                   "the kernel predicts no change (the model's local errors are unchanged)")


@register
class Precompensate(Intervention):
    name, role = "precompensate", "kernel-informed"
    description = "trained on a prior pi with P pi ~ p* (model A's kernel P, Richardson-Lucy)"

    def plan(self, ctx):
        """The support of ``pi`` is the range plus one bin on each side where the task is defined
        there (``ctx.sides``); no solution: not run, and the reason."""
        support = np.zeros(len(ctx.p_star), bool)
        support[1:-1] = True
        support[0], support[-1] = ctx.sides
        try:
            pi = precompensate(ctx.transition, ctx.p_star, support=support, method="richardson-lucy")
        except ValueError as err:
            return Plan(note=f"not possible: {err}")
        unit = ctx.unit
        train = ctx.wide.curate(unit.cfg.n_train, prior=histogram_prior(pi, ctx.edges),
                                seed=derive(unit.seed, "data-precompensated", unit.task.name, unit.model_name))
        return self.through_kernel(ctx, pi, self.treat(ctx, train_data=train),
                                   f"support extended below the range: {ctx.sides[0]}, above: {ctx.sides[1]}; "
                                   f"Richardson-Lucy")


@register
class CoordinateTransform(Intervention):
    name, role = "transform", "kernel-informed"
    description = "trained in coordinates where the measurement is linear, decoded before measuring"

    def plan(self, ctx):
        unit = ctx.unit
        task = unit.task
        if task.name not in TRANSFORMS:
            return Plan(note=f"not run: no coordinate transform for task {task.name!r} "
                             f"(available for: {sorted(TRANSFORMS)})")
        transform = TRANSFORMS[task.name]
        predicted = predicted_masses(task, unit.prior, transform, unit.data, ctx.locality, ctx.clean, ctx.edges,
                                     derive(unit.seed, "kernel-draws-y", task.name))
        return Plan(self.treat(ctx, transform=transform), ctx.p_star, predicted,
                    f"{transform.name}; prediction: the probe's size relative to the data, as white noise "
                    f"in the new coordinates")


class _OriginFix(Intervention):
    """A fix that follows from where a class's drift comes from (chapter 03's origin
    experiments): model A itself, sampled by an origin variant of its class (``variant``) that
    removes the source; no model is trained. The kernel makes no prediction for it (the source
    is not a local error)."""
    role = "kernel-informed"
    model_class: str = ""
    variant: str = ""

    def plan(self, ctx):
        model = ctx.unit.model_name
        if model != self.model_class:
            return Plan(note=f"not run: a fix for {self.model_class!r} models, not {model!r}")
        return Plan(self.treat(ctx, sampler=self.variant), ctx.p_star, None,
                    f"model A sampled with {self.variant}; no kernel prediction (not a local error)")


@register
class FirstStepFromData(_OriginFix):
    name, model_class, variant = "first-step", "transformer", "first step from the data"
    description = "the transformer's first step drawn from the curated data, the rest its own rollout"


@register
class LatentMixturePrior(_OriginFix):
    name, model_class, variant = "latent-mixture", "vae", "latent mixture"
    description = "the VAE's latents drawn from a mixture fitted to its aggregate posterior, not N(0, I)"
