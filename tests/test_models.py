"""Model classes: configs, shapes, determinism, caching, save/load, conditioning, NaN handling,
and that a briefly trained model reproduces a trivially easy dataset."""
import json

import numpy as np
import pytest
import torch

torch.set_num_threads(1)  # tiny models; two OpenMP threads stall on a shared CPU

import misgen_lib as mg
from misgen_lib.cache import ArtifactStore
from misgen_lib.models import MissingArtifact, TrainedModel, TrainingDiverged
from misgen_lib.models.base import DeviceUnavailable
from misgen_lib.provenance import package_versions
from misgen_lib.tasks.base import Dataset

ALL = ["diffusion-mlp", "diffusion-unet", "transformer", "vae"]
TINY = {"train_steps": 4, "batch_size": 8, "width": 8, "warmup_steps": 2}
TINY_CLASS = {"transformer": {"heads": 2}, "diffusion-unet": {"mults": [1, 2], "diffusion_steps": 8},
              "diffusion-mlp": {"diffusion_steps": 8}}


def tiny(name, **more):
    return {**TINY, **TINY_CLASS.get(name, {}), **more}


def sine_dataset(n=32, horizon=16, seed=0):
    rng = np.random.default_rng(seed)
    f = rng.uniform(1, 3, n)
    t = np.arange(horizon) / horizon
    x = np.stack([np.sin(2 * np.pi * f[:, None] * t), np.cos(2 * np.pi * f[:, None] * t)], -1)
    return Dataset("toy-sine", x.astype(np.float32), f, {"type": "Uniform", "lo": 1, "hi": 3}, seed, "prior")


@pytest.fixture
def store(tmp_path):
    return ArtifactStore(tmp_path / "cache")


def test_available_lists_the_four_classes():
    assert mg.models.available() == ALL


@pytest.mark.parametrize("name", ALL)
def test_config_json_round_trip_and_validation(name):
    cfg = mg.models.make_config(name, tiny(name))
    again = type(cfg).from_json(cfg.to_json())
    assert again == cfg and json.loads(cfg.to_json())["width"] == 8
    with pytest.raises(ValueError, match="unknown .* field.*'nonsense'"):
        mg.models.make_config(name, {"nonsense": 1})
    with pytest.raises(ValueError, match="train_steps"):
        mg.models.make_config(name, {"train_steps": 0})
    with pytest.raises(ValueError, match="device 'tpu'"):
        mg.models.make_config(name, {"device": "tpu"})
    with pytest.raises(ValueError, match=r"precision 'fp16' is not valid; use one of \('fp32', 'bf16', 'auto'\)"):
        mg.models.make_config(name, {"precision": "fp16"})


def test_bad_names_and_configs_are_named():
    with pytest.raises(ValueError, match="unknown model class 'gan'.*diffusion-unet"):
        mg.models.fit("gan", sine_dataset())
    with pytest.raises(ValueError, match="prediction 'v'"):
        mg.models.make_config("diffusion-unet", {"prediction": "v"})
    with pytest.raises(TypeError, match="must be a UNetConfig"):
        mg.models.make_config("diffusion-unet", mg.models.VAEConfig())


@pytest.mark.parametrize("name", ALL)
def test_shapes_determinism_and_save_load(name, tmp_path):
    data = sine_dataset()
    a = mg.models.fit(name, data, tiny(name), seed=3, store=ArtifactStore(tmp_path / "a"), progress=False)
    b = mg.models.fit(name, data, tiny(name), seed=3, store=ArtifactStore(tmp_path / "b"), progress=False)
    x = a.sample(5, seed=1)
    assert x.shape == (5, 16, 2) and x.dtype == np.float32 and np.all(np.isfinite(x))
    assert len(a.history["loss"]) == 4
    # same seed, separate caches: identical training and samples
    assert a.history == b.history
    np.testing.assert_array_equal(x, b.sample(5, seed=1))
    assert not np.array_equal(x, a.sample(5, seed=2))
    # save/load gives identical samples
    loaded = TrainedModel.from_files(a.to_files())
    np.testing.assert_array_equal(x, loaded.sample(5, seed=1))
    assert loaded.normaliser == a.normaliser and loaded.config == a.config
    # a different training seed gives a different model
    c = mg.models.fit(name, data, tiny(name), seed=4, store=ArtifactStore(tmp_path / "a"), progress=False)
    assert not np.array_equal(x, c.sample(5, seed=1))


def test_fit_caches_and_require_cached(store, monkeypatch):
    data = sine_dataset()
    with pytest.raises(MissingArtifact, match="missing artifact"):
        mg.models.fit("vae", data, tiny("vae"), store=store, require_cached=True)
    first = mg.models.fit("vae", data, tiny("vae"), store=store, progress=False)
    meta = first.meta
    assert meta["library_version"] == mg.__version__ and meta["data_fingerprint"] == data.fingerprint()
    assert {"revision", "library_hash", "key"} <= set(meta)
    entry = store.path("model", first.key)
    assert json.loads((entry / "config.json").read_text()) == first.config.to_dict()

    def no_training(*args, **kwargs):
        raise AssertionError("a cached model was retrained")
    monkeypatch.setattr(mg.models.training, "train", no_training)
    again = mg.models.fit("vae", data, tiny("vae"), store=store, require_cached=True)
    np.testing.assert_array_equal(first.sample(4, seed=0), again.sample(4, seed=0))
    # other data -> other key
    with pytest.raises(MissingArtifact):
        mg.models.fit("vae", sine_dataset(seed=1), tiny("vae"), store=store, require_cached=True)


def test_corrupt_cached_model_is_moved_aside_and_named_when_it_cannot_be_recomputed(store):
    data = sine_dataset()
    first = mg.models.fit("vae", data, tiny("vae"), store=store, progress=False)
    entry = store.path("model", first.key)
    (entry / "weights.pt").write_bytes(b"truncated")
    with pytest.raises(MissingArtifact, match=r"missing artifact: the cached model was corrupt \(.*"
                                              r"weights\.pt: size or sha256 does not match.*moved to"):
        mg.models.fit("vae", data, tiny("vae"), store=store, require_cached=True)
    assert not entry.exists() and entry.with_name(f"{entry.name}.corrupt-0").is_dir()
    # where training is allowed, the model is trained again into the same entry
    again = mg.models.fit("vae", data, tiny("vae"), store=store, progress=False)
    assert again.key == first.key and store.load("model", first.key) is not None


def test_cuda_without_cuda_is_an_error_naming_the_device(store, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    data = sine_dataset()
    with pytest.raises(DeviceUnavailable, match="device 'cuda' was asked for, but this machine has 0 CUDA"):
        mg.models.fit("vae", data, {**tiny("vae"), "device": "cuda"}, store=store, progress=False)
    model = mg.models.fit("vae", data, tiny("vae"), store=store, progress=False)
    assert model.meta["device"] == "cpu"   # the device that trained is recorded
    model.config = model.config.replace(device="cuda:1")
    with pytest.raises(DeviceUnavailable, match="device 'cuda:1' was asked for"):
        model.sample(4, seed=0)             # never a silent fall-back to the CPU


def _returned(model):
    return model   # a job that sends back the model it received


def test_a_model_goes_to_a_worker_and_back_and_samples_as_before(store):
    model = mg.models.fit("diffusion-unet", sine_dataset(), tiny("diffusion-unet"), store=store, progress=False)
    back = mg.jobs.run(_returned, [model, model], workers=2, progress=False)[1]   # (a job per worker)
    assert back is not model and back.meta == model.meta and back.config == model.config
    np.testing.assert_array_equal(back.sample(4, seed=1), model.sample(4, seed=1))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cuda_model_goes_to_a_worker_and_back_twice(store):
    """torch cannot send on a CUDA tensor that a process received: a model that came back from
    one worker could not go to the next (the paper profile's chapter 03 on a GPU failed so)."""
    model = mg.models.fit("diffusion-unet", sine_dataset(), tiny("diffusion-unet", device="cuda"), store=store,
                          progress=False)
    back = mg.jobs.run(_returned, mg.jobs.run(_returned, [model, model], workers=2, progress=False), workers=2,
                       progress=False)
    assert all(next(m.net.parameters()).is_cuda for m in back)
    np.testing.assert_array_equal(back[1].sample(4, seed=1), model.sample(4, seed=1))


def test_model_key_includes_the_versions_of_the_numerical_packages(store, monkeypatch):
    data = sine_dataset()
    first = mg.models.fit("vae", data, tiny("vae"), store=store, progress=False)
    assert first.meta["versions"] == package_versions()
    monkeypatch.setattr(mg.models.training, "package_versions",
                        lambda: {**package_versions(), "numpy": "0.0.1"})
    upgraded = mg.models.fit("vae", data, tiny("vae"), store=store, progress=False)
    assert upgraded.key != first.key


def test_a_models_key_names_how_it_trained(monkeypatch):
    """Eager and compiled training (and compiled training on another vector instruction set)
    give models three keys, however the model's precision resolves."""
    inputs = lambda: mg.models.training.cache_inputs(
        "diffusion-unet", mg.models.make_config("diffusion-unet", tiny("diffusion-unet")), sine_dataset(), 0, False)
    monkeypatch.setenv(mg.vocabulary.TRAINING_ENV, "eager")
    eager = inputs()
    monkeypatch.setenv(mg.vocabulary.TRAINING_ENV, "compiled")
    fast = inputs()
    monkeypatch.setattr(mg.models.inference, "vector_isa", lambda: "avx2")
    other_host = inputs()
    assert eager["training"] == "eager" and fast["training"].startswith("compiled (")
    assert other_host["training"] == "compiled (avx2)"
    assert len({mg.cache.key_of(i) for i in (eager, fast, other_host)}) == 3


def test_bf16_runs_under_autocast_and_auto_resolves_by_the_hosts_bf16_units(store, monkeypatch):
    data = sine_dataset()

    def fit(precision):
        return mg.models.fit("diffusion-unet", data, tiny("diffusion-unet", precision=precision), store=store,
                             progress=False)

    def host(units):   # the host's bfloat16 units, as provenance.cpu reports them
        described = dict(mg.provenance.cpu(), bf16_units=units)
        for module in (mg.models.base,):
            monkeypatch.setattr(module, "cpu", lambda: described)
    assert mg.models.make_config("diffusion-unet").precision == "auto"
    assert {mg.models.make_config(name).precision for name in ("diffusion-mlp", "transformer", "vae")} == {"fp32"}
    host(["amx_bf16", "avx512_bf16"])
    fp32, bf16 = fit("fp32"), fit("bf16")
    assert bf16.key != fp32.key
    assert bf16.history["loss"] != fp32.history["loss"]   # bfloat16 products: other numerics
    dtypes = []
    hook = bf16.net.register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
    x = bf16.sample(4, seed=1)
    hook.remove()
    assert set(dtypes) == {torch.bfloat16} and x.dtype == np.float32 and np.isfinite(x).all()
    np.testing.assert_array_equal(x, bf16.sample(4, seed=1))   # deterministic on the CPU
    assert torch.get_autocast_dtype("cpu") == torch.bfloat16 and not torch.is_autocast_enabled("cpu")
    assert fit("auto").key == bf16.key   # "auto" on a host with bfloat16 units: bf16
    host(["avx512_bf16"])
    assert fit("bf16").key != bf16.key   # another host's bfloat16 kernels: another model
    assert fit("fp32").key == fp32.key   # fp32 keys do not depend on the host's units
    host([])
    auto = fit("auto")
    assert auto.key == fp32.key          # "auto" without bfloat16 units: fp32
    dtypes = []
    hook = auto.net.register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
    auto.sample(2, seed=1)
    hook.remove()
    assert set(dtypes) == {torch.float32}


def test_nan_loss_stops_with_the_step(store, vae_loss_nan_at_step_2):
    with pytest.raises(TrainingDiverged, match="vae: training loss became nan at step 2"):
        mg.models.fit("vae", sine_dataset(), tiny("vae"), store=store, progress=False)


def test_bad_data_is_rejected(store):
    data = sine_dataset()
    data.x[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        mg.models.fit("vae", data, tiny("vae"), store=store)
    with pytest.raises(ValueError, match="shape"):
        mg.models.fit("vae", Dataset("flat", np.zeros((4, 8), np.float32), np.zeros(4), {}, 0, "prior"))


@pytest.mark.parametrize("name", ALL)
def test_conditioning(name, store):
    data = sine_dataset()
    model = mg.models.fit(name, data, tiny(name), conditional=True, store=store, progress=False)
    x = model.sample(6, seed=0, q=np.linspace(1, 3, 6))
    assert x.shape == (6, 16, 2) and np.all(np.isfinite(x))
    # the quantity reaches the network: other q, other samples (same seed)
    assert not np.allclose(x, model.sample(6, seed=0, q=np.full(6, 3.0)))
    np.testing.assert_array_equal(model.sample(3, seed=0, q=2.0), model.sample(3, seed=0, q=[2.0] * 3))
    with pytest.raises(ValueError, match="is conditional: pass q"):
        model.sample(3)
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        model.sample(3, q=[1.0, 2.0])
    plain = mg.models.fit(name, data, tiny(name), store=store, progress=False)
    with pytest.raises(ValueError, match="trained unconditionally"):
        plain.sample(3, q=2.0)


@pytest.mark.parametrize("name", ALL)
def test_reproduces_a_constant_dataset(name, store):
    """Every trajectory is the same curve: a briefly trained model must generate that curve."""
    t = np.arange(16) / 16
    target = np.stack([np.sin(2 * np.pi * 2 * t), np.cos(2 * np.pi * t)], -1).astype(np.float32)
    data = Dataset("constant", np.repeat(target[None], 64, 0), np.zeros(64), {}, 0, "prior")
    cfg = tiny(name, train_steps=300, lr=3e-3, batch_size=32, warmup_steps=10, width=16,
               **({"layers": 1} if name == "transformer" else {}))
    model = mg.models.fit(name, data, cfg, store=store, progress=False)
    x = model.sample(32, seed=0)
    rms = float(np.sqrt(np.mean((x - target) ** 2)))
    assert rms < 0.1 * target.std(), f"{name}: RMS error {rms:.3f} to the only training curve"
    assert model.history["loss"][-1] < model.history["loss"][0]


def test_importance_weights_select_what_the_model_learns(store):
    """Two curves, half the data each; weight 0 on the second: the model generates the first."""
    t = np.arange(16) / 16
    first = np.stack([np.sin(2 * np.pi * 2 * t), np.cos(2 * np.pi * t)], -1).astype(np.float32)
    second = -first
    data = Dataset("two", np.concatenate([np.repeat(first[None], 64, 0), np.repeat(second[None], 64, 0)]),
                   np.r_[np.zeros(64), np.ones(64)], {}, 0, "prior")
    cfg = tiny("diffusion-mlp", train_steps=300, lr=3e-3, batch_size=32, warmup_steps=10, width=16)
    weights = np.r_[np.ones(64), np.zeros(64)]
    model = mg.models.fit("diffusion-mlp", data, cfg, store=store, progress=False, weights=weights)
    x = model.sample(64, seed=0)
    near_first = np.mean(((x - first) ** 2).mean((1, 2)) < ((x - second) ** 2).mean((1, 2)))
    assert near_first > 0.95
    unweighted = mg.models.fit("diffusion-mlp", data, cfg, store=store, progress=False)
    assert unweighted.key != model.key
    with pytest.raises(ValueError, match=r"weights must be 128 finite values >= 0 .* got shape \(3,\)"):
        mg.models.fit("diffusion-mlp", data, cfg, store=store, progress=False, weights=[1, 2, 3])


def test_training_leaves_global_state_alone(store):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    mg.models.fit("vae", sine_dataset(), tiny("vae"), store=store, progress=False)
    assert torch.equal(torch.rand(3), expected)
    assert torch.are_deterministic_algorithms_enabled() == deterministic_before


@pytest.mark.parametrize("conditional", [False, True])
def test_transformer_rollout_with_cached_keys_equals_the_whole_sequence_recomputed(conditional):
    """The cached rollout (sampling, the rollout probe) draws what ``forward`` on the whole
    sequence gives at every step, to float32 rounding, from scratch and after a prefix."""
    from misgen_lib.models.transformer import CausalGaussianTransformer
    torch.manual_seed(0)
    net = CausalGaussianTransformer(horizon=24, dim=2, width=16, layers=2, heads=2, conditional=conditional)
    with torch.no_grad():   # away from the initialisation, so that every weight matters
        for p in net.parameters():
            p.add_(0.2 * torch.randn_like(p))
    q = torch.rand(64) if conditional else None
    for prefix_len in (0, 5, 23):
        prefix = torch.randn(64, prefix_len, 2)
        full, cached = (net.rollout(prefix, 24, q, torch.Generator().manual_seed(3), cache=c) for c in (False, True))
        assert cached.shape == (64, 24, 2)
        torch.testing.assert_close(cached, full, rtol=0, atol=1e-4)
        torch.testing.assert_close(cached[:, :prefix_len], prefix, rtol=0, atol=0)


def test_fit_and_sample_use_no_more_threads_than_the_cores_left_free(store, monkeypatch):
    """A user's fit beside a running build (whose pool holds the cores) trains at one thread."""
    import misgen_lib.models.base as base
    seen = []
    monkeypatch.setattr(base, "free_cores", lambda: 1)
    real_sample = base.get_class("vae").sample
    monkeypatch.setattr(type(base.get_class("vae")), "sample",
                        lambda self, *a, **k: seen.append(torch.get_num_threads()) or real_sample(*a, **k))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        model = mg.models.fit("vae", sine_dataset(), tiny("vae"), store=store, progress=False)
        model.sample(4, seed=0)
        assert model.meta["threads"] == 1 and seen == [1]
        assert torch.get_num_threads() == 2          # restored afterwards
    finally:
        torch.set_num_threads(before)


def test_a_model_key_hashes_the_import_closure_of_the_code_its_class_runs_and_not_other_classes():
    from misgen_lib.models.training import code_modules
    from misgen_lib.provenance import code_closure, PACKAGE_DIR
    assert code_modules("diffusion-unet") == ["misgen_lib.models.base", "misgen_lib.models.diffusion",
                                              "misgen_lib.models.unet"]
    closure = {p.relative_to(PACKAGE_DIR).as_posix() for p in code_closure("models.training", *code_modules("vae"))}
    assert {"models/vae.py", "models/base.py", "models/training.py", "seeds.py"} <= closure
    assert not closure & {"models/unet.py", "models/transformer.py", "kernel/probe.py", "cli.py",
                          "cache.py", "vocabulary.py", "provenance.py", "progress.py"}
    assert not any(p.startswith(("runner/", "studies/", "kernel/", "tasks/")) for p in closure)
    data, cfg = sine_dataset(), tiny("vae")
    inputs = mg.models.training.cache_inputs("vae", mg.models.make_config("vae", cfg), data, 0, False)
    assert inputs["library"] == mg.provenance.kind_hash("model", "misgen_lib.models.vae")


def test_editing_a_module_in_a_models_closure_changes_its_key_and_an_unrelated_one_does_not(tmp_path, monkeypatch):
    """On a copy of the library: an edit to ``seeds.py`` (training's batch order) re-keys a model,
    an edit to the kernel, the runner, another class or a bookkeeping module does not."""
    import shutil
    from misgen_lib import provenance
    copy = tmp_path / "misgen_lib"
    shutil.copytree(provenance.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(provenance, "PACKAGE_DIR", copy)
    roots = ("models.training", "models.vae")
    before = provenance.code_hash(*roots)
    for unrelated in ("kernel/probe.py", "runner/build.py", "cli.py", "models/unet.py", "vocabulary.py",
                      "cache.py", "progress.py", "provenance.py"):
        (copy / unrelated).write_text((copy / unrelated).read_text() + "\n# edited\n")
        assert provenance.code_hash(*roots) == before, unrelated
    (copy / "seeds.py").write_text((copy / "seeds.py").read_text() + "\n# edited\n")
    assert provenance.code_hash(*roots) != before


def test_bookkeeping_modules_import_only_each_other_so_no_computation_hides_behind_them(tmp_path, monkeypatch):
    """``provenance.BOOKKEEPING`` is left out of every key: that is sound only while those modules
    import no other library module. A bookkeeping module that imported ``seeds`` would hide it."""
    import shutil
    from misgen_lib import provenance

    def leaks():
        return {(m, name) for m in provenance.BOOKKEEPING for name in
                provenance.imported_names(provenance.module_file(m))
                if provenance.module_file(name) is not None
                and provenance.module_file(name) not in {provenance.module_file(b) for b in provenance.BOOKKEEPING}}

    assert leaks() == set()
    copy = tmp_path / "misgen_lib"
    shutil.copytree(provenance.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(provenance, "PACKAGE_DIR", copy)
    (copy / "progress.py").write_text((copy / "progress.py").read_text() + "\nfrom .seeds import derive\n")
    assert leaks() == {("misgen_lib.progress", "misgen_lib.seeds")}
