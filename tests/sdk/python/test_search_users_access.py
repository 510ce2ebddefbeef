"""Search, users, and what members, guests and an unshared integration can see."""

import datetime as dt
import re

import pytest
from notion_client import APIErrorCode, APIResponseError, collect_paginated_api
from notion_client.errors import is_notion_client_error

from conftest import (
    RUN_TAG, ada, ben, bot, create_root_page, cy, expect_api_error, page_title, plain, same_id, text,
)

TOKEN = f"srch{RUN_TAG}"


def title_of(result):
    return page_title(result) if result["object"] == "page" else plain(result.get("title"))


def find_page(client, title):
    results = collect_paginated_api(client.search, query=title, filter={"property": "object", "value": "page"})
    return next((r for r in results if page_title(r) == title), None)


@pytest.fixture(scope="module")
def made():
    notion = ada()
    root = create_root_page(notion, f"{RUN_TAG} search root")
    out = {"root": root}
    for key in ("alpha", "beta"):
        out[key] = notion.pages.create(parent={"page_id": root["id"]},
                                       properties={"title": {"title": text(f"{TOKEN} {key} page")}})
    out["db"] = notion.databases.create(parent={"type": "page_id", "page_id": root["id"]}, title=text(f"{TOKEN} tracker"),
                                        initial_data_source={"properties": {"Name": {"title": {}}}})
    out["ds"] = out["db"]["data_sources"][0]["id"]
    notion.data_sources.update(out["ds"], title=text(f"{TOKEN} tracker"))
    trashed = notion.pages.create(parent={"page_id": root["id"]},
                                  properties={"title": {"title": text(f"{TOKEN} trashed page")}})
    notion.pages.update(trashed["id"], in_trash=True)
    notion.pages.update(out["alpha"]["id"], properties={"title": {"title": text(f"{TOKEN} alpha page")}})
    return out


@pytest.fixture(scope="module")
def demo():
    notion = ada()
    return {
        "finance": find_page(notion, "Finance"),
        "atlas": find_page(notion, "Design Collaboration — Atlas Redesign"),
        "wiki": find_page(notion, "Company Wiki"),
    }


# ---------------------------------------------------------------------------------------------- search

def test_search_title_match(made):
    res = ada().search(query=TOKEN)
    assert res["object"] == "list"
    assert sorted(title_of(r) for r in res["results"]) == [f"{TOKEN} alpha page", f"{TOKEN} beta page", f"{TOKEN} tracker"]
    assert [r["object"] for r in res["results"] if r["object"] != "page"] == ["data_source"]


def test_search_filter_page(made):
    res = ada().search(query=TOKEN, filter={"property": "object", "value": "page"})
    assert all(r["object"] == "page" for r in res["results"])
    assert sorted(title_of(r) for r in res["results"]) == [f"{TOKEN} alpha page", f"{TOKEN} beta page"]


def test_search_filter_data_source(made):
    res = ada().search(query=TOKEN, filter={"property": "object", "value": "data_source"})
    assert [r["object"] for r in res["results"]] == ["data_source"]
    assert same_id(res["results"][0]["id"], made["ds"])


@pytest.mark.parametrize("direction", ["ascending", "descending"])
def test_search_sort_last_edited_time(made, direction):
    res = ada().search(query=TOKEN, sort={"timestamp": "last_edited_time", "direction": direction})
    times = [dt.datetime.fromisoformat(r["last_edited_time"].replace("Z", "+00:00")) for r in res["results"]]
    assert len(times) == 3
    for a, b in zip(times, times[1:]):
        assert (a <= b) if direction == "ascending" else (a >= b)


def test_search_pagination(made):
    results = collect_paginated_api(ada().search, query=TOKEN, page_size=1)
    assert len(results) == 3 and len({r["id"] for r in results}) == 3


# ---------------------------------------------------------------------------------------------- users

def test_users_me(users):
    me = ada().users.me()
    assert me["object"] == "user" and me["type"] == "person"
    assert me["person"]["email"] == "ada@example.com"
    assert same_id(me["id"], users["ADA"])
    assert bot().users.me()["type"] == "bot"


def test_users_list_excludes_guests(users):
    all_users = collect_paginated_api(ada().users.list, page_size=1)
    ids = {u["id"].replace("-", "") for u in all_users}
    assert len(ids) == len(all_users)
    assert users["ADA"].replace("-", "") in ids
    assert users["BEN"].replace("-", "") in ids
    assert users["CY"].replace("-", "") not in ids, "guests are not included in users.list"


def test_users_retrieve(users):
    b = ada().users.retrieve(users["BEN"])
    assert b["type"] == "person" and b["person"]["email"] == "ben@example.com"
    assert same_id(ada().users.retrieve(users["CY"])["id"], users["CY"])
    expect_api_error(lambda: ada().users.retrieve("00000000-0000-4000-8000-000000000000"),
                     APIErrorCode.ObjectNotFound, 404)


# ---------------------------------------------------------------------------------------------- access

def test_demo_pages_exist(demo):
    assert demo["finance"], "Ada finds Finance"
    assert demo["atlas"], "Ada finds the Atlas Redesign page"
    assert demo["wiki"], "Ada finds the Company Wiki"


def test_ben_gets_not_found_for_finance(demo):
    fid = demo["finance"]["id"]
    b = ben()
    err = expect_api_error(lambda: b.pages.retrieve(fid), APIErrorCode.ObjectNotFound, 404)
    assert isinstance(err, APIResponseError) and err.code == APIErrorCode.ObjectNotFound
    expect_api_error(lambda: b.blocks.children.list(fid), APIErrorCode.ObjectNotFound, 404)
    expect_api_error(lambda: b.pages.update(fid, properties={"title": {"title": text("hacked")}}),
                     APIErrorCode.ObjectNotFound, 404)
    expect_api_error(lambda: b.comments.create(parent={"page_id": fid}, rich_text=text("hi")),
                     APIErrorCode.ObjectNotFound, 404)
    expect_api_error(lambda: b.request(path=f"pages/{fid}/markdown", method="GET"), APIErrorCode.ObjectNotFound, 404)


def test_hidden_and_missing_look_the_same(demo):
    hidden = expect_api_error(lambda: ben().pages.retrieve(demo["finance"]["id"]), APIErrorCode.ObjectNotFound, 404)
    missing = expect_api_error(lambda: ben().pages.retrieve("00000000-0000-4000-8000-000000000000"),
                               APIErrorCode.ObjectNotFound, 404)
    strip = lambda m: re.sub(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", "<id>", m, flags=re.I)  # noqa: E731
    assert strip(str(hidden)) == strip(str(missing))


def test_search_salary_only_for_ada():
    assert ada().search(query="Salary")["results"], "Ada (who can read Finance) finds Salary content"
    assert ben().search(query="Salary")["results"] == []
    assert cy().search(query="Salary")["results"] == []


def test_guest_sees_atlas_but_not_wiki(demo, made):
    c = cy()
    assert page_title(c.pages.retrieve(demo["atlas"]["id"])) == "Design Collaboration — Atlas Redesign"
    expect_api_error(lambda: c.pages.retrieve(demo["wiki"]["id"]), APIErrorCode.ObjectNotFound, 404)
    expect_api_error(lambda: c.pages.retrieve(demo["finance"]["id"]), APIErrorCode.ObjectNotFound, 404)
    expect_api_error(lambda: c.pages.retrieve(made["alpha"]["id"]), APIErrorCode.ObjectNotFound, 404)
    everything = collect_paginated_api(c.search)
    assert any(same_id(r["id"], demo["atlas"]["id"]) for r in everything)
    assert not any(same_id(r["id"], demo["wiki"]["id"]) for r in everything)
    assert not any(same_id(r["id"], demo["finance"]["id"]) for r in everything)


def test_unshared_integration_sees_nothing(made, demo):
    b = bot()
    assert b.search()["results"] == []
    assert b.search(query=TOKEN)["results"] == []
    expect_api_error(lambda: b.pages.retrieve(made["alpha"]["id"]), APIErrorCode.ObjectNotFound, 404)
    expect_api_error(lambda: b.pages.retrieve(demo["finance"]["id"]), APIErrorCode.ObjectNotFound, 404)
    expect_api_error(lambda: b.databases.retrieve(made["db"]["id"]), APIErrorCode.ObjectNotFound, 404)
    expect_api_error(lambda: b.data_sources.query(made["ds"]), APIErrorCode.ObjectNotFound, 404)
    expect_api_error(lambda: b.blocks.children.list(made["alpha"]["id"]), APIErrorCode.ObjectNotFound, 404)
    expect_api_error(lambda: b.pages.create(parent={"page_id": made["alpha"]["id"]},
                                            properties={"title": {"title": text("bot page")}}),
                     APIErrorCode.ObjectNotFound, 404)


def test_restricted_resource_probe():
    outcomes = []
    probes = [
        ("integration users.list", lambda: bot().users.list()),
        ("guest users.list", lambda: cy().users.list()),
        ("guest creates a workspace-level page", lambda: cy().pages.create(
            parent={"type": "workspace", "workspace": True}, properties={"title": {"title": text(f"{RUN_TAG} guest top")}})),
    ]
    for name, run in probes:
        try:
            run()
            outcomes.append(f"{name}: ok")
        except APIResponseError as e:
            outcomes.append(f"{name}: {e.status} {e.code}")
            assert is_notion_client_error(e)
            assert e.code == APIErrorCode.RestrictedResource, f"{name}: {e.code} {e}"
            assert e.status == 403
    assert any(o.endswith("403 APIErrorCode.RestrictedResource") or o.endswith("403 restricted_resource")
               for o in outcomes), f"no probe answered 403: {outcomes}"
