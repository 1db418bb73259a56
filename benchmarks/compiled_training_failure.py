"""Looking for the failure that kept compiled training off main: in a cold default build (at
6e9c72c), one Dask worker's compiled *sampling* after compiled training stopped inside torch's
compiler with ``AssertionError: Global grad_mode state changed while dynamo tracing, please report
a bug`` (suite._train_and_sample -> TrainedModel.sample -> inference.BatchDynamic.forward ->
torch/_dynamo/convert_frame.py). An earlier build of the same path trained and sampled 27 models
without it. This script does what a worker does, small: compiled training, then compiled sampling,
network shapes interleaved and a transformer in between. It first stopped on the transformer's
sampling: ``rollout`` is not a method of the compiled wrapper, so ``compiled`` now leaves the
classes that call more than ``forward`` eager (``ModelClass.compilable``). Since then it runs to
the end (8 rounds, 200 s on an Intel Xeon with AMX, 2026-12-07) without the assertion, and a
``gc.callbacks`` probe saw no collection during which grad mode, the thread count or inference
mode changed: the finaliser explanation is not supported here either.

    python benchmarks/compiled_training_failure.py
"""
import os, sys, time, tempfile
os.environ["MISGEN_TRAINING"] = "compiled"; os.environ["MISGEN_INFERENCE"] = "compiled"
os.environ["MISGEN_CACHE_DIR"] = tempfile.mkdtemp()
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__))); sys.path[:0] = [os.path.join(REPO, "tests"), REPO]
import numpy as np, torch
import misgen_lib as mg
from test_models import tiny
from misgen_lib.tasks import Dataset
torch.set_num_threads(1)

def data(dim, horizon, seed):
    rng = np.random.default_rng(seed); n = 32
    f = rng.uniform(1, 3, n); t = np.arange(horizon) / horizon
    cols = [np.sin(2 * np.pi * f[:, None] * t * (k + 1)) for k in range(dim)]
    return Dataset("toy", np.stack(cols, -1).astype(np.float32), f, {"type": "Uniform", "lo": 1, "hi": 3}, seed, "prior")

order = [(1, 16), (2, 16), (2, 16), (1, 16), (4, 16), (2, 16), (1, 16), (4, 16)]
t0 = time.time()
for i, (dim, h) in enumerate(order):
    m = mg.models.fit("diffusion-unet", data(dim, h, i), tiny("diffusion-unet", precision="bf16", train_steps=5), seed=i, progress=False)
    if i % 3 == 1:   # a transformer in between, as the pool interleaves classes
        mg.models.fit("transformer", data(dim, h, i), tiny("transformer"), seed=i, progress=False).sample(10, seed=0)
    m.sample(20 + i, seed=i)
    print(i, dim, h, "ok", round(time.time() - t0), flush=True)
print("done")
