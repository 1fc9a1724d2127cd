"""The language of messages (DESIGN.md "API conventions"): `Accept-Language: zh-CN` (or `zh`,
`zh-Hans`, any Chinese tag, by q-value) answers Chinese problem `title`, `detail` and field
`message`s; English otherwise. The wording lives in core/errors_zh.py, keyed by the stable
problem `code` and the field error `type`, so the same keys serve an app that words messages
itself.

LocaleMiddleware, the outermost layer, picks the language once per request and puts it in a
context variable: every place that writes a problem (the exception handlers, the middlewares'
own 413/500/503, the input guard, the readiness probe) asks `localize_body`. Problem answers
carry `Content-Language` and `Vary: Accept-Language`."""

from __future__ import annotations

from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from childprotect_api.core.errors_zh import FIELD_TYPES, PROBLEMS

ENGLISH = "en"
CHINESE = "zh-CN"

_language: ContextVar[str] = ContextVar("childprotect_language", default=ENGLISH)


@lru_cache(maxsize=256)  # a few phone and browser headers, over and over
def negotiate(header: str | None) -> str:
    """The language to answer in, from an Accept-Language header: the supported language
    (Chinese, any `zh` tag; English, any `en` tag) of the highest q-value, the first listed
    on a tie; English when neither is accepted."""
    if not header:
        return ENGLISH
    best, best_q = ENGLISH, 0.0
    for item in header.split(",")[:20]:
        tag, _, params = item.strip().partition(";")
        tag = tag.strip().lower()
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if not 0.0 < q <= 1.0:
            continue
        language = (
            CHINESE
            if tag == "zh" or tag.startswith("zh-")
            else ENGLISH
            if tag == "en" or tag.startswith("en-")
            else None
        )
        if language is None:
            continue
        if q > best_q:
            best, best_q = language, q
    return best


def current() -> str:
    return _language.get()


def use(language: str) -> None:
    """Set the language of the current context (tests, jobs answering for a request)."""
    _language.set(language)


class _Default(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "…"


def field_message(kind: str, english: str, ctx: dict[str, Any] | None = None) -> str:
    """A field error's message in the request's language."""
    if _language.get() != CHINESE:
        return english
    template = FIELD_TYPES.get(kind)
    if template is not None:
        values = _Default({k: _plain(v) for k, v in (ctx or {}).items()})
        return template.format_map(values)
    known = PROBLEMS.get(kind)
    if known is not None:
        return known[1]
    return FIELD_TYPES["invalid"]


def _plain(value: Any) -> str:
    text = str(value)
    return text.replace(" or ", "、").replace("'", "")


def localize_body(
    body: dict[str, Any], contexts: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A problem body in the request's language (English bodies are returned as they are).
    `contexts` are the field errors' pydantic contexts, in order, where known."""
    if _language.get() != CHINESE:
        return body
    known = PROBLEMS.get(str(body.get("code")))
    if known is not None:
        body["title"], body["detail"] = known
    errors = body.get("errors") or []
    for i, error in enumerate(errors):
        if not isinstance(error, dict):
            continue
        ctx = contexts[i] if contexts and i < len(contexts) else None
        error["message"] = field_message(
            str(error.get("type") or "invalid"), str(error.get("message", "")), ctx
        )
    return body


_PROBLEM = b"application/problem+json"


class LocaleMiddleware:
    """Picks the request's language; marks problem answers with their language."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope.get("headers") or ():
            if name == b"accept-language":
                header = value.decode("latin-1")
                break
        language = negotiate(header)
        token = _language.set(language)

        async def send_marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                kind = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if kind.startswith(_PROBLEM):
                    headers.append((b"content-language", language.encode()))
                    headers.append((b"vary", b"Accept-Language"))
                    message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_marked)
        finally:
            _language.reset(token)
