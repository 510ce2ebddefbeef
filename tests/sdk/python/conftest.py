"""Shared fixtures for the official Python SDK (notion-client 3.x) compatibility suite.

Reads TRELLIS_URL and TRELLIS_TOKEN_{ADA,BEN,CY,BOT} from the environment (tests/sdk/run.sh sets them).
"""

import datetime as dt
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import httpx
import pytest
from notion_client import APIErrorCode, APIResponseError, Client, RetryOptions, collect_paginated_api
from notion_client.errors import is_notion_client_error

BASE_URL = os.environ.get("TRELLIS_URL", "http://127.0.0.1:8080").rstrip("/")
DATASET = json.loads((Path(__file__).resolve().parent.parent / "shared" / "dataset.json").read_text("utf-8"))
RUN_TAG = "sdkpy" + uuid.uuid4().hex[:8]
NOTION_VERSION = "2025-09-03"


def token(name: str) -> str:
    value = os.environ.get(f"TRELLIS_TOKEN_{name.upper()}")
    if not value:
        if name.upper() == "RATELIMIT":
            return token("BOT")
        raise RuntimeError(f"TRELLIS_TOKEN_{name.upper()} is not set (run the suite through tests/sdk/run.sh)")
    return value


def make_client(auth: Optional[str], retry: Any = None, **kwargs: Any) -> Client:
    """A client for `auth`; the SDK's 429 retry stays on (short delays) unless retry=False."""
    if retry is None:
        retry = RetryOptions(max_retries=6, initial_retry_delay_ms=250, max_retry_delay_ms=5000)
    options: Dict[str, Any] = {"base_url": BASE_URL, "timeout_ms": 30_000, "retry": retry}
    if auth is not None:
        options["auth"] = auth
    options.update(kwargs)
    return Client(**options)


def ada() -> Client:
    return make_client(token("ada"))


def ben() -> Client:
    return make_client(token("ben"))


def cy() -> Client:
    return make_client(token("cy"))


def bot() -> Client:
    return make_client(token("bot"))


def text(content: str) -> List[Dict[str, Any]]:
    return [{"type": "text", "text": {"content": content}}]


def plain(rich_text: Optional[List[Dict[str, Any]]]) -> str:
    return "".join(t.get("plain_text", "") for t in (rich_text or []))


def page_title(page: Dict[str, Any]) -> Optional[str]:
    for prop in (page.get("properties") or {}).values():
        if prop.get("type") == "title":
            return plain(prop["title"])
    return None


def norm_id(value: str) -> str:
    return str(value).replace("-", "").lower()


def same_id(a: str, b: str) -> bool:
    return norm_id(a) == norm_id(b)


def expect_api_error(fn: Callable[[], Any], code: APIErrorCode, status: int, what: str = "") -> APIResponseError:
    """Calls fn, which must raise APIResponseError with `code` and `status`; returns the error."""
    try:
        value = fn()
    except APIResponseError as error:
        assert is_notion_client_error(error)
        assert APIResponseError.is_api_response_error(error)
        assert error.code == code, f"{what} code {error.code!r} (status {error.status}, message {str(error)!r}), expected {code.value}"
        assert error.status == status, f"{what} status {error.status}, expected {status}"
        body = json.loads(error.body)
        assert body["object"] == "error"
        assert body["status"] == status
        assert body["code"] == code.value
        assert isinstance(body["message"], str) and body["message"]
        return error
    except Exception as error:  # noqa: BLE001 - report what came instead
        raise AssertionError(f"{what} expected APIResponseError {code.value} ({status}), got {type(error).__name__}: {error} "
                             f"{getattr(error, 'body', '')}") from error
    raise AssertionError(f"{what} expected {code.value} ({status}) but the call succeeded: {json.dumps(value)[:300]}")


def raw(method: str, path: str, tok: Optional[str] = None, body: Optional[str] = None,
        headers: Optional[Dict[str, str]] = None) -> httpx.Response:
    h = {"Notion-Version": NOTION_VERSION}
    if tok:
        h["Authorization"] = f"Bearer {tok}"
    if body is not None:
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    return httpx.request(method, f"{BASE_URL}{path}", content=body, headers=h, timeout=30)


# ------------------------------------------------------------------------------------------------
# Placeholders and rows (see shared/dataset.json)

def utc_date(offset_days: int = 0) -> str:
    today = dt.datetime.now(dt.timezone.utc).date()
    return (today + dt.timedelta(days=offset_days)).isoformat()


def resolve(value: Any, ctx: Dict[str, Any]) -> Any:
    if isinstance(value, list):
        return [resolve(v, ctx) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, ctx) for k, v in value.items()}
    if not isinstance(value, str) or not value.startswith("$"):
        return value
    m = re.fullmatch(r"\$TODAY([+-]\d+)?", value)
    if m:
        return utc_date(int(m.group(1)) if m.group(1) else 0)
    if value.startswith("$ID:"):
        return ctx["property_ids"][value[4:]]
    return ctx["vars"].get(value[1:], value)


def row_properties(row: Dict[str, Any], ctx: Dict[str, Any]) -> Dict[str, Any]:
    types = DATASET["property_types"]
    props: Dict[str, Any] = {}
    for name, v in resolve(row, ctx).items():
        t = types[name]
        if t == "title":
            props[name] = {"title": text(v)}
        elif t == "rich_text":
            props[name] = {"rich_text": text(v)}
        elif t == "number":
            props[name] = {"number": v}
        elif t == "select":
            props[name] = {"select": {"name": v}}
        elif t == "multi_select":
            props[name] = {"multi_select": [{"name": n} for n in v]}
        elif t == "status":
            props[name] = {"status": {"name": v}}
        elif t == "date":
            props[name] = {"date": v}
        elif t == "people":
            props[name] = {"people": [{"object": "user", "id": i} for i in v]}
        elif t == "checkbox":
            props[name] = {"checkbox": v}
        elif t in ("url", "email", "phone_number"):
            props[name] = {t: v}
        elif t == "relation":
            props[name] = {"relation": [{"id": i} for i in v]}
        else:
            raise ValueError(f"unknown property {name}")
    return props


def is_empty_value(v: Any) -> bool:
    return v is None or v == "" or (isinstance(v, list) and not v)


def this_week_candidates(ctx: Dict[str, Any]) -> List[List[str]]:
    today = dt.datetime.now(dt.timezone.utc).date()
    sunday_start = today - dt.timedelta(days=(today.weekday() + 1) % 7)
    monday_start = today - dt.timedelta(days=today.weekday())
    out = []
    for start in (sunday_start, monday_start):
        end = start + dt.timedelta(days=6)
        names = []
        for row in DATASET["rows"]:
            if "Due" not in row:
                continue
            d = dt.date.fromisoformat(resolve(row["Due"], ctx)["start"][:10])
            if start <= d <= end:
                names.append(row["Name"])
        out.append(sorted(names))
    return out


def whoami() -> Dict[str, str]:
    return {"ADA": ada().users.me()["id"], "BEN": ben().users.me()["id"], "CY": cy().users.me()["id"]}


def create_root_page(client: Client, title: str) -> Dict[str, Any]:
    return client.pages.create(parent={"type": "workspace", "workspace": True},
                               properties={"title": {"title": text(title)}})


class Fixture:
    pass


def build_fixture(label: str) -> Fixture:
    notion = ada()
    fx = Fixture()
    fx.notion = notion
    fx.users = whoami()
    fx.root = create_root_page(notion, f"{RUN_TAG} {label} root")
    fx.targets_db = notion.databases.create(
        parent={"type": "page_id", "page_id": fx.root["id"]},
        title=text(f"{RUN_TAG} Targets"),
        initial_data_source={"properties": {"Name": {"title": {}}}},
    )
    fx.targets_ds = fx.targets_db["data_sources"][0]["id"]
    fx.targets = [
        notion.pages.create(parent={"type": "data_source_id", "data_source_id": fx.targets_ds},
                            properties={"Name": {"title": text(name)}})
        for name in DATASET["targets"]
    ]
    vars_ = dict(fx.users)
    vars_.update({"T1": fx.targets[0]["id"], "T2": fx.targets[1]["id"], "T3": fx.targets[2]["id"], "TARGETS": fx.targets_ds})
    fx.ctx = {"vars": vars_, "property_ids": {}}
    fx.db = notion.databases.create(
        parent={"type": "page_id", "page_id": fx.root["id"]},
        title=text(f"{RUN_TAG} Tracker"),
        initial_data_source={"properties": resolve(DATASET["schema"], fx.ctx)},
    )
    fx.data_source_id = fx.db["data_sources"][0]["id"]
    fx.data_source = notion.data_sources.retrieve(fx.data_source_id)
    fx.ctx["property_ids"] = {name: p["id"] for name, p in fx.data_source["properties"].items()}
    vars_["START"] = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=2)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    fx.rows = {}
    for row in DATASET["rows"]:
        fx.rows[row["Name"]] = notion.pages.create(
            parent={"type": "data_source_id", "data_source_id": fx.data_source_id},
            properties=row_properties(row, fx.ctx),
        )
    return fx


def query_titles(client: Client, data_source_id: str, **kwargs: Any) -> List[str]:
    pages = collect_paginated_api(client.data_sources.query, data_source_id=data_source_id, **kwargs)
    return [page_title(p) for p in pages]


@pytest.fixture(scope="session")
def fx() -> Fixture:
    fixture = build_fixture("python")
    # Touch Charlie last so that last_edited_time differs from created_time for at least one row.
    fixture.notion.pages.update(fixture.rows["Charlie"]["id"],
                                properties={"Notes": {"rich_text": text("third row charlie")}})
    return fixture


@pytest.fixture(scope="session")
def users() -> Dict[str, str]:
    return whoami()
