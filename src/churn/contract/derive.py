"""Arithmetic over the columns of a row, for `blank: {derive: ...}` in the contract.

`Expression.parse("tenure * monthly_charges")` accepts numbers, column names, parentheses, unary
minus and + - * / only; it is parsed once with Python's own grammar (`ast`) and evaluated by
walking that tree over NumPy arrays, so nothing in a contract is ever executed as code.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

_OPERATORS: dict[type, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


class ExpressionError(ValueError):
    """The expression uses something other than numbers, columns and + - * /."""


@dataclass(frozen=True)
class Expression:
    text: str
    # Compared by text: two parses of the same text are the same expression.
    tree: ast.expr = field(compare=False)
    columns: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Expression:
        try:
            tree = ast.parse(text, mode="eval").body
        except SyntaxError as exc:
            raise ExpressionError(f"{text!r} is not an expression: {exc.msg}") from None
        names: list[tuple[int, str]] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                names.append((node.col_offset, node.id))
            elif isinstance(node, ast.BinOp):
                if type(node.op) not in _OPERATORS:
                    raise ExpressionError(f"{text!r}: only + - * / are allowed")
            elif isinstance(node, ast.UnaryOp):
                if not isinstance(node.op, ast.USub):
                    raise ExpressionError(f"{text!r}: only unary minus is allowed")
            elif isinstance(node, ast.Constant):
                if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                    raise ExpressionError(f"{text!r}: {node.value!r} is not a number")
            elif not isinstance(node, ast.operator | ast.unaryop | ast.expr_context):
                raise ExpressionError(
                    f"{text!r}: only numbers, column names, parentheses and + - * / are allowed"
                )
        if not names:
            raise ExpressionError(f"{text!r} uses no column")
        in_order = (name for _, name in sorted(names))
        return cls(text=text, tree=tree, columns=tuple(dict.fromkeys(in_order)))

    def evaluate(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """The expression over whole columns (float64; division by zero gives inf or NaN)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(_walk(self.tree, columns), dtype=np.float64)


def _walk(node: ast.expr, columns: Mapping[str, np.ndarray]) -> np.ndarray | float:
    if isinstance(node, ast.Name):
        return np.asarray(columns[node.id], dtype=np.float64)
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.UnaryOp):
        return -_walk(node.operand, columns)
    assert isinstance(node, ast.BinOp)  # `parse` admitted nothing else
    return _OPERATORS[type(node.op)](_walk(node.left, columns), _walk(node.right, columns))
