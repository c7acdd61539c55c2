"""The error a spec check raises: a 422 whose message starts with the JSON path of the
offending field (`model.layers[2].in_features: expected 128 ...`) and whose
`errors[0].loc` is that path under `body`."""

from __future__ import annotations

from app.errors import AppError, Loc, ValidationFailed


def json_path(loc: Loc) -> str:
    """`("model", "layers", 2, "in_features")` -> `model.layers[2].in_features`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


class SpecInvalid(ValidationFailed):
    """A spec that does not fit its dataset or the limits; `loc` is relative to the spec."""

    def __init__(self, loc: Loc, msg: str, *, type: str = "spec_invalid") -> None:
        AppError.__init__(self, f"{json_path(loc)}: {msg}",
                          errors=[{"loc": ["body", *loc], "msg": msg, "type": type}])
        self.loc = loc
        self.msg = msg
        self.type = type
