"""engine.nn.functional: the functional form of every layer and loss, as
torch.nn.functional. One module per family; each lists its names in `__all__`.

>>> import engine
>>> import engine.nn.functional as F
>>> F.relu(engine.tensor([-1.0, 2.0]))
tensor([0., 2.])
"""

from .activation import *
from .attention import *
from .conv import *
from .dropout import *
from .embedding import *
from .linear import *
from .loss import *
from .normalization import *
from .pooling import *
