"""The command line: python -m tinycalc "1 + 2 * x" --var x=3."""

import argparse

from tinycalc.evaluator import EvalError, evaluate
from tinycalc.lexer import LexError
from tinycalc.parser import ParseError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tinycalc")
    parser.add_argument("expression")
    parser.add_argument("--var", action="append", default=[], help="name=value")
    args = parser.parse_args(argv)
    env = {}
    for item in args.var:
        name, _, value = item.partition("=")
        env[name] = float(value)
    try:
        print(evaluate(args.expression, env))
    except (LexError, ParseError, EvalError) as exc:
        print(f"error: {exc}")
        return 1
    return 0
