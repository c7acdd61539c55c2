"""engine.utils: helpers outside the tensor core (`engine.utils.data` for data loading).

>>> import engine.utils.data
>>> engine.utils.data.DataLoader.__name__
'DataLoader'
"""

from . import data
