"""Why a compiled sampling in a Dask worker once stopped on ``AssertionError: Global grad_mode
state changed while dynamo tracing`` (a cold default build with compiled training, 2026-12-06).

torch's compiler restores grad mode, after each frame it compiles, through a guard that it makes
and drops at once (``torch.autograd.grad_mode._enter_inference_mode(prior)``: the guard turns grad
mode on and puts the earlier mode back when it is freed). A frame that somebody holds past its
return keeps that guard alive; the mode comes back late, or on the thread that lets the frame go,
and a compilation under ``no_grad`` stops. Dask's statistical profiler holds the running task's
frames (``sys._current_frames``, every 10 ms) while it walks them, which is why the build's pool
turns it off (``runner.pool.WORKER_PROFILER``). Two demonstrations:

1. ``held``: a profile hook that keeps that one frame makes the first compilation stop, always;
2. ``dask``: many small compilations (``backend="eager"``) under ``no_grad`` in one Dask worker,
   with Dask's profiler on and off; the guard's frame pauses ``--pause`` seconds and the
   interpreter switches threads every microsecond (where a build relies on the profiler's own
   pauses, such as reading a compiled file's source line), so that the profiler meets that frame
   in a run of a minute rather than of a build. With Python's usual 5 ms switch, 4000 such
   compilations stopped none, profiler on or off.

Intel Xeon with AMX, 2 cores, 2026-12-07: ``held`` stops; ``dask`` with a 0.1 ms pause, 1500
compilations each: profiler on, 19 stopped; off, none.

    python benchmarks/dask_profiler_and_compile.py held
    python benchmarks/dask_profiler_and_compile.py dask --n 1500 --pause 0.0001
"""
import argparse
import sys
import time


def compile_many(n: int, pause: float) -> int:
    """How many of ``n`` fresh compilations under ``no_grad`` stop on the global-state check."""
    import torch
    import torch._dynamo
    import torch.autograd.grad_mode as grad_mode

    def paused(mode):                       # torch's own function, with a pause before it returns
        guard = torch._C._InferenceMode(mode)
        guard.__enter__()
        time.sleep(pause)
        return guard
    grad_mode._enter_inference_mode = paused
    sys.setswitchinterval(1e-6)
    stopped = 0
    for i in range(n):
        torch._dynamo.reset()
        f = torch.compile(lambda x: torch.sin(x) * 2 + i, backend="eager")
        try:
            with torch.no_grad():
                f(torch.randn(8))
        except AssertionError:
            stopped += 1
            torch._C._set_grad_enabled(True)
    return stopped


def held() -> None:
    import torch
    frames = []
    sys.setprofile(lambda frame, event, arg: frames.append(frame)
                   if event == "call" and frame.f_code.co_name == "_enter_inference_mode" else None)
    try:
        with torch.no_grad():
            torch.compile(lambda x: torch.sin(x) * 2, backend="eager")(torch.randn(8))
        print("held: compiled without stopping")
    except AssertionError as err:
        print(f"held: stopped: {err}")
    finally:
        sys.setprofile(None)


def on_dask(n: int, pause: float) -> None:
    import dask
    from dask.distributed import Client, LocalCluster
    for profiler in (True, False):
        with dask.config.set({"distributed.worker.profile.enabled": profiler}), \
                LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            start = time.time()
            stopped = client.submit(compile_many, n, pause, pure=False).result()
            print(f"dask: profiler {'on ' if profiler else 'off'}: {stopped} of {n} compilations stopped "
                  f"({time.time() - start:.0f} s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("demo", choices=["held", "dask"])
    parser.add_argument("--n", type=int, default=800)
    parser.add_argument("--pause", type=float, default=0.0001)
    args = parser.parse_args()
    held() if args.demo == "held" else on_dask(args.n, args.pause)
