"""`engine.data`: a short alias of `engine.utils.data` (`engine.data.DataLoader`, ...).

>>> import engine.data
>>> import engine.utils.data
>>> engine.data.DataLoader is engine.utils.data.DataLoader
True
"""

from .utils.data import *  # noqa: F403
from .utils.data import __all__  # noqa: F401
