"""How well a predicted per-bin change matches an observed drift (the definitions are in the book,
chapter "The data deviation kernel").

* ``correlation``: Pearson correlation of predicted ``delta_tilde`` and observed ``delta`` over
  all bins (overflow bins included); beside it ``correlation_null95``, the 95% quantile of the
  same correlation when the observed change is pure finite-sample noise (multinomial draws of the
  prior at the observed sample size): a correlation below it is not evidence of agreement.
* ``sign_agreement``: share of the bins whose observed change lies outside the drift's null band
  where predicted and observed change have the same sign (NaN if no bin is beyond the null).
* ``share_explained``: ``1 - TV(p_tilde, p_hat) / TV(p*, p_hat)``; 1 is a perfect prediction,
  0 no better than predicting no drift, negative worse than that.

* **noise ceiling** (``ceiling``): the share explained and correlation a *perfect* prediction
  gets at the observed sample size and bins: a truth is estimated from the observed histogram,
  ``n_ceiling`` multinomial histograms of the observed ``n`` are drawn from it, and the truth is
  scored as the prediction against each draw; median and 5%-95% band (``noise_ceiling``).
  ``share_normalised`` = ``share_explained / ceiling.share``. The truth (companion's choice,
  ``truth_estimate``) is the observed histogram shrunk towards the prior,
  ``p* + lam (p_hat - p*)`` with ``lam = sqrt(1 - v / |p_hat - p*|^2)`` and ``v`` the multinomial
  variance ``sum p_hat (1 - p_hat) / n``: the observed change carries the sampling noise once
  already, and taking it as the truth unshrunk makes the ceiling optimistic where the drift is
  small against the noise (measured: 0.37 instead of 0.19 at TV 0.06, n 500, 20 bins; shrunk
  0.16). A Monte Carlo prediction carries noise of its own, that of its ``n`` clean draws: the
  perfect prediction of the ceiling carries the same, each of its draws being the truth plus the
  scored prediction's draws resampled minus their mean (``contributions``), so a predictor as good
  as the truth reaches share / ceiling 1 within its band (tests).
* **in range**: ``correlation_in_range`` and ``share_in_range`` score the bins inside the
  quantity's range alone (``IN_RANGE``: the peaks and troughs), without the two overflow bins,
  whose leakage any spreading kernel predicts and which can carry a correlation on their own.
* ``seed_resampled``: correlation and share explained (all bins and in range) of seed-pooled
  predictions against the seed-mean drift, with 95% intervals of a hierarchical bootstrap that
  resamples the seeds, then each drawn seed's samples and its prediction's draws (the unit
  intervals of C2 and C4); given a control's predictions on the same clean draws, also the
  control's share and the paired difference of the shares, own minus control, every round
  scoring both on the same seeds, samples and clean draws.

Intervals are 95% bootstrap percentiles: the observed histogram is resampled as a multinomial of
its own sample size (equivalent to resampling the measured samples), the prediction by resampling
its clean draws (multinomial weights on the per-draw contributions).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..metrics import Drift
from ..seeds import derive
from .predict import Prediction

#: the bins inside the quantity's range (the overflow bins are the first and the last)
IN_RANGE = slice(1, -1)


@dataclass
class Ceiling:
    """Scores of a perfect prediction against finite samples of size ``n`` (``noise_ceiling``):
    medians and 5%-95% bands."""
    share: float
    share_band: tuple[float, float]
    correlation: float
    correlation_band: tuple[float, float]
    n: int


def truth_estimate(p_hat: np.ndarray, p_star: np.ndarray, n: int) -> np.ndarray:
    """The observed histogram ``p_hat`` of ``n`` samples shrunk towards ``p_star`` so that its
    squared change matches the observed one less its expected sampling noise (module docstring);
    a convex combination of the two, so a distribution."""
    d = np.asarray(p_hat, float) - np.asarray(p_star, float)
    noise = float(np.sum(p_hat * (1 - p_hat)) / n)
    lam = np.sqrt(max(0.0, 1.0 - noise / max(float(np.sum(d ** 2)), 1e-300)))
    return p_star + lam * d


def noise_ceiling(p_true: np.ndarray, p_star: np.ndarray, n: int, n_draws: int = 500,
                  seed: int = 0, contributions: np.ndarray | None = None) -> Ceiling:
    """Share explained and correlation of the perfect prediction ``p_true`` against ``n_draws``
    multinomial histograms of ``n`` samples from ``p_true`` (all on the bins of ``p_star``). With
    ``contributions`` (a Monte Carlo prediction's per-draw mass moves, (n_pred, bins)), the
    perfect prediction carries that prediction's own draw noise: each draw scores ``p_true`` plus
    the contributions resampled, less their mean (None: the exact ``p_true``)."""
    p_true, p_star = np.asarray(p_true, float), np.asarray(p_star, float)
    if p_true.shape != p_star.shape:
        raise ValueError(f"p_true and p_star must have the same bins, got shapes {p_true.shape} "
                         f"and {p_star.shape}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 or n_draws < 1:
        raise ValueError(f"n and n_draws must be integers >= 1, got n={n!r}, n_draws={n_draws!r}")
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(int(n), p_true / p_true.sum(), size=n_draws) / n
    perfect = p_true[None]
    if contributions is not None:
        contributions = np.asarray(contributions, float)
        if contributions.ndim != 2 or contributions.shape[1] != len(p_star):
            raise ValueError(f"contributions must have shape (n_pred, {len(p_star)}), got {contributions.shape}")
        perfect = p_true + _resampled_mean(contributions, n_draws, rng) - contributions.mean(axis=0)
    corr, _, share = _scores(perfect, draws, p_star, np.zeros(len(p_star), dtype=bool))

    def band(values):
        values = values[np.isfinite(values)]
        if values.size == 0:
            return np.nan, (np.nan, np.nan)
        lo, mid, hi = np.quantile(values, [0.05, 0.5, 0.95])
        return float(mid), (float(lo), float(hi))

    (share_mid, share_band), (corr_mid, corr_band) = band(share), band(corr)
    return Ceiling(share=share_mid, share_band=share_band, correlation=corr_mid,
                   correlation_band=corr_band, n=int(n))


@dataclass
class Validation:
    correlation: float
    correlation_ci: tuple[float, float]
    correlation_null95: float
    sign_agreement: float
    sign_agreement_ci: tuple[float, float]
    n_beyond_null: int
    share_explained: float
    share_explained_ci: tuple[float, float]
    tv_observed: float
    tv_predicted: float
    ceiling: Ceiling | None = None
    share_normalised: float = np.nan
    correlation_in_range: float = np.nan
    share_in_range: float = np.nan

    def summary(self) -> dict[str, float]:
        out = {}
        for name in ("correlation", "sign_agreement", "share_explained"):
            out[name] = getattr(self, name)
            out[f"{name}_lo"], out[f"{name}_hi"] = getattr(self, f"{name}_ci")
        out.update(correlation_null95=self.correlation_null95, n_beyond_null=self.n_beyond_null,
                   tv_observed=self.tv_observed, tv_predicted=self.tv_predicted,
                   correlation_in_range=self.correlation_in_range, share_in_range=self.share_in_range)
        if self.ceiling is not None:
            out.update(share_ceiling=self.ceiling.share, share_ceiling_lo=self.ceiling.share_band[0],
                       share_ceiling_hi=self.ceiling.share_band[1],
                       correlation_ceiling=self.ceiling.correlation,
                       correlation_ceiling_lo=self.ceiling.correlation_band[0],
                       correlation_ceiling_hi=self.ceiling.correlation_band[1],
                       share_normalised=self.share_normalised)
        return out


def pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Pearson correlation of (k, B) arrays (broadcasting); NaN where one is constant."""
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    den = np.sqrt((a ** 2).sum(-1) * (b ** 2).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(-1) / np.where(den > 0, den, 1.0), np.nan)


def _scores(p_tilde, p_hat, p_star, beyond):
    """Correlation, sign agreement, share explained for (k, B) stacks of distributions."""
    d_pred, d_obs = p_tilde - p_star, p_hat - p_star
    corr = pearson(d_pred, d_obs)
    sign = (np.mean(np.sign(d_pred[..., beyond]) == np.sign(d_obs[..., beyond]), axis=-1)
            if beyond.any() else np.full(corr.shape, np.nan))
    tv_obs = 0.5 * np.abs(d_obs).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = 1.0 - 0.5 * np.abs(p_tilde - p_hat).sum(-1) / tv_obs
    return corr, sign, share


def _resampled_mean(contributions: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` bootstrap means of the rows of ``contributions`` (multinomial weights on the rows)."""
    m = len(contributions)
    return rng.multinomial(m, np.full(m, 1.0 / m), size=k) / m @ contributions


def _interval(draws: np.ndarray) -> tuple[float, float]:
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        return (np.nan, np.nan)
    lo, hi = np.quantile(draws, [0.025, 0.975])
    return float(lo), float(hi)


def validate(prediction: Prediction, drift: Drift, n_boot: int = 1000, seed: int = 0,
             batch: int = 50, n_ceiling: int = 500) -> Validation:
    """Validation numbers of ``prediction`` against the observed ``drift`` (same binning), with
    the noise ceiling of ``n_ceiling`` simulated perfect predictions (its own seed stream, so the
    other numbers do not depend on it)."""
    if prediction.edges.shape != drift.edges.shape or not np.allclose(prediction.edges, drift.edges):
        raise ValueError(
            f"prediction and drift use different binnings: prediction has {len(prediction.edges) - 1} "
            f"bins over [{prediction.edges[0]:.4g}, {prediction.edges[-1]:.4g}], drift "
            f"{len(drift.edges) - 1} over [{drift.edges[0]:.4g}, {drift.edges[-1]:.4g}]; pass the "
            f"same bins and q_range to predict and metrics.drift")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot!r}")
    p_star, p_hat, p_tilde = drift.p_star, drift.p_hat, prediction.p_tilde
    beyond = drift.beyond_null()
    corr, sign, share = (float(v[0]) for v in _scores(p_tilde[None], p_hat[None], p_star, beyond))
    corr_in, _, share_in = (float(v[0]) for v in _scores(p_tilde[None, IN_RANGE], p_hat[None, IN_RANGE],
                                                         p_star[IN_RANGE], beyond[IN_RANGE]))

    rng = np.random.default_rng(seed)
    boot = {"corr": [], "sign": [], "share": []}
    for start in range(0, n_boot, batch):
        k = min(batch, n_boot - start)
        obs = rng.multinomial(drift.n, p_hat / p_hat.sum(), size=k) / drift.n
        pred = p_star + _resampled_mean(prediction.contributions, k, rng)
        c, s, sh = _scores(pred, obs, p_star, beyond)
        boot["corr"].append(c)
        boot["sign"].append(s)
        boot["share"].append(sh)
    boot = {key: np.concatenate(v) for key, v in boot.items()}

    null_obs = rng.multinomial(drift.n, p_star / p_star.sum(), size=n_boot) / drift.n
    null_corr = pearson(prediction.delta[None], null_obs - p_star)
    null_corr = null_corr[np.isfinite(null_corr)]
    ceiling = noise_ceiling(truth_estimate(p_hat, p_star, drift.n), p_star, drift.n, n_ceiling,
                            seed=derive(seed, "noise-ceiling"), contributions=prediction.contributions)
    with np.errstate(invalid="ignore", divide="ignore"):
        normalised = float(share / ceiling.share) if ceiling.share > 0 else np.nan
    return Validation(
        correlation=corr, correlation_ci=_interval(boot["corr"]),
        correlation_null95=float(np.quantile(null_corr, 0.95)) if null_corr.size else np.nan,
        sign_agreement=sign, sign_agreement_ci=_interval(boot["sign"]), n_beyond_null=int(beyond.sum()),
        share_explained=share, share_explained_ci=_interval(boot["share"]),
        tv_observed=float(drift.tv), tv_predicted=prediction.tv, ceiling=ceiling,
        share_normalised=normalised, correlation_in_range=corr_in, share_in_range=share_in)


def seed_resampled(predictions: list[Prediction], drifts: list[Drift], n_boot: int = 1000,
                   seed: int = 0, controls: list[Prediction] | None = None
                   ) -> dict[str, tuple[float, tuple[float, float]]]:
    """Correlation and share explained of the seeds' pooled prediction (mean of ``predictions``,
    one per seed) against their pooled drift (the mean of the seeds' histograms, weighted by
    their sample sizes), over all bins and in range (``*_in_range``), each with the 95% interval
    of a hierarchical bootstrap: each round draws the seeds with replacement, then for each drawn
    seed its samples (``Drift.resampled``) and its prediction's clean draws, pools the round and
    scores it. The draws are centred on the point value (the resampling's own bias removed, as
    ``metrics.seed_mean_interval``).

    ``controls`` (one per seed, on the same clean draws as the seed's prediction): a control
    kernel's predictions, scored in the same rounds with the same clean draws resampled, giving
    ``control_share_explained`` and the paired ``share_over_control`` (own minus control share).
    Returns ``{name: (value, (lo, hi))}``."""
    from ..metrics import seed_draws
    if len(predictions) != len(drifts) or not drifts:
        raise ValueError(f"seed_resampled needs one prediction per drift, got {len(predictions)} and {len(drifts)}")
    if controls is not None and [c.contributions.shape for c in controls] != [p.contributions.shape
                                                                             for p in predictions]:
        raise ValueError("seed_resampled needs one control per prediction, each on the same clean draws")
    rng = np.random.default_rng(seed)
    p_star = drifts[0].p_star
    sizes = np.array([d.n for d in drifts], dtype=float)
    point_obs = (sizes[:, None] * np.stack([d.p_hat for d in drifts])).sum(0) / sizes.sum()
    kernels = {"": predictions, **({"control_": controls} if controls is not None else {})}
    picks = seed_draws(len(drifts), n_boot, rng)
    obs = np.zeros((n_boot, len(p_star)))
    pred = {name: np.zeros((n_boot, len(p_star))) for name in kernels}
    weight = np.zeros(n_boot)
    for s, d in enumerate(drifts):
        times = (picks == s).sum(axis=1)          # how often each round drew seed s
        for j in range(1, times.max() + 1):
            rows = np.flatnonzero(times >= j)
            obs[rows] += d.n * d.resampled(rows.size, int(rng.integers(2 ** 32)))
            m = len(predictions[s].contributions)
            clean_weights = rng.multinomial(m, np.full(m, 1.0 / m), size=rows.size) / m
            for name, preds in kernels.items():
                pred[name][rows] += preds[s].p_star + clean_weights @ preds[s].contributions
            weight[rows] += d.n
    obs /= weight[:, None]
    none = np.zeros(len(p_star), dtype=bool)
    out, shares = {}, {}
    for name, preds in kernels.items():
        point_pred = np.mean([p.p_tilde for p in preds], axis=0)
        for tail, bins in (("", slice(None)), ("_in_range", IN_RANGE)):
            c, _, sh = _scores(point_pred[None, bins], point_obs[None, bins], p_star[bins], none[bins])
            c_draws, _, sh_draws = _scores(pred[name][:, bins] / picks.shape[1], obs[:, bins], p_star[bins],
                                           none[bins])
            out[f"{name}correlation{tail}"] = _centred(c_draws, float(c[0]), -1, 1)
            out[f"{name}share_explained{tail}"] = _centred(sh_draws, float(sh[0]), -np.inf, 1)
            shares[name + tail] = float(sh[0]), sh_draws
    if controls is not None:
        (own, own_draws), (ctrl, ctrl_draws) = shares[""], shares["control_"]
        out["share_over_control"] = _centred(own_draws - ctrl_draws, own - ctrl, -np.inf, np.inf)
    return out


def _centred(draws: np.ndarray, point: float, lo: float, hi: float) -> tuple[float, tuple[float, float]]:
    """``point`` with the 95% interval of bootstrap ``draws`` moved to centre on it (clipped to
    the statistic's range ``[lo, hi]``; NaN where no draw is finite)."""
    if not np.isfinite(draws).any():
        return point, (np.nan, np.nan)
    return point, _interval(np.clip(draws - np.nanmean(draws) + point, lo, hi))
