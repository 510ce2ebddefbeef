"""Data source queries: every property type's filter operators, compound filters, sorts, pagination."""

import datetime as dt
import json

import pytest
from notion_client import APIErrorCode, collect_paginated_api, iterate_paginated_api

from conftest import (
    DATASET, expect_api_error, is_empty_value, page_title, query_titles, resolve, same_id, this_week_candidates,
)

ALL = [r["Name"] for r in DATASET["rows"]]
FILTERS = DATASET["filters"]
NEGATED = [f for f in FILTERS if f.get("emptyRowsIncluded")]
SORTS = DATASET["sorts"]


def empty_rows_for(prop):
    return [r["Name"] for r in DATASET["rows"] if is_empty_value(r.get(prop))]


def parse_time(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


@pytest.mark.parametrize("case", FILTERS, ids=[f["name"] for f in FILTERS])
def test_filter_exact_result_set(fx, case):
    flt = resolve(case["filter"], fx.ctx)
    titles = query_titles(fx.notion, fx.data_source_id, filter=flt)
    assert len(set(titles)) == len(titles), f"duplicate rows in {titles}"
    ignore = set(case.get("ignore", []))
    if case.get("emptyRowsIncluded"):
        ignore |= set(empty_rows_for(case["emptyRowsIncluded"]))
    got = sorted(t for t in titles if t not in ignore)
    if case["expect"] == "$THIS_WEEK":
        options = this_week_candidates(fx.ctx)
        assert got in options, f"filter {json.dumps(flt)}: got {got}, expected one of {options}"
        return
    expected = sorted(t for t in case["expect"] if t not in ignore)
    assert got == expected, f"filter {json.dumps(flt)}"


@pytest.mark.parametrize("case", NEGATED, ids=[f["name"] for f in NEGATED])
def test_negated_operator_includes_rows_without_value(fx, case):
    titles = set(query_titles(fx.notion, fx.data_source_id, filter=resolve(case["filter"], fx.ctx)))
    missing = [r for r in empty_rows_for(case["emptyRowsIncluded"]) if r not in titles]
    assert not missing, f"rows with empty {case['emptyRowsIncluded']} missing: {missing} (got {sorted(titles)})"


@pytest.mark.parametrize("case", SORTS, ids=[s["name"] for s in SORTS])
def test_sort(fx, case):
    kwargs = {"sorts": case["sorts"]}
    if "filter" in case:
        kwargs["filter"] = resolve(case["filter"], fx.ctx)
    pages = collect_paginated_api(fx.notion.data_sources.query, data_source_id=fx.data_source_id, **kwargs)
    titles = [page_title(p) for p in pages]
    if "monotonic" in case:
        assert sorted(titles) == sorted(ALL)
        times = [parse_time(p[case["monotonic"]]) for p in pages]
        for a, b in zip(times, times[1:]):
            assert (a <= b) if case["direction"] == "ascending" else (a >= b), \
                f"{case['monotonic']} not {case['direction']}: {[(page_title(p), p[case['monotonic']]) for p in pages]}"
        return
    ignore = set(case.get("ignore", []))
    assert [t for t in titles if t not in ignore] == case["expect"], f"sorts {case['sorts']}"


def test_created_time_ascending_follows_creation_order_when_distinct(fx):
    pages = collect_paginated_api(fx.notion.data_sources.query, data_source_id=fx.data_source_id,
                                  sorts=[{"timestamp": "created_time", "direction": "ascending"}])
    times = [p["created_time"] for p in pages]
    if len(set(times)) == len(times):
        assert [page_title(p) for p in pages] == ALL


def test_pagination_page_size_2_iterates_every_row_once(fx):
    calls = []

    def query(**kwargs):
        res = fx.notion.data_sources.query(**kwargs)
        calls.append(res)
        return res

    pages = list(iterate_paginated_api(query, data_source_id=fx.data_source_id, page_size=2))
    assert sorted(page_title(p) for p in pages) == sorted(ALL)
    assert len({p["id"] for p in pages}) == len(ALL)
    assert len(calls) == (len(ALL) + 1) // 2
    for i, res in enumerate(calls):
        last = i == len(calls) - 1
        assert res["object"] == "list"
        assert len(res["results"]) <= 2
        assert res["has_more"] is (not last)
        if last:
            assert res["next_cursor"] is None
        else:
            assert isinstance(res["next_cursor"], str)


def test_pagination_keeps_sort_order(fx):
    sorts = [{"property": "Amount", "direction": "descending"}]
    assert query_titles(fx.notion, fx.data_source_id, sorts=sorts, page_size=2) == \
        query_titles(fx.notion, fx.data_source_id, sorts=sorts)


def test_pagination_with_filter_and_manual_cursor(fx):
    flt = {"property": "Done", "checkbox": {"equals": False}}
    titles, cursor = [], None
    for _ in range(10):
        kwargs = {"filter": flt, "page_size": 2}
        if cursor:
            kwargs["start_cursor"] = cursor
        res = fx.notion.data_sources.query(fx.data_source_id, **kwargs)
        titles += [page_title(p) for p in res["results"]]
        if not res["has_more"]:
            break
        cursor = res["next_cursor"]
    assert sorted(titles) == ["Bravo", "Delta", "Foxtrot", "Golf"]


def test_page_size_limit(fx):
    res = fx.notion.data_sources.query(fx.data_source_id, page_size=100)
    assert len(res["results"]) == len(ALL)
    err = expect_api_error(lambda: fx.notion.data_sources.query(fx.data_source_id, page_size=101),
                           APIErrorCode.ValidationError, 400)
    assert "page_size" in str(err)


def test_query_results_are_full_pages(fx):
    res = fx.notion.data_sources.query(fx.data_source_id, filter={"property": "Name", "title": {"equals": "Alpha"}})
    assert len(res["results"]) == 1
    page = res["results"][0]
    assert page["object"] == "page"
    assert same_id(page["id"], fx.rows["Alpha"]["id"])
    assert page["parent"]["type"] == "data_source_id"
    assert same_id(page["parent"]["data_source_id"], fx.data_source_id)
    assert page["properties"]["Amount"]["number"] == 10
    assert page["properties"]["Priority"]["select"]["name"] == "High"
    assert sorted(o["name"] for o in page["properties"]["Tags"]["multi_select"]) == ["alpha", "beta"]


def test_unknown_filter_property_is_named(fx):
    err = expect_api_error(
        lambda: fx.notion.data_sources.query(fx.data_source_id,
                                             filter={"property": "NoSuchProperty", "rich_text": {"equals": "x"}}),
        APIErrorCode.ValidationError, 400)
    assert "NoSuchProperty" in str(err)


def test_filter_type_mismatch(fx):
    expect_api_error(
        lambda: fx.notion.data_sources.query(fx.data_source_id, filter={"property": "Amount", "checkbox": {"equals": True}}),
        APIErrorCode.ValidationError, 400)


def test_unknown_sort_property_is_named(fx):
    err = expect_api_error(
        lambda: fx.notion.data_sources.query(fx.data_source_id,
                                             sorts=[{"property": "NoSuchSortProperty", "direction": "ascending"}]),
        APIErrorCode.ValidationError, 400)
    assert "NoSuchSortProperty" in str(err)


def test_three_level_nesting_rejected(fx):
    leaf = {"property": "Done", "checkbox": {"equals": True}}
    expect_api_error(
        lambda: fx.notion.data_sources.query(fx.data_source_id,
                                             filter={"and": [{"or": [{"and": [leaf, leaf]}, leaf]}, leaf]}),
        APIErrorCode.ValidationError, 400)
