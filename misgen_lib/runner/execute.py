"""Execute one notebook with papermill (Python API, in memory: jupytext NotebookNode in,
executed ``.ipynb`` out), in a kernel of the interpreter running the runner.

Every way a notebook can stop early is a :class:`NotebookFailed` naming the cell, with the
partial output kept: a cell that raised, a cell past the per-cell timeout, a kernel that died
(out of memory, ``os._exit``) and Ctrl-C (:class:`NotebookInterrupted`)."""
from __future__ import annotations

import copy
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager

from ..vocabulary import CELL_TIMEOUT_ENV, KERNEL_LOG_ENV

KERNEL_NAME = "python3"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class SameInterpreterKernelManager(AsyncKernelManager):
    """Starts ``python3`` kernels with the interpreter running the runner (``sys.executable``),
    whatever kernel specs a user has installed elsewhere (``~/.local/share/jupyter`` would
    otherwise win outside a virtual environment), so the kernel imports the same ``misgen_lib``
    as the runner. The kernel's local sockets use CurveZMQ encryption where pyzmq supports it.
    It is the asynchronous manager nbclient expects: with the synchronous one, waiting for a
    cell's output blocks nbclient's event loop, so a dead kernel or a cell past its timeout
    would never be noticed (the build hangs).

    ``notebook_env``: variables the kernel gets on top of this process's environment, given to
    the kernel process alone (``for_notebook``), so that notebooks run side by side in one build
    each see their own (the runner's own environment is never changed). ``running``: the
    managers whose kernels are alive, so that a build can interrupt them (Ctrl-C)."""
    notebook_env: dict[str, str] = {}
    running: set = set()

    def __init__(self, **kwargs):
        import zmq
        super().__init__(**kwargs)
        if zmq.has("curve"):
            self.transport_encryption = "auto"

    @classmethod
    def for_notebook(cls, env: dict[str, str]) -> type["SameInterpreterKernelManager"]:
        return type(cls.__name__, (cls,), {"notebook_env": dict(env)})

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw):
        """The kernel process's own stderr (crash reports, messages of its shutdown; a cell's
        output is recorded by papermill, not here) goes to ``notebook_env[KERNEL_LOG_ENV]`` when
        set."""
        kw["env"] = {**kw.get("env", os.environ), **self.notebook_env}
        log = self.notebook_env.get(KERNEL_LOG_ENV)
        SameInterpreterKernelManager.running.add(self)
        if not log:
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        with open(log, "ab") as stderr:   # the kernel keeps its own copy of the descriptor
            return await super()._async_launch_kernel(kernel_cmd, **kw, stderr=stderr)

    async def _async_shutdown_kernel(self, *args, **kw):
        SameInterpreterKernelManager.running.discard(self)
        return await super()._async_shutdown_kernel(*args, **kw)

    @property
    def kernel_spec(self) -> KernelSpec:
        if self._kernel_spec is None:
            from ipykernel.kernelspec import get_kernel_dict  # argv[0] is sys.executable
            self._kernel_spec = KernelSpec(resource_dir="", **get_kernel_dict())
        return self._kernel_spec


def interrupt_running_kernels() -> None:
    """Send SIGINT to every kernel this process started and that still runs (Ctrl-C of a build
    that runs notebooks side by side: the threads executing them then stop with
    :class:`NotebookInterrupted`)."""
    for km in list(SameInterpreterKernelManager.running):
        try:
            km.provisioner.process.send_signal(signal.SIGINT)
        except Exception:   # already gone
            pass


class NotebookFailed(RuntimeError):
    """A cell raised, ran past the timeout or lost its kernel: names the notebook and the cell,
    carries the traceback (or what happened)."""

    def __init__(self, stem: str, cell_index: int | None, exec_count, cell_source: str,
                 traceback: str, partial_output: Path):
        self.stem, self.cell_index, self.exec_count = stem, cell_index, exec_count
        self.cell_source, self.traceback, self.partial_output = cell_source, traceback, partial_output
        excerpt = "\n".join("    " + line for line in cell_source.splitlines()[:12])
        where = ("before its first cell" if cell_index is None else
                 f"in cell In [{exec_count}] (cell {cell_index} of the executed notebook)")
        super().__init__(f"notebook {stem} failed {where}:\n{excerpt}\n\n"
                         f"{traceback}\npartial output kept in {partial_output}")


class NotebookInterrupted(NotebookFailed):
    """Ctrl-C (SIGINT) while a notebook ran."""


def _stopped_early(cls: type[NotebookFailed], stem: str, output: Path, what: str) -> NotebookFailed:
    """The failure of a notebook that stopped without a cell error: the cell it was in is the
    last one papermill started, read from the partial output."""
    started = []
    if output.exists():
        nb = nbformat.read(output, as_version=4)
        started = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"
                   and c.metadata.get("papermill", {}).get("start_time")]
    if not started:
        return cls(stem, None, None, "", what, output)
    index, cell = started[-1]
    return cls(stem, index, cell.get("execution_count"), cell.source, what, output)


def label_injected_cell(path: Path, label: str) -> None:
    """Replace papermill's ``# Parameters`` header of the injected cell by ``label``, so a
    reader of the book sees that these values, not the defaults above, were used."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.source = cell.source.replace("# Parameters", f"# {label}", 1)
    nbformat.write(nb, path)


def execute_notebook(stem: str, notebook: nbformat.NotebookNode, parameters: dict[str, Any],
                     output: Path, cwd: Path, env: dict[str, str], progress: bool = False,
                     injected_label: str = "Parameters", timeout: float | None = None) -> float:
    """Run ``notebook`` with ``parameters`` injected after its ``parameters`` cell (under the
    comment ``injected_label``) and write the executed notebook to ``output`` (also while
    running, so a failure leaves the partial output there). ``timeout``: seconds a cell may run
    (``None``: no limit). Returns the wall time in seconds; raises :class:`NotebookFailed`."""
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            copy.deepcopy(notebook), str(output), parameters=parameters,
            kernel_name=KERNEL_NAME, language="python", cwd=str(cwd),
            progress_bar=progress, log_output=False, execution_timeout=timeout,
            kernel_manager_class=SameInterpreterKernelManager.for_notebook(env))
    except PapermillExecutionError as err:
        cell_source = err.source if isinstance(err.source, str) else "".join(err.source or "")
        cls = NotebookInterrupted if err.ename == "KeyboardInterrupt" else NotebookFailed  # Ctrl-C reached the kernel first
        raise cls(stem, err.cell_index, err.exec_count, cell_source,
                             ANSI_ESCAPE.sub("", "\n".join(err.traceback)), output) from None
    except CellTimeoutError:
        raise _stopped_early(NotebookFailed, stem, output, (
            f"CellTimeout: the cell ran longer than the cell timeout of {timeout:g} s and was "
            f"stopped (set the limit with --cell-timeout SECONDS or ${CELL_TIMEOUT_ENV}; 0: none)")
        ) from None
    except DeadKernelError:
        raise _stopped_early(NotebookFailed, stem, output, (
            "DeadKernel: the kernel died while the cell ran (killed by the system, e.g. out of "
            "memory, or the cell ended the process)")) from None
    except KeyboardInterrupt:
        raise _stopped_early(NotebookInterrupted, stem, output,
                             "Interrupted: Ctrl-C while the cell ran") from None
    label_injected_cell(output, injected_label)
    return time.perf_counter() - start
