"""The field types bodies share, each with the rule the service applies and, from the same
declaration, the JSON Schema that states it (patterns in the syntax JSON Schema, Python's `re`
and pydantic's Rust regex all read alike)."""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import BeforeValidator, Field, StringConstraints, WithJsonSchema
from typing_extensions import TypeAliasType

#: Unicode control characters (category Cc), which the native core refuses in names and ids.
CONTROL = r"\u0000-\u001f\u007f-\u009f"
#: The other characters `str.isspace` counts: a text of only these (and controls) is blank.
BLANK = r" \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NO_CONTROL = rf"^[^{CONTROL}]*$"
NOT_BLANK = rf"^[^{CONTROL}]*[^{CONTROL}{BLANK}][^{CONTROL}]*$"

#: Longest event name, id or message_id, in characters (the native core's MAX_NAME_CHARS).
MAX_ID_CHARS = 200
#: The `$` event names the native core allows (its SYSTEM_EVENTS); any other `$` name is refused.
SYSTEM_EVENTS = ("$pageview", "$identify", "$alias", "$session_start", "$session_end", "$autocapture", "$error",
                 "$pageleave", "$screen", "$pixel_open")

def _integral(value):
    """JSON Schema counts 3650.0 as the integer 3650 (a number, however written): so do we."""
    return int(value) if type(value) is float and value.is_integer() else value


def integer(minimum: int, maximum: int, description: str = "") -> type[int]:
    """A JSON integer from `minimum` to `maximum`, in strict models too (no "7", no true, but 7.0
    is 7). The bounds come before the validator, or pydantic would not see them as bounds."""
    return Annotated[int, Field(ge=minimum, le=maximum, description=description or None),
                     BeforeValidator(_integral)]

Id = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS, pattern=NO_CONTROL),
               Field(description="1 to 200 characters, no control characters.")]


def text(max_length: int, description: str = "") -> type[str]:
    """A name people type: 1 to `max_length` characters, not only spaces, no control characters."""
    rule = f"1 to {max_length} characters, not only spaces, no control characters."
    return Annotated[str, StringConstraints(min_length=1, max_length=max_length, pattern=NOT_BLANK),
                     Field(description=f"{description} {rule}".strip())]


_NAMES = "|".join(name.replace("$", r"\$") for name in SYSTEM_EVENTS)
EventName = Annotated[str, StringConstraints(
    min_length=1, max_length=MAX_ID_CHARS, pattern=rf"^(?:[^${CONTROL}][^{CONTROL}]*|{_NAMES})$"), Field(
    description="A custom name (1 to 200 characters, no control characters, not starting with `$`) or one of "
                f"the system events {', '.join(f'`{n}`' for n in SYSTEM_EVENTS)}.")]

# The times the native core reads (`time.rs`): RFC 3339 with `T`, `t` or a space, 1 to 9
# fractional digits, `Z`, `±HH`, `±HHMM`, `±HH:MM` or no zone (UTC); or epoch milliseconds. The
# pattern says a little less than it takes (years 1971-2999, days that every year has), so that
# every time it allows lies between the epoch and the year 9999 as the core requires.
_DAY = r"(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
DATE_TIME = (rf"^(?:19(?:7[1-9]|[89][0-9])|2[0-9]{{3}})-{_DAY}[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
             r"(?:[.,][0-9]{1,9})?(?:[Zz]|[+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?)?$")
MAX_EPOCH_MS = 253_402_300_799_999
Time = Annotated[Union[str, float], WithJsonSchema({
    "description": "An RFC 3339 date-time (no zone means UTC) or epoch milliseconds.",
    "anyOf": [{"type": "string", "pattern": DATE_TIME},
              {"type": "number", "minimum": 0, "maximum": MAX_EPOCH_MS}]})]

# Free-form JSON as stored (jsonb): any value, except that no key or string holds a NUL. Declared
# as JSON Schema (a pair of components that refer to each other): these feed only the document.
_NO_NUL = {"type": "string", "pattern": r"^[^\u0000]*$"}
JsonValue = TypeAliasType("JsonValue", Annotated[Any, WithJsonSchema({"anyOf": [
    {"type": ["null", "boolean", "number"]}, _NO_NUL,
    {"type": "array", "items": {"$ref": "#/components/schemas/JsonValue"}},
    {"$ref": "#/components/schemas/JsonObject"}]})])
JsonObject = TypeAliasType("JsonObject", Annotated[dict, WithJsonSchema({
    "type": "object", "propertyNames": _NO_NUL, "additionalProperties": {"$ref": "#/components/schemas/JsonValue"},
    "description": "A JSON object; no key or string holds a NUL."})])
