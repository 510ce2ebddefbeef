"""Pages (create, retrieve, update, trash, move), blocks (append with nesting and positions, list, retrieve,
update, delete), page markdown (plain HTTP through the client's request()) and comments."""

import re

import pytest
from notion_client import APIErrorCode, collect_paginated_api

from conftest import RUN_TAG, ada, create_root_page, expect_api_error, page_title, plain, same_id, text


@pytest.fixture(scope="module")
def notion():
    return ada()


@pytest.fixture(scope="module")
def root(notion):
    return create_root_page(notion, f"{RUN_TAG} pages root")


def child_page(notion, root, title, **extra):
    return notion.pages.create(parent={"type": "page_id", "page_id": root["id"]},
                               properties={"title": {"title": text(title)}}, **extra)


def list_all(notion, block_id, page_size=None):
    kwargs = {"block_id": block_id}
    if page_size:
        kwargs["page_size"] = page_size
    return collect_paginated_api(notion.blocks.children.list, **kwargs)


def block_text(block):
    return plain(block.get(block["type"], {}).get("rich_text"))


def para(content):
    return {"type": "paragraph", "paragraph": {"rich_text": text(content)}}


# ---------------------------------------------------------------------------------------------- pages

def test_root_page_shape(root, users):
    assert root["object"] == "page"
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", root["id"])
    assert root["parent"] == {"type": "workspace", "workspace": True}
    assert root["in_trash"] is False
    assert root["archived"] is False
    assert page_title(root) == f"{RUN_TAG} pages root"
    assert root["properties"]["title"]["id"] == "title"
    assert same_id(root["created_by"]["id"], users["ADA"])
    assert same_id(root["last_edited_by"]["id"], users["ADA"])


def test_create_with_icon_and_children_then_retrieve(notion, root):
    page = child_page(notion, root, "Child with content", icon={"type": "emoji", "emoji": "🧪"}, children=[
        {"type": "heading_2", "heading_2": {"rich_text": text("Created heading")}},
        para("Created paragraph"),
    ])
    assert page["parent"]["type"] == "page_id"
    assert same_id(page["parent"]["page_id"], root["id"])
    got = notion.pages.retrieve(page["id"])
    assert page_title(got) == "Child with content"
    assert got["icon"] == {"type": "emoji", "emoji": "🧪"}
    blocks = list_all(notion, page["id"])
    assert [b["type"] for b in blocks] == ["heading_2", "paragraph"]
    assert [block_text(b) for b in blocks] == ["Created heading", "Created paragraph"]


def test_retrieve_with_undashed_id(notion, root):
    got = notion.pages.retrieve(root["id"].replace("-", ""))
    assert same_id(got["id"], root["id"])


def test_update_title_and_icon(notion, root):
    page = child_page(notion, root, "Before rename")
    updated = notion.pages.update(page["id"], properties={"title": {"title": text("After rename")}},
                                  icon={"type": "emoji", "emoji": "✅"})
    assert page_title(updated) == "After rename"
    assert updated["icon"] == {"type": "emoji", "emoji": "✅"}
    assert page_title(notion.pages.retrieve(page["id"])) == "After rename"


def test_in_trash_round_trip(notion, root):
    page = child_page(notion, root, "Trash me")
    assert notion.pages.update(page["id"], in_trash=True)["in_trash"] is True
    assert notion.pages.retrieve(page["id"])["in_trash"] is True
    assert not any(same_id(b["id"], page["id"]) for b in list_all(notion, root["id"]))
    assert notion.pages.update(page["id"], in_trash=False)["in_trash"] is False
    assert any(same_id(b["id"], page["id"]) for b in list_all(notion, root["id"]))


def test_move_page_to_other_page(notion, root):
    a = child_page(notion, root, "Move source parent")
    b = child_page(notion, root, "Move target parent")
    mover = notion.pages.create(parent={"page_id": a["id"]}, properties={"title": {"title": text("Mover")}})
    moved = notion.pages.move(mover["id"], parent={"type": "page_id", "page_id": b["id"]})
    assert same_id(moved["id"], mover["id"])
    got = notion.pages.retrieve(mover["id"])
    assert got["parent"]["type"] == "page_id" and same_id(got["parent"]["page_id"], b["id"])
    assert not any(same_id(x["id"], mover["id"]) for x in list_all(notion, a["id"]))
    assert any(same_id(x["id"], mover["id"]) for x in list_all(notion, b["id"]))


def test_move_page_into_data_source(notion, root):
    db = notion.databases.create(parent={"type": "page_id", "page_id": root["id"]}, title=text("Move target db"),
                                 initial_data_source={"properties": {"Name": {"title": {}}}})
    ds = db["data_sources"][0]["id"]
    mover = child_page(notion, root, "Mover into data source")
    notion.pages.move(mover["id"], parent={"type": "data_source_id", "data_source_id": ds})
    got = notion.pages.retrieve(mover["id"])
    assert got["parent"]["type"] == "data_source_id" and same_id(got["parent"]["data_source_id"], ds)
    rows = collect_paginated_api(notion.data_sources.query, data_source_id=ds)
    assert [page_title(r) for r in rows] == ["Mover into data source"]


# ---------------------------------------------------------------------------------------------- blocks

@pytest.fixture(scope="module")
def playground(notion, root):
    page = child_page(notion, root, "Block playground")
    appended = notion.blocks.children.append(page["id"], children=[
        {"type": "heading_2", "heading_2": {"rich_text": text("Fixture heading")}},
        para("First paragraph"),
        {"type": "bulleted_list_item", "bulleted_list_item": {
            "rich_text": text("Bullet with children"),
            "children": [para("Nested paragraph"),
                         {"type": "to_do", "to_do": {"rich_text": text("Nested to-do"), "checked": False}}],
        }},
        {"type": "toggle", "toggle": {"rich_text": text("Toggle"), "children": [para("Inside toggle")]}},
        {"type": "code", "code": {"rich_text": text("let x = 1;"), "language": "rust"}},
        {"type": "divider", "divider": {}},
        para("Last paragraph"),
    ])
    return page, appended


def test_append_returns_top_level_blocks(playground):
    page, appended = playground
    assert appended["object"] == "list"
    assert [b["type"] for b in appended["results"]] == [
        "heading_2", "paragraph", "bulleted_list_item", "toggle", "code", "divider", "paragraph"]
    assert appended["results"][2]["has_children"] is True
    assert appended["results"][1]["has_children"] is False
    for b in appended["results"]:
        assert b["object"] == "block"
        assert b["parent"]["type"] == "page_id" and same_id(b["parent"]["page_id"], page["id"])


def test_list_children_and_nested(notion, playground):
    page, _ = playground
    blocks = list_all(notion, page["id"])
    assert [block_text(b) for b in blocks if block_text(b)] == [
        "Fixture heading", "First paragraph", "Bullet with children", "Toggle", "let x = 1;", "Last paragraph"]
    nested = list_all(notion, blocks[2]["id"])
    assert [b["type"] for b in nested] == ["paragraph", "to_do"]
    assert [block_text(b) for b in nested] == ["Nested paragraph", "Nested to-do"]
    assert nested[0]["parent"]["type"] == "block_id" and same_id(nested[0]["parent"]["block_id"], blocks[2]["id"])


def test_list_children_page_size_2(notion, playground):
    page, _ = playground
    paged = list_all(notion, page["id"], page_size=2)
    whole = list_all(notion, page["id"])
    assert [b["id"] for b in paged] == [b["id"] for b in whole]
    assert len({b["id"] for b in paged}) == len(paged)


def test_append_position_after_block(notion, root):
    p = child_page(notion, root, "Position after_block")
    first = notion.blocks.children.append(p["id"], children=[para("one"), para("two"), para("three")])
    res = notion.blocks.children.append(p["id"], children=[para("after one (a)"), para("after one (b)")],
                                        position={"type": "after_block", "after_block": {"id": first["results"][0]["id"]}})
    assert [block_text(b) for b in res["results"]] == ["after one (a)", "after one (b)"]
    assert [block_text(b) for b in list_all(notion, p["id"])] == ["one", "after one (a)", "after one (b)", "two", "three"]


def test_append_position_start(notion, root):
    p = child_page(notion, root, "Position start")
    notion.blocks.children.append(p["id"], children=[para("one"), para("two")])
    notion.blocks.children.append(p["id"], children=[para("zero")], position={"type": "start"})
    assert [block_text(b) for b in list_all(notion, p["id"])] == ["zero", "one", "two"]


def test_append_legacy_after(notion, root):
    p = child_page(notion, root, "Legacy after")
    first = notion.blocks.children.append(p["id"], children=[para("one"), para("two"), para("three")])
    notion.blocks.children.append(p["id"], children=[para("after two")], after=first["results"][1]["id"])
    assert [block_text(b) for b in list_all(notion, p["id"])] == ["one", "two", "after two", "three"]


def test_retrieve_update_delete_block(notion, playground, users):
    page, appended = playground
    bid = appended["results"][1]["id"]
    b = notion.blocks.retrieve(bid)
    assert b["object"] == "block" and b["type"] == "paragraph"
    assert block_text(b) == "First paragraph"
    assert same_id(b["created_by"]["id"], users["ADA"])
    updated = notion.blocks.update(bid, paragraph={"rich_text": [
        {"type": "text", "text": {"content": "Edited paragraph"}, "annotations": {"italic": True}}]})
    assert block_text(updated) == "Edited paragraph"
    assert updated["paragraph"]["rich_text"][0]["annotations"]["italic"] is True
    assert block_text(notion.blocks.retrieve(bid)) == "Edited paragraph"

    todo = [x for x in list_all(notion, appended["results"][2]["id"]) if x["type"] == "to_do"][0]
    checked = notion.blocks.update(todo["id"], to_do={"checked": True})
    assert checked["to_do"]["checked"] is True
    assert block_text(checked) == "Nested to-do"

    divider = appended["results"][5]["id"]
    deleted = notion.blocks.delete(divider)
    assert deleted["in_trash"] is True
    assert notion.blocks.retrieve(divider)["in_trash"] is True
    assert not any(same_id(x["id"], divider) for x in list_all(notion, page["id"]))


def test_unknown_block_not_found(notion):
    expect_api_error(lambda: notion.blocks.retrieve("00000000-0000-4000-8000-000000000000"),
                     APIErrorCode.ObjectNotFound, 404)


# ---------------------------------------------------------------------------------------------- markdown

def test_markdown_get(notion, root):
    p = child_page(notion, root, "Markdown source", children=[
        {"type": "heading_2", "heading_2": {"rich_text": text("Section title")}},
        para("Some plain words."),
        {"type": "bulleted_list_item", "bulleted_list_item": {"rich_text": text("first bullet")}},
    ])
    md = notion.request(path=f"pages/{p['id']}/markdown", method="GET")
    assert md["object"] == "page_markdown"
    assert same_id(md["id"], p["id"])
    assert md["truncated"] is False
    assert isinstance(md["unknown_block_ids"], list)
    assert re.search(r"^## Section title$", md["markdown"], re.M)
    assert re.search(r"^Some plain words\.$", md["markdown"], re.M)
    assert re.search(r"^[-*] first bullet$", md["markdown"], re.M)


def test_markdown_patch_insert_and_replace(notion, root):
    p = child_page(notion, root, "Markdown insert", children=[para("Existing text")])
    res = notion.request(path=f"pages/{p['id']}/markdown", method="PATCH",
                         body={"type": "insert_content", "insert_content": {"content": "## Added heading\n\nAdded words\n"}})
    assert res["object"] == "page_markdown"
    blocks = list_all(notion, p["id"])
    assert [block_text(b) for b in blocks] == ["Existing text", "Added heading", "Added words"]
    assert blocks[1]["type"] == "heading_2"

    notion.request(path=f"pages/{p['id']}/markdown", method="PATCH",
                   body={"type": "replace_content",
                         "replace_content": {"new_str": "# Replaced\n\n- one\n- two\n", "allow_deleting_content": True}})
    blocks = list_all(notion, p["id"])
    assert [b["type"] for b in blocks] == ["heading_1", "bulleted_list_item", "bulleted_list_item"]
    assert [block_text(b) for b in blocks] == ["Replaced", "one", "two"]


# ---------------------------------------------------------------------------------------------- comments

def test_comments_create_reply_list(notion, root, users):
    page = child_page(notion, root, "Commented page")
    c1 = notion.comments.create(parent={"page_id": page["id"]}, rich_text=text("First comment"))
    assert c1["object"] == "comment"
    assert c1["parent"]["type"] == "page_id" and same_id(c1["parent"]["page_id"], page["id"])
    assert same_id(c1["created_by"]["id"], users["ADA"])
    c2 = notion.comments.create(discussion_id=c1["discussion_id"], rich_text=text("A reply"))
    assert same_id(c2["discussion_id"], c1["discussion_id"])
    listed = collect_paginated_api(notion.comments.list, block_id=page["id"], page_size=1)
    assert [plain(c["rich_text"]) for c in listed] == ["First comment", "A reply"]
