"""Mish, ``x * tanh(softplus(x))`` (Misra 2019; Diffuser's activation), computed one way eager and
another where ``torch.compile`` traces it.

* Eager: ``torch.nn.functional.mish``, exactly as ``nn.Mish``, so an eager model's numbers are
  those of ``nn.Mish`` bit for bit.
* Traced by ``torch.compile``: the one-exponential form ``x * n / (n + 2)`` with
  ``n = e^x (e^x + 2)``, the same function (``tanh(log(1 + e^x)) = n / (n + 2)``), which inductor
  fuses into the surrounding kernel with one exponential per value instead of the three
  transcendental functions of the composed form. For ``x > 20`` it returns ``x`` (there
  ``1 - Mish(x) / x < 1e-17``, and ``n`` would overflow in float32 beyond ``x`` = 44). Autograd
  differentiates the formula, so compiled training has its backward too.

The two agree to float32 rounding (``tests/test_models_activations.py``: values and gradients to
1e-6 in float32, to bfloat16's rounding in bfloat16); compiled inference, which uses the second,
is named in the cache keys of what it computes (``models.base.inference_numerics``).
"""
from __future__ import annotations

import torch
from torch import nn

#: above this input Mish(x) equals x to float32 precision (the fused form would overflow at 44)
LINEAR_FROM = 20.0


def fused_mish(x: torch.Tensor) -> torch.Tensor:
    """Mish by its one-exponential form (what ``Mish`` computes when compiled)."""
    e = torch.exp(torch.clamp(x, max=LINEAR_FROM))
    n = e * (e + 2)
    return torch.where(x > LINEAR_FROM, x, x * n / (n + 2))


class Mish(nn.Module):
    """``nn.Mish`` eager, ``fused_mish`` under ``torch.compile`` (see the module docstring)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.compiler.is_compiling():
            return fused_mish(x)
        return nn.functional.mish(x)
