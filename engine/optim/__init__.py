"""`engine.optim`: optimizers and learning-rate schedulers with PyTorch's API.

>>> import engine, engine.optim
>>> w = engine.nn.Parameter(engine.tensor([2.0]))
>>> opt = engine.optim.Adam([w], lr=0.1)
>>> sched = engine.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
>>> for _ in range(3):
...     opt.zero_grad(); (w * w).sum().backward(); opt.step(); sched.step()
>>> round(w.item(), 3), sched.get_last_lr()
(1.825, [0.0125])
"""

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adamax", "NAdam",
           "RAdam", "lr_scheduler"]
