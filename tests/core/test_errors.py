from __future__ import annotations

import logging


async def test_unhandled_error_is_a_generic_500_without_personal_data(app, client, caplog):
    async def boom() -> None:
        raise RuntimeError("张三 620722201402281234 13800001111")

    app.add_api_route("/boom", boom, methods=["GET"])
    with caplog.at_level(logging.DEBUG):
        r = await client.get("/boom")
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == "internal_error" and body["request_id"] == r.headers["x-request-id"]
    assert "张三" not in r.text and "Traceback" not in r.text
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "RuntimeError" in logged and body["request_id"] in logged
    for secret in ("张三", "620722201402281234", "13800001111"):
        assert secret not in logged


async def test_method_not_allowed_is_a_problem(client):
    r = await client.delete("/healthz")
    assert r.status_code == 405
    assert r.json()["code"] == "method_not_allowed"
