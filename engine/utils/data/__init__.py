"""engine.utils.data: datasets, samplers and the DataLoader, as `torch.utils.data`.

>>> import engine
>>> from engine.utils.data import DataLoader, TensorDataset
>>> ds = TensorDataset(engine.randn(10, 3), engine.arange(10))
>>> [tuple(x.shape) for x, _ in DataLoader(ds, batch_size=4)]
[(4, 3), (4, 3), (2, 3)]
"""

from .collate import default_collate, default_convert
from .dataloader import DataLoader, get_worker_info
from .dataset import (
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
)
from .sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = [
    "BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset",
    "IterableDataset", "RandomSampler", "Sampler", "SequentialSampler", "Subset",
    "SubsetRandomSampler", "TensorDataset", "WeightedRandomSampler", "default_collate",
    "default_convert", "get_worker_info", "random_split",
]
