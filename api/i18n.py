"""The language of an answer: Simplified Chinese when the request prefers it (`Accept-Language`), English otherwise.

Only two languages are spoken, so the choice is "does the most preferred language we speak start with zh".
Ranges we do not speak (fr, ja) are skipped; `*` and an absent or empty header mean English, the API's own
language, so tools and logs that send nothing keep reading what they always read.
"""

from __future__ import annotations

from typing import Literal

from starlette.requests import HTTPConnection

Language = Literal["zh", "en"]
CONTENT_LANGUAGE: dict[Language, str] = {"zh": "zh-CN", "en": "en"}


def _quality(parameters: list[str]) -> float:
    for parameter in parameters:
        name, _, value = parameter.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value.strip())
            except ValueError:
                return 0.0  # a malformed weight: RFC 9110 gives no meaning to it, so it does not count
            return quality if 0.0 <= quality <= 1.0 else 0.0
    return 1.0


def preferred_language(accept_language: str | None) -> Language:
    """`zh`, `zh-CN`, `zh-Hans`, `zh-TW`, `zh-Hant-HK` … → "zh"; `en…`, `*`, unknown ranges or nothing → "en".

    The highest q wins; among equal weights the first listed (RFC 9110 §12.5.4 leaves ties to the server).
    Traditional Chinese ranges get Simplified Chinese: closer to the reader than English.
    """
    best: tuple[float, Language] | None = None
    for item in (accept_language or "").split(","):
        tag, *parameters = item.split(";")
        tag = tag.strip().lower()
        if not tag:
            continue
        language: Language | None
        if tag == "zh" or tag.startswith("zh-"):
            language = "zh"
        elif tag == "en" or tag.startswith("en-") or tag == "*":
            language = "en"
        else:
            language = None
        quality = _quality(parameters)
        if language is None or quality <= 0.0:
            continue
        if best is None or quality > best[0]:
            best = (quality, language)
    return best[1] if best else "en"


def request_language(connection: HTTPConnection) -> Language:
    return preferred_language(connection.headers.get("accept-language"))


def wants_chinese(connection: HTTPConnection) -> bool:
    return request_language(connection) == "zh"
