"""Translations: the locale of the current request and the gettext functions every string goes through."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.support import LazyProxy, NullTranslations, Translations

LOCALES = ("es", "en")
DEFAULT_LOCALE = "es"
LOCALE_NAMES = {"es": "Español", "en": "English"}
LOCALE_DIR = Path(__file__).parent / "locale"

_current_locale: ContextVar[str] = ContextVar("locale", default=DEFAULT_LOCALE)


def normalize_locale(value: str | None) -> str | None:
    """The supported locale a cookie or form value names, or None."""
    value = (value or "").strip().lower()[:2]
    return value if value in LOCALES else None


def get_locale() -> str:
    return _current_locale.get()


def set_locale(locale: str) -> None:
    _current_locale.set(normalize_locale(locale) or DEFAULT_LOCALE)


@contextmanager
def use_locale(locale: str | None) -> Iterator[None]:
    """Render something (a mail, a PDF) in another person's language."""
    token = _current_locale.set(normalize_locale(locale) or DEFAULT_LOCALE)
    try:
        yield
    finally:
        _current_locale.reset(token)


@cache
def translations(locale: str) -> NullTranslations:
    return Translations.load(str(LOCALE_DIR), [locale], domain="messages")


def gettext(message: str) -> str:
    return translations(get_locale()).ugettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(get_locale()).ungettext(singular, plural, n)


def _(message: str, **params: object) -> str:
    """Translate into the current locale, then fill in %(name)s placeholders."""
    text = gettext(message)
    return text % params if params else text


def lazy_gettext(message: str, **params: object) -> LazyProxy:
    """A translation resolved when shown, for strings defined at import time."""
    return LazyProxy(_, message, enable_cache=False, **params)


def localized(value: Mapping[str, str] | str) -> str:
    """Pick the current locale's text from a {"es": ..., "en": ...} data entry."""
    if isinstance(value, str):
        return value
    return value.get(get_locale()) or value[DEFAULT_LOCALE]
