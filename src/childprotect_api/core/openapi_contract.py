"""The OpenAPI document as generated clients read it (DESIGN.md "API conventions"): real names
for every schema (no generated `Page_X_`, `Body_x`, inline unions or reserved words), tags with
descriptions, servers, both OAuth2 flows with each operation's scopes, binary downloads, and
the `ETag` / `If-Match` headers declared once each."""

from __future__ import annotations

import ast
import inspect
import json
import re
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from childprotect_api.models.client import ClientScope

PASSWORD_SCHEME = "OAuth2Password"  # noqa: S105  (a security scheme name)
CLIENT_SCHEME = "OAuth2ClientCredentials"
_TOKEN_URL = "/api/v1/auth/token"  # noqa: S105  (a path)

# OAuth2 scopes of integration clients (client credentials), as issued by POST /clients.
SCOPE_DESCRIPTIONS: dict[str, str] = {
    ClientScope.children_read: "读取儿童档案 Read children's records (and areas)",
    ClientScope.children_write: "登记和更新儿童档案、导入 Register, update and import children",
    ClientScope.schooling_write: "写入就学情况（教育部门）Set schooling (education system)",
    ClientScope.subsidies_write: "写入救助补贴（民政部门）Set subsidies (civil-affairs system)",
    ClientScope.reports_write: "提交强制报告 File mandatory reports",
    ClientScope.reports_read: "读取本客户端提交的强制报告 Read the reports the client filed",
    ClientScope.stats_read: "读取统计 Read statistics",
}

# The scope an integration client needs for each operation it may call; an operation not named
# here is for users only (the password flow). services' Scope.require is the rule; this is
# its declaration, checked by tests/core/test_openapi_contract.py against CLIENT_SCOPES.
CLIENT_OPERATION_SCOPES: dict[str, str] = {
    "listChildren": ClientScope.children_read,
    "getChild": ClientScope.children_read,
    "lookupChild": ClientScope.children_read,
    "listAreas": ClientScope.children_read,
    "getArea": ClientScope.children_read,
    "createChild": ClientScope.children_write,
    "updateChild": ClientScope.children_write,
    "importChildren": ClientScope.children_write,
    "getJob": ClientScope.children_write,
    "setChildSchooling": ClientScope.schooling_write,
    "setChildSubsidies": ClientScope.subsidies_write,
    "createReport": ClientScope.reports_write,
    "listMyReports": ClientScope.reports_read,
    "getMyReport": ClientScope.reports_read,
    "getStatsSummary": ClientScope.stats_read,
    "getStatsBreakdown": ClientScope.stats_read,
    "getStatsTrend": ClientScope.stats_read,
    "exportStats": ClientScope.stats_read,
}

TAG_DESCRIPTIONS: dict[str, str] = {
    "auth": "登录与令牌 Login (OAuth2 password, refresh token, client credentials) and tokens",
    "children": "儿童档案 Children's records: registration, updates, risk level, closing",
    "agreements": "委托照护协议 Entrusted-care agreements of left-behind children",
    "visits": "走访 Visits and their attachments, corrections and reviews",
    "worklist": "待办 The caller's work: visits due, duties",
    "visit policy": "走访频次 Visit intervals per risk level (county setting)",
    "report policy": "强制报告时限 Mandatory-report deadlines (county setting)",
    "reports": "强制报告 Mandatory reports: filing, acceptance, referrals, closing",
    "users": "用户 Users of the county",
    "areas": "行政区划 Areas (province to village)",
    "clients": "对接系统 Integration clients (OAuth2 client credentials)",
    "webhooks": "事件推送 Webhooks to integration systems",
    "audit": "审计日志 The audit log of personal-data access",
    "stats": "统计 Statistics (small figures hidden for auditors)",
    "sync": "离线同步 The phone app's offline sync: changes feed and batch push",
    "jobs": "后台任务 Background jobs (large imports)",
    "pairings": "结对帮扶 Pairings of children with helpers, and their contacts",
    "cases": "个案 Cases and their measures",
    "duties": "责任事项 Risk duties (pairing needed, case needed, reviews due)",
    "alerts": "提醒 Alerts to supervisors and officers",
    "activities": "关爱服务活动 Care activities and their attachments",
    "sites": "阵地 Sites (儿童之家 and others)",
    "health": "运行状态 Process and database health",
    "meta": "枚举与标签 Enumerations and their Chinese labels",
}

SERVERS = [{"url": "/", "description": "本服务 This deployment (paths start with /api/v1)"}]

# Array items that are unions get a component of their own (an inline union is named
# `ItemsInner` by generators).
_UNION_NAMES = {
    ("SyncChangesPage", "items"): "SyncItem",
    ("PushRequest", "operations"): "SyncPushOperation",
    ("PushResponse", "results"): "SyncPushResult",
}
_BINARY = {"type": "string", "format": "binary"}
IF_MATCH = "If-Match"
_IF_MATCH_PARAM = "IfMatch"
_IF_MATCH_REQUIRED_PARAM = "IfMatchRequired"
_ETAG_HEADER = {
    "description": 'The record\'s version, e.g. `"3"`: send it back in `If-Match` to change it.',
    "schema": {"type": "string"},
}


def shape_contract(app: FastAPI, doc: dict[str, Any]) -> None:
    _name_unions(doc)
    _rename_generated(doc)
    _drop_property_titles(doc)
    _binary_downloads(doc)
    _security(doc)
    _if_match(app, doc)
    _etags(app, doc)
    _retry_after_and_location(doc)
    doc["servers"] = SERVERS
    used = sorted({t for ops in doc["paths"].values() for op in ops.values() for t in op["tags"]})
    doc["tags"] = [{"name": t, "description": TAG_DESCRIPTIONS.get(t, t)} for t in used]
    for ops in doc["paths"].values():
        for op in ops.values():
            if not op.get("description"):
                op["description"] = f"{op.get('summary', op['operationId'])}."


def _schemas(doc: dict[str, Any]) -> dict[str, Any]:
    schemas: dict[str, Any] = doc.setdefault("components", {}).setdefault("schemas", {})
    return schemas


def _name_unions(doc: dict[str, Any]) -> None:
    schemas = _schemas(doc)
    for (owner, prop), name in _UNION_NAMES.items():
        field = schemas[owner]["properties"][prop]
        union = field["items"]
        field["items"] = {"$ref": f"#/components/schemas/{name}"}
        schemas[name] = {"title": name, **union}


def _new_name(name: str) -> str | None:
    page = re.fullmatch(r"Page_(\w+)_", name)
    if page:
        return f"{page.group(1)}Page"
    body = re.fullmatch(r"Body_(\w+)", name)
    if body:
        return body.group(1)[0].upper() + body.group(1)[1:] + "Form"
    return None


def _rename_generated(doc: dict[str, Any]) -> None:
    """`Page_ChildSummary_` (a generic's name) -> `ChildSummaryPage`, `Body_createToken` (a
    form body) -> `CreateTokenForm`."""
    schemas = _schemas(doc)
    renames = {old: new for old in schemas if (new := _new_name(old))}
    assert not set(renames.values()) & set(schemas), "a renamed schema would clash"
    text = json.dumps(doc, ensure_ascii=False)
    for old, new in renames.items():
        text = text.replace(f'"#/components/schemas/{old}"', f'"#/components/schemas/{new}"')
    renamed = json.loads(text)
    doc.clear()
    doc.update(renamed)
    schemas = _schemas(doc)
    for old, new in renames.items():
        schemas[new] = {**schemas.pop(old), "title": new}


def _drop_property_titles(doc: dict[str, Any]) -> None:
    """Generators name an inline schema by its `title` (`Value`, `Rate`...); a property's
    name is its name."""

    def strip(node: Any, top: bool) -> None:
        if isinstance(node, dict):
            if not top:
                node.pop("title", None) if isinstance(node.get("title"), str) else None
            for key, value in node.items():
                if key in ("properties", "$defs"):
                    for sub in value.values():
                        strip(sub, False)
                elif key != "examples":
                    strip(value, False)
        elif isinstance(node, list):
            for item in node:
                strip(item, False)

    for schema in _schemas(doc).values():
        strip(schema, True)
    strip(doc["paths"], False)


def _binary_downloads(doc: dict[str, Any]) -> None:
    """Files answered (attachments, exports) are binary strings, whatever their media type."""
    for ops in doc["paths"].values():
        for op in ops.values():
            for status, response in op.get("responses", {}).items():
                if not status.startswith("2"):
                    continue
                for media, content in response.get("content", {}).items():
                    if "json" not in media and not content.get("schema"):
                        content["schema"] = dict(_BINARY)


def _security(doc: dict[str, Any]) -> None:
    components = doc.setdefault("components", {})
    components["securitySchemes"] = {
        PASSWORD_SCHEME: {
            "type": "oauth2",
            "description": "用户登录 Users: the phone or username and the password "
            "(`grant_type=password`; `refresh_token` renews). What a user may do follows the "
            "role; user tokens carry no scopes.",
            "flows": {"password": {"tokenUrl": _TOKEN_URL, "refreshUrl": _TOKEN_URL, "scopes": {}}},
        },
        CLIENT_SCHEME: {
            "type": "oauth2",
            "description": "对接系统 Integration clients (`grant_type=client_credentials`); "
            "each operation names the scope it needs.",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": _TOKEN_URL,
                    "scopes": {str(k): v for k, v in SCOPE_DESCRIPTIONS.items()},
                }
            },
        },
    }
    for ops in doc["paths"].values():
        for op in ops.values():
            if "security" not in op:
                op["security"] = []  # public (health, the token endpoint): said, not implied
                continue
            security: list[dict[str, list[str]]] = [{PASSWORD_SCHEME: []}]
            scope = CLIENT_OPERATION_SCOPES.get(op["operationId"])
            if scope is not None:
                security.append({CLIENT_SCHEME: [str(scope)]})
            op["security"] = security


def _route_functions(app: FastAPI) -> dict[str, APIRoute]:
    found: dict[str, APIRoute] = {}

    def walk(routes: Any) -> None:
        for r in routes:
            if isinstance(r, APIRoute) and r.operation_id:
                found[r.operation_id] = r
            included = getattr(r, "original_router", None)  # an included router
            if included is not None:
                walk(included.routes)

    walk(app.routes)
    return found


def _calls(route: APIRoute, names: tuple[str, ...]) -> bool:
    """Whether the route's function, or a function of its module it calls, mentions one of
    the names (set_etag, a required If-Match...)."""
    module = inspect.getmodule(route.endpoint)
    if module is None:
        return False
    tree = ast.parse(inspect.getsource(module))
    bodies = {
        f.name: ast.unparse(f)
        for f in ast.walk(tree)
        if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    own = bodies.get(route.endpoint.__name__, "")
    if any(n in own for n in names):
        return True
    called = {c for c in bodies if re.search(rf"\b{c}\(", own)}
    return any(any(n in bodies[c] for n in names) for c in called)


def _if_match(app: FastAPI, doc: dict[str, Any]) -> None:
    """One spelling, declared once; required where every caller gets 428 without it."""
    routes = _route_functions(app)
    description = (
        'The ETag (version) the change was made against, e.g. `"3"`: 412 when the record '
        "changed since."
    )
    params = doc["components"].setdefault("parameters", {})
    params[_IF_MATCH_PARAM] = {
        "name": IF_MATCH,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }
    params[_IF_MATCH_REQUIRED_PARAM] = {
        **params[_IF_MATCH_PARAM],
        "required": True,
        "description": f"{description} Required: 428 `if_match_required` without it.",
    }
    for ops in doc["paths"].values():
        for op in ops.values():
            for i, param in enumerate(op.get("parameters", [])):
                if param.get("in") == "header" and param.get("name", "").lower() == "if-match":
                    # Documented 428: required, unless clients may call it without one
                    # (schooling, subsidies: `required=not scope.is_client`).
                    route = routes.get(op["operationId"])
                    required = "428" in op.get("responses", {}) and (
                        op["operationId"] not in CLIENT_OPERATION_SCOPES
                        or (route is not None and _calls(route, ("required=True)",)))
                    )
                    name = _IF_MATCH_REQUIRED_PARAM if required else _IF_MATCH_PARAM
                    op["parameters"][i] = {"$ref": f"#/components/parameters/{name}"}


def _etags(app: FastAPI, doc: dict[str, Any]) -> None:
    """`ETag` on the success answers of the operations that set it."""
    routes = _route_functions(app)
    doc["components"].setdefault("headers", {})["ETag"] = _ETAG_HEADER
    for ops in doc["paths"].values():
        for op in ops.values():
            route = routes.get(op["operationId"])
            if route is None or not _calls(route, ("set_etag(", "'ETag'")):
                continue
            for status, response in op.get("responses", {}).items():
                if status.startswith("2"):
                    headers = response.setdefault("headers", {})
                    headers["ETag"] = {"$ref": "#/components/headers/ETag"}


_RETRY_AFTER = {
    "description": "Seconds to wait before trying again.",
    "schema": {"type": "integer"},
}
_LOCATION = {"description": "Where to follow the work started.", "schema": {"type": "string"}}
# Answers that carry Location: a large import started as a job.
_LOCATION_ANSWERS = {("importChildren", "202")}


def _retry_after_and_location(doc: dict[str, Any]) -> None:
    """`Retry-After` on every 429 and 503 (and the 409 of an Idempotency-Key still running),
    `Location` where an answer points to a job."""
    headers = doc["components"].setdefault("headers", {})
    headers["Retry-After"] = _RETRY_AFTER
    headers["Location"] = _LOCATION
    for ops in doc["paths"].values():
        for op in ops.values():
            idempotent = any(
                p.get("$ref", "").endswith("/IdempotencyKey") for p in op.get("parameters", [])
            )
            for status, response in op.get("responses", {}).items():
                if status in ("429", "503") or (status == "409" and idempotent):
                    response.setdefault("headers", {})["Retry-After"] = {
                        "$ref": "#/components/headers/Retry-After"
                    }
                if (op["operationId"], status) in _LOCATION_ANSWERS:
                    response.setdefault("headers", {})["Location"] = {
                        "$ref": "#/components/headers/Location"
                    }
