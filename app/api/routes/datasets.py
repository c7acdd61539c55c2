"""`/v1/datasets`: upload (JSON, .npy/.npz, CSV), list, get and delete datasets."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, File, Form, Query, Request, Response, UploadFile

from app.api.deps import CurrentTeam, LimitsDep, SessionDep, current_team
from app.api.routing import api_router
from app.errors import ValidationFailed
from app.schemas.common import Name, error_responses
from app.schemas.datasets import DatasetCreate, DatasetOut, DatasetPage
from app.services import datasets

# Router-level auth runs before any other dependency; `CurrentTeam` reuses its result.
router = api_router(prefix="/v1/datasets", tags=["datasets"], responses=error_responses(401),
                    dependencies=[Depends(current_team)])
_UPLOAD_ERRORS = error_responses(400, 413, 422)  # 400: malformed multipart


def only_form_fields(*allowed: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency refusing unknown or repeated multipart fields (422 with the field)."""

    async def check(request: Request) -> None:
        form = await request.form()
        for key in form:
            if key not in allowed:
                raise ValidationFailed(("body", key), "Extra inputs are not permitted",
                                       type="extra_forbidden")
            if len(form.getlist(key)) > 1:
                raise ValidationFailed(("body", key), "given more than once", type="repeated")

    return check


def _created(dataset: object, response: Response) -> DatasetOut:
    out = DatasetOut.model_validate(dataset)
    response.headers["Location"] = f"/v1/datasets/{out.id}"
    return out


@router.post("", status_code=201, summary="Upload a dataset as JSON", responses=_UPLOAD_ERRORS,
             description="`inputs` (one sample each) and `targets` (one per sample). "
             "Validation errors carry the path of the offending value, e.g. "
             "`[\"body\", \"inputs\", 3, 1]`.")
def create_dataset(body: DatasetCreate, principal: CurrentTeam, session: SessionDep,
                   limits: LimitsDep, response: Response) -> DatasetOut:
    dataset = datasets.create_from_json(session, principal.team_id, body.name, body.inputs,
                                        body.targets, limits)
    return _created(dataset, response)


@router.post(
    "/upload/numpy", status_code=201, summary="Upload a dataset as .npz or .npy files",
    responses=_UPLOAD_ERRORS,
    dependencies=[Depends(only_form_fields("name", "file", "inputs", "targets"))],
    description="multipart/form-data with `name` and either `file`, an `.npz` holding the "
    "arrays `inputs` and `targets` (`np.savez(f, inputs=x, targets=y)`), or two `.npy` "
    "files `inputs` and `targets`. Loaded with `allow_pickle=False`; numeric dtypes only. "
    "Example: `curl -H 'Authorization: Bearer tf_...' -F name=mnist -F file=@mnist.npz "
    "http://127.0.0.1:8000/v1/datasets/upload/numpy`.",
)
def upload_numpy(
    principal: CurrentTeam, session: SessionDep, limits: LimitsDep, response: Response,
    name: Annotated[Name, Form(examples=["mnist"])],
    file: Annotated[UploadFile | None, File(description=".npz with `inputs` and "
                                            "`targets`")] = None,
    inputs: Annotated[UploadFile | None, File(description=".npy of the inputs")] = None,
    targets: Annotated[UploadFile | None, File(description=".npy of the targets")] = None,
) -> DatasetOut:
    dataset = datasets.create_from_numpy(
        session, principal.team_id, name, npz=_read(file), inputs=_read(inputs),
        targets=_read(targets), limits=limits,
    )
    return _created(dataset, response)


@router.post(
    "/upload/csv", status_code=201, summary="Upload a dataset as CSV",
    responses=_UPLOAD_ERRORS,
    dependencies=[Depends(only_form_fields("name", "file", "target_column"))],
    description="multipart/form-data with `name`, `file` (UTF-8 CSV with a header row, "
    "numeric columns only) and `target_column`; every other column is an input feature. "
    "Example: `curl -H 'Authorization: Bearer tf_...' -F name=iris -F target_column=species "
    "-F file=@iris.csv http://127.0.0.1:8000/v1/datasets/upload/csv`.",
)
def upload_csv(
    principal: CurrentTeam, session: SessionDep, limits: LimitsDep, response: Response,
    name: Annotated[Name, Form(examples=["iris"])],
    target_column: Annotated[Name, Form(examples=["species"])],
    file: Annotated[UploadFile, File(description="CSV file with a header row")],
) -> DatasetOut:
    data = _read(file)
    assert data is not None
    dataset = datasets.create_from_csv(session, principal.team_id, name, data, target_column,
                                       limits)
    return _created(dataset, response)


@router.get("", summary="List datasets", responses=error_responses(422),
            description="The team's datasets, newest first, `limit` per page. Pass "
            "`next_cursor` back as `cursor` for the next page.")
def list_datasets(
    principal: CurrentTeam, session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size, 1..100.")] = 20,
    cursor: Annotated[str | None, Query(max_length=200,
                                        description="`next_cursor` of the previous page.")] = None,
) -> DatasetPage:
    items, next_cursor = datasets.list_datasets(session, principal.team_id, limit=limit,
                                                cursor=cursor)
    return DatasetPage(items=[DatasetOut.model_validate(d) for d in items],
                       next_cursor=next_cursor)


@router.get("/{dataset_id}", summary="Get a dataset", responses=error_responses(404, 422),
            description="A dataset's metadata (shapes, dtypes, classes, size, SHA-256).")
def get_dataset(dataset_id: uuid.UUID, principal: CurrentTeam, session: SessionDep) -> DatasetOut:
    return DatasetOut.model_validate(datasets.get_dataset(session, principal.team_id, dataset_id))


@router.delete("/{dataset_id}", status_code=204, summary="Delete a dataset",
               responses=error_responses(404, 409, 422),
               description="Deletes the dataset and its content. 409 `dataset_in_use` while a "
               "queued or running job uses it.")
def delete_dataset(dataset_id: uuid.UUID, principal: CurrentTeam, session: SessionDep) -> None:
    datasets.delete_dataset(session, principal.team_id, dataset_id)


def _read(upload: UploadFile | None) -> bytes | None:
    if upload is None:
        return None
    upload.file.seek(0)
    return upload.file.read()
