"""Generative model classes behind one interface.

    model = mg.models.fit("diffusion-unet", data, config={"train_steps": 2000}, seed=0)
    x_hat = model.sample(2000, seed=1)            # (n, T, d) float32, data units
    model_q = mg.models.fit("vae", data, conditional=True)
    x_q = model_q.sample(500, seed=1, q=3.5)      # generate for a given quantity

Registered classes: ``diffusion-unet`` (DDPM, 1D temporal U-Net), ``diffusion-mlp`` (DDPM, MLP
backbone), ``transformer`` (autoregressive, Gaussian head), ``vae``. A user's own class is a
``ModelClass`` subclass decorated with ``register``.
"""
from .base import (VALID_PRECISIONS, ModelClass, ModelConfig, Normaliser, TrainedModel, available, get_class,  # noqa: F401
                   make_config, register, torch_threads, within_free_cores)
from .training import MissingArtifact, TrainingDiverged, fit  # noqa: F401
from . import unet, mlp, transformer, vae  # noqa: F401,E402  (register the built-in classes)
from .diffusion import DiffusionConfig  # noqa: F401
from .unet import UNetConfig  # noqa: F401
from .mlp import MLPConfig  # noqa: F401
from .transformer import TransformerConfig  # noqa: F401
from .vae import VAEConfig  # noqa: F401
from .vectorised import VECTORISED_CLASSES, fit_seeds  # noqa: F401
