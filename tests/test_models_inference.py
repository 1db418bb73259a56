"""The fused Mish (``models.activations``), compiled inference and compiled training
(``models.inference``): the same function as ``torch.nn.functional.mish``, in value and gradient;
compiled sampling and training equal to eager to rounding, deterministic, named in the cache keys
of what they compute; a bad mode refused; compiled code kept where the user or the cache says."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import misgen_lib as mg
from misgen_lib.models import inference
from misgen_lib.models.activations import LINEAR_FROM, Mish, fused_mish
from misgen_lib.studies.suite import samples_inputs
from misgen_lib.models.training import train
from misgen_lib.vocabulary import CACHE_DIR_ENV, INFERENCE_ENV, TRAINING_ENV

X = torch.linspace(-30, 60, 200_001, dtype=torch.float64)


def test_the_fused_form_is_mish_in_value_and_gradient_in_float32():
    x = X.float().requires_grad_()
    y = x.detach().clone().requires_grad_()
    fused, ref = fused_mish(x), torch.nn.functional.mish(y)
    torch.testing.assert_close(fused, ref, rtol=1e-6, atol=1e-6)
    fused.sum().backward()
    ref.sum().backward()
    torch.testing.assert_close(x.grad, y.grad, rtol=1e-5, atol=1e-6)
    assert torch.isfinite(x.grad).all() and (fused[X > LINEAR_FROM] == x[X > LINEAR_FROM]).all()


def test_in_bfloat16_the_fused_form_is_as_close_to_float64_mish_as_torchs_own():
    exact = torch.nn.functional.mish(X)
    x = X.bfloat16()
    fused_err = (fused_mish(x).double() - exact).abs().max()
    torch_err = (torch.nn.functional.mish(x).double() - exact).abs().max()
    assert fused_err <= 1.01 * torch_err


def test_eager_mish_is_torchs_bit_for_bit():
    x = X.float()
    assert torch.equal(Mish()(x), torch.nn.functional.mish(x))


def test_a_bad_inference_mode_is_refused_naming_the_valid_ones(monkeypatch):
    monkeypatch.setenv(INFERENCE_ENV, "fast")
    with pytest.raises(ValueError, match=r"'fast'.*\('auto', 'eager', 'compiled'\)"):
        inference.requested()


def test_a_bad_training_mode_is_refused_naming_the_valid_ones(monkeypatch):
    monkeypatch.setenv(TRAINING_ENV, "jit")
    with pytest.raises(ValueError, match=rf"{TRAINING_ENV}='jit'.*\('auto', 'eager', 'compiled'\)"):
        inference.mode(True, "training")
    with pytest.raises(ValueError, match=r"unknown use 'sampling'.*\('inference', 'training'\)"):
        inference.requested("sampling")


def test_auto_compiles_the_bf16_unet_only(monkeypatch):
    monkeypatch.delenv(INFERENCE_ENV, raising=False)
    unet = mg.models.get_class("diffusion-unet")
    assert unet.compiles_faster(unet.Config(precision="bf16"))
    assert not unet.compiles_faster(unet.Config(precision="fp32"))
    assert not mg.models.get_class("transformer").compiles_faster(mg.models.TransformerConfig())
    assert inference.mode(False) == "eager"
    assert inference.mode(True) == ("compiled" if inference.have_compiler() else "eager")


def test_auto_compiles_training_of_the_bf16_unet_only(monkeypatch):
    monkeypatch.delenv(TRAINING_ENV, raising=False)
    unet = mg.models.get_class("diffusion-unet")
    assert unet.trains_faster_compiled(unet.Config(precision="bf16"))
    # a run too short to recover the compilation (the ci profile's 20 steps) trains eager
    shortest = mg.models.unet.COMPILED_TRAINING_STEPS
    assert unet.trains_faster_compiled(unet.Config(precision="bf16", train_steps=shortest))
    assert not unet.trains_faster_compiled(unet.Config(precision="bf16", train_steps=shortest - 1))
    assert not unet.trains_faster_compiled(unet.Config(precision="bf16", train_steps=20))
    assert not unet.trains_faster_compiled(unet.Config(precision="fp32"))
    assert not unet.trains_faster_compiled(unet.Config(precision="bf16", device="cuda"))
    for name in ("diffusion-mlp", "transformer", "vae"):
        mc = mg.models.get_class(name)
        assert not any(mc.trains_faster_compiled(mc.Config(precision=p)) for p in ("fp32", "bf16"))
    assert inference.mode(True, "training") == ("compiled" if inference.have_compiler() else "eager")
    monkeypatch.delenv(INFERENCE_ENV, raising=False)
    monkeypatch.setenv(TRAINING_ENV, "eager")    # one switch leaves the other alone
    assert inference.mode(True, "training") == "eager"
    assert inference.mode(True, "inference") == ("compiled" if inference.have_compiler() else "eager")


def trained_weights(monkeypatch, mode: str, precision: str, steps: int = 4) -> tuple[dict, list]:
    """A tiny U-Net trained ``steps`` steps with ``$MISGEN_TRAINING=mode``: its EMA weights, losses."""
    from test_models import sine_dataset, tiny
    monkeypatch.setenv(TRAINING_ENV, mode)
    mc = mg.models.get_class("diffusion-unet")
    cfg = mc.Config.from_dict(tiny("diffusion-unet", precision=precision, train_steps=steps))
    data = sine_dataset()
    normaliser = mg.models.base.Normaliser.fit(data.x, None)
    net, history = train(mc, cfg, normaliser.encode_x(data.x), None, seed=5, progress=False)
    return {k: v.clone() for k, v in net.state_dict().items()}, history["loss"]


def book_precision() -> str:
    """The U-Net's ``auto`` precision on this host: bfloat16 on a CPU with bfloat16 units."""
    return "bf16" if mg.provenance.cpu()["bf16_units"] else "fp32"


@pytest.mark.skipif(not inference.have_compiler(), reason="no C++ compiler for inductor")
def test_compiled_training_is_deterministic(monkeypatch):
    """The same seed, trained twice compiled: the same weights bit for bit (in bfloat16 where the
    host has bfloat16 units, the U-Net's ``auto`` precision there; else fp32)."""
    precision = book_precision()
    first, first_losses = trained_weights(monkeypatch, "compiled", precision)
    again, again_losses = trained_weights(monkeypatch, "compiled", precision)
    assert first_losses == again_losses
    for name in first:
        assert torch.equal(first[name], again[name]), name


#: compiled against eager training, per precision: the losses' relative tolerance, the outputs'
#: absolute tolerance and the median weight's largest difference
TRAINING_TOLERANCES = {"fp32": (1e-5, 1e-4, 1e-6), "bf16": (5e-3, 0.1, 5e-3)}


@pytest.mark.skipif(not inference.have_compiler(), reason="no C++ compiler for inductor")
def test_compiled_training_is_eager_training_to_rounding(monkeypatch):
    """The same function, trained a few steps in the book's precision on this host (bfloat16 where
    the CPU has bfloat16 units, the only training that compiles; fp32 elsewhere, one compilation
    of a minute rather than two): the losses, the trained networks' outputs (on the training
    data, eager both) and the typical weight agree to rounding, though not bit for bit (the fused
    Mish, other kernels). Measured here: losses 2e-7 (fp32) and 6e-4 (bf16) apart relatively,
    outputs 2e-6 and 0.04 of a scale of 1. Single weights can differ by up to a few
    learning-rate steps: a convolution's bias before a GroupNorm has a gradient that is zero up
    to rounding, which AdamW scales to a full step of either sign; the outputs do not see it."""
    from test_models import sine_dataset, tiny
    precision = book_precision()
    loss_rtol, output_atol, weight_median = TRAINING_TOLERANCES[precision]
    eager, eager_losses = trained_weights(monkeypatch, "eager", precision)
    fast, fast_losses = trained_weights(monkeypatch, "compiled", precision)
    np.testing.assert_allclose(fast_losses, eager_losses, rtol=loss_rtol)
    differences = torch.stack([(fast[k] - eager[k]).abs().max() for k in eager])
    assert 0 < differences.median() <= weight_median
    mc = mg.models.get_class("diffusion-unet")
    cfg = mc.Config.from_dict(tiny("diffusion-unet", precision=precision))
    x = torch.as_tensor(sine_dataset().x)
    outputs = []
    for weights in (eager, fast):
        net = mc.build(cfg, x.shape[1], x.shape[2], False)
        net.load_state_dict(weights)
        with torch.no_grad():
            outputs.append(net.eval()(x, torch.full((len(x),), 3)))
    torch.testing.assert_close(outputs[1], outputs[0], rtol=0, atol=output_atol)


def inductor_cache_in_a_fresh_process(tmp_path, compile_: bool, **env) -> str:
    """``$TORCHINDUCTOR_CACHE_DIR`` after misgen was imported with ``env`` and asked for its ISA
    (inductor's first run), and, with ``compile_``, a tiny network compiled and run."""
    code = ("import os, torch; from misgen_lib.models import inference; inference.vector_isa()\n"
            "if %r: inference.compiled(torch.nn.Linear(3, 2))(torch.ones(4, 3))\n"
            "print(os.environ['TORCHINDUCTOR_CACHE_DIR'])" % compile_)
    clean = {k: v for k, v in os.environ.items() if k != "TORCHINDUCTOR_CACHE_DIR"}
    done = subprocess.run([sys.executable, "-c", code], env={**clean, CACHE_DIR_ENV: str(tmp_path / "cache"), **env},
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.mark.skipif(not inference.have_compiler(), reason="no C++ compiler for inductor")
def test_compiled_code_is_kept_in_the_artifact_cache_unless_the_user_chose_a_folder(tmp_path):
    """Inductor sets ``$TORCHINDUCTOR_CACHE_DIR`` itself when it first runs; the artifact cache's
    folder wins over that, a folder the user set before importing misgen wins over both."""
    folder = tmp_path / "cache" / "torch-compile"
    assert inductor_cache_in_a_fresh_process(tmp_path, True) == str(folder)
    assert any(folder.iterdir())
    mine = tmp_path / "mine"
    assert inductor_cache_in_a_fresh_process(tmp_path, False, TORCHINDUCTOR_CACHE_DIR=str(mine)) == str(mine)


@pytest.mark.skipif(not inference.have_compiler(), reason="no C++ compiler for inductor")
@pytest.mark.parametrize("precision, tolerance", [("fp32", 1e-4), ("bf16", None)])
def test_compiled_sampling_is_eager_to_rounding_deterministic_and_keyed_apart(monkeypatch, tmp_path, precision, tolerance):
    """In fp32 every value agrees to 1e-4; in bfloat16 rounding differences grow along the
    sampling chain (0.09 at most here), so the samples' mean and spread agree instead."""
    from test_models import sine_dataset, tiny
    monkeypatch.setenv(mg.vocabulary.CACHE_DIR_ENV, str(tmp_path))
    store = mg.cache.ArtifactStore(tmp_path)
    model = mg.models.fit("diffusion-unet", sine_dataset(), tiny("diffusion-unet", precision=precision),
                          store=store, progress=False)
    monkeypatch.setenv(INFERENCE_ENV, "eager")
    eager, eager_key = model.sample(200, seed=3), samples_inputs(model, 200, 3)
    monkeypatch.setenv(INFERENCE_ENV, "compiled")
    compiled = model.sample(200, seed=3)
    assert model.sample(3, seed=4).shape == (3, model.horizon, model.dim)    # another batch size
    np.testing.assert_array_equal(model.sample(200, seed=3), compiled)
    if tolerance:
        np.testing.assert_allclose(compiled, eager, rtol=0, atol=tolerance)
    np.testing.assert_allclose(compiled.mean(0), eager.mean(0), atol=0.01)
    np.testing.assert_allclose(compiled.std(0), eager.std(0), atol=0.01)
    assert samples_inputs(model, 200, 3) != eager_key
    assert samples_inputs(model, 200, 3)["inference"].startswith("compiled")


@pytest.mark.skipif(not inference.have_compiler(), reason="no C++ compiler for inductor")
def test_a_compiled_result_does_not_depend_on_what_the_process_compiled_before(monkeypatch, tmp_path):
    """Other batch sizes, another network shape and a non-contiguous input compiled in between:
    the first model's samples are the same bits (no generic kernel took over, no eager fall-back)."""
    from test_models import sine_dataset, tiny
    monkeypatch.setenv(mg.vocabulary.CACHE_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(INFERENCE_ENV, "compiled")
    store = mg.cache.ArtifactStore(tmp_path)
    fit = lambda data: mg.models.fit("diffusion-unet", data, tiny("diffusion-unet", precision="fp32"),
                                     store=store, progress=False)
    first, other = fit(sine_dataset()), fit(sine_dataset(horizon=8))
    before = first.sample(50, seed=1)
    other.sample(7, seed=0)
    first.sample(1, seed=0)
    first._network()(torch.randn(2, first.dim, first.horizon).transpose(1, 2), torch.zeros(2, dtype=torch.long))
    np.testing.assert_array_equal(first.sample(50, seed=1), before)
    assert torch._dynamo.config.fail_on_recompile_limit_hit and not torch._dynamo.config.automatic_dynamic_shapes


@pytest.mark.parametrize("name", ["transformer", "vae"])
def test_compiled_asked_of_a_class_that_calls_more_than_forward_runs_it_eager(monkeypatch, tmp_path, name):
    """The transformer samples through ``rollout`` and the VAE trains through ``encode`` and
    ``decode``, which the compiled wrapper does not carry: both switches at ``compiled`` leave them
    eager, named so in their keys, instead of failing on a missing attribute."""
    monkeypatch.setenv(mg.vocabulary.CACHE_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(INFERENCE_ENV, "compiled")
    monkeypatch.setenv(TRAINING_ENV, "compiled")
    from test_models import sine_dataset, tiny
    model = mg.models.fit(name, sine_dataset(), tiny(name), seed=0, progress=False)
    assert (model.inference, model.inference_numerics) == ("eager", "eager")
    assert np.isfinite(model.sample(4, seed=0)).all()
