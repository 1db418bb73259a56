"""The DDPM process: schedule against diffusers, samplers against an exact (oracle) denoiser."""
import numpy as np
import pytest
import torch

torch.set_num_threads(1)  # tiny models; two OpenMP threads stall on a shared CPU
from torch import nn

from misgen_lib.models import get_class, make_config
from misgen_lib.models.diffusion import cosine_betas, timestep_embedding


def test_cosine_schedule_matches_diffusers():
    diffusers = pytest.importorskip("diffusers")
    ref = diffusers.DDPMScheduler(num_train_timesteps=64, beta_schedule="squaredcos_cap_v2")
    np.testing.assert_allclose(cosine_betas(64).numpy(), ref.betas.numpy(), rtol=1e-5, atol=1e-7)


def test_cosine_schedule_shape():
    betas = cosine_betas(100)
    alpha_bar = torch.cumprod(1 - betas, 0)
    assert torch.all((betas > 0) & (betas <= 0.999))
    assert alpha_bar[0] > 0.999 and alpha_bar[-1] < 1e-4
    assert torch.all(alpha_bar[1:] < alpha_bar[:-1])


def test_timestep_embedding_distinguishes_steps():
    emb = timestep_embedding(torch.arange(64), 16)
    assert emb.shape == (64, 16)
    assert torch.cdist(emb, emb).fill_diagonal_(1.0).min() > 1e-3


class GaussianOracle(nn.Module):
    """Exact denoiser for data ~ N(0, s^2 I): E[x0 | x_t] = sqrt(ab) s^2 x_t / (ab s^2 + 1 - ab)."""

    def __init__(self, s, alpha_bar, prediction):
        super().__init__()
        self.s, self.alpha_bar, self.prediction = s, alpha_bar, prediction
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x_t, t, q=None):
        a = self.alpha_bar[t][:, None, None]
        x0 = a.sqrt() * self.s ** 2 * x_t / (a * self.s ** 2 + 1 - a)
        return x0 if self.prediction == "x0" else (x_t - a.sqrt() * x0) / (1 - a).sqrt()


@pytest.mark.parametrize("prediction", ["eps", "x0"])
@pytest.mark.parametrize("sampler,steps", [("ancestral", 0), ("ddim", 0), ("ddim", 100)])
def test_samplers_recover_the_data_distribution_with_an_exact_denoiser(prediction, sampler, steps):
    """With the exact denoiser, samples must have the data's standard deviation (0.5): a wrong
    posterior mean/variance or DDIM update shows up as a wrong spread."""
    mc = get_class("diffusion-unet")
    cfg = make_config("diffusion-unet", {"diffusion_steps": 1000, "prediction": prediction,
                                         "sampler": sampler, "sample_steps": steps, "clip_x0": 0.0})
    oracle = GaussianOracle(0.5, mc.schedule(cfg, "cpu")["alpha_bar"], prediction)
    gen = torch.Generator().manual_seed(0)
    x = mc.sample(oracle, 2000, None, cfg, 8, 2, gen)
    assert x.shape == (2000, 8, 2)
    assert abs(float(x.std()) - 0.5) < 0.02, float(x.std())
    assert abs(float(x.mean())) < 0.02


def test_ddim_is_deterministic_given_the_initial_noise():
    mc = get_class("diffusion-mlp")
    cfg = make_config("diffusion-mlp", {"sampler": "ddim", "sample_steps": 8, "clip_x0": 0.0})
    oracle = GaussianOracle(0.5, mc.schedule(cfg, "cpu")["alpha_bar"], "x0")
    # DDIM only draws the initial noise: two runs from the same generator state agree, and the
    # ancestral sampler (fresh noise per step) differs from it
    a = mc.sample(oracle, 4, None, cfg, 8, 1, torch.Generator().manual_seed(1))
    b = mc.sample(oracle, 4, None, cfg, 8, 1, torch.Generator().manual_seed(1))
    anc = mc.sample(oracle, 4, None, cfg.replace(sampler="ancestral"), 8, 1, torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, anc)


def test_unet_handles_horizons_not_divisible_by_its_downsampling():
    mc = get_class("diffusion-unet")
    cfg = make_config("diffusion-unet", {"width": 8, "mults": [1, 2, 4]})
    net = mc.build(cfg, 37, 3, conditional=False)
    out = net(torch.randn(2, 37, 3), torch.tensor([0, 5]))
    assert out.shape == (2, 37, 3)


def test_unet_activation_is_a_config_setting_and_a_bad_one_is_named():
    from misgen_lib.models.activations import Mish   # torch's Mish eager, fused where compiled
    mc = get_class("diffusion-unet")

    def activations(name):
        net = mc.build(make_config("diffusion-unet", {"width": 8, "activation": name}), 16, 2, conditional=False)
        return {type(m).__name__ for m in net.modules() if isinstance(m, (Mish, torch.nn.SiLU))}
    assert make_config("diffusion-unet").activation == "mish"    # Diffuser's
    assert activations("mish") == {"Mish"}
    assert activations("silu") == {"SiLU", "Mish"}   # the step embedding's shared MLP keeps Mish
    with pytest.raises(ValueError, match=r"activation 'relu' is not valid; use one of \('mish', 'silu'\)"):
        make_config("diffusion-unet", {"activation": "relu"})
