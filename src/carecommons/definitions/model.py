"""The query model: a small typed expression tree that says WHAT a definition means, never HOW to run it.

A definition is data until it runs. The same tree is read by the SQL compiler (engine.compiler, for DuckDB,
Spark SQL and PostgreSQL) and by the in-memory reference evaluator (definitions.reference), so the two can be
checked against each other on tiny tables. Nothing here imports a database.

Semantics, stated once (the spec tests in tests/definitions/spec illustrate each line):

* Every value is per patient AND per index date. The population at an index date is the patients registered
  with a practice on that date (start_date <= d <= end_date, end_date NULL = still registered) and alive
  (date_of_death NULL or after d).
* A ``Frame`` is a patient's events from one table whose code is in one codelist and whose date lies in a
  window (d - start, d - end]: start exclusive, end inclusive; no start means "from the beginning of the
  record". Offsets are whole months (clamped to month end, core.dates.months_back) plus days.
* Aggregations over a frame: ``Exists`` (never NULL), ``Count`` (0 when empty), ``FirstDate``/``LastDate``,
  ``MinValue``/``MaxValue`` and ``FirstValue``/``LastValue`` (NULL when empty). Value aggregations only look
  at events that carry a value. Tie-break: when several valued events share the first (or last) date,
  ``FirstValue``/``LastValue`` return the lowest value (``tie="min"``, the QOF convention for blood pressure)
  or the highest (``tie="max"``), never an arbitrary one.
* Three-valued logic as in SQL: a comparison with NULL is NULL; ``And``/``Or``/``Not`` are Kleene; ``Case``
  takes the first branch whose condition is TRUE. When a definition's flags are stored, NULL counts as false.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from carecommons.core.errors import InvalidInput


class T(StrEnum):
    """Value types of the language; comparisons and logic check them when a tree is built."""

    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    DATE = "date"
    STR = "str"


NUMERIC = (T.INT, T.FLOAT)

TABLES = ("events", "medications", "vaccinations")


def _type_error(what: str, problem: str, fix: str) -> InvalidInput:
    return InvalidInput(what, problem, fix)


class Expr:
    """Base of every node. Operators build new nodes: ``a & b``, ``a | b``, ``~a``, ``a < 5``.

    ``==`` keeps dataclass equality (trees are compared in tests and used as dict keys), so equality tests
    in the language are spelled ``a.eq(b)`` / ``a.ne(b)``.
    """

    @property
    def type(self) -> T:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def children(self) -> tuple[Expr, ...]:
        return ()

    def __and__(self, other: Expr) -> Expr:
        return And((self, other))

    def __or__(self, other: Expr) -> Expr:
        return Or((self, other))

    def __invert__(self) -> Expr:
        return Not(self)

    def __lt__(self, other: Any) -> Expr:
        return Compare("<", self, lit(other))

    def __le__(self, other: Any) -> Expr:
        return Compare("<=", self, lit(other))

    def __gt__(self, other: Any) -> Expr:
        return Compare(">", self, lit(other))

    def __ge__(self, other: Any) -> Expr:
        return Compare(">=", self, lit(other))

    def eq(self, other: Any) -> Expr:
        return Compare("=", self, lit(other))

    def ne(self, other: Any) -> Expr:
        return Compare("<>", self, lit(other))

    def is_null(self) -> Expr:
        return IsNull(self)

    def is_not_null(self) -> Expr:
        return Not(IsNull(self))


def lit(value: Any) -> Expr:
    """Wrap a Python value as a literal (expressions pass through)."""
    if isinstance(value, Expr):
        return value
    return Lit(value)


@dataclass(frozen=True, eq=True)
class Lit(Expr):
    value: bool | int | float | str | dt.date | None
    null_type: T | None = None  # the type of a NULL literal, which cannot be inferred

    def __post_init__(self) -> None:
        if self.value is None and self.null_type is None:
            raise _type_error("literal", "NULL needs a type", "write Lit(None, T.FLOAT) (or the type you mean)")
        if not isinstance(self.value, (bool, int, float, str, dt.date, type(None))):
            raise _type_error(
                "literal", f"unsupported Python type {type(self.value).__name__}", "use a number, str, date or bool"
            )

    @property
    def type(self) -> T:
        v = self.value
        if v is None:
            assert self.null_type is not None
            return self.null_type
        if isinstance(v, bool):
            return T.BOOL
        if isinstance(v, int):
            return T.INT
        if isinstance(v, float):
            return T.FLOAT
        if isinstance(v, dt.date):
            return T.DATE
        return T.STR


@dataclass(frozen=True)
class Param(Expr):
    """A named parameter (threshold, window length, age limit) resolved from the effective configuration
    before the tree runs; see Definition.parameters and definitions.overrides."""

    name: str
    param_type: T = T.FLOAT

    @property
    def type(self) -> T:
        return self.param_type


Offset = int | Param


@dataclass(frozen=True)
class IndexDate(Expr):
    """The index date itself, optionally shifted back: ``IndexDate(months=3)`` is three months earlier."""

    months: Offset = 0
    days: Offset = 0

    @property
    def type(self) -> T:
        return T.DATE


class PatientAttr(StrEnum):
    AGE = "age"  # whole years at the index date
    SEX = "sex"  # 'F', 'M', 'U'
    DATE_OF_BIRTH = "date_of_birth"
    REGISTRATION_START = "registration_start"  # start of the registration covering the index date
    ETHNICITY_6 = "ethnicity_6"
    IMD_DECILE = "imd_decile"


_ATTR_TYPES = {
    PatientAttr.AGE: T.INT,
    PatientAttr.SEX: T.STR,
    PatientAttr.DATE_OF_BIRTH: T.DATE,
    PatientAttr.REGISTRATION_START: T.DATE,
    PatientAttr.ETHNICITY_6: T.STR,
    PatientAttr.IMD_DECILE: T.INT,
}


@dataclass(frozen=True)
class Patient(Expr):
    """An attribute of the patient (or of their registration) at the index date."""

    attr: PatientAttr

    @property
    def type(self) -> T:
        return _ATTR_TYPES[self.attr]


@dataclass(frozen=True)
class Window:
    """Dates in (index - start, index - end]; ``start_months is None and start_days is None`` = no lower bound."""

    start_months: Offset | None = None
    start_days: Offset | None = None
    end_months: Offset = 0
    end_days: Offset = 0

    @property
    def unbounded(self) -> bool:
        return self.start_months is None and self.start_days is None


EVER = Window()


@dataclass(frozen=True)
class Frame:
    """One patient's rows of `table` with a code in `codelist`, dated inside `window`."""

    table: str
    codelist: str
    window: Window = EVER

    def __post_init__(self) -> None:
        if self.table not in TABLES:
            raise _type_error("frame", f"unknown table {self.table!r}", f"use one of {', '.join(TABLES)}")

    def within(self, months: Offset | None = None, days: Offset | None = None) -> Frame:
        """Restrict to the last `months` (+ `days`) up to and including the index date."""
        return Frame(self.table, self.codelist, Window(start_months=months, start_days=days))

    def between(self, start_months: Offset, end_months: Offset) -> Frame:
        """Dates in (index - start_months, index - end_months]."""
        return Frame(self.table, self.codelist, Window(start_months=start_months, end_months=end_months))

    def exists(self) -> Expr:
        return Agg(AggKind.EXISTS, self)

    def count(self) -> Expr:
        return Agg(AggKind.COUNT, self)

    def first_date(self) -> Expr:
        return Agg(AggKind.FIRST_DATE, self)

    def last_date(self) -> Expr:
        return Agg(AggKind.LAST_DATE, self)

    def min_value(self) -> Expr:
        return Agg(AggKind.MIN_VALUE, self)

    def max_value(self) -> Expr:
        return Agg(AggKind.MAX_VALUE, self)

    def first_value(self, tie: str = "min") -> Expr:
        return Agg(AggKind.FIRST_VALUE, self, tie)

    def last_value(self, tie: str = "min") -> Expr:
        return Agg(AggKind.LAST_VALUE, self, tie)


def events(codelist: str) -> Frame:
    return Frame("events", codelist)


def medications(codelist: str) -> Frame:
    return Frame("medications", codelist)


def vaccinations(codelist: str) -> Frame:
    return Frame("vaccinations", codelist)


class AggKind(StrEnum):
    EXISTS = "exists"
    COUNT = "count"
    FIRST_DATE = "first_date"
    LAST_DATE = "last_date"
    MIN_VALUE = "min_value"
    MAX_VALUE = "max_value"
    FIRST_VALUE = "first_value"
    LAST_VALUE = "last_value"


_AGG_TYPES = {
    AggKind.EXISTS: T.BOOL,
    AggKind.COUNT: T.INT,
    AggKind.FIRST_DATE: T.DATE,
    AggKind.LAST_DATE: T.DATE,
    AggKind.MIN_VALUE: T.FLOAT,
    AggKind.MAX_VALUE: T.FLOAT,
    AggKind.FIRST_VALUE: T.FLOAT,
    AggKind.LAST_VALUE: T.FLOAT,
}


@dataclass(frozen=True)
class Agg(Expr):
    """A per-patient aggregation of a frame (see the module docstring for NULLs and the tie-break)."""

    kind: AggKind
    frame: Frame
    tie: str = "min"

    def __post_init__(self) -> None:
        if self.tie not in ("min", "max"):
            raise _type_error(f"{self.kind} tie", f"unknown tie-break {self.tie!r}", "use tie='min' or tie='max'")

    @property
    def type(self) -> T:
        return _AGG_TYPES[self.kind]


_OPS = ("<", "<=", ">", ">=", "=", "<>")


@dataclass(frozen=True)
class Compare(Expr):
    op: str
    left: Expr
    right: Expr

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise _type_error("comparison", f"unknown operator {self.op!r}", f"use one of {_OPS}")
        lt, rt = self.left.type, self.right.type
        if not (lt == rt or (lt in NUMERIC and rt in NUMERIC)):
            raise _type_error("comparison", f"cannot compare {lt} with {rt}", "compare values of the same type")
        if lt == T.BOOL and self.op not in ("=", "<>"):
            raise _type_error("comparison", "booleans only compare with eq/ne", "use &, | and ~ for logic")

    @property
    def type(self) -> T:
        return T.BOOL

    def children(self) -> tuple[Expr, ...]:
        return (self.left, self.right)


def _need_bool(items: tuple[Expr, ...], what: str) -> None:
    for e in items:
        if e.type != T.BOOL:
            raise _type_error(what, f"operand has type {e.type}, not bool", "compare it first, e.g. x > 0")


@dataclass(frozen=True)
class And(Expr):
    items: tuple[Expr, ...]

    def __post_init__(self) -> None:
        _need_bool(self.items, "and")

    @property
    def type(self) -> T:
        return T.BOOL

    def children(self) -> tuple[Expr, ...]:
        return self.items


@dataclass(frozen=True)
class Or(Expr):
    items: tuple[Expr, ...]

    def __post_init__(self) -> None:
        _need_bool(self.items, "or")

    @property
    def type(self) -> T:
        return T.BOOL

    def children(self) -> tuple[Expr, ...]:
        return self.items


@dataclass(frozen=True)
class Not(Expr):
    item: Expr

    def __post_init__(self) -> None:
        _need_bool((self.item,), "not")

    @property
    def type(self) -> T:
        return T.BOOL

    def children(self) -> tuple[Expr, ...]:
        return (self.item,)


@dataclass(frozen=True)
class IsNull(Expr):
    item: Expr

    @property
    def type(self) -> T:
        return T.BOOL

    def children(self) -> tuple[Expr, ...]:
        return (self.item,)


@dataclass(frozen=True)
class Case(Expr):
    """``Case(((cond, value), ...), default)``: first TRUE condition wins (bands, e.g. age groups)."""

    whens: tuple[tuple[Expr, Expr], ...]
    default: Expr = field(default_factory=lambda: Lit(None, T.STR))

    def __post_init__(self) -> None:
        if not self.whens:
            raise _type_error("case", "no branches", "give at least one (condition, value) pair")
        _need_bool(tuple(c for c, _ in self.whens), "case condition")
        types = {v.type for _, v in self.whens} | {self.default.type}
        if len(types) > 1 and not types <= set(NUMERIC):
            raise _type_error("case", f"branches have different types {sorted(types)}", "make every branch one type")

    @property
    def type(self) -> T:
        types = {v.type for _, v in self.whens} | {self.default.type}
        if len(types) > 1:
            return T.FLOAT
        return next(iter(types))

    def children(self) -> tuple[Expr, ...]:
        out: list[Expr] = []
        for c, v in self.whens:
            out += [c, v]
        return (*out, self.default)


def case(*whens: tuple[Expr, Any], default: Any = None) -> Case:
    """Bands: ``case((age < 40, "0-39"), (age < 80, "40-79"), default="80+")``."""
    pairs = tuple((c, lit(v)) for c, v in whens)
    dflt = lit(default) if default is not None else Lit(None, pairs[0][1].type)
    return Case(pairs, dflt)


def all_of(*items: Expr) -> Expr:
    return items[0] if len(items) == 1 else And(tuple(items))


def any_of(*items: Expr) -> Expr:
    return items[0] if len(items) == 1 else Or(tuple(items))


def age() -> Expr:
    return Patient(PatientAttr.AGE)


def sex() -> Expr:
    return Patient(PatientAttr.SEX)


def registration_start() -> Expr:
    return Patient(PatientAttr.REGISTRATION_START)


def registered_for(months: Offset) -> Expr:
    """Registered continuously (current registration) for at least `months` before the index date."""
    return Compare("<=", registration_start(), IndexDate(months=months))


def walk(expr: Expr):
    """Every node of a tree, parents before children."""
    yield expr
    for c in expr.children():
        yield from walk(c)


def aggs(expr: Expr) -> list[Agg]:
    """The frame aggregations a tree needs, in first-seen order without repeats (what the shared scan computes)."""
    seen: dict[Agg, None] = {}
    for node in walk(expr):
        if isinstance(node, Agg):
            seen.setdefault(node, None)
    return list(seen)
