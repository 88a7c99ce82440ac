"""Split an expression into tokens."""

from dataclasses import dataclass

OPERATORS = "+-*/()"


@dataclass(frozen=True)
class Token:
    kind: str  # "number", "name", "op" or "end"
    text: str
    position: int


class LexError(ValueError):
    """The text holds a character that starts no token."""


def tokenize(text: str) -> list[Token]:
    """The tokens of `text`, ending with an `end` token."""
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char.isdigit() or char == ".":
            start = i
            while i < len(text) and (text[i].isdigit() or text[i] == "."):
                i += 1
            tokens.append(Token("number", text[start:i], start))
        elif char.isalpha():
            start = i
            while i < len(text) and text[i].isalnum():
                i += 1
            tokens.append(Token("name", text[start:i], start))
        elif char in OPERATORS:
            tokens.append(Token("op", char, i))
            i += 1
        else:
            raise LexError(f"unexpected character {char!r} at {i}")
    tokens.append(Token("end", "", len(text)))
    return tokens
