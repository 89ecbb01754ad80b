"""Import problems: the error that lists them (file, line and row, rule) and the UTF-8 check every text file gets."""

from __future__ import annotations

from curation.io.json_text import At

MAX_ERRORS = 20


class InvalidInputError(ValueError):
    """A file broke a rule; `errors` lists every problem found (file, line and row, rule)."""

    def __init__(self, errors: list[str]) -> None:
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        super().__init__(errors[0] + more)
        self.errors = errors


class Problems:
    """Collects row-level problems and raises them together."""

    def __init__(self, file_name: str) -> None:
        self.file_name = file_name
        self.items: list[str] = []

    def add(self, at: At | None, message: str) -> None:
        where = f"{self.file_name} {at}" if at and str(at) else self.file_name
        self.items.append(f"{where}: {message}")
        if len(self.items) >= MAX_ERRORS:
            self.raise_if_any()

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidInputError(self.items)


def decode_utf8(data: bytes, file_name: str) -> str:
    """Text of the file, or an error naming the line of the first byte that is not UTF-8."""
    if not data.strip():
        raise InvalidInputError([f"{file_name}: file is empty"])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise InvalidInputError(
            [
                f"{file_name} line {line}: bytes are not valid UTF-8 (byte 0x{data[err.start]:02x}); "
                "save the file as UTF-8"
            ]
        ) from err
