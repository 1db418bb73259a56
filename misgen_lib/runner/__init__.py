"""The book pipeline: notebooks + profiles -> papermill -> executed notebooks -> Jupyter Book.

    from misgen_lib.runner import build, run_one
    build(profile="ci")                         # = misgen build --profile ci
    run_one("02", {"n_train": 500})             # = misgen run 02 -p n_train 500
    verify()                                    # = misgen verify
"""
from .build import build, cell_timeout, plan, run_one  # noqa: F401
from .execute import NotebookFailed, NotebookInterrupted  # noqa: F401
from .lock import BuildLocked  # noqa: F401
from .parameters import Parameter, ParameterError  # noqa: F401
from .profiles import NotebookSpec, NotebookSpecError, discover  # noqa: F401
from .project import Project  # noqa: F401
from .render import BookRenderFailed, render_book  # noqa: F401
from .verify import verify  # noqa: F401
