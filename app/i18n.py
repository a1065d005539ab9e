"""Translation helpers. Source strings are Simplified Chinese (the product's language); the English
catalog lives in ``app/translations/en``. ``N_`` marks a string for extraction without translating
it where it is defined (label tables are translated where they are shown)."""
from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802  (the conventional gettext marker name)
    return message
