"""Special functions: erf (NumPy has none; used by the exact GELU).

On the CPU, erf is computed in the input's dtype with W. J. Cody's / Cephes' rational
approximations (Cephes `ndtr.c`): erf(x) = x T(x^2) / U(x^2) for |x| < 1, and
1 - exp(-x^2) P(|x|) / Q(|x|) for 1 <= |x| < 6 (erfc(6) ~ 2e-17, so erf is 1 beyond 6
in float64, and beyond 4 in float32). Relative error is ~1e-16 in float64 and a few
ulp in float32. On CUDA, `cupyx.scipy.special.erf` is used.
"""

from __future__ import annotations

import math

import numpy as np

from ..autograd.node import Op
from ..backend import xp_of
from ..tensor import Tensor

__all__ = ["erf"]

# Cephes ndtr.c: erf(x) = x T(x^2) / U(x^2), |x| < 1 (U has an implicit leading 1)
_T = (9.60497373987051638749e0, 9.00260197203842689217e1, 2.23200534594684319226e3,
      7.00332514112805075473e3, 5.55923013010394962768e4)
_U = (3.35617141647503099647e1, 5.21357949780152679795e2, 4.59432382970980127987e3,
      2.26290000613890934246e4, 4.92673942608635921086e4)
# erfc(x) = exp(-x^2) P(x) / Q(x), 1 <= x < 8 (Q has an implicit leading 1)
_P = (2.46196981473530512524e-10, 5.64189564831068821977e-1, 7.46321056442269912687e0,
      4.86371970985681366614e1, 1.96520832956077098242e2, 5.26445194995477358631e2,
      9.34528527171957607540e2, 1.02755188689515710272e3, 5.57535335369399327526e2)
_Q = (1.32281951154744992508e1, 8.67072140885989742329e1, 3.54937778887819891062e2,
      9.75708501743205489753e2, 1.82390916687909736289e3, 2.24633760818710981792e3,
      1.65666309194161350182e3, 5.57535340817727675546e2)

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _polevl(x, coefs, leading_one: bool = False):
    """Horner's rule; Python-float coefficients keep float32 arrays float32."""
    acc = x + coefs[0] if leading_one else x * 0 + coefs[0]
    for c in coefs[1:]:
        acc = acc * x + c
    return acc


def erf_array(x):
    """erf of a raw floating NumPy/CuPy array, in its dtype."""
    xp = xp_of(x)
    if xp is not np:
        import cupyx.scipy.special

        return cupyx.scipy.special.erf(x)
    # both branches on clamped copies (no overflow, no warnings), then select
    xs = np.clip(x, -1.0, 1.0)
    z = xs * xs
    small = xs * _polevl(z, _T) / _polevl(z, _U, leading_one=True)
    ax = np.clip(np.abs(x), 1.0, 6.0)
    erfc = np.exp(-(ax * ax)) * _polevl(ax, _P) / _polevl(ax, _Q, leading_one=True)
    big = np.copysign(1.0 - erfc, x).astype(x.dtype, copy=False)
    out = np.where(np.abs(x) < 1.0, small, big)
    return out.astype(x.dtype, copy=False)


class Erf(Op):
    def forward(self, x):
        self.save_inputs(0)
        return erf_array(x)

    def backward(self, g):
        (x,) = self.saved_inputs
        return g * ((x * x).neg().exp() * _TWO_OVER_SQRT_PI)


def erf(x: Tensor) -> Tensor:
    """The Gauss error function, elementwise (integer inputs give float32).

    >>> import engine
    >>> engine.erf(engine.tensor([0.0, 0.5, 10.0]))
    tensor([0.0000, 0.5205, 1.0000])
    """
    from .elementwise import _float

    return Erf.apply(_float(x))


METHODS = {"erf": erf}
