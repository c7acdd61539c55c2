"""engine.nn: modules, layers, losses and initialization in PyTorch's shape.

>>> import engine
>>> from engine import nn
>>> model = nn.Sequential(nn.Linear(4, 8), nn.Identity(), nn.Linear(8, 2))
>>> model(engine.randn(3, 4)).shape
engine.Size([3, 2])
"""

from . import functional, init, utils
from .activation import *
from .attention import *
from .container import *
from .conv import *
from .dropout import *
from .embedding import *
from .linear import *
from .loss import *
from .module import Module
from .norm import *
from .parameter import Parameter
from .pooling import *
from .rnn import *
from .transformer import *
