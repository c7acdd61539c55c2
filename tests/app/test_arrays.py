"""Property tests of the sample validator (no database)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from app.errors import ValidationFailed
from app.services.arrays import ArrayLimits, from_json

LIMITS = ArrayLimits(max_values=100_000, max_dims=8)
shapes = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4)
finite32 = st.floats(-1e6, 1e6, width=32)


@settings(max_examples=60, deadline=None)
@given(x=hnp.arrays(np.float32, shapes, elements=finite32), data=st.data())
def test_rectangular_samples_round_trip(x: np.ndarray, data: st.DataObject) -> None:
    y = data.draw(hnp.arrays(np.int64, (x.shape[0],), elements=st.integers(0, 9)))
    result = from_json(x.tolist(), y.tolist(), LIMITS)
    np.testing.assert_array_equal(result.inputs, x)
    np.testing.assert_array_equal(result.targets, y)
    assert result.num_classes == int(y.max()) + 1


@settings(max_examples=60, deadline=None)
@given(x=hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=4, min_side=2,
                                                  max_side=4), elements=finite32),
       data=st.data())
def test_one_ragged_row_is_reported_at_its_path(x: np.ndarray, data: st.DataObject) -> None:
    nested = x.tolist()
    path = [data.draw(st.integers(0, n - 1)) for n in x.shape[:-1]]
    assume(any(path))  # the all-zero row defines the expected shape
    row = nested
    for index in path:
        row = row[index]
    row.pop()  # one innermost row is now one item short
    with pytest.raises(ValidationFailed) as raised:
        from_json(nested, [0] * x.shape[0], LIMITS)
    assert raised.value.errors[0]["loc"] == ["body", "inputs", *path]
    assert raised.value.errors[0]["type"] == "not_rectangular"
