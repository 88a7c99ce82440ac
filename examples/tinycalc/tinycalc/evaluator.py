"""Compute the value of a syntax tree."""

from collections.abc import Mapping

from tinycalc.parser import Binary, Name, Node, Number, parse


class EvalError(ValueError):
    """An unknown variable or a division by zero."""


def evaluate_node(node: Node, env: Mapping[str, float]) -> float:
    if isinstance(node, Number):
        return node.value
    if isinstance(node, Name):
        if node.name not in env:
            raise EvalError(f"unknown variable {node.name!r}")
        return env[node.name]
    left = evaluate_node(node.left, env)
    right = evaluate_node(node.right, env)
    if node.op == "+":
        return left + right
    if node.op == "-":
        return left - right
    if node.op == "*":
        return left * right
    if right == 0:
        raise EvalError("division by zero")
    return left / right


def evaluate(text: str, env: Mapping[str, float] | None = None) -> float:
    """The value of the expression `text`, with variables from `env`."""
    return evaluate_node(parse(text), env or {})
