from __future__ import annotations

from childprotect_api.core.pagination import encode_cursor


async def test_tampered_cursors_answer_422_everywhere(client, world):
    bad = [
        "!!not-base64",
        encode_cursor(["not a time", "not a uuid"]),
        encode_cursor(["2026-01-01T00:00:00+00:00"]),
    ]
    for url, actor in (
        ("/api/v1/visits", "director"),
        ("/api/v1/worklist", "director"),
        ("/api/v1/reports", "officer"),
        ("/api/v1/my-reports", "reporter"),
    ):
        for cursor in bad:
            r = await client.get(url, params={"cursor": cursor}, headers=world[actor].headers)
            assert r.status_code == 422, (url, cursor, r.text)
            assert r.json()["errors"][0]["field"] == "cursor"
