"""Physical tasks: sine, cone, logistic, maze, pendulum (and a user's own via ``register``)."""
from .base import Dataset, Task, available, get, register, task_class  # noqa: F401
from . import sine, cone, logistic, maze, pendulum  # noqa: F401  (registers the built-in tasks)
