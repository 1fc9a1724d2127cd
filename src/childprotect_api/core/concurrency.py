"""Optimistic concurrency over HTTP: a record's `version` is its ETag, and updates name the
version they were made against in `If-Match` (428 without it, 412 when it is stale), so an
offline edit never silently overwrites a newer one."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Response

from childprotect_api.core.errors import PreconditionFailed, PreconditionRequired

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='The ETag (version) the change was made against, e.g. `"3"`.',
    ),
]


def etag(version: int) -> str:
    return f'"{version}"'


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


def parse_if_match(value: str | None, *, required: bool) -> int | None:
    """The version named by If-Match; None when absent and not required."""
    if value is None or not value.strip():
        if required:
            raise PreconditionRequired(
                "send If-Match with the ETag of the version you changed",
                code="if_match_required",
            )
        return None
    tag = value.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    tag = tag.strip('"')
    if not tag.isdigit():
        raise PreconditionFailed("If-Match does not name a version of this record")
    return int(tag)


def check_version(current: int, expected: int | None) -> None:
    if expected is not None and expected != current:
        raise PreconditionFailed(
            f"the record changed (now version {current}); reload it and apply your change again",
            headers={"ETag": etag(current)},
        )
