"""Databases and data sources (create, retrieve, update), row values and page property items."""

from notion_client import APIErrorCode, collect_paginated_api

from conftest import DATASET, expect_api_error, plain, same_id, text


def test_database_created_with_initial_data_source(fx):
    db = fx.db
    assert db["object"] == "database"
    assert plain(db["title"]).endswith(" Tracker")
    assert db["parent"]["type"] == "page_id" and same_id(db["parent"]["page_id"], fx.root["id"])
    assert len(db["data_sources"]) == 1
    assert isinstance(db["data_sources"][0]["id"], str)
    assert "properties" not in db, "2025-09-03 databases carry no properties; data sources do"


def test_database_retrieve_and_update(fx):
    got = fx.notion.databases.retrieve(fx.db["id"])
    assert [d["id"] for d in got["data_sources"]] == [fx.data_source_id]
    db = fx.notion.databases.create(parent={"type": "page_id", "page_id": fx.root["id"]}, title=text("Rename me"),
                                    initial_data_source={"properties": {"Name": {"title": {}}}})
    updated = fx.notion.databases.update(db["id"], title=text("Renamed database"), description=text("Described"))
    assert plain(updated["title"]) == "Renamed database"
    assert plain(updated["description"]) == "Described"
    assert plain(fx.notion.databases.retrieve(db["id"])["title"]) == "Renamed database"


def test_data_source_schema(fx):
    ds = fx.notion.data_sources.retrieve(fx.data_source_id)
    assert ds["object"] == "data_source"
    assert ds["parent"]["type"] == "database_id" and same_id(ds["parent"]["database_id"], fx.db["id"])
    assert {k: v["type"] for k, v in ds["properties"].items()} == DATASET["property_types"]
    for name, prop in ds["properties"].items():
        assert prop["name"] == name and prop["id"]
    assert ds["properties"]["Name"]["id"] == "title"
    assert [o["name"] for o in ds["properties"]["Priority"]["select"]["options"]] == ["High", "Medium", "Low"]
    assert [o["name"] for o in ds["properties"]["Tags"]["multi_select"]["options"]] == ["alpha", "beta", "gamma"]
    status = [o["name"] for o in ds["properties"]["Stage"]["status"]["options"]]
    assert {"Not started", "In progress", "Done"} <= set(status)
    rel = ds["properties"]["Related"]["relation"]
    assert same_id(rel["data_source_id"], fx.targets_ds)
    assert same_id(rel["database_id"], fx.targets_db["id"])


def test_data_source_create_and_update(fx):
    ds = fx.notion.data_sources.create(parent={"type": "database_id", "database_id": fx.db["id"]},
                                       title=text("Second source"),
                                       properties={"Title": {"title": {}}, "Score": {"number": {}}})
    assert ds["object"] == "data_source"
    assert sorted(ds["properties"]) == ["Score", "Title"]
    assert len(fx.notion.databases.retrieve(fx.db["id"])["data_sources"]) == 2

    updated = fx.notion.data_sources.update(ds["id"], title=text("Second source renamed"), properties={
        "Added": {"checkbox": {}},
        "Score": {"name": "Points"},
    })
    assert plain(updated["title"]) == "Second source renamed"
    assert sorted(updated["properties"]) == ["Added", "Points", "Title"]
    removed = fx.notion.data_sources.update(ds["id"], properties={"Added": None})
    assert sorted(removed["properties"]) == ["Points", "Title"]


def test_row_values(fx, users):
    p = fx.notion.pages.retrieve(fx.rows["Alpha"]["id"])
    assert p["parent"]["type"] == "data_source_id" and same_id(p["parent"]["data_source_id"], fx.data_source_id)
    props = p["properties"]
    assert plain(props["Name"]["title"]) == "Alpha"
    assert plain(props["Notes"]["rich_text"]) == "first row alpha"
    assert props["Amount"]["number"] == 10
    assert props["Priority"]["select"]["name"] == "High"
    assert [o["name"] for o in props["Tags"]["multi_select"]] == ["alpha", "beta"]
    assert props["Stage"]["status"]["name"] == "Done"
    assert props["Due"]["date"] == {"start": "2020-01-15", "end": None, "time_zone": None}
    assert [same_id(u["id"], users["ADA"]) for u in props["Owners"]["people"]] == [True]
    assert props["Done"]["checkbox"] is True
    assert props["Website"]["url"] == "https://alpha.example.com"
    assert props["Email"]["email"] == "alpha@example.com"
    assert props["Phone"]["phone_number"] == "+1 555 0100"
    assert [same_id(r["id"], fx.targets[0]["id"]) for r in props["Related"]["relation"]] == [True]
    assert props["Created"]["created_time"] == p["created_time"]
    assert same_id(props["Created by"]["created_by"]["id"], users["ADA"])
    assert props["Edited"]["last_edited_time"] == p["last_edited_time"]
    assert same_id(props["Edited by"]["last_edited_by"]["id"], users["ADA"])


def test_empty_row_values(fx):
    props = fx.notion.pages.retrieve(fx.rows["Foxtrot"]["id"])["properties"]
    assert props["Notes"]["rich_text"] == []
    assert props["Amount"]["number"] is None
    assert props["Priority"]["select"] is None
    assert props["Tags"]["multi_select"] == []
    assert props["Due"]["date"] is None
    assert props["Owners"]["people"] == []
    assert props["Done"]["checkbox"] is False
    assert props["Website"]["url"] is None
    assert props["Email"]["email"] is None
    assert props["Phone"]["phone_number"] is None
    assert props["Related"]["relation"] == []


def test_update_row_properties(fx):
    page = fx.notion.pages.create(parent={"data_source_id": fx.data_source_id},
                                  properties={"Name": {"title": text("Py scratch")}, "Amount": {"number": 1}})
    updated = fx.notion.pages.update(page["id"], properties={
        "Amount": {"number": None}, "Done": {"checkbox": True}, "Tags": {"multi_select": [{"name": "alpha"}]}})
    assert updated["properties"]["Amount"]["number"] is None
    assert updated["properties"]["Done"]["checkbox"] is True
    assert [o["name"] for o in updated["properties"]["Tags"]["multi_select"]] == ["alpha"]
    fx.notion.pages.update(page["id"], in_trash=True)
    rows = collect_paginated_api(fx.notion.data_sources.query, data_source_id=fx.data_source_id,
                                 filter={"property": "Name", "title": {"equals": "Py scratch"}})
    assert rows == []


def test_property_items(fx, users):
    pid = fx.ctx["property_ids"]
    alpha = fx.rows["Alpha"]["id"]
    num = fx.notion.pages.properties.retrieve(alpha, pid["Amount"])
    assert num["object"] == "property_item" and num["type"] == "number" and num["number"] == 10
    assert fx.notion.pages.properties.retrieve(alpha, pid["Done"])["checkbox"] is True
    assert fx.notion.pages.properties.retrieve(alpha, pid["Priority"])["select"]["name"] == "High"

    title = fx.notion.pages.properties.retrieve(alpha, "title")
    assert title["object"] == "list" and title["type"] == "property_item"
    assert title["property_item"]["type"] == "title"
    assert title["results"][0]["title"]["plain_text"] == "Alpha"

    first = fx.notion.pages.properties.retrieve(fx.rows["Bravo"]["id"], pid["Related"], page_size=1)
    assert first["has_more"] is True and len(first["results"]) == 1
    related = collect_paginated_api(fx.notion.pages.properties.retrieve, page_id=fx.rows["Bravo"]["id"],
                                    property_id=pid["Related"], page_size=1)
    assert sorted(r["relation"]["id"].replace("-", "") for r in related) == \
        sorted(t["id"].replace("-", "") for t in fx.targets[:2])

    people = collect_paginated_api(fx.notion.pages.properties.retrieve, page_id=fx.rows["Charlie"]["id"],
                                   property_id=pid["Owners"])
    assert sorted(p["people"]["id"].replace("-", "") for p in people) == \
        sorted(users[k].replace("-", "") for k in ("ADA", "BEN"))


def test_row_validation_errors_name_the_property(fx):
    err = expect_api_error(lambda: fx.notion.pages.create(
        parent={"data_source_id": fx.data_source_id},
        properties={"Name": {"title": text("bad")}, "Amount": {"number": "ten"}}), APIErrorCode.ValidationError, 400)
    assert "Amount" in str(err) or "number" in str(err)
    err = expect_api_error(lambda: fx.notion.pages.create(
        parent={"data_source_id": fx.data_source_id},
        properties={"Name": {"title": text("bad")}, "Nonexistent": {"rich_text": text("x")}}),
        APIErrorCode.ValidationError, 400)
    assert "Nonexistent" in str(err)


def test_unknown_data_source(fx):
    expect_api_error(lambda: fx.notion.data_sources.retrieve("00000000-0000-4000-8000-000000000000"),
                     APIErrorCode.ObjectNotFound, 404)
