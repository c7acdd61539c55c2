"""Dataset uploads as .npz, .npy pairs and CSV (multipart/form-data)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from tests.app.conftest import TeamHandle, TestClient
from tests.app.helpers import error_of, first_loc, npy_bytes, npz_bytes

NUMPY = "/v1/datasets/upload/numpy"
CSV = "/v1/datasets/upload/csv"
X = np.arange(24, dtype=np.uint8).reshape(4, 2, 3)
Y = np.array([0, 2, 1, 2], dtype=np.int32)


def _post(client: TestClient, team: TeamHandle, url: str, files: dict[str, bytes],
          **data: str):
    return client.post(url, data={"name": "up", **data}, headers=team.headers,
                       files={k: (f"{k}.bin", v) for k, v in files.items()})


def test_npz_upload(client: TestClient, team: TeamHandle) -> None:
    response = _post(client, team, NUMPY, {"file": npz_bytes(inputs=X, targets=Y)})
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["format"], body["rows"], body["input_shape"], body["input_dtype"],
            body["target_dtype"], body["num_classes"]) == ("npz", 4, [2, 3], "float32",
                                                           "int64", 3)


def test_npy_pair_upload_with_float_targets(client: TestClient, team: TeamHandle) -> None:
    y = np.linspace(0, 1, 4)[:, None]
    response = _post(client, team, NUMPY, {"inputs": npy_bytes(X.astype(">f8")),
                                           "targets": npy_bytes(y)})
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["format"], body["target_shape"], body["target_dtype"], body["num_classes"]) \
        == ("npy", [1], "float32", None)


def _huge_header_npy() -> bytes:
    """A tiny file whose header claims 10**12 float64 values."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False,
                                               "shape": (10**6, 10**6)})
    return buf.getvalue() + b"\0" * 64


def _zip(**members: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize(("files", "status", "loc"), [
    ({"inputs": npy_bytes(np.array([object()] * 4), allow_pickle=True),
      "targets": npy_bytes(Y)}, 422, ["body", "inputs"]),
    ({"inputs": npy_bytes(X > 3), "targets": npy_bytes(Y)}, 422, ["body", "inputs"]),
    ({"inputs": npy_bytes(X.astype(np.complex64)), "targets": npy_bytes(Y)}, 422,
     ["body", "inputs"]),
    ({"inputs": npy_bytes(X)[:-5], "targets": npy_bytes(Y)}, 422, ["body", "inputs"]),
    ({"inputs": b"not an npy file", "targets": npy_bytes(Y)}, 422, ["body", "inputs"]),
    ({"inputs": _huge_header_npy(), "targets": npy_bytes(Y)}, 413, ["body", "inputs"]),
    ({"inputs": npy_bytes(X)}, 422, ["body", "targets"]),
    ({"inputs": npy_bytes(X), "targets": npy_bytes(Y[:3])}, 422, ["body", "targets"]),
    ({"inputs": npy_bytes(np.float64([[1, np.nan]] * 4)), "targets": npy_bytes(Y)}, 422,
     ["body", "inputs", 0, 1]),
    ({"inputs": npy_bytes(X), "targets": npy_bytes(np.uint64([2**64 - 1] * 4))}, 422,
     ["body", "targets", 0]),
    ({"inputs": npy_bytes(np.float32(3.0)), "targets": npy_bytes(Y)}, 422, ["body", "inputs"]),
    ({"file": npz_bytes(inputs=X)}, 422, ["body", "file"]),
    ({"file": npz_bytes(inputs=X, targets=Y, extra=Y)}, 422, ["body", "file"]),
    ({"file": b"PK\x03\x04 garbage"}, 422, ["body", "file"]),
    ({"file": _zip(**{"inputs.npy": b"junk", "targets.npy": npy_bytes(Y)})}, 422,
     ["body", "file", "inputs"]),
    ({"file": npz_bytes(inputs=X, targets=Y), "inputs": npy_bytes(X)}, 422, ["body", "file"]),
    ({}, 422, ["body", "inputs"]),
])
def test_bad_numpy_uploads(client: TestClient, team: TeamHandle, files: dict[str, bytes],
                           status: int, loc: list) -> None:
    response = _post(client, team, NUMPY, files)
    error_of(response, status)
    assert first_loc(response) == loc


def test_unknown_and_repeated_form_fields_are_refused(client: TestClient,
                                                      team: TeamHandle) -> None:
    response = _post(client, team, NUMPY, {"file": npz_bytes(inputs=X, targets=Y)}, bogus="1")
    error_of(response, 422, "validation_failed")
    assert first_loc(response) == ["body", "bogus"]
    response = client.post(NUMPY, data={"name": "up"}, headers=team.headers, files=[
        ("inputs", ("a.npy", npy_bytes(X))), ("inputs", ("b.npy", npy_bytes(X))),
        ("targets", ("t.npy", npy_bytes(Y)))])
    assert first_loc(response) == ["body", "inputs"]
    response = client.post(NUMPY, headers=team.headers, files={"file": ("f", b"x")})
    assert first_loc(response) == ["body", "name"]


IRIS = b"sepal,petal,species\n5.1,1.4,0\n4.9,1.3,0\n6.3,4.9,2\n\n5.8,4.0,1\n"


def test_csv_upload_with_integer_target(client: TestClient, team: TeamHandle) -> None:
    response = _post(client, team, CSV, {"file": b"\xef\xbb\xbf" + IRIS},
                     target_column="species")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["format"], body["rows"], body["input_shape"], body["target_dtype"],
            body["num_classes"]) == ("csv", 4, [2], "int64", 3)


def test_csv_upload_with_float_target_and_quotes(client: TestClient, team: TeamHandle) -> None:
    data = b'"a","b","y"\n1,2,0.5\n"3",4,1e-3\n'
    response = _post(client, team, CSV, {"file": data}, target_column="y")
    assert response.status_code == 201, response.text
    assert (response.json()["target_dtype"], response.json()["num_classes"]) == ("float32", None)


@pytest.mark.parametrize(("data", "target", "loc"), [
    (b"a,species\n1,setosa\n2,virginica\n", "species", ["body", "file", 0, "species"]),
    (b"a,b,y\n1,2,0\n3,x,1\n", "y", ["body", "file", 1, "b"]),
    (b"a,b,y\n1,2,0\n3,1\n", "y", ["body", "file", 1]),
    (b"a,b,y\n1,2,0\n3,1,1,1\n", "y", ["body", "file", 1]),
    (b"a,b,y\n1,,0\n", "y", ["body", "file", 0, "b"]),
    (b"a,b,y\n1,nan,0\n", "y", ["body", "file", 0, "b"]),
    (b"a,b,y\n1,1e39,0\n", "y", ["body", "file", 0, "b"]),
    (b"a,b,y\n1,2,0\n", "z", ["body", "target_column"]),
    (b"a,b,y\n", "y", ["body", "file"]),
    (b"", "y", ["body", "file"]),
    (b"a,a,y\n1,2,3\n", "y", ["body", "file"]),
    (b"y\n1\n", "y", ["body", "file"]),
    (b"a,y\n\xff\xfe,1\n", "y", ["body", "file"]),
    (b"a,y\n1\x00,1\n", "y", ["body", "file"]),
    (b"a,y\n1,99999999999999999999999\n", "y", ["body", "file", "y"]),
])
def test_bad_csv_uploads_name_row_and_column(client: TestClient, team: TeamHandle,
                                             data: bytes, target: str, loc: list) -> None:
    response = _post(client, team, CSV, {"file": data}, target_column=target)
    error_of(response, 422, "validation_failed")
    assert first_loc(response) == loc


def test_csv_value_limit(make_client, team: TeamHandle) -> None:
    client = make_client(max_dataset_values=10)
    data = b"a,b,y\n" + b"1,2,0\n" * 10
    error_of(_post(client, team, CSV, {"file": data}, target_column="y"), 413, "too_many_values")
