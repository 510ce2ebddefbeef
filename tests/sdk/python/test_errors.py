"""Error codes with their statuses and body shape, request limits, and the SDK's error classes."""

import concurrent.futures
import json

import httpx
import pytest
from notion_client import APIErrorCode, APIResponseError, Client
from notion_client.errors import is_notion_client_error

from conftest import BASE_URL, RUN_TAG, ada, create_root_page, expect_api_error, make_client, raw, text, token


@pytest.fixture(scope="module")
def notion():
    return ada()


@pytest.fixture(scope="module")
def root(notion):
    return create_root_page(notion, f"{RUN_TAG} errors root")


@pytest.fixture(scope="module")
def ds(notion, root):
    target = notion.databases.create(parent={"type": "page_id", "page_id": root["id"]}, title=text("Limit targets"),
                                     initial_data_source={"properties": {"Name": {"title": {}}}})
    db = notion.databases.create(parent={"type": "page_id", "page_id": root["id"]}, title=text("Limits"),
                                 initial_data_source={"properties": {
                                     "Name": {"title": {}}, "Website": {"url": {}}, "Email": {"email": {}},
                                     "Phone": {"phone_number": {}}, "Tags": {"multi_select": {}},
                                     "Related": {"relation": {"data_source_id": target["data_sources"][0]["id"],
                                                              "type": "single_property", "single_property": {}}},
                                 }})
    return db["data_sources"][0]["id"]


def para(content):
    return {"type": "paragraph", "paragraph": {"rich_text": text(content)}}


def test_unauthorized_bad_and_missing_token(root):
    err = expect_api_error(lambda: make_client("secret_not_a_real_token").users.me(), APIErrorCode.Unauthorized, 401)
    assert err.code == APIErrorCode.Unauthorized
    expect_api_error(lambda: make_client(None).search(), APIErrorCode.Unauthorized, 401)
    expect_api_error(lambda: make_client("ntn_nope").pages.retrieve(root["id"]), APIErrorCode.Unauthorized, 401)


def test_invalid_json_raw():
    res = raw("POST", "/v1/search", token("ada"), body="{not json")
    assert res.status_code == 400
    body = res.json()
    assert (body["object"], body["status"], body["code"]) == ("error", 400, "invalid_json")
    assert isinstance(body["message"], str)


def test_invalid_json_through_sdk():
    class Corrupting(httpx.Client):
        def send(self, request, **kwargs):
            headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
            request = httpx.Request(request.method, request.url, headers=headers, content=b'{"query": ')
            return super().send(request, **kwargs)

    client = Client(auth=token("ada"), base_url=BASE_URL, retry=False, client=Corrupting())
    err = expect_api_error(lambda: client.search(query="x"), APIErrorCode.InvalidJSON, 400)
    assert is_notion_client_error(err)


def test_invalid_request_url(notion, root):
    expect_api_error(lambda: notion.request(path="no-such-endpoint", method="GET"), APIErrorCode.InvalidRequestURL, 400)
    res = raw("GET", f"/v1/pages/{root['id']}/nope", token("ada"))
    assert res.status_code == 400 and res.json()["code"] == "invalid_request_url"


def test_object_not_found_code(notion):
    with pytest.raises(APIResponseError) as info:
        notion.pages.retrieve("11111111-1111-4111-8111-111111111111")
    assert info.value.code == APIErrorCode.ObjectNotFound
    assert info.value.status == 404


def test_validation_error_names_parent(notion):
    err = expect_api_error(lambda: notion.pages.create(properties={"title": {"title": text("orphan")}}),
                           APIErrorCode.ValidationError, 400)
    assert "parent" in str(err)


def test_validation_error_names_path_id(notion):
    err = expect_api_error(lambda: notion.pages.retrieve("not-a-uuid"), APIErrorCode.ValidationError, 400)
    assert "page_id" in str(err)


def test_validation_error_names_sort_direction(notion, ds):
    err = expect_api_error(lambda: notion.data_sources.query(ds, sorts=[{"property": "Name", "direction": "sideways"}]),
                           APIErrorCode.ValidationError, 400)
    assert "direction" in str(err)


def test_text_run_limit(notion, root):
    ok = notion.blocks.children.append(root["id"], children=[para("x" * 2000)])
    assert len(ok["results"][0]["paragraph"]["rich_text"][0]["text"]["content"]) == 2000
    err = expect_api_error(lambda: notion.blocks.children.append(root["id"], children=[para("x" * 2001)]),
                           APIErrorCode.ValidationError, 400)
    assert "content" in str(err)


def test_array_limit(notion, root):
    hundred = [para(f"p{i}") for i in range(100)]
    assert len(notion.blocks.children.append(root["id"], children=hundred)["results"]) == 100
    err = expect_api_error(lambda: notion.blocks.children.append(root["id"], children=hundred + [para("p100")]),
                           APIErrorCode.ValidationError, 400)
    assert "children" in str(err)
    runs = [{"type": "text", "text": {"content": f"r{i} "}} for i in range(101)]
    err = expect_api_error(lambda: notion.blocks.children.append(
        root["id"], children=[{"type": "paragraph", "paragraph": {"rich_text": runs}}]), APIErrorCode.ValidationError, 400)
    assert "rich_text" in str(err)


def test_block_count_limit(notion, root):
    children = [{"type": "toggle", "toggle": {"rich_text": text(f"t{i}"), "children": [para(f"c{j}") for j in range(10)]}}
                for i in range(100)]
    expect_api_error(lambda: notion.blocks.children.append(root["id"], children=children),
                     APIErrorCode.ValidationError, 400)


def test_payload_size_limit(notion, root):
    big = [{"type": "paragraph", "paragraph": {"rich_text": [{"type": "text", "text": {"content": "y" * 2000}}] * 3}}
           for _ in range(100)]
    assert len(json.dumps({"children": big})) > 500 * 1024
    expect_api_error(lambda: notion.blocks.children.append(root["id"], children=big), APIErrorCode.ValidationError, 400)


@pytest.mark.parametrize("prop,value,pattern", [
    ("Website", {"url": "https://example.com/" + "a" * 1981}, ("Website", "url")),
    ("Email", {"email": "e" * 200 + "@example.com"}, ("Email", "email")),
    ("Phone", {"phone_number": "5" * 201}, ("Phone", "phone_number")),
    ("Tags", {"multi_select": [{"name": f"tag{i}"} for i in range(101)]}, ("Tags", "multi_select")),
])
def test_property_value_limits(notion, ds, prop, value, pattern):
    err = expect_api_error(lambda: notion.pages.create(parent={"data_source_id": ds},
                                                       properties={"Name": {"title": text("limit")}, prop: value}),
                           APIErrorCode.ValidationError, 400)
    assert any(p in str(err) for p in pattern), str(err)


def test_concurrent_writes_succeed_or_conflict(notion, root):
    page = notion.pages.create(parent={"page_id": root["id"]}, properties={"title": {"title": text("contended")}})
    no_retry = make_client(token("ada"), retry=False)

    def write(i):
        try:
            no_retry.blocks.children.append(page["id"], children=[para(f"writer {i}")])
            return "ok"
        except APIResponseError as e:
            return e

    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(write, range(20)))
    for o in outcomes:
        if o == "ok" or o.code == APIErrorCode.RateLimited:
            continue
        assert o.code == APIErrorCode.ConflictError and o.status == 409, f"{o.code} {o}"
    ok = sum(1 for o in outcomes if o == "ok")
    listed = notion.blocks.children.list(page["id"], page_size=100)
    assert len(listed["results"]) == ok


def test_error_body_shape():
    res = raw("GET", "/v1/pages/" + "2" * 32, token("ada"))
    assert res.status_code == 404
    assert res.headers["content-type"].split(";")[0] == "application/json"
    body = res.json()
    assert (body["object"], body["status"], body["code"]) == ("error", 404, "object_not_found")
    assert isinstance(body["message"], str)


def test_append_after_block_of_another_page(notion, root):
    a = notion.pages.create(parent={"page_id": root["id"]}, properties={"title": {"title": text("after A")}})
    b = notion.pages.create(parent={"page_id": root["id"]}, properties={"title": {"title": text("after B")}})
    in_b = notion.blocks.children.append(b["id"], children=[para("in B")])
    with pytest.raises(APIResponseError) as info:
        notion.blocks.children.append(a["id"], children=[para("misplaced")],
                                      position={"type": "after_block", "after_block": {"id": in_b["results"][0]["id"]}})
    allowed = {"validation_error": 400, "object_not_found": 404, "conflict_error": 409}
    code = info.value.code.value if hasattr(info.value.code, "value") else info.value.code
    assert code in allowed, f"{code} {info.value}"
    assert info.value.status == allowed[code]
    assert notion.blocks.children.list(a["id"])["results"] == []
