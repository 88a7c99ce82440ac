"""A recursive-descent parser: expression -> term (('+'|'-') term)*, term -> factor (('*'|'/') factor)*."""

from dataclasses import dataclass

from tinycalc.lexer import Token, tokenize


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Name:
    name: str


@dataclass(frozen=True)
class Binary:
    op: str
    left: "Node"
    right: "Node"


Node = Number | Name | Binary


class ParseError(ValueError):
    """The tokens do not form an expression."""


class Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0

    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expression(self) -> Node:
        node = self.term()
        while self.peek().text in ("+", "-"):
            op = self.take().text
            node = Binary(op, node, self.term())
        return node

    def term(self) -> Node:
        node = self.factor()
        while self.peek().text in ("*", "/"):
            op = self.take().text
            node = Binary(op, node, self.factor())
        return node

    def factor(self) -> Node:
        token = self.take()
        if token.kind == "number":
            return Number(float(token.text))
        if token.kind == "name":
            return Name(token.text)
        if token.text == "(":
            node = self.expression()
            if self.take().text != ")":
                raise ParseError(f"missing ')' at {token.position}")
            return node
        raise ParseError(f"unexpected {token.text or 'end'!r} at {token.position}")


def parse(text: str) -> Node:
    """The syntax tree of `text`."""
    parser = Parser(tokenize(text))
    node = parser.expression()
    if parser.peek().kind != "end":
        raise ParseError(f"unexpected {parser.peek().text!r} at {parser.peek().position}")
    return node
