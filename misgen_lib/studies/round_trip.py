"""Does a VAE's encode-decode round trip itself move the quantity, and is that the errors-in-
variables bias of the measurement? (The chapter "Where the transformer makes its drift", its
section on the VAE and the logistic map.)

On the logistic map the quantity is the least-squares slope of ``x_{n+1}`` on
``x_n (1 - x_n)``: errors in the regressor bias it towards zero, whatever made them. Per clean
trajectory drawn with the intended prior, the trained VAE's round trips (``KINDS``):

* ``posterior draw``: decode a draw of the encoder's posterior (the probe at one round trip, and
  how the aggregate-posterior variant of the kernel chapter generates);
* ``posterior mean``: decode the posterior mean (the deterministic reconstruction);
* ``shuffled residuals``: the clean trajectory plus the posterior draw's residual of *another*
  input: errors of the same size and shape, no longer tied to the trajectory they were made on;
* ``white, same locality``: independent Gaussian errors of the posterior draw's size
  (``kernel.white_of_locality``).

If the shuffled and white errors move ``q`` as the round trip does, its shift is the generic
errors-in-variables bias; if not, the decoder's errors are tied to the trajectory. Each kind is
also a kernel (``kernel.predict``'s Monte Carlo prediction on the same clean draws), validated
against the VAE's own seed-mean drift, with intervals over seeds and samples.

Seeds: clean draws ``("round-trip-clean", task)``, the round trips ``("round-trip", task, kind)``,
validation ``("validation-pooled", task, "round-trip")``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import metrics
from ..kernel import locality_index, validate, white_of_locality
from ..kernel.predict import Prediction, clean_draws, monte_carlo_prediction
from ..kernel.validate import Validation, seed_resampled
from ..seeds import derive
from .kernel_study import by_pair, ci_text, pair_drift, pooled

KINDS = ("posterior draw", "posterior mean", "shuffled residuals", "white, same locality")
#: the logistic map's onset of chaos (the accumulation point of period doubling, 3.5699...):
#: ``round_trip_facts`` reports the mean change of q of the periodic and of the chaotic inputs apart
ONSET_OF_CHAOS = 3.5699456


def round_trips(model, clean: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Every kind of ``KINDS`` around the clean trajectories ``clean`` (n, T, d), data units."""
    draw = model.perturb(clean, depth=1, mode="sample", seed=derive(seed, "posterior draw")).astype(float)
    mean = model.perturb(clean, depth=1, mode="mean", seed=derive(seed, "posterior mean")).astype(float)
    perm = np.random.default_rng(derive(seed, "shuffle")).permutation(len(clean))
    white = white_of_locality(locality_index(clean, draw), clean)
    return {KINDS[0]: draw, KINDS[1]: mean, KINDS[2]: clean + (draw - clean)[perm],
            KINDS[3]: white.apply(clean, np.random.default_rng(derive(seed, "white")))}


@dataclass
class RoundTripResult:
    """One task's VAEs over their seeds: per kind the seeds' predictions (``per_seed``), the
    pooled ``validations`` against the VAE's seed-mean ``drift``, their ``resampled`` intervals,
    the mean change of q with its interval (``shift``: ``(value, (lo, hi))``), the binned mean
    change ``b(q)`` (``binned_shift``, per interior bin, mean over seeds) and the TV of the
    round-tripped quantities against the prior (``tv``, mean over seeds) beside its null's 95%
    quantile (``tv_null95``)."""
    task: object
    seeds: list[int]
    drift: metrics.Drift
    per_seed: dict[str, list[Prediction]]
    validations: dict[str, Validation]
    resampled: dict[str, dict]
    shift: dict[str, tuple]
    binned_shift: dict[str, np.ndarray]
    regime_shift: dict[str, tuple[float, float]]
    tv: dict[str, float]
    tv_null95: float


def round_trip_study(suite, task: str = "logistic", n: int = 1000, n_boot: int = 300) -> RoundTripResult:
    """``KINDS`` on ``n`` clean trajectories per seed of the suite's unconditional VAEs on
    ``task``, validated against their drift (module docstring)."""
    groups = [g for g in by_pair(suite) if g[0].model.name == "vae" and g[0].task.name == task
              and not g[0].model.conditional]
    if not groups:
        raise ValueError(f"round_trip_study needs unconditional VAEs on {task!r} in the suite")
    group = groups[0]
    first = group[0]
    per_seed = {k: [] for k in KINDS}
    shifts = {k: [] for k in KINDS}
    binned = {k: [] for k in KINDS}
    regimes = {k: [] for k in KINDS}
    tvs = {k: [] for k in KINDS}
    edges = first.drift.edges
    for e in group:
        clean = clean_draws(e.task, e.prior, n, derive(e.seed, "round-trip-clean", task))
        q_clean = np.asarray(e.task.measure(clean), float)
        inner = np.clip(metrics.bin_index(q_clean, edges) - 1, 0, len(edges) - 2)
        for kind, x in round_trips(e.model, clean, derive(e.seed, "round-trip", task)).items():
            q = np.asarray(e.task.measure(x), float)
            per_seed[kind].append(monte_carlo_prediction(e.prior, edges, q_clean, q, kind, locality_index(clean, x)))
            dq = q - q_clean
            ok = np.isfinite(dq)
            shifts[kind].append(dq[ok])
            chaotic = q_clean >= ONSET_OF_CHAOS
            regimes[kind].append((np.mean(dq[ok & ~chaotic]), np.mean(dq[ok & chaotic])))
            binned[kind].append([np.mean(dq[ok & (inner == b)]) if np.any(ok & (inner == b)) else np.nan
                                 for b in range(len(edges) - 1)])
            tvs[kind].append(metrics.drift(q, e.prior, bins=len(edges) - 1, n_null=len(e.drift.null["tv"]),
                                           n_reference=1000, seed=derive(e.seed, "round-trip-null", task)))
    drift = pair_drift(group)
    vseed = derive(first.seed, "validation-pooled", task, "round-trip")
    rng = np.random.default_rng(vseed)
    shift = {k: metrics.seed_mean_interval([d.mean() for d in v],
                                           [rng.choice(d, size=(n_boot, d.size)).mean(1) for d in v], n_boot=n_boot,
                                           seed=vseed) for k, v in shifts.items()}
    return RoundTripResult(
        task=first.task, seeds=[e.seed for e in group], drift=drift, per_seed=per_seed,
        validations={k: validate(pooled(v), drift, n_boot=n_boot, seed=vseed) for k, v in per_seed.items()},
        resampled={k: seed_resampled(v, [e.drift for e in group], n_boot=n_boot, seed=vseed) for k, v in per_seed.items()},
        shift=shift, binned_shift={k: np.nanmean(np.array(v, float), axis=0) for k, v in binned.items()},
        regime_shift={k: tuple(np.nanmean(np.array(v, float), axis=0)) for k, v in regimes.items()},
        tv={k: float(np.mean([d.tv for d in v])) for k, v in tvs.items()},
        tv_null95=float(np.mean([d.null_q95("tv") for d in tvs[KINDS[0]]])))


def round_trip_table(result: RoundTripResult):
    """pandas DataFrame, one row per kind: the mean change of q (95% interval over seeds and
    inputs), the TV of the round-tripped quantities beside the null, and the kind as a kernel
    against the VAE's drift (correlation and share explained with intervals, the ceiling)."""
    import pandas as pd
    rows = []
    for k in KINDS:
        v, rs = result.validations[k], result.resampled[k]
        value, (lo, hi) = result.shift[k]
        rows.append({"round trip": k, "mean change of q": value, "change 95% CI": f"[{lo:+.4f}, {hi:+.4f}]",
                     "TV against the prior": result.tv[k], "TV null 95%": result.tv_null95,
                     "correlation": v.correlation, "corr 95% CI": ci_text(rs["correlation"][1]),
                     "share explained": v.share_explained, "share 95% CI": ci_text(rs["share_explained"][1]),
                     "share ceiling": v.ceiling.share, "VAE's TV": v.tv_observed})
    return pd.DataFrame(rows)
