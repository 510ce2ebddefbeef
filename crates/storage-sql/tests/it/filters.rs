//! The SQL filter and sort agree with `document`'s in-memory evaluator on random rows,
//! random filters (every property type, nested two levels) and random sorts.

use std::collections::BTreeMap;

use document::data_source::{PropertySchema, SelectOption};
use document::filter::{
    Condition, ContainsCondition, DateCondition, Filter, NumberCondition, OptionCondition, Sort,
    SortDirection, TextCondition, TimestampKind, compare_rows, index_entries,
};
use document::property::DateValue;
use document::{Color, DataSource, Id, Page, Parent, PropertyConfig, PropertyValue, RichText};
use proptest::prelude::*;
use storage_sql::{Node, Position, RowPlan, RowQuery, Store};

const NOW: i64 = 1_780_000_000_000;
const DAY: i64 = 86_400_000;

fn people() -> Vec<Id> {
    (1..=3).map(|n| Id::from_u128(0x1000 + n)).collect()
}

fn related() -> Vec<Id> {
    (1..=3).map(|n| Id::from_u128(0x2000 + n)).collect()
}

fn options(names: &[&str]) -> Vec<SelectOption> {
    names
        .iter()
        .map(|n| SelectOption {
            id: format!("opt-{n}"),
            name: n.to_string(),
            color: Color::Default,
        })
        .collect()
}

fn schema() -> DataSource {
    let property = |id: &str, name: &str, config| PropertySchema {
        id: id.into(),
        name: name.into(),
        description: String::new(),
        config,
    };
    DataSource {
        id: Id::from_u128(0xD5),
        database_id: Id::from_u128(0xDB),
        title: vec![RichText::plain("Rows")],
        description: Vec::new(),
        icon: None,
        properties: vec![
            property("title", "Name", PropertyConfig::Title),
            property("text", "Notes", PropertyConfig::RichText),
            property(
                "num",
                "Count",
                PropertyConfig::Number {
                    format: "number".into(),
                },
            ),
            property(
                "sel",
                "Kind",
                PropertyConfig::Select {
                    options: options(&["Alpha", "beta", "Gamma"]),
                },
            ),
            property(
                "multi",
                "Tags",
                PropertyConfig::MultiSelect {
                    options: options(&["x", "Y", "z"]),
                },
            ),
            property("status", "Status", PropertyConfig::default_status()),
            property("date", "Due", PropertyConfig::Date),
            property("check", "Done", PropertyConfig::Checkbox),
            property("people", "Owner", PropertyConfig::People),
            property(
                "rel",
                "Related",
                PropertyConfig::Relation {
                    data_source_id: Id::from_u128(0xD6),
                    database_id: Id::from_u128(0xDC),
                },
            ),
            property("url", "Link", PropertyConfig::Url),
            property("created", "Created", PropertyConfig::CreatedTime),
        ],
        in_trash: false,
        created_time: 0,
        created_by: people()[0],
        last_edited_time: 0,
        last_edited_by: people()[0],
    }
}

/// Short strings over an alphabet with case and non-ASCII letters, so folding matters.
fn word() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[aAbBéÉ ]{0,4}").unwrap()
}

fn row_values() -> impl Strategy<Value = BTreeMap<String, PropertyValue>> {
    (
        word(),
        word(),
        proptest::option::of(-3i32..4),
        proptest::option::of(prop::sample::select(vec![
            "opt-Alpha",
            "opt-beta",
            "opt-Gamma",
        ])),
        prop::sample::subsequence(vec!["opt-x", "opt-Y", "opt-z"], 0..=3),
        proptest::option::of(prop::sample::select(vec![
            "not-started",
            "in-progress",
            "done",
        ])),
        proptest::option::of(-10i64..10),
        any::<Option<bool>>(),
        prop::sample::subsequence(people(), 0..=3),
        prop::sample::subsequence(related(), 0..=2),
        proptest::option::of(word()),
    )
        .prop_map(
            |(title, text, num, sel, multi, status, date, check, owners, rel, url)| {
                let mut values = BTreeMap::new();
                values.insert(
                    "title".into(),
                    PropertyValue::Title(if title.is_empty() {
                        vec![]
                    } else {
                        vec![RichText::plain(title)]
                    }),
                );
                values.insert(
                    "text".into(),
                    PropertyValue::RichText(if text.is_empty() {
                        vec![]
                    } else {
                        vec![RichText::plain(text)]
                    }),
                );
                values.insert("num".into(), PropertyValue::Number(num.map(f64::from)));
                values.insert("sel".into(), PropertyValue::Select(sel.map(String::from)));
                values.insert(
                    "multi".into(),
                    PropertyValue::MultiSelect(multi.into_iter().map(String::from).collect()),
                );
                values.insert(
                    "status".into(),
                    PropertyValue::Status(status.map(String::from)),
                );
                let date = date.map(|d| DateValue::on(document::time::format_date(NOW + d * DAY)));
                values.insert("date".into(), PropertyValue::Date(date));
                // A missing checkbox stands for a row created before the property existed.
                if let Some(check) = check {
                    values.insert("check".into(), PropertyValue::Checkbox(check));
                }
                values.insert("people".into(), PropertyValue::People(owners));
                values.insert("rel".into(), PropertyValue::Relation(rel));
                values.insert(
                    "url".into(),
                    PropertyValue::Url(url.filter(|u| !u.trim().is_empty())),
                );
                values
            },
        )
}

fn text_condition() -> impl Strategy<Value = TextCondition> {
    prop_oneof![
        word().prop_map(TextCondition::Equals),
        word().prop_map(TextCondition::DoesNotEqual),
        word().prop_map(TextCondition::Contains),
        word().prop_map(TextCondition::DoesNotContain),
        word().prop_map(TextCondition::StartsWith),
        word().prop_map(TextCondition::EndsWith),
        Just(TextCondition::IsEmpty),
        Just(TextCondition::IsNotEmpty),
    ]
}

fn date_condition() -> impl Strategy<Value = DateCondition> {
    let day = (-10i64..10).prop_map(|d| document::time::format_date(NOW + d * DAY));
    prop_oneof![
        day.clone().prop_map(DateCondition::Equals),
        day.clone().prop_map(DateCondition::Before),
        day.clone().prop_map(DateCondition::After),
        day.clone().prop_map(DateCondition::OnOrBefore),
        day.prop_map(DateCondition::OnOrAfter),
        Just(DateCondition::IsEmpty),
        Just(DateCondition::IsNotEmpty),
        Just(DateCondition::PastWeek),
        Just(DateCondition::NextWeek),
        Just(DateCondition::ThisWeek),
        Just(DateCondition::PastMonth),
        Just(DateCondition::NextYear),
    ]
}

fn contains_id(ids: Vec<Id>) -> impl Strategy<Value = ContainsCondition<Id>> {
    prop_oneof![
        prop::sample::select(ids.clone()).prop_map(ContainsCondition::Contains),
        prop::sample::select(ids).prop_map(ContainsCondition::DoesNotContain),
        Just(ContainsCondition::IsEmpty),
        Just(ContainsCondition::IsNotEmpty),
    ]
}

fn leaf() -> impl Strategy<Value = Filter> {
    let property = |name: &str, type_name: &str, condition: Condition| Filter::Property {
        property: name.into(),
        type_name: type_name.into(),
        condition,
    };
    let number = prop_oneof![
        (-3i32..4).prop_map(|n| NumberCondition::Equals(n.into())),
        (-3i32..4).prop_map(|n| NumberCondition::DoesNotEqual(n.into())),
        (-3i32..4).prop_map(|n| NumberCondition::GreaterThan(n.into())),
        (-3i32..4).prop_map(|n| NumberCondition::LessThan(n.into())),
        (-3i32..4).prop_map(|n| NumberCondition::GreaterThanOrEqualTo(n.into())),
        (-3i32..4).prop_map(|n| NumberCondition::LessThanOrEqualTo(n.into())),
        Just(NumberCondition::IsEmpty),
        Just(NumberCondition::IsNotEmpty),
    ];
    let option_names = vec!["Alpha", "beta", "Gamma", "Missing"];
    let option = prop_oneof![
        prop::sample::select(option_names.clone()).prop_map(|n| OptionCondition::Equals(n.into())),
        prop::sample::select(option_names).prop_map(|n| OptionCondition::DoesNotEqual(n.into())),
        Just(OptionCondition::IsEmpty),
        Just(OptionCondition::IsNotEmpty),
    ];
    let status_names = vec!["Not started", "In progress", "Done"];
    let status = prop_oneof![
        prop::sample::select(status_names.clone()).prop_map(|n| OptionCondition::Equals(n.into())),
        prop::sample::select(status_names).prop_map(|n| OptionCondition::DoesNotEqual(n.into())),
        Just(OptionCondition::IsEmpty),
    ];
    let multi = prop_oneof![
        prop::sample::select(vec!["x", "Y", "z"])
            .prop_map(|n| ContainsCondition::Contains(n.to_string())),
        prop::sample::select(vec!["x", "Y", "z"])
            .prop_map(|n| ContainsCondition::DoesNotContain(n.to_string())),
        Just(ContainsCondition::IsEmpty),
        Just(ContainsCondition::IsNotEmpty),
    ];
    prop_oneof![
        text_condition().prop_map(move |c| property("Name", "title", Condition::Text(c))),
        text_condition().prop_map(move |c| property("text", "rich_text", Condition::Text(c))),
        text_condition().prop_map(move |c| property("Link", "url", Condition::Text(c))),
        number.prop_map(move |c| property("Count", "number", Condition::Number(c))),
        option.prop_map(move |c| property("Kind", "select", Condition::Option(c))),
        status.prop_map(move |c| property("Status", "status", Condition::Option(c))),
        multi.prop_map(move |c| property("Tags", "multi_select", Condition::Contains(c))),
        date_condition().prop_map(move |c| property("Due", "date", Condition::Date(c))),
        any::<bool>().prop_map(move |b| property(
            "Done",
            "checkbox",
            Condition::Checkbox { equals: b }
        )),
        contains_id(people()).prop_map(move |c| property(
            "Owner",
            "people",
            Condition::ContainsId(c)
        )),
        contains_id(related()).prop_map(move |c| property(
            "Related",
            "relation",
            Condition::ContainsId(c)
        )),
        date_condition().prop_map(|c| Filter::Timestamp {
            kind: TimestampKind::CreatedTime,
            condition: c
        }),
    ]
}

fn filter() -> impl Strategy<Value = Filter> {
    // Nested two levels, as the API allows.
    let level1 = prop_oneof![
        leaf(),
        prop::collection::vec(leaf(), 0..3).prop_map(Filter::And),
        prop::collection::vec(leaf(), 0..3).prop_map(Filter::Or),
    ];
    prop_oneof![
        leaf(),
        prop::collection::vec(level1.clone(), 0..3).prop_map(Filter::And),
        prop::collection::vec(level1, 0..3).prop_map(Filter::Or),
    ]
}

fn sorts() -> impl Strategy<Value = Vec<Sort>> {
    let direction = prop_oneof![
        Just(SortDirection::Ascending),
        Just(SortDirection::Descending)
    ];
    let sort = (
        prop::sample::select(vec![
            "Name", "Count", "Kind", "Due", "Done", "Tags", "Link", "Status", "Created",
        ]),
        direction.clone(),
    )
        .prop_map(|(p, d)| Sort::Property {
            property: p.into(),
            direction: d,
        });
    let timestamp = direction.prop_map(|d| Sort::Timestamp {
        kind: TimestampKind::LastEditedTime,
        direction: d,
    });
    prop::collection::vec(prop_oneof![sort, timestamp], 0..3)
}

fn make_rows(values: Vec<BTreeMap<String, PropertyValue>>, data_source: &DataSource) -> Vec<Page> {
    values
        .into_iter()
        .enumerate()
        .map(|(index, properties)| Page {
            id: Id::from_u128(0xA000_0000 + (index as u128 * 7919) % 1000),
            parent: Parent::DataSource {
                data_source_id: data_source.id,
                database_id: data_source.database_id,
            },
            properties,
            icon: None,
            cover: None,
            in_trash: false,
            is_locked: false,
            // Few distinct creation times, so ties exercise the id tie-break.
            created_time: NOW + (index as i64 % 4 - 2) * DAY,
            created_by: people()[index % 3],
            last_edited_time: NOW - (index as i64 % 3) * DAY,
            last_edited_by: people()[index % 3],
        })
        .collect()
}

async fn setup(store: &Store, rows: &[Page], data_source: &DataSource) {
    let mut tx = store.write().await.unwrap();
    if tx.get_node(data_source.id).await.unwrap().is_none() {
        tx.insert_node(&Node::DataSource(data_source.clone()), true, Position::End)
            .await
            .unwrap();
    }
    for row in rows {
        tx.insert_node(&Node::Page(row.clone()), true, Position::End)
            .await
            .unwrap();
        tx.replace_row_values(row.id, data_source.id, &index_entries(row, data_source))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

fn expected(
    rows: &[Page],
    data_source: &DataSource,
    filter: &Option<Filter>,
    sorts: &[Sort],
) -> Vec<Id> {
    let predicate = filter
        .as_ref()
        .map(|f| f.resolve(data_source, NOW).unwrap());
    let resolved: Vec<_> = sorts
        .iter()
        .map(|s| s.resolve(data_source, "sorts").unwrap())
        .collect();
    let mut matching: Vec<(&Page, Vec<_>)> = rows
        .iter()
        .map(|row| (row, index_entries(row, data_source)))
        .filter(|(_, entries)| predicate.as_ref().is_none_or(|p| p.matches(entries)))
        .collect();
    matching.sort_by(|a, b| {
        compare_rows(
            (&a.1, a.0.created_time, a.0.id),
            (&b.1, b.0.created_time, b.0.id),
            &resolved,
        )
    });
    matching.into_iter().map(|(row, _)| row.id).collect()
}

/// All matching ids through one plan, page by page (`page_size` rows at a time).
async fn actual(
    store: &Store,
    data_source: &DataSource,
    filter: &Option<Filter>,
    sorts: &[Sort],
    plan: Option<RowPlan>,
    page_size: i64,
) -> Vec<Id> {
    let predicate = filter
        .as_ref()
        .map(|f| f.resolve(data_source, NOW).unwrap());
    let resolved: Vec<_> = sorts
        .iter()
        .map(|s| s.resolve(data_source, "sorts").unwrap())
        .collect();
    let mut ids = Vec::new();
    let mut start = None;
    loop {
        let mut tx = store.read().await.unwrap();
        let page = tx
            .query_rows(&RowQuery {
                data_source_id: data_source.id,
                predicate: predicate.clone(),
                sorts: resolved.clone(),
                start,
                limit: page_size,
                plan,
            })
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(page.ids.len() as i64 <= page_size);
        ids.extend(page.ids);
        match page.next {
            Some(next) => start = Some(next),
            None => return ids,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn sql_filters_and_sorts_agree_with_the_evaluator(
        values in prop::collection::vec(row_values(), 0..25),
        filters in prop::collection::vec(proptest::option::of(filter()), 1..6),
        sort_sets in prop::collection::vec(sorts(), 1..4),
    ) {
        let runtime = super::runtime();
        runtime.block_on(async {
            let data_source = schema();
            let rows = make_rows(values, &data_source);
            for (dialect, store) in super::stores().await {
                setup(&store, &rows, &data_source).await;
                for filter in &filters {
                    for sorts in &sort_sets {
                        let want = expected(&rows, &data_source, filter, sorts);
                        for plan in [None, Some(RowPlan::SetDriven), Some(RowPlan::OrderDriven)] {
                            for page_size in [1_000, 4] {
                                let got = actual(&store, &data_source, filter, sorts, plan, page_size).await;
                                prop_assert_eq!(&got, &want, "{}: plan {:?} page size {} filter {:?} sorts {:?}", dialect, plan, page_size, filter, sorts);
                            }
                        }
                    }
                }
                store.close().await;
            }
            Ok(())
        })?;
    }
}

#[test]
fn a_filter_on_a_missing_property_or_wrong_type_is_a_validation_error() {
    let data_source = schema();
    let missing = Filter::Property {
        property: "Nope".into(),
        type_name: "number".into(),
        condition: Condition::Number(NumberCondition::IsEmpty),
    };
    let error = missing.resolve(&data_source, NOW).unwrap_err();
    assert_eq!(error.field, "filter.property");
    let wrong = Filter::Property {
        property: "Count".into(),
        type_name: "select".into(),
        condition: Condition::Option(OptionCondition::IsEmpty),
    };
    let error = wrong.resolve(&data_source, NOW).unwrap_err();
    assert!(error.message.contains("number"), "{}", error.message);
    let deep = Filter::And(vec![Filter::Or(vec![Filter::And(vec![])])]);
    assert!(
        deep.resolve(&data_source, NOW).is_err(),
        "three levels of nesting must be refused"
    );
}
