"""Searched-parameter specs: what a YAML value like ``[4, 5]`` or ``{loguniform: [1e-4, 1e-2]}`` means.

Parsed into one typed ``ParamSpec`` by the row of ``vocab.searched_params`` that declares the
parameter (``parse_searched``); no Ray here: ``search/space/tune_param_space.py`` maps specs onto ``ray.tune``
through an explicit table. Shapes are checked by ttlora_core's own ``check_shape_value``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from ttlora_core.tt_arithmetic import AUTO_SHAPE, check_shape_value
from vocab.searched_params import SearchedParam

SpecKind = Literal["fixed", "choice", "grid", "loguniform", "uniform", "randint"]
DISCRETE_KINDS = ("choice", "grid")
RANGE_KINDS = ("loguniform", "uniform", "randint")


@dataclass(frozen=True)
class ParamSpec:
    """One searched parameter: a fixed value, a discrete set, or a range."""

    kind: SpecKind
    values: tuple[Any, ...] = ()  # fixed: one value; choice/grid: the candidates
    low: float | None = None
    high: float | None = None

    def cardinality(self) -> float:
        if self.kind == "fixed":
            return 1
        if self.kind in DISCRETE_KINDS:
            return len(self.values)
        if self.kind == "randint":
            return int(self.high) - int(self.low)  # type: ignore[arg-type]  # high exclusive, as tune.randint
        return math.inf

    def discrete_values(self) -> list[Any]:
        """Every value this spec can take (``randint``: every integer, high exclusive as in Tune;
        continuous ranges: the two ends, for reporting)."""
        if self.kind == "fixed" or self.kind in DISCRETE_KINDS:
            return list(self.values)
        if self.kind == "randint":
            return list(range(int(self.low), int(self.high)))  # type: ignore[arg-type]
        return [self.low, self.high]

    def to_plain(self) -> Any:
        """The YAML form that parses back to this spec."""
        if self.kind == "fixed":
            return self.values[0]
        if self.kind in DISCRETE_KINDS:
            return {self.kind: list(self.values)}
        return {self.kind: [self.low, self.high]}

    def to_tune(self) -> Any:
        """This spec as a Ray Tune domain (a fixed value stays a constant)."""
        from ray import tune

        factories: dict[str, Any] = {
            "fixed": lambda: self.values[0],
            "choice": lambda: tune.choice(list(self.values)),
            "grid": lambda: tune.grid_search(list(self.values)),
            "loguniform": lambda: tune.loguniform(self.low, self.high),
            "uniform": lambda: tune.uniform(self.low, self.high),
            "randint": lambda: tune.randint(int(self.low), int(self.high)),  # type: ignore[arg-type]  # high exclusive
        }
        if self.kind not in factories:
            raise ValueError(f"no ray.tune mapping for parameter kind {self.kind!r}")
        return factories[self.kind]()

    def suggest(self, trial: Any, name: str) -> Any:
        """This spec as an Optuna suggestion on ``trial`` (grid values were refused by the plan)."""
        if self.kind == "fixed":
            return self.values[0]
        if self.kind in DISCRETE_KINDS:
            return trial.suggest_categorical(name, list(self.values))
        if self.kind in ("loguniform", "uniform"):
            return trial.suggest_float(name, self.low, self.high, log=self.kind == "loguniform")
        if self.kind == "randint":
            return trial.suggest_int(name, int(self.low), int(self.high) - 1)  # type: ignore[arg-type]  # Tune excludes high
        raise ValueError(f"no Optuna mapping for parameter kind {self.kind!r}")

    def distance(self, a: Any, b: Any) -> float:
        """How far apart two values of this spec are, for replay's nearest recorded configuration: the
        (log-)gap as a fraction of the range for continuous specs, else 1 when they differ."""
        if self.kind in ("loguniform", "uniform") and _is_number(a) and _is_number(b):
            log = self.kind == "loguniform"
            span = (math.log(self.high) - math.log(self.low)) if log else (self.high - self.low)  # type: ignore[operator, arg-type]
            gap = abs(math.log(a) - math.log(b)) if log else abs(a - b)
            return gap / span if span > 0 else 0.0
        return 0.0 if a == b else 1.0


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_number(value: Any, numeric_kind: str, minimum: float | None, where: str,
                  exclusive: bool = False) -> Any:
    ok_types = (int,) if numeric_kind == "int" else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok_types):
        raise ValueError(f"{where}{short_repr(value)} is not {'an integer' if numeric_kind == 'int' else 'a number'}")
    if not math.isfinite(value):  # NaN passes every comparison below as False
        raise ValueError(f"{where}{value!r} is not a finite number")
    if minimum is not None and value < minimum:
        raise ValueError(f"{where}{value!r} is below the minimum {minimum}")
    if exclusive and value == minimum:
        raise ValueError(f"{where}{value!r} must be > {minimum}")
    return value


MAX_SHOWN_CHARS = 200  # an error message quotes at most this much of a bad value


def short_repr(value: Any, limit: int = MAX_SHOWN_CHARS) -> str:
    """``repr(value)`` cut to ``limit`` characters (a YAML alias bomb expands to megabytes)."""
    text = reprlib_repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def reprlib_repr(value: Any) -> str:
    """A repr that does not build a huge string for huge nested values (reprlib's limits)."""
    import reprlib

    limits = reprlib.Repr()
    limits.maxstring, limits.maxother, limits.maxlist, limits.maxdict, limits.maxlevel = 200, 200, 20, 20, 4
    return limits.repr(value)


def _check_value(value: Any, numeric_kind: str, minimum: float | None, allow_list_values: bool, where: str,
                 exclusive: bool = False) -> Any:
    if allow_list_values and isinstance(value, list):
        return [_check_number(v, numeric_kind, 1, where) for v in value]
    return _check_number(value, numeric_kind, minimum, where, exclusive)


def parse_param_spec(value: Any, numeric_kind: str = "number", allow_list_values: bool = False,
                     minimum: float | None = None, exclusive: bool = False) -> ParamSpec:
    """Parse a numeric parameter: scalar = fixed, list = choice, mapping = explicit distribution.

    ``allow_list_values`` lets a candidate itself be a list (a full TT-rank list ``[1, 5, 5, 1]``);
    ``exclusive``: values must be above ``minimum``, not equal to it."""
    if isinstance(value, ParamSpec):
        return value
    if isinstance(value, dict):
        if len(value) != 1:
            raise ValueError(f"a distribution mapping has one key of choice/grid/loguniform/uniform/randint, got {sorted(value)}")
        (kind, arg), = value.items()
        if kind in DISCRETE_KINDS:
            if not isinstance(arg, list) or not arg:
                raise ValueError(f"{kind} needs a non-empty list of candidates")
            return ParamSpec(kind, tuple(_check_value(v, numeric_kind, minimum, allow_list_values, f"{kind}: ", exclusive)
                                         for v in arg))
        if kind in RANGE_KINDS:
            if not isinstance(arg, list) or len(arg) != 2:
                raise ValueError(f"{kind} needs [low, high]")
            low, high = (_check_number(v, "int" if kind == "randint" else "number", minimum, f"{kind}: ", exclusive)
                         for v in arg)
            if not low < high:
                raise ValueError(f"{kind} needs low < high, got [{low}, {high}]")
            if kind == "loguniform" and low <= 0:
                raise ValueError(f"loguniform needs low > 0, got {low}")
            return ParamSpec(kind, (), float(low), float(high))
        raise ValueError(f"unknown distribution {kind!r} (expected one of choice, grid, loguniform, uniform, randint)")
    if isinstance(value, list):
        if not value:
            raise ValueError("an empty list of candidates")
        return ParamSpec("choice", tuple(_check_value(v, numeric_kind, minimum, allow_list_values, "", exclusive)
                                         for v in value))
    return ParamSpec("fixed", (_check_number(value, numeric_kind, minimum, "", exclusive),))


def _is_shape_literal(value: Any) -> bool:
    """A single shape: a flat list of ints, 'auto', or a target mapping (not a distribution)."""
    if value == AUTO_SHAPE:
        return True
    if isinstance(value, list):
        return bool(value) and all(isinstance(k, int) for k in value)
    return isinstance(value, dict) and not (set(value) & {*DISCRETE_KINDS, *RANGE_KINDS})


def parse_shape_spec(value: Any) -> ParamSpec:
    """Parse ``search.shape``: one shape (fixed) or a list/choice/grid of shapes."""
    if isinstance(value, ParamSpec):
        return value
    if _is_shape_literal(value):
        return ParamSpec("fixed", (check_shape_value(value, "shape"),))
    if isinstance(value, dict):
        (kind, arg), = value.items() if len(value) == 1 else ((None, None),)
        if kind not in DISCRETE_KINDS:
            raise ValueError("shapes can only be searched with choice or grid (continuous shapes do not exist)")
        candidates = arg
    else:
        kind, candidates = "choice", value
    if not isinstance(candidates, list) or not candidates:
        raise ValueError("a non-empty list of tensor shapes")
    return ParamSpec(kind, tuple(check_shape_value(c, f"shape[{i}]") for i, c in enumerate(candidates)))


def parse_text_spec(value: Any, choices: tuple[str, ...]) -> ParamSpec:
    """A text parameter: one of ``choices`` (fixed), or a list / ``{choice|grid: [...]}`` of them."""
    def check(item: Any, where: str = "") -> str:
        if item not in choices:
            raise ValueError(f"{where}{item!r} is not one of {', '.join(choices)}")
        return str(item)

    if isinstance(value, ParamSpec):
        return value
    if isinstance(value, dict):
        (kind, arg), = value.items() if len(value) == 1 else ((None, None),)
        if kind not in DISCRETE_KINDS or not isinstance(arg, list) or not arg:
            raise ValueError(f"a text value is searched with {{choice: [...]}} or {{grid: [...]}} of {', '.join(choices)}")
        return ParamSpec(kind, tuple(check(v, f"{kind}: ") for v in arg))
    if isinstance(value, list):
        if not value:
            raise ValueError("an empty list of candidates")
        return ParamSpec("choice", tuple(check(v) for v in value))
    return ParamSpec("fixed", (check(value),))


def _check_maximum(spec: ParamSpec, maximum: float | None, exclusive: bool) -> ParamSpec:
    if maximum is None:
        return spec
    for value in (*spec.values, *(v for v in (spec.low, spec.high) if v is not None)):
        if isinstance(value, (int, float)) and (value > maximum or (exclusive and value == maximum)):
            raise ValueError(f"{value!r} must be {'<' if exclusive else '<='} {maximum}")
    return spec


# ``plan`` enumerates every value of a structural parameter (each one changes the parameter count)
MAX_ENUMERATED_RANDINT = 1000


def parse_searched(param: SearchedParam, value: Any) -> ParamSpec:
    """Parse the YAML value of one searched parameter by its row of ``vocab.searched_params``."""
    if param.value == "shape":
        return parse_shape_spec(value)
    if param.value == "text":
        return parse_text_spec(value, param.choices)
    spec = parse_param_spec(value, numeric_kind="int" if param.value == "int" else "number",
                            allow_list_values=param.list_values, minimum=param.minimum,
                            exclusive=param.minimum_exclusive)
    if param.structural and spec.kind == "randint" and spec.cardinality() > MAX_ENUMERATED_RANDINT:
        raise ValueError(f"randint over {spec.cardinality():,} integers: plan enumerates every value of a "
                         f"structural parameter, at most {MAX_ENUMERATED_RANDINT:,} (use a list of values)")
    return _check_maximum(spec, param.maximum, param.maximum_exclusive)
