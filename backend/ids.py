"""Row ids as they arrive from outside (addresses, forms, events): PostgreSQL integer keys.

An id that cannot be a row's (not a number, zero, negative, past 32 bits) is answered as
a row that does not exist, never by a database error.
"""

from backend.errors import NotFound

MAX_ID = 2**31 - 1


def is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def parse_id(value: object, what: str = "thing") -> int:
    """The id in `value` (an int or its decimal digits), or NotFound("No such <what>.")."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        value = int(value)
    if not is_id(value):
        raise NotFound(f"No such {what}.")
    assert isinstance(value, int)
    return value
