"""The base of every parsed section of a space file: unknown keys are errors, values are not coerced
silently (no NaN or infinity in a number, no boolean for a number)."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator


def _type_name(annotation: Any) -> str:
    args = [a for a in getattr(annotation, "__args__", ()) if a is not type(None)]
    names = [getattr(a, "__name__", str(a)) for a in (args or [annotation])]
    return " or ".join(names)


class StrictModel(BaseModel):
    """Base for every section: unknown keys are errors, values are not coerced silently."""

    model_config = ConfigDict(extra="forbid", frozen=False, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info: Any) -> Any:
        """``batch_size: true`` is not 1: a boolean is refused where the field is not a boolean."""
        annotation = cls.model_fields[info.field_name].annotation
        if isinstance(value, bool) and annotation not in (bool, Any) and bool not in getattr(annotation, "__args__", ()):
            raise ValueError(f"{value!r} is a boolean; expected {_type_name(annotation)}")
        return value


__all__ = ["StrictModel"]
