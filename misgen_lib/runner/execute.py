"""Execute one notebook with papermill (Python API, in memory: jupytext NotebookNode in,
executed ``.ipynb`` out), in a kernel of the interpreter running the runner."""
from __future__ import annotations

import copy
import os
import re
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import KernelManager

KERNEL_NAME = "python3"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class SameInterpreterKernelManager(KernelManager):
    """Starts ``python3`` kernels with the interpreter running the runner (``sys.executable``),
    whatever kernel specs a user has installed elsewhere (``~/.local/share/jupyter`` would
    otherwise win outside a virtual environment), so the kernel imports the same ``misgen_lib``
    as the runner. The kernel's local sockets use CurveZMQ encryption where pyzmq supports it."""

    def __init__(self, **kwargs):
        import zmq
        super().__init__(**kwargs)
        if zmq.has("curve"):
            self.transport_encryption = "auto"

    @property
    def kernel_spec(self) -> KernelSpec:
        if self._kernel_spec is None:
            from ipykernel.kernelspec import get_kernel_dict  # argv[0] is sys.executable
            self._kernel_spec = KernelSpec(resource_dir="", **get_kernel_dict())
        return self._kernel_spec


class NotebookFailed(RuntimeError):
    """A cell raised: names the notebook and the cell, carries the traceback."""

    def __init__(self, stem: str, cell_index: int, exec_count, cell_source: str,
                 traceback: str, partial_output: Path):
        self.stem, self.cell_index, self.exec_count = stem, cell_index, exec_count
        self.cell_source, self.traceback, self.partial_output = cell_source, traceback, partial_output
        excerpt = "\n".join("    " + line for line in cell_source.splitlines()[:12])
        super().__init__(
            f"notebook {stem} failed in cell In [{exec_count}] (cell {cell_index} of the executed "
            f"notebook):\n{excerpt}\n\n"
            f"{traceback}\npartial output kept in {partial_output}")


@contextmanager
def kernel_environment(variables: dict[str, str]):
    """Environment variables the kernel inherits (it is started as a child process)."""
    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


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
                     injected_label: str = "Parameters") -> float:
    """Run ``notebook`` with ``parameters`` injected after its ``parameters`` cell (under the
    comment ``injected_label``) and write the executed notebook to ``output`` (also while
    running, so a failure leaves the partial output there). Returns the wall time in seconds;
    raises :class:`NotebookFailed`."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        with kernel_environment(env):
            papermill.execute_notebook(
                copy.deepcopy(notebook), str(output), parameters=parameters,
                kernel_name=KERNEL_NAME, language="python", cwd=str(cwd),
                progress_bar=progress, log_output=False,
                kernel_manager_class=SameInterpreterKernelManager)
    except PapermillExecutionError as err:
        cell_source = err.source if isinstance(err.source, str) else "".join(err.source or "")
        raise NotebookFailed(stem, err.cell_index, err.exec_count, cell_source,
                             ANSI_ESCAPE.sub("", "\n".join(err.traceback)), output) from None
    label_injected_cell(output, injected_label)
    return time.perf_counter() - start
