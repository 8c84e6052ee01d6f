"""`fields_dict`: a dataclass's fields as a dict, for the `to_dict` of reports and results."""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["fields_dict"]


def fields_dict(obj: DataclassInstance, **values: Any) -> dict[str, Any]:
    """`obj`'s fields by name, in the order the dataclass declares them, with `values`
    in place of the fields they name (a JSON-ready form of a timestamp, a copy of a list).

    Unlike `dataclasses.asdict`, nothing is copied or converted that `values` does not name.
    """
    unknown = values.keys() - {f.name for f in fields(obj)}
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field {', '.join(sorted(unknown))}")
    return {f.name: values.get(f.name, getattr(obj, f.name)) for f in fields(obj)}
