//! Tests of the Notion JSON mapping: requests parse into the domain, responses render in
//! Notion's shapes, and what renders parses back to the same value.

use std::collections::BTreeMap;

use document::block::{Block, BlockKind, NewBlock, TextContent};
use document::data_source::{DataSource, Database, PropertySchema, SelectOption};
use document::filter::{
    Condition, ContainsCondition, DateCondition, Filter, NumberCondition, OptionCondition, Sort,
    SortDirection, TextCondition, TimestampKind,
};
use document::property::{OptionInput, PropertyInput};
use document::{
    Annotations, Color, DateValue, Icon, Id, Mention, Page, Parent, PropertyConfig, PropertyValue,
    RichText, RichTextKind,
};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::render;

const PAGE_ID: &str = "5c6a2821-6bb1-4a7e-b6e1-c50111515c3d";
const USER_ID: &str = "e79a0b74-3aba-4149-9f74-0bb5791a6ee6";
const DATA_SOURCE_ID: &str = "1a44be12-0953-4631-b498-9e5817518db8";
const DATABASE_ID: &str = "bc1211ca-e3f1-4939-ae34-5260b16f627c";
/// 2024-05-01T09:30:00.000Z
const T0: i64 = 1_714_555_800_000;

fn uuid(text: &str) -> Id {
    Id::parse(text).unwrap()
}

fn error_of<T: std::fmt::Debug>(result: document::Result<T>) -> document::Error {
    result.expect_err("should have failed")
}

fn text(content: &str) -> Value {
    json!([{ "type": "text", "text": { "content": content } }])
}

// ----- ids and parents -------------------------------------------------------------------

#[test]
fn ids_parse_with_and_without_dashes() {
    let dashed = id(&json!(PAGE_ID), "page_id").unwrap();
    let compact = id(&json!(PAGE_ID.replace('-', "")), "page_id").unwrap();
    assert_eq!(dashed, compact);
    assert_eq!(dashed.to_string(), PAGE_ID);
}

#[test]
fn invalid_ids_name_the_field_and_the_value() {
    let error = error_of(id(&json!("not-an-id"), "parent.page_id"));
    assert_eq!(error.field, "parent.page_id");
    assert_eq!(
        error.message,
        "should be a valid uuid, instead was `\"not-an-id\"`"
    );
    let error = error_of(id(&json!(42), "parent.page_id"));
    assert_eq!(error.message, "should be a string, instead was `42`");
}

#[test]
fn parents_in_every_form() {
    let page = uuid(PAGE_ID);
    let compact = PAGE_ID.replace('-', "");
    let cases = [
        (json!({ "page_id": PAGE_ID }), ParentRef::Page(page)),
        (
            json!({ "type": "page_id", "page_id": compact }),
            ParentRef::Page(page),
        ),
        (json!({ "block_id": PAGE_ID }), ParentRef::Block(page)),
        (
            json!({ "type": "block_id", "block_id": PAGE_ID }),
            ParentRef::Block(page),
        ),
        (json!({ "database_id": PAGE_ID }), ParentRef::Database(page)),
        (
            json!({ "data_source_id": PAGE_ID }),
            ParentRef::DataSource(page),
        ),
        (
            json!({ "type": "data_source_id", "data_source_id": PAGE_ID, "database_id": DATABASE_ID }),
            ParentRef::DataSource(page),
        ),
        (
            json!({ "data_source_id": PAGE_ID, "database_id": DATABASE_ID }),
            ParentRef::DataSource(page),
        ),
        (json!({ "workspace": true }), ParentRef::Workspace),
        (
            json!({ "type": "workspace", "workspace": true }),
            ParentRef::Workspace,
        ),
    ];
    for (value, expected) in cases {
        assert_eq!(parent(&value, "parent").unwrap(), expected, "{value}");
    }
}

#[test]
fn bad_parents_name_the_field() {
    let error = error_of(parent(&json!({ "type": "page_id" }), "parent"));
    assert_eq!(error.field, "parent.page_id");
    assert_eq!(error.message, "should be defined");
    let error = error_of(parent(&json!({ "workspace": false }), "parent"));
    assert_eq!(error.field, "parent.workspace");
    let error = error_of(parent(
        &json!({ "type": "agent_id", "agent_id": PAGE_ID }),
        "parent",
    ));
    assert_eq!(error.field, "parent.type");
    assert!(
        error
            .message
            .contains("`agent_id` is not a supported parent type"),
        "{}",
        error.message
    );
    let error = error_of(parent(&json!({}), "parent"));
    assert_eq!(error.field, "parent");
    let error = error_of(parent(&json!({ "page_id": "x" }), "parent"));
    assert_eq!(error.field, "parent.page_id");
}

// ----- rich text -------------------------------------------------------------------------

fn sample_runs() -> Vec<RichText> {
    let mut bold_link = RichText::link("Trellis", "https://example.com/docs");
    bold_link.annotations = Annotations {
        bold: true,
        italic: true,
        strikethrough: true,
        underline: true,
        code: true,
        color: Color::RedBackground,
    };
    let mut equation = RichText::plain("");
    equation.kind = RichTextKind::Equation {
        expression: "e^{i\\pi} + 1 = 0".into(),
    };
    equation.annotations.color = Color::Blue;
    vec![
        RichText::plain("Hello, "),
        bold_link,
        RichText::mention(Mention::User(uuid(USER_ID))),
        RichText::mention(Mention::Page(uuid(PAGE_ID))),
        RichText::mention(Mention::Database(uuid(DATABASE_ID))),
        RichText::mention(Mention::Date(DateValue {
            start: "2024-05-01".into(),
            end: Some("2024-05-03".into()),
            time_zone: None,
        })),
        RichText::mention(Mention::Date(DateValue {
            start: "2024-05-01T09:30:00.000+02:00".into(),
            end: None,
            time_zone: Some("Europe/Paris".into()),
        })),
        equation,
    ]
}

#[test]
fn rich_text_round_trips_through_render_and_parse() {
    let runs = sample_runs();
    let rendered = render::rich_text(&runs);
    assert_eq!(rich_text(&rendered, "rich_text").unwrap(), runs);
}

#[test]
fn rich_text_renders_notion_shapes() {
    let rendered = render::rich_text(&sample_runs());
    assert_eq!(
        rendered[0],
        json!({
            "type": "text",
            "text": { "content": "Hello, ", "link": null },
            "annotations": {
                "bold": false, "italic": false, "strikethrough": false,
                "underline": false, "code": false, "color": "default",
            },
            "plain_text": "Hello, ",
            "href": null,
        })
    );
    assert_eq!(
        rendered[1]["text"]["link"],
        json!({ "url": "https://example.com/docs" })
    );
    assert_eq!(rendered[1]["href"], "https://example.com/docs");
    assert_eq!(rendered[1]["annotations"]["color"], "red_background");
    assert_eq!(rendered[1]["annotations"]["code"], true);
    assert_eq!(
        rendered[2]["mention"],
        json!({ "type": "user", "user": { "object": "user", "id": USER_ID } })
    );
    assert_eq!(rendered[2]["type"], "mention");
    assert_eq!(
        rendered[3]["mention"],
        json!({ "type": "page", "page": { "id": PAGE_ID } })
    );
    assert_eq!(
        rendered[4]["mention"],
        json!({ "type": "database", "database": { "id": DATABASE_ID } })
    );
    assert_eq!(
        rendered[5]["mention"],
        json!({ "type": "date", "date": { "start": "2024-05-01", "end": "2024-05-03", "time_zone": null } })
    );
    assert_eq!(
        rendered[7]["equation"],
        json!({ "expression": "e^{i\\pi} + 1 = 0" })
    );
    assert_eq!(rendered[7]["plain_text"], "e^{i\\pi} + 1 = 0");
}

#[test]
fn rich_text_accepts_requests_without_type_or_annotations() {
    let value = json!([
        { "text": { "content": "a", "link": null } },
        { "mention": { "page": { "id": PAGE_ID.replace('-', "") } } },
        { "type": "equation", "equation": { "expression": "x" }, "annotations": { "italic": true } },
    ]);
    let runs = rich_text(&value, "rich_text").unwrap();
    assert_eq!(runs[0], RichText::plain("a"));
    assert_eq!(runs[1], RichText::mention(Mention::Page(uuid(PAGE_ID))));
    assert!(runs[2].annotations.italic);
    assert!(!runs[2].annotations.bold);
}

#[test]
fn rich_text_errors_name_the_exact_field() {
    let long = "x".repeat(2_001);
    let value = json!([{ "text": { "content": "ok" } }, { "text": { "content": long } }]);
    let error = error_of(rich_text(&value, "properties.Notes.rich_text"));
    assert_eq!(error.field, "properties.Notes.rich_text[1].text.content");
    assert_eq!(error.message, "length should be ≤ 2000, instead was 2001");

    let exactly = json!([{ "text": { "content": "x".repeat(2_000) } }]);
    assert!(rich_text(&exactly, "rich_text").is_ok());

    let error = error_of(rich_text(
        &json!([{ "text": { "content": 42 } }]),
        "rich_text",
    ));
    assert_eq!(error.field, "rich_text[0].text.content");
    assert_eq!(error.message, "should be a string, instead was `42`");

    let error = error_of(rich_text(&json!([{ "text": {} }]), "rich_text"));
    assert_eq!(error.field, "rich_text[0].text.content");
    assert_eq!(error.message, "should be defined");

    let error = error_of(rich_text(
        &json!([{ "type": "text", "text": { "content": "a" }, "annotations": { "color": "teal" } }]),
        "rich_text",
    ));
    assert_eq!(error.field, "rich_text[0].annotations.color");

    let error = error_of(rich_text(
        &json!([{ "mention": { "link_preview": { "url": "x" } } }]),
        "rich_text",
    ));
    assert_eq!(error.field, "rich_text[0].mention.link_preview");

    let error = error_of(rich_text(
        &json!([{ "mention": { "date": { "start": "soon" } } }]),
        "rich_text",
    ));
    assert_eq!(error.field, "rich_text[0].mention.date.start");

    let error = error_of(rich_text(&json!("hello"), "rich_text"));
    assert_eq!(error.message, "should be an array, instead was `\"hello\"`");

    let many: Vec<Value> = (0..101)
        .map(|_| json!({ "text": { "content": "a" } }))
        .collect();
    let error = error_of(rich_text(&Value::Array(many), "rich_text"));
    assert_eq!(error.field, "rich_text");
    assert_eq!(
        error.message,
        "should have at most 100 items, instead has 101"
    );
}

fn color_strategy() -> impl Strategy<Value = Color> {
    proptest::sample::select(Color::ALL.to_vec())
}

fn run_strategy() -> impl Strategy<Value = RichText> {
    let kind = prop_oneof![
        (
            "[a-zA-Z0-9 ,.!é漢]{0,40}",
            proptest::option::of("https://[a-z]{1,10}\\.com/[a-z]{0,8}")
        )
            .prop_map(|(content, link)| RichTextKind::Text { content, link }),
        "[a-z0-9^+= ]{1,20}".prop_map(|expression| RichTextKind::Equation { expression }),
        any::<u128>().prop_map(|n| RichTextKind::Mention(Mention::User(Id::from_u128(n)))),
        any::<u128>().prop_map(|n| RichTextKind::Mention(Mention::Page(Id::from_u128(n)))),
        any::<u128>().prop_map(|n| RichTextKind::Mention(Mention::Database(Id::from_u128(n)))),
        (2000u32..2100, 1u32..13, 1u32..29).prop_map(|(y, m, d)| RichTextKind::Mention(
            Mention::Date(DateValue::on(format!("{y}-{m:02}-{d:02}")))
        )),
    ];
    let annotations =
        (any::<[bool; 5]>(), color_strategy()).prop_map(|(flags, color)| Annotations {
            bold: flags[0],
            italic: flags[1],
            strikethrough: flags[2],
            underline: flags[3],
            code: flags[4],
            color,
        });
    (kind, annotations).prop_map(|(kind, annotations)| RichText {
        kind,
        annotations,
        display: None,
    })
}

proptest! {
    #[test]
    fn any_rich_text_round_trips(runs in proptest::collection::vec(run_strategy(), 0..8)) {
        let rendered = render::rich_text(&runs);
        prop_assert_eq!(rich_text(&rendered, "rich_text").unwrap(), runs);
    }
}

// ----- icons and covers ------------------------------------------------------------------

#[test]
fn icons_and_covers() {
    assert_eq!(icon(&json!(null), "icon").unwrap(), None);
    assert_eq!(
        icon(&json!({ "type": "emoji", "emoji": "🧪" }), "icon").unwrap(),
        Some(Icon::Emoji("🧪".into()))
    );
    assert_eq!(
        icon(&json!({ "emoji": "✅" }), "icon").unwrap(),
        Some(Icon::Emoji("✅".into()))
    );
    let external =
        json!({ "type": "external", "external": { "url": "https://example.com/i.png" } });
    assert_eq!(
        icon(&external, "icon").unwrap(),
        Some(Icon::External("https://example.com/i.png".into()))
    );
    assert_eq!(
        cover(&external, "cover").unwrap(),
        Some("https://example.com/i.png".into())
    );
    assert_eq!(cover(&json!(null), "cover").unwrap(), None);
    assert_eq!(
        render::icon(Some(&Icon::Emoji("🧪".into()))),
        json!({ "type": "emoji", "emoji": "🧪" })
    );
    assert_eq!(render::cover(Some("https://example.com/i.png")), external);

    let error = error_of(icon(
        &json!({ "type": "file_upload", "file_upload": { "id": "x" } }),
        "icon",
    ));
    assert_eq!(error.field, "icon.type");
    let error = error_of(icon(&json!({ "type": "emoji", "emoji": "" }), "icon"));
    assert_eq!(error.field, "icon.emoji");
    let error = error_of(cover(&json!({ "external": { "url": "" } }), "cover"));
    assert_eq!(error.field, "cover.external.url");
    let error = error_of(cover(&json!({ "external": {} }), "cover"));
    assert_eq!(error.field, "cover.external.url");
}

// ----- blocks ----------------------------------------------------------------------------

fn stored(kind: BlockKind, parent: Parent) -> Block {
    Block {
        id: uuid(PAGE_ID),
        parent,
        kind,
        has_children: false,
        in_trash: false,
        created_time: T0,
        created_by: uuid(USER_ID),
        last_edited_time: T0 + 1_000,
        last_edited_by: uuid(USER_ID),
    }
}

/// Request JSON for every block type, as Notion's reference documents it, with the kind it
/// must parse to.
fn documented_blocks() -> Vec<(Value, BlockKind)> {
    let content = |s: &str| TextContent {
        rich_text: vec![RichText::plain(s)],
        color: Color::Default,
    };
    let colored = |s: &str, color| TextContent {
        rich_text: vec![RichText::plain(s)],
        color,
    };
    vec![
        (
            json!({ "object": "block", "type": "paragraph", "paragraph": { "rich_text": text("Lacinato kale"), "color": "default" } }),
            BlockKind::Paragraph(content("Lacinato kale")),
        ),
        (
            json!({ "type": "heading_1", "heading_1": { "rich_text": text("One"), "color": "blue", "is_toggleable": false } }),
            BlockKind::Heading1 {
                text: colored("One", Color::Blue),
                is_toggleable: false,
            },
        ),
        (
            json!({ "heading_2": { "rich_text": text("Two"), "is_toggleable": true } }),
            BlockKind::Heading2 {
                text: content("Two"),
                is_toggleable: true,
            },
        ),
        (
            json!({ "type": "heading_3", "heading_3": { "rich_text": text("Three") } }),
            BlockKind::Heading3 {
                text: content("Three"),
                is_toggleable: false,
            },
        ),
        (
            json!({ "type": "bulleted_list_item", "bulleted_list_item": { "rich_text": text("Bullet"), "color": "gray_background" } }),
            BlockKind::BulletedListItem(colored("Bullet", Color::GrayBackground)),
        ),
        (
            json!({ "type": "numbered_list_item", "numbered_list_item": { "rich_text": text("Number") } }),
            BlockKind::NumberedListItem(content("Number")),
        ),
        (
            json!({ "type": "to_do", "to_do": { "rich_text": text("Finish"), "checked": true, "color": "default" } }),
            BlockKind::ToDo {
                text: content("Finish"),
                checked: true,
            },
        ),
        (
            json!({ "type": "toggle", "toggle": { "rich_text": text("Toggle") } }),
            BlockKind::Toggle(content("Toggle")),
        ),
        (
            json!({ "type": "quote", "quote": { "rich_text": text("Quote"), "color": "purple" } }),
            BlockKind::Quote(colored("Quote", Color::Purple)),
        ),
        (
            json!({ "type": "callout", "callout": { "rich_text": text("Note"), "icon": { "emoji": "⭐" }, "color": "default" } }),
            BlockKind::Callout {
                text: content("Note"),
                icon: Some(Icon::Emoji("⭐".into())),
            },
        ),
        (
            json!({ "type": "code", "code": { "caption": text("cap"), "rich_text": text("let x = 1;"), "language": "rust" } }),
            BlockKind::Code {
                rich_text: vec![RichText::plain("let x = 1;")],
                caption: vec![RichText::plain("cap")],
                language: "rust".into(),
            },
        ),
        (
            json!({ "type": "divider", "divider": {} }),
            BlockKind::Divider,
        ),
        (
            json!({ "type": "bookmark", "bookmark": { "caption": [], "url": "https://companywebsite.com" } }),
            BlockKind::Bookmark {
                url: "https://companywebsite.com".into(),
                caption: vec![],
            },
        ),
        (
            json!({ "type": "equation", "equation": { "expression": "e=mc^2" } }),
            BlockKind::Equation {
                expression: "e=mc^2".into(),
            },
        ),
        (
            json!({ "type": "table", "table": { "table_width": 2, "has_column_header": true, "has_row_header": false } }),
            BlockKind::Table {
                table_width: 2,
                has_column_header: true,
                has_row_header: false,
            },
        ),
        (
            json!({ "type": "table_row", "table_row": { "cells": [text("a"), text("b")] } }),
            BlockKind::TableRow {
                cells: vec![vec![RichText::plain("a")], vec![RichText::plain("b")]],
            },
        ),
    ]
}

#[test]
fn every_block_type_parses_from_documented_json_and_renders_back() {
    for (index, (request, expected)) in documented_blocks().into_iter().enumerate() {
        let parsed = block(&request, &format!("children[{index}]")).unwrap();
        assert_eq!(parsed, NewBlock::new(expected.clone()), "{request}");

        let rendered = render::block(&stored(expected.clone(), Parent::Page(uuid(PAGE_ID))), None);
        let type_name = expected.type_name();
        assert_eq!(rendered["type"], type_name);
        let type_object = &request[type_name];
        for (key, value) in type_object.as_object().unwrap() {
            if key == "rich_text" || key == "caption" || key == "cells" || key == "icon" {
                continue;
            }
            assert_eq!(&rendered[type_name][key], value, "{type_name}.{key}");
        }
        // What renders parses back to the same content.
        let reparsed = block(&rendered, "block").unwrap();
        assert_eq!(reparsed.kind, expected, "{rendered}");
    }
}

#[test]
fn rendered_blocks_have_notion_fields() {
    let kind = BlockKind::ToDo {
        text: TextContent {
            rich_text: vec![RichText::plain("Nested to-do")],
            color: Color::Default,
        },
        checked: false,
    };
    let mut block = stored(kind, Parent::Block(uuid(DATABASE_ID)));
    block.has_children = true;
    block.in_trash = true;
    let rendered = render::block(&block, None);
    assert_eq!(rendered["object"], "block");
    assert_eq!(rendered["id"], PAGE_ID);
    assert_eq!(
        rendered["parent"],
        json!({ "type": "block_id", "block_id": DATABASE_ID })
    );
    assert_eq!(rendered["created_time"], "2024-05-01T09:30:00.000Z");
    assert_eq!(rendered["last_edited_time"], "2024-05-01T09:30:01.000Z");
    assert_eq!(
        rendered["created_by"],
        json!({ "object": "user", "id": USER_ID })
    );
    assert_eq!(
        rendered["last_edited_by"],
        json!({ "object": "user", "id": USER_ID })
    );
    assert_eq!(rendered["has_children"], true);
    assert_eq!(rendered["in_trash"], true);
    assert_eq!(rendered["archived"], true);
    assert_eq!(rendered["to_do"]["checked"], false);
    assert_eq!(rendered["to_do"]["color"], "default");
    assert_eq!(
        rendered["to_do"]["rich_text"][0]["plain_text"],
        "Nested to-do"
    );

    let child_page = render::block(
        &stored(BlockKind::ChildPage, Parent::Page(uuid(PAGE_ID))),
        Some("Sub page"),
    );
    assert_eq!(child_page["child_page"], json!({ "title": "Sub page" }));
    assert_eq!(
        child_page["parent"],
        json!({ "type": "page_id", "page_id": PAGE_ID })
    );
    let child_database = render::block(
        &stored(BlockKind::ChildDatabase, Parent::Page(uuid(PAGE_ID))),
        Some("Tracker"),
    );
    assert_eq!(
        child_database["child_database"],
        json!({ "title": "Tracker" })
    );
    let divider = render::block(
        &stored(BlockKind::Divider, Parent::Page(uuid(PAGE_ID))),
        None,
    );
    assert_eq!(divider["divider"], json!({}));
}

#[test]
fn nested_children_parse_inside_the_type_object() {
    let value = json!([
        { "type": "heading_2", "heading_2": { "rich_text": text("Heading") } },
        {
            "type": "bulleted_list_item",
            "bulleted_list_item": {
                "rich_text": text("Bullet with children"),
                "children": [
                    { "type": "paragraph", "paragraph": { "rich_text": text("Nested") } },
                    { "type": "to_do", "to_do": { "rich_text": text("Nested to-do"), "checked": false } },
                ],
            },
        },
        {
            "type": "table",
            "table": {
                "table_width": 2,
                "children": [
                    { "type": "table_row", "table_row": { "cells": [text("a"), text("b")] } },
                    { "table_row": { "cells": [text("c"), []] } },
                ],
            },
        },
    ]);
    let parsed = blocks(&value, "children").unwrap();
    assert_eq!(parsed.len(), 3);
    assert_eq!(parsed[1].children.len(), 2);
    assert_eq!(parsed[1].children[1].kind.type_name(), "to_do");
    assert_eq!(parsed[2].children.len(), 2);
    assert_eq!(
        parsed[2].children[1].kind,
        BlockKind::TableRow {
            cells: vec![vec![RichText::plain("c")], vec![]]
        }
    );
}

#[test]
fn block_errors_name_the_exact_field() {
    let long = "y".repeat(2_001);
    let value = json!([
        { "paragraph": { "rich_text": text("ok") } },
        { "paragraph": { "rich_text": text("ok") } },
        { "type": "paragraph", "paragraph": { "rich_text": [{ "type": "text", "text": { "content": long } }] } },
    ]);
    let error = error_of(blocks(&value, "children"));
    assert_eq!(
        error.field,
        "children[2].paragraph.rich_text[0].text.content"
    );
    assert_eq!(error.message, "length should be ≤ 2000, instead was 2001");

    let nested = json!([{ "toggle": { "rich_text": [], "children": [{ "paragraph": { "rich_text": 7 } }] } }]);
    let error = error_of(blocks(&nested, "children"));
    assert_eq!(
        error.field,
        "children[0].toggle.children[0].paragraph.rich_text"
    );
    assert_eq!(error.message, "should be an array, instead was `7`");

    let error = error_of(blocks(
        &json!([{ "type": "image", "image": {} }]),
        "children",
    ));
    assert_eq!(error.field, "children[0].type");
    assert!(
        error
            .message
            .starts_with("`image` is not a supported block type"),
        "{}",
        error.message
    );
    let error = error_of(blocks(
        &json!([{ "embed": { "url": "https://x.com" } }]),
        "children",
    ));
    assert_eq!(error.field, "children[0].embed");

    let error = error_of(blocks(&json!([{ "type": "paragraph" }]), "children"));
    assert_eq!(error.field, "children[0].paragraph");
    assert_eq!(error.message, "should be defined");

    let error = error_of(blocks(
        &json!([{ "paragraph": { "rich_text": [] }, "children": [] }]),
        "children",
    ));
    assert_eq!(error.field, "children[0].children");

    let error = error_of(blocks(
        &json!([{ "code": { "rich_text": [], "language": "cobol-ish" } }]),
        "children",
    ));
    assert_eq!(error.field, "children[0].code.language");

    let error = error_of(blocks(
        &json!([{ "paragraph": { "rich_text": [], "color": "teal" } }]),
        "children",
    ));
    assert_eq!(error.field, "children[0].paragraph.color");

    // Children where the kind takes none, and a table whose rows do not match its width.
    let error = error_of(blocks(
        &json!([{ "divider": { "children": [{ "paragraph": { "rich_text": [] } }] } }]),
        "children",
    ));
    assert_eq!(error.field, "children[0].divider.children");
    let error = error_of(blocks(
        &json!([{ "table": { "table_width": 3, "children": [{ "table_row": { "cells": [[], []] } }] } }]),
        "children",
    ));
    assert_eq!(error.field, "children[0].table.children[0].table_row.cells");

    let many: Vec<Value> = (0..101).map(|_| json!({ "divider": {} })).collect();
    let error = error_of(blocks(&Value::Array(many), "children"));
    assert_eq!(error.field, "children");
    assert_eq!(
        error.message,
        "should have at most 100 items, instead has 101"
    );
}

#[test]
fn block_update_keeps_what_is_not_given() {
    let existing = BlockKind::ToDo {
        text: TextContent {
            rich_text: vec![RichText::plain("Nested to-do")],
            color: Color::Blue,
        },
        checked: false,
    };
    let updated = block_update(&json!({ "to_do": { "checked": true } }), &existing, "").unwrap();
    assert_eq!(
        updated,
        BlockKind::ToDo {
            text: TextContent {
                rich_text: vec![RichText::plain("Nested to-do")],
                color: Color::Blue
            },
            checked: true,
        }
    );

    let paragraph = BlockKind::Paragraph(TextContent {
        rich_text: vec![RichText::plain("old")],
        color: Color::Red,
    });
    let body = json!({ "paragraph": { "rich_text": [{ "type": "text", "text": { "content": "Edited" }, "annotations": { "bold": true } }] } });
    let BlockKind::Paragraph(content) = block_update(&body, &paragraph, "").unwrap() else {
        panic!("type changed");
    };
    assert_eq!(content.rich_text, vec![RichText::bold("Edited")]);
    assert_eq!(content.color, Color::Red);

    // A body with only in_trash changes nothing here.
    assert_eq!(
        block_update(&json!({ "in_trash": false }), &paragraph, "").unwrap(),
        paragraph
    );

    let code = BlockKind::Code {
        rich_text: vec![RichText::plain("x")],
        caption: vec![],
        language: "rust".into(),
    };
    let updated = block_update(&json!({ "code": { "language": "python" } }), &code, "").unwrap();
    assert_eq!(
        updated,
        BlockKind::Code {
            rich_text: vec![RichText::plain("x")],
            caption: vec![],
            language: "python".into()
        }
    );

    let callout = BlockKind::Callout {
        text: TextContent::default(),
        icon: Some(Icon::Emoji("⭐".into())),
    };
    let updated = block_update(&json!({ "callout": { "icon": null } }), &callout, "").unwrap();
    assert_eq!(
        updated,
        BlockKind::Callout {
            text: TextContent::default(),
            icon: None
        }
    );
}

#[test]
fn block_update_rejects_type_changes_and_bad_content() {
    let paragraph = BlockKind::Paragraph(TextContent::default());
    let error = error_of(block_update(
        &json!({ "heading_1": { "rich_text": text("nope") } }),
        &paragraph,
        "",
    ));
    assert_eq!(error.field, "heading_1");
    assert!(error.message.contains("paragraph"), "{}", error.message);

    let long = "z".repeat(2_001);
    let error = error_of(block_update(
        &json!({ "paragraph": { "rich_text": [{ "text": { "content": long } }] } }),
        &paragraph,
        "",
    ));
    assert_eq!(error.field, "paragraph.rich_text[0].text.content");

    let error = error_of(block_update(
        &json!({ "paragraph": { "children": [] } }),
        &paragraph,
        "",
    ));
    assert_eq!(error.field, "paragraph.children");

    let table = BlockKind::Table {
        table_width: 2,
        has_column_header: false,
        has_row_header: false,
    };
    let error = error_of(block_update(
        &json!({ "table": { "table_width": 3 } }),
        &table,
        "",
    ));
    assert_eq!(error.field, "table.table_width");
    let updated =
        block_update(&json!({ "table": { "has_row_header": true } }), &table, "").unwrap();
    assert_eq!(
        updated,
        BlockKind::Table {
            table_width: 2,
            has_column_header: false,
            has_row_header: true
        }
    );

    // Limits only the block's own validation knows, at the top of the body and under a prefix.
    let equation = BlockKind::Equation {
        expression: "x".into(),
    };
    let long_expression = json!({ "equation": { "expression": "x".repeat(1_001) } });
    let error = error_of(block_update(&long_expression, &equation, ""));
    assert_eq!(error.field, "equation.expression");
    let error = error_of(block_update(&long_expression, &equation, "body"));
    assert_eq!(error.field, "body.equation.expression");

    let row = BlockKind::TableRow {
        cells: vec![vec![], vec![]],
    };
    let error = error_of(block_update(
        &json!({ "table_row": { "cells": [[]] } }),
        &row,
        "",
    ));
    assert_eq!(error.field, "table_row.cells");
}

// ----- page property values --------------------------------------------------------------

fn option(id: &str, name: &str, color: Color) -> SelectOption {
    SelectOption {
        id: id.into(),
        name: name.into(),
        color,
    }
}

fn schema(id: &str, name: &str, config: PropertyConfig) -> PropertySchema {
    PropertySchema {
        id: id.into(),
        name: name.into(),
        description: String::new(),
        config,
    }
}

/// A data source with a property of every type, as the SDK suite's fixture has.
fn tracker() -> DataSource {
    let PropertyConfig::Status { groups, .. } = PropertyConfig::default_status() else {
        unreachable!()
    };
    DataSource {
        id: uuid(DATA_SOURCE_ID),
        database_id: uuid(DATABASE_ID),
        title: vec![RichText::plain("Tracker")],
        description: vec![],
        icon: None,
        properties: vec![
            schema("title", "Name", PropertyConfig::Title),
            schema("nts", "Notes", PropertyConfig::RichText),
            schema(
                "amt",
                "Amount",
                PropertyConfig::Number {
                    format: "number".into(),
                },
            ),
            schema(
                "pri",
                "Priority",
                PropertyConfig::Select {
                    options: vec![
                        option("hi", "High", Color::Red),
                        option("lo", "Low", Color::Green),
                    ],
                },
            ),
            schema(
                "tag",
                "Tags",
                PropertyConfig::MultiSelect {
                    options: vec![
                        option("al", "alpha", Color::Blue),
                        option("be", "beta", Color::Purple),
                    ],
                },
            ),
            schema(
                "stg",
                "Stage",
                PropertyConfig::Status {
                    options: vec![
                        option("not-started", "Not started", Color::Default),
                        option("in-progress", "In progress", Color::Blue),
                        option("done", "Done", Color::Green),
                    ],
                    groups,
                },
            ),
            schema("due", "Due", PropertyConfig::Date),
            schema("own", "Owners", PropertyConfig::People),
            schema("don", "Done", PropertyConfig::Checkbox),
            schema("web", "Website", PropertyConfig::Url),
            schema("eml", "Email", PropertyConfig::Email),
            schema("phn", "Phone", PropertyConfig::PhoneNumber),
            schema(
                "rel",
                "Related",
                PropertyConfig::Relation {
                    data_source_id: uuid(PAGE_ID),
                    database_id: uuid(DATABASE_ID),
                },
            ),
            schema("crt", "Created", PropertyConfig::CreatedTime),
            schema("crb", "Created by", PropertyConfig::CreatedBy),
            schema("edt", "Edited", PropertyConfig::LastEditedTime),
            schema("edb", "Edited by", PropertyConfig::LastEditedBy),
        ],
        in_trash: false,
        created_time: T0,
        created_by: uuid(USER_ID),
        last_edited_time: T0,
        last_edited_by: uuid(USER_ID),
    }
}

fn input(name: &str, value: Value) -> document::Result<PropertyInput> {
    let data_source = tracker();
    let property = data_source.property(name).unwrap();
    property_input(&value, property, &format!("properties.{name}"))
}

#[test]
fn property_inputs_of_every_type() {
    let user = uuid(USER_ID);
    let page = uuid(PAGE_ID);
    let value = |v| PropertyInput::Value(v);
    let cases = vec![
        (
            "Name",
            json!({ "title": text("Alpha") }),
            value(PropertyValue::Title(vec![RichText::plain("Alpha")])),
        ),
        (
            "Name",
            json!({ "type": "title", "title": [], "id": "title" }),
            value(PropertyValue::Title(vec![])),
        ),
        (
            "Notes",
            json!({ "rich_text": text("first") }),
            value(PropertyValue::RichText(vec![RichText::plain("first")])),
        ),
        (
            "Amount",
            json!({ "number": 20.5 }),
            value(PropertyValue::Number(Some(20.5))),
        ),
        (
            "Amount",
            json!({ "number": -5 }),
            value(PropertyValue::Number(Some(-5.0))),
        ),
        (
            "Amount",
            json!({ "number": null }),
            value(PropertyValue::Number(None)),
        ),
        (
            "Priority",
            json!({ "select": { "name": "High" } }),
            PropertyInput::Select(Some(OptionInput::Name("High".into()))),
        ),
        (
            "Priority",
            json!({ "select": { "id": "lo" } }),
            PropertyInput::Select(Some(OptionInput::Id("lo".into()))),
        ),
        (
            "Priority",
            json!({ "select": null }),
            PropertyInput::Select(None),
        ),
        (
            "Tags",
            json!({ "multi_select": [{ "name": "gamma" }, { "id": "al" }] }),
            PropertyInput::MultiSelect(vec![
                OptionInput::Name("gamma".into()),
                OptionInput::Id("al".into()),
            ]),
        ),
        (
            "Stage",
            json!({ "status": { "name": "Done" } }),
            PropertyInput::Status(Some(OptionInput::Name("Done".into()))),
        ),
        (
            "Stage",
            json!({ "status": null }),
            PropertyInput::Status(None),
        ),
        (
            "Due",
            json!({ "date": { "start": "2035-06-01", "end": "2035-06-05" } }),
            value(PropertyValue::Date(Some(DateValue {
                start: "2035-06-01".into(),
                end: Some("2035-06-05".into()),
                time_zone: None,
            }))),
        ),
        (
            "Due",
            json!({ "date": { "start": "2024-02-29T13:45:00.000+00:00", "end": null, "time_zone": "UTC" } }),
            value(PropertyValue::Date(Some(DateValue {
                start: "2024-02-29T13:45:00.000+00:00".into(),
                end: None,
                time_zone: Some("UTC".into()),
            }))),
        ),
        (
            "Due",
            json!({ "date": null }),
            value(PropertyValue::Date(None)),
        ),
        (
            "Owners",
            json!({ "people": [{ "object": "user", "id": USER_ID }] }),
            value(PropertyValue::People(vec![user])),
        ),
        (
            "Done",
            json!({ "checkbox": true }),
            value(PropertyValue::Checkbox(true)),
        ),
        (
            "Website",
            json!({ "url": "https://alpha.example.com" }),
            value(PropertyValue::Url(Some("https://alpha.example.com".into()))),
        ),
        (
            "Website",
            json!({ "url": null }),
            value(PropertyValue::Url(None)),
        ),
        (
            "Email",
            json!({ "email": "alpha@example.com" }),
            value(PropertyValue::Email(Some("alpha@example.com".into()))),
        ),
        (
            "Phone",
            json!({ "phone_number": "+1 555 0100" }),
            value(PropertyValue::PhoneNumber(Some("+1 555 0100".into()))),
        ),
        (
            "Phone",
            json!({ "phone_number": "" }),
            value(PropertyValue::PhoneNumber(None)),
        ),
        (
            "Related",
            json!({ "relation": [{ "id": PAGE_ID.replace('-', "") }], "has_more": false }),
            value(PropertyValue::Relation(vec![page])),
        ),
    ];
    for (name, request, expected) in cases {
        assert_eq!(
            input(name, request.clone()).unwrap(),
            expected,
            "{name}: {request}"
        );
    }
}

#[test]
fn property_input_errors_name_the_field() {
    let error = error_of(input("Amount", json!({ "number": "ten" })));
    assert_eq!(error.field, "properties.Amount.number");
    assert_eq!(
        error.message,
        "should be a number or `null`, instead was `\"ten\"`"
    );

    let error = error_of(input("Amount", json!({ "rich_text": text("10") })));
    assert_eq!(error.field, "properties.Amount");
    assert_eq!(
        error.message,
        "`Amount` is expected to be number, instead was `rich_text`"
    );

    let long = "n".repeat(2_001);
    let error = error_of(input(
        "Notes",
        json!({ "rich_text": [{ "text": { "content": "ok" } }, { "text": { "content": long } }] }),
    ));
    assert_eq!(error.field, "properties.Notes.rich_text[1].text.content");
    assert_eq!(error.message, "length should be ≤ 2000, instead was 2001");

    let many_people: Vec<Value> = (0..101).map(|_| json!({ "id": USER_ID })).collect();
    let error = error_of(input("Owners", json!({ "people": many_people })));
    assert_eq!(error.field, "properties.Owners.people");
    assert_eq!(
        error.message,
        "should have at most 100 items, instead has 101"
    );
    let exactly: Vec<Value> = (0..100).map(|_| json!({ "id": USER_ID })).collect();
    assert!(input("Owners", json!({ "people": exactly })).is_ok());

    let many_options: Vec<Value> = (0..101)
        .map(|n| json!({ "name": format!("o{n}") }))
        .collect();
    let error = error_of(input("Tags", json!({ "multi_select": many_options })));
    assert_eq!(error.field, "properties.Tags.multi_select");

    let many_pages: Vec<Value> = (0..101).map(|_| json!({ "id": PAGE_ID })).collect();
    let error = error_of(input("Related", json!({ "relation": many_pages })));
    assert_eq!(error.field, "properties.Related.relation");

    let error = error_of(input("Related", json!({ "relation": [{ "id": "nope" }] })));
    assert_eq!(error.field, "properties.Related.relation[0].id");

    let error = error_of(input("Owners", json!({ "people": [{ "object": "user" }] })));
    assert_eq!(error.field, "properties.Owners.people[0].id");
    assert_eq!(error.message, "should be defined");

    let error = error_of(input("Created", json!({ "created_time": "2024-01-01" })));
    assert_eq!(error.field, "properties.Created");
    assert!(error.message.contains("cannot be set"), "{}", error.message);

    let error = error_of(input("Amount", json!({ "formula": { "number": 1 } })));
    assert_eq!(error.field, "properties.Amount.formula");
    assert!(error.message.contains("cannot be set"), "{}", error.message);

    let error = error_of(input("Amount", json!({ "files": [] })));
    assert_eq!(error.field, "properties.Amount.files");
    assert!(
        error.message.contains("not a supported property type"),
        "{}",
        error.message
    );

    let error = error_of(input("Due", json!({ "date": { "start": "someday" } })));
    assert_eq!(error.field, "properties.Due.date.start");
    let error = error_of(input(
        "Due",
        json!({ "date": { "start": "2024-05-02", "end": "2024-05-01" } }),
    ));
    assert_eq!(error.field, "properties.Due.date.end");
    let error = error_of(input("Due", json!({ "date": {} })));
    assert_eq!(error.field, "properties.Due.date.start");

    let error = error_of(input("Priority", json!({ "select": {} })));
    assert_eq!(error.field, "properties.Priority.select");
    let error = error_of(input("Priority", json!({ "select": "High" })));
    assert_eq!(error.field, "properties.Priority.select");
    assert_eq!(error.message, "should be an object, instead was `\"High\"`");

    let error = error_of(input("Done", json!({ "checkbox": "yes" })));
    assert_eq!(error.field, "properties.Done.checkbox");
    assert_eq!(error.message, "should be a boolean, instead was `\"yes\"`");

    let error = error_of(input("Email", json!({ "email": "not an address" })));
    assert_eq!(error.field, "properties.Email.email");
    let error = error_of(input("Website", json!({ "url": "u".repeat(2_001) })));
    assert_eq!(error.field, "properties.Website.url");

    let error = error_of(input("Amount", json!({})));
    assert_eq!(error.field, "properties.Amount");
    let error = error_of(input("Amount", json!({ "number": 1, "checkbox": true })));
    assert_eq!(error.field, "properties.Amount");
}

#[test]
fn parsed_inputs_resolve_against_the_schema() {
    let mut data_source = tracker();
    let stage = data_source
        .properties
        .iter_mut()
        .find(|p| p.name == "Stage")
        .unwrap();
    let parsed = property_input(
        &json!({ "status": { "name": "Done" } }),
        stage,
        "properties.Stage",
    )
    .unwrap();
    assert_eq!(
        parsed.resolve(stage).unwrap(),
        PropertyValue::Status(Some("done".into()))
    );
}

// ----- property schema -------------------------------------------------------------------

#[test]
fn property_configs_of_every_type() {
    let simple = [
        ("title", PropertyConfig::Title),
        ("rich_text", PropertyConfig::RichText),
        ("date", PropertyConfig::Date),
        ("people", PropertyConfig::People),
        ("checkbox", PropertyConfig::Checkbox),
        ("url", PropertyConfig::Url),
        ("email", PropertyConfig::Email),
        ("phone_number", PropertyConfig::PhoneNumber),
        ("created_time", PropertyConfig::CreatedTime),
        ("created_by", PropertyConfig::CreatedBy),
        ("last_edited_time", PropertyConfig::LastEditedTime),
        ("last_edited_by", PropertyConfig::LastEditedBy),
    ];
    for (key, expected) in simple {
        let mut value = serde_json::Map::new();
        value.insert(key.into(), json!({}));
        assert_eq!(
            property_config(&Value::Object(value), "properties.P").unwrap(),
            expected
        );
        assert_eq!(render::property_config(&expected), json!({}));
    }
    assert_eq!(
        property_config(&json!({ "number": { "format": "dollar" } }), "p").unwrap(),
        PropertyConfig::Number {
            format: "dollar".into()
        }
    );
    assert_eq!(
        property_config(&json!({ "type": "number", "number": {} }), "p").unwrap(),
        PropertyConfig::Number {
            format: "number".into()
        }
    );
    assert_eq!(
        render::property_config(&PropertyConfig::Number {
            format: "euro".into()
        }),
        json!({ "format": "euro" })
    );

    let PropertyConfig::Select { options } = property_config(
        &json!({ "select": { "options": [{ "name": "High", "color": "red" }, { "name": "Low" }, { "id": "keep", "name": "Kept", "color": "blue" }] } }),
        "p",
    )
    .unwrap() else {
        panic!("not a select");
    };
    assert_eq!(
        options.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
        ["High", "Low", "Kept"]
    );
    assert_eq!(options[0].color, Color::Red);
    assert_eq!(options[1].color, Color::Default);
    assert_eq!(options[2].id, "keep");
    assert!(!options[0].id.is_empty() && options[0].id != options[1].id);

    let PropertyConfig::MultiSelect { options } = property_config(
        &json!({ "multi_select": { "options": [{ "name": "alpha", "color": "blue" }] } }),
        "p",
    )
    .unwrap() else {
        panic!("not a multi_select");
    };
    assert_eq!(options[0].name, "alpha");

    assert_eq!(
        property_config(&json!({ "status": {} }), "p").unwrap(),
        PropertyConfig::default_status()
    );
    let PropertyConfig::Status { options, groups } = property_config(
        &json!({ "status": { "options": [
            { "name": "Not started", "color": "default" },
            { "name": "In progress", "color": "blue" },
            { "name": "Done", "color": "green" },
        ] } }),
        "p",
    )
    .unwrap() else {
        panic!("not a status");
    };
    assert_eq!(options.len(), 3);
    assert_eq!(
        groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(),
        ["To-do", "In progress", "Complete"]
    );
    assert_eq!(groups[0].option_ids, vec![options[0].id.clone()]);
    assert_eq!(groups[1].option_ids, vec![options[1].id.clone()]);
    assert_eq!(groups[2].option_ids, vec![options[2].id.clone()]);

    let data_source = uuid(DATA_SOURCE_ID);
    let database = uuid(DATABASE_ID);
    assert_eq!(
        property_config(
            &json!({ "relation": { "data_source_id": DATA_SOURCE_ID, "type": "single_property", "single_property": {} } }),
            "p"
        )
        .unwrap(),
        PropertyConfig::Relation { data_source_id: data_source, database_id: data_source }
    );
    let relation = PropertyConfig::Relation {
        data_source_id: data_source,
        database_id: database,
    };
    assert_eq!(
        property_config(
            &json!({ "relation": { "data_source_id": DATA_SOURCE_ID.replace('-', ""), "database_id": DATABASE_ID, "dual_property": {} } }),
            "p"
        )
        .unwrap(),
        relation
    );
    assert_eq!(
        render::property_config(&relation),
        json!({ "data_source_id": DATA_SOURCE_ID, "database_id": DATABASE_ID, "type": "single_property", "single_property": {} })
    );
}

#[test]
fn property_config_errors() {
    let error = error_of(property_config(
        &json!({ "number": { "format": "bitcoin" } }),
        "properties.Price",
    ));
    assert_eq!(error.field, "properties.Price.number.format");
    let error = error_of(property_config(
        &json!({ "formula": { "expression": "1" } }),
        "properties.F",
    ));
    assert_eq!(error.field, "properties.F.formula");
    assert!(
        error
            .message
            .contains("`formula` is not a supported property type"),
        "{}",
        error.message
    );
    let error = error_of(property_config(
        &json!({ "select": { "options": [{ "color": "red" }] } }),
        "properties.S",
    ));
    assert_eq!(error.field, "properties.S.select.options[0].name");
    let error = error_of(property_config(
        &json!({ "select": { "options": [{ "name": "a,b" }] } }),
        "properties.S",
    ));
    assert_eq!(error.field, "properties.S.select.options[0].name");
    let error = error_of(property_config(
        &json!({ "select": { "options": [{ "name": "a", "color": "teal" }] } }),
        "properties.S",
    ));
    assert_eq!(error.field, "properties.S.select.options[0].color");
    let error = error_of(property_config(&json!({ "relation": {} }), "properties.R"));
    assert_eq!(error.field, "properties.R.relation.data_source_id");
    let error = error_of(property_config(&json!({ "rich_text": [] }), "properties.N"));
    assert_eq!(error.field, "properties.N.rich_text");
    let error = error_of(property_config(
        &json!({ "name": "Only a name" }),
        "properties.N",
    ));
    assert_eq!(error.field, "properties.N");
}

#[test]
fn schema_edits_remove_rename_and_reconfigure() {
    let body = json!({
        "Added": { "checkbox": {} },
        "Old": { "name": "Renamed" },
        "Gone": null,
        "Kind": { "select": { "options": [{ "name": "a" }, { "name": "b", "color": "blue" }] } },
        "both": { "name": "Both", "type": "number", "number": { "format": "percent" } },
    });
    let edits: BTreeMap<String, SchemaEdit> = schema_edits(&body, "properties")
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(edits.len(), 5);
    assert_eq!(
        edits["Added"],
        SchemaEdit::Update {
            name: None,
            config: Some(PropertyConfig::Checkbox)
        }
    );
    assert_eq!(
        edits["Old"],
        SchemaEdit::Update {
            name: Some("Renamed".into()),
            config: None
        }
    );
    assert_eq!(edits["Gone"], SchemaEdit::Remove);
    let SchemaEdit::Update {
        name: None,
        config: Some(PropertyConfig::Select { options }),
    } = &edits["Kind"]
    else {
        panic!("{:?}", edits["Kind"]);
    };
    assert_eq!(
        options
            .iter()
            .map(|o| (o.name.as_str(), o.color))
            .collect::<Vec<_>>(),
        [("a", Color::Default), ("b", Color::Blue)]
    );
    assert_eq!(
        edits["both"],
        SchemaEdit::Update {
            name: Some("Both".into()),
            config: Some(PropertyConfig::Number {
                format: "percent".into()
            })
        }
    );

    let error = error_of(schema_edits(&json!({ "X": {} }), "properties"));
    assert_eq!(error.field, "properties.X");
    let error = error_of(schema_edits(&json!({ "X": { "name": "" } }), "properties"));
    assert_eq!(error.field, "properties.X.name");
    let error = error_of(schema_edits(&json!({ "X": { "name": 3 } }), "properties"));
    assert_eq!(error.field, "properties.X.name");
    let error = error_of(schema_edits(
        &json!({ "X": { "rollup": {} } }),
        "properties",
    ));
    assert_eq!(error.field, "properties.X.rollup");
    let error = error_of(schema_edits(&json!({ "X": 5 }), "properties"));
    assert_eq!(error.field, "properties.X");
    let error = error_of(schema_edits(&json!([]), "properties"));
    assert_eq!(error.field, "properties");
}

// ----- filters and sorts -----------------------------------------------------------------

fn leaf(property: &str, type_name: &str, condition: Condition) -> Filter {
    Filter::Property {
        property: property.into(),
        type_name: type_name.into(),
        condition,
    }
}

#[test]
fn text_filters_for_every_text_type() {
    for type_name in ["title", "rich_text", "url", "email", "phone_number"] {
        let cases = [
            (json!({ "equals": "a" }), TextCondition::Equals("a".into())),
            (
                json!({ "does_not_equal": "a" }),
                TextCondition::DoesNotEqual("a".into()),
            ),
            (
                json!({ "contains": "a" }),
                TextCondition::Contains("a".into()),
            ),
            (
                json!({ "does_not_contain": "a" }),
                TextCondition::DoesNotContain("a".into()),
            ),
            (
                json!({ "starts_with": "a" }),
                TextCondition::StartsWith("a".into()),
            ),
            (
                json!({ "ends_with": "a" }),
                TextCondition::EndsWith("a".into()),
            ),
            (json!({ "is_empty": true }), TextCondition::IsEmpty),
            (json!({ "is_not_empty": true }), TextCondition::IsNotEmpty),
        ];
        for (condition, expected) in cases {
            let mut value = json!({ "property": "P" });
            value[type_name] = condition;
            assert_eq!(
                filter(&value, "filter").unwrap(),
                leaf("P", type_name, Condition::Text(expected)),
                "{value}"
            );
        }
    }
}

#[test]
fn number_checkbox_and_option_filters() {
    let number = [
        (json!({ "equals": 10 }), NumberCondition::Equals(10.0)),
        (
            json!({ "does_not_equal": 0 }),
            NumberCondition::DoesNotEqual(0.0),
        ),
        (
            json!({ "greater_than": 7 }),
            NumberCondition::GreaterThan(7.0),
        ),
        (
            json!({ "less_than": -1.5 }),
            NumberCondition::LessThan(-1.5),
        ),
        (
            json!({ "greater_than_or_equal_to": 7 }),
            NumberCondition::GreaterThanOrEqualTo(7.0),
        ),
        (
            json!({ "less_than_or_equal_to": 0 }),
            NumberCondition::LessThanOrEqualTo(0.0),
        ),
        (json!({ "is_empty": true }), NumberCondition::IsEmpty),
        (json!({ "is_not_empty": true }), NumberCondition::IsNotEmpty),
    ];
    for (condition, expected) in number {
        let value = json!({ "property": "Amount", "number": condition });
        assert_eq!(
            filter(&value, "filter").unwrap(),
            leaf("Amount", "number", Condition::Number(expected))
        );
    }

    let checkbox = [
        (json!({ "equals": true }), true),
        (json!({ "equals": false }), false),
        (json!({ "does_not_equal": true }), false),
        (json!({ "does_not_equal": false }), true),
    ];
    for (condition, equals) in checkbox {
        let value = json!({ "property": "Done", "checkbox": condition });
        assert_eq!(
            filter(&value, "filter").unwrap(),
            leaf("Done", "checkbox", Condition::Checkbox { equals })
        );
    }

    for type_name in ["select", "status"] {
        let cases = [
            (
                json!({ "equals": "High" }),
                OptionCondition::Equals("High".into()),
            ),
            (
                json!({ "does_not_equal": "High" }),
                OptionCondition::DoesNotEqual("High".into()),
            ),
            (json!({ "is_empty": true }), OptionCondition::IsEmpty),
            (json!({ "is_not_empty": true }), OptionCondition::IsNotEmpty),
        ];
        for (condition, expected) in cases {
            let mut value = json!({ "property": "P" });
            value[type_name] = condition;
            assert_eq!(
                filter(&value, "filter").unwrap(),
                leaf("P", type_name, Condition::Option(expected))
            );
        }
    }

    let multi = [
        (
            json!({ "contains": "beta" }),
            ContainsCondition::Contains("beta".to_string()),
        ),
        (
            json!({ "does_not_contain": "beta" }),
            ContainsCondition::DoesNotContain("beta".to_string()),
        ),
        (json!({ "is_empty": true }), ContainsCondition::IsEmpty),
        (
            json!({ "is_not_empty": true }),
            ContainsCondition::IsNotEmpty,
        ),
    ];
    for (condition, expected) in multi {
        let value = json!({ "property": "Tags", "multi_select": condition });
        assert_eq!(
            filter(&value, "filter").unwrap(),
            leaf("Tags", "multi_select", Condition::Contains(expected))
        );
    }
}

#[test]
fn date_filters_for_every_date_type_and_timestamps() {
    let cases = [
        (
            json!({ "equals": "2020-01-15" }),
            DateCondition::Equals("2020-01-15".into()),
        ),
        (
            json!({ "before": "2020-06-01" }),
            DateCondition::Before("2020-06-01".into()),
        ),
        (
            json!({ "after": "2030-01-01T00:00:00Z" }),
            DateCondition::After("2030-01-01T00:00:00Z".into()),
        ),
        (
            json!({ "on_or_before": "2020-01-15" }),
            DateCondition::OnOrBefore("2020-01-15".into()),
        ),
        (
            json!({ "on_or_after": "2035-06-01" }),
            DateCondition::OnOrAfter("2035-06-01".into()),
        ),
        (json!({ "is_empty": true }), DateCondition::IsEmpty),
        (json!({ "is_not_empty": true }), DateCondition::IsNotEmpty),
        (json!({ "past_week": {} }), DateCondition::PastWeek),
        (json!({ "past_month": {} }), DateCondition::PastMonth),
        (json!({ "past_year": {} }), DateCondition::PastYear),
        (json!({ "this_week": {} }), DateCondition::ThisWeek),
        (json!({ "next_week": {} }), DateCondition::NextWeek),
        (json!({ "next_month": {} }), DateCondition::NextMonth),
        (json!({ "next_year": {} }), DateCondition::NextYear),
    ];
    for type_name in ["date", "created_time", "last_edited_time"] {
        for (condition, expected) in cases.clone() {
            let mut value = json!({ "property": "P" });
            value[type_name] = condition;
            assert_eq!(
                filter(&value, "filter").unwrap(),
                leaf("P", type_name, Condition::Date(expected))
            );
        }
    }
    for (key, kind) in [
        ("created_time", TimestampKind::CreatedTime),
        ("last_edited_time", TimestampKind::LastEditedTime),
    ] {
        for (condition, expected) in cases.clone() {
            let mut value = json!({ "timestamp": key });
            value[key] = condition;
            assert_eq!(
                filter(&value, "filter").unwrap(),
                Filter::Timestamp {
                    kind,
                    condition: expected
                }
            );
        }
    }
}

#[test]
fn id_filters_and_me() {
    let user = uuid(USER_ID);
    for type_name in ["people", "created_by", "last_edited_by", "relation"] {
        let cases = [
            (
                json!({ "contains": USER_ID }),
                ContainsCondition::Contains(user),
            ),
            (
                json!({ "does_not_contain": USER_ID.replace('-', "") }),
                ContainsCondition::DoesNotContain(user),
            ),
            (json!({ "is_empty": true }), ContainsCondition::IsEmpty),
            (
                json!({ "is_not_empty": true }),
                ContainsCondition::IsNotEmpty,
            ),
        ];
        for (condition, expected) in cases {
            let mut value = json!({ "property": "P" });
            value[type_name] = condition;
            assert_eq!(
                filter(&value, "filter").unwrap(),
                leaf("P", type_name, Condition::ContainsId(expected))
            );
        }
    }
    let me = json!({ "property": "Owners", "people": { "contains": "me" } });
    assert_eq!(
        filter_with_me(&me, "filter", Some(user)).unwrap(),
        leaf(
            "Owners",
            "people",
            Condition::ContainsId(ContainsCondition::Contains(user))
        )
    );
    let error = error_of(filter(&me, "filter"));
    assert_eq!(error.field, "filter.people.contains");
    let relation_me = json!({ "property": "Related", "relation": { "contains": "me" } });
    let error = error_of(filter_with_me(&relation_me, "filter", Some(user)));
    assert_eq!(error.field, "filter.relation.contains");
    assert_eq!(
        error.message,
        "should be a valid uuid, instead was `\"me\"`"
    );
}

#[test]
fn compound_filters_nest_two_levels() {
    let value = json!({ "and": [
        { "or": [
            { "property": "Priority", "select": { "equals": "High" } },
            { "property": "Priority", "type": "select", "select": { "equals": "Medium" } },
        ] },
        { "timestamp": "created_time", "created_time": { "on_or_after": "2024-01-01" } },
        { "property": "Done", "checkbox": { "equals": true } },
    ] });
    let expected = Filter::And(vec![
        Filter::Or(vec![
            leaf(
                "Priority",
                "select",
                Condition::Option(OptionCondition::Equals("High".into())),
            ),
            leaf(
                "Priority",
                "select",
                Condition::Option(OptionCondition::Equals("Medium".into())),
            ),
        ]),
        Filter::Timestamp {
            kind: TimestampKind::CreatedTime,
            condition: DateCondition::OnOrAfter("2024-01-01".into()),
        },
        leaf("Done", "checkbox", Condition::Checkbox { equals: true }),
    ]);
    assert_eq!(filter(&value, "filter").unwrap(), expected);
    assert_eq!(
        filter(&json!({ "or": [] }), "filter").unwrap(),
        Filter::Or(vec![])
    );

    let done = json!({ "property": "Done", "checkbox": { "equals": true } });
    let three =
        json!({ "and": [{ "or": [{ "and": [done.clone(), done.clone()] }, done.clone()] }, done] });
    let error = error_of(filter(&three, "filter"));
    assert_eq!(error.field, "filter.and[0].or[0].and");
}

#[test]
fn filter_errors_name_the_field() {
    let error = error_of(filter(
        &json!({ "property": "Amount", "number": { "greater_thann": 7 } }),
        "filter",
    ));
    assert_eq!(error.field, "filter.number.greater_thann");
    assert!(
        error
            .message
            .starts_with("`greater_thann` is not a valid number filter operator"),
        "{}",
        error.message
    );

    let nested = json!({ "and": [
        { "property": "Done", "checkbox": { "equals": true } },
        { "property": "Amount", "number": { "greater_than": "7" } },
    ] });
    let error = error_of(filter(&nested, "filter"));
    assert_eq!(error.field, "filter.and[1].number.greater_than");
    assert_eq!(error.message, "should be a number, instead was `\"7\"`");

    let error = error_of(filter(
        &json!({ "property": "Tags", "multi_select": { "equals": "x" } }),
        "filter",
    ));
    assert_eq!(error.field, "filter.multi_select.equals");
    let error = error_of(filter(
        &json!({ "property": "F", "formula": { "number": { "equals": 1 } } }),
        "filter",
    ));
    assert_eq!(error.field, "filter.formula");
    let error = error_of(filter(
        &json!({ "property": "N", "title": { "is_empty": false } }),
        "filter",
    ));
    assert_eq!(error.field, "filter.title.is_empty");
    assert_eq!(error.message, "should be `true`, instead was `false`");
    let error = error_of(filter(&json!({ "property": "N", "title": {} }), "filter"));
    assert_eq!(error.field, "filter.title");
    let error = error_of(filter(
        &json!({ "property": "N", "title": { "equals": "a", "contains": "b" } }),
        "filter",
    ));
    assert_eq!(error.field, "filter.title");
    let error = error_of(filter(&json!({ "property": "N" }), "filter"));
    assert_eq!(error.field, "filter");
    let error = error_of(filter(
        &json!({ "property": 3, "title": { "equals": "a" } }),
        "filter",
    ));
    assert_eq!(error.field, "filter.property");
    let error = error_of(filter(
        &json!({ "property": "D", "date": { "before": "someday" } }),
        "filter",
    ));
    assert_eq!(error.field, "filter.date.before");
    let error = error_of(filter(
        &json!({ "property": "D", "date": { "past_week": true } }),
        "filter",
    ));
    assert_eq!(error.field, "filter.date.past_week");
    let error = error_of(filter(&json!({ "timestamp": "deleted_time" }), "filter"));
    assert_eq!(error.field, "filter.timestamp");
    let error = error_of(filter(&json!({ "timestamp": "created_time" }), "filter"));
    assert_eq!(error.field, "filter.created_time");
    let error = error_of(filter(&json!({ "and": {} }), "filter"));
    assert_eq!(error.field, "filter.and");
    let error = error_of(filter(&json!({}), "filter"));
    assert_eq!(error.field, "filter");
    let many: Vec<Value> = (0..101)
        .map(|_| json!({ "property": "Done", "checkbox": { "equals": true } }))
        .collect();
    let error = error_of(filter(&json!({ "or": many }), "filter"));
    assert_eq!(error.field, "filter.or");
}

#[test]
fn sorts_by_property_and_timestamp() {
    let value = json!([
        { "property": "Amount", "direction": "ascending" },
        { "timestamp": "created_time", "direction": "descending" },
        { "timestamp": "last_edited_time", "direction": "ascending" },
    ]);
    assert_eq!(
        sorts(&value, "sorts").unwrap(),
        vec![
            Sort::Property {
                property: "Amount".into(),
                direction: SortDirection::Ascending
            },
            Sort::Timestamp {
                kind: TimestampKind::CreatedTime,
                direction: SortDirection::Descending
            },
            Sort::Timestamp {
                kind: TimestampKind::LastEditedTime,
                direction: SortDirection::Ascending
            },
        ]
    );
    let error = error_of(sorts(
        &json!([{ "property": "A", "direction": "up" }]),
        "sorts",
    ));
    assert_eq!(error.field, "sorts[0].direction");
    let error = error_of(sorts(&json!([{ "property": "A" }]), "sorts"));
    assert_eq!(error.field, "sorts[0].direction");
    assert_eq!(error.message, "should be defined");
    let error = error_of(sorts(&json!([{ "direction": "ascending" }]), "sorts"));
    assert_eq!(error.field, "sorts[0]");
    let error = error_of(sorts(
        &json!([{ "timestamp": "x", "direction": "ascending" }]),
        "sorts",
    ));
    assert_eq!(error.field, "sorts[0].timestamp");
    let many: Vec<Value> = (0..101)
        .map(|_| json!({ "property": "A", "direction": "ascending" }))
        .collect();
    let error = error_of(sorts(&Value::Array(many), "sorts"));
    assert_eq!(error.field, "sorts");
}

// ----- rendering pages, databases, data sources ------------------------------------------

fn row(properties: BTreeMap<String, PropertyValue>) -> Page {
    Page {
        id: uuid(PAGE_ID),
        parent: Parent::DataSource {
            data_source_id: uuid(DATA_SOURCE_ID),
            database_id: uuid(DATABASE_ID),
        },
        properties,
        icon: None,
        cover: None,
        in_trash: false,
        is_locked: false,
        created_time: T0,
        created_by: uuid(USER_ID),
        last_edited_time: T0 + 60_000,
        last_edited_by: uuid(DATABASE_ID),
    }
}

fn alpha() -> Page {
    let values = [
        (
            "title",
            PropertyValue::Title(vec![RichText::plain("Alpha")]),
        ),
        (
            "nts",
            PropertyValue::RichText(vec![RichText::plain("first row alpha")]),
        ),
        ("amt", PropertyValue::Number(Some(10.0))),
        ("pri", PropertyValue::Select(Some("hi".into()))),
        (
            "tag",
            PropertyValue::MultiSelect(vec!["al".into(), "be".into(), "gone".into()]),
        ),
        ("stg", PropertyValue::Status(Some("done".into()))),
        (
            "due",
            PropertyValue::Date(Some(DateValue::on("2020-01-15"))),
        ),
        ("own", PropertyValue::People(vec![uuid(USER_ID)])),
        ("don", PropertyValue::Checkbox(true)),
        (
            "web",
            PropertyValue::Url(Some("https://alpha.example.com".into())),
        ),
        (
            "eml",
            PropertyValue::Email(Some("alpha@example.com".into())),
        ),
        (
            "phn",
            PropertyValue::PhoneNumber(Some("+1 555 0100".into())),
        ),
        ("rel", PropertyValue::Relation(vec![uuid(PAGE_ID)])),
    ];
    row(values
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect())
}

#[test]
fn row_pages_render_every_property() {
    let ctx = render::RenderContext {
        base_url: "https://example.test/",
        people: None,
    };
    let rendered = render::page(&alpha(), Some(&tracker()), &ctx);
    let p = &rendered["properties"];
    assert_eq!(rendered["object"], "page");
    assert_eq!(rendered["id"], PAGE_ID);
    assert_eq!(
        rendered["parent"],
        json!({ "type": "data_source_id", "data_source_id": DATA_SOURCE_ID, "database_id": DATABASE_ID })
    );
    assert_eq!(
        rendered["url"],
        format!("https://example.test/{}", PAGE_ID.replace('-', ""))
    );
    assert_eq!(rendered["public_url"], Value::Null);
    assert_eq!(rendered["in_trash"], false);
    assert_eq!(rendered["archived"], false);
    assert_eq!(rendered["is_locked"], false);
    assert_eq!(rendered["icon"], Value::Null);
    assert_eq!(rendered["cover"], Value::Null);
    assert_eq!(rendered["created_time"], "2024-05-01T09:30:00.000Z");
    assert_eq!(rendered["last_edited_time"], "2024-05-01T09:31:00.000Z");
    assert_eq!(
        rendered["last_edited_by"],
        json!({ "object": "user", "id": DATABASE_ID })
    );

    assert_eq!(p.as_object().unwrap().len(), 17);
    assert_eq!(p["Name"]["id"], "title");
    assert_eq!(p["Name"]["type"], "title");
    assert_eq!(p["Name"]["title"][0]["plain_text"], "Alpha");
    assert_eq!(p["Notes"]["rich_text"][0]["plain_text"], "first row alpha");
    assert_eq!(
        p["Amount"],
        json!({ "id": "amt", "type": "number", "number": 10 })
    );
    assert_eq!(
        p["Priority"],
        json!({ "id": "pri", "type": "select", "select": { "id": "hi", "name": "High", "color": "red" } })
    );
    assert_eq!(
        p["Tags"]["multi_select"],
        json!([{ "id": "al", "name": "alpha", "color": "blue" }, { "id": "be", "name": "beta", "color": "purple" }])
    );
    assert_eq!(
        p["Stage"]["status"],
        json!({ "id": "done", "name": "Done", "color": "green" })
    );
    assert_eq!(
        p["Due"]["date"],
        json!({ "start": "2020-01-15", "end": null, "time_zone": null })
    );
    assert_eq!(
        p["Owners"]["people"],
        json!([{ "object": "user", "id": USER_ID }])
    );
    assert_eq!(p["Done"]["checkbox"], true);
    assert_eq!(p["Website"]["url"], "https://alpha.example.com");
    assert_eq!(p["Email"]["email"], "alpha@example.com");
    assert_eq!(p["Phone"]["phone_number"], "+1 555 0100");
    assert_eq!(
        p["Related"],
        json!({ "id": "rel", "type": "relation", "relation": [{ "id": PAGE_ID }], "has_more": false })
    );
    assert_eq!(
        p["Created"],
        json!({ "id": "crt", "type": "created_time", "created_time": "2024-05-01T09:30:00.000Z" })
    );
    assert_eq!(
        p["Created by"]["created_by"],
        json!({ "object": "user", "id": USER_ID })
    );
    assert_eq!(
        p["Edited"]["last_edited_time"],
        rendered["last_edited_time"]
    );
    assert_eq!(
        p["Edited by"]["last_edited_by"],
        json!({ "object": "user", "id": DATABASE_ID })
    );

    let fractional = row([("amt".to_string(), PropertyValue::Number(Some(20.5)))].into());
    let rendered = render::page(&fractional, Some(&tracker()), &ctx);
    assert_eq!(rendered["properties"]["Amount"]["number"], json!(20.5));
}

#[test]
fn empty_rows_render_empty_values() {
    let rendered = render::page(
        &row(BTreeMap::new()),
        Some(&tracker()),
        &render::RenderContext::default(),
    );
    let p = &rendered["properties"];
    assert_eq!(p["Name"]["title"], json!([]));
    assert_eq!(p["Notes"]["rich_text"], json!([]));
    assert_eq!(p["Amount"]["number"], Value::Null);
    assert_eq!(p["Priority"]["select"], Value::Null);
    assert_eq!(p["Tags"]["multi_select"], json!([]));
    assert_eq!(p["Stage"]["status"], Value::Null);
    assert_eq!(p["Due"]["date"], Value::Null);
    assert_eq!(p["Owners"]["people"], json!([]));
    assert_eq!(p["Done"]["checkbox"], false);
    assert_eq!(p["Website"]["url"], Value::Null);
    assert_eq!(p["Email"]["email"], Value::Null);
    assert_eq!(p["Phone"]["phone_number"], Value::Null);
    assert_eq!(p["Related"]["relation"], json!([]));
    assert_eq!(
        rendered["url"],
        format!("https://trellis.local/{}", PAGE_ID.replace('-', ""))
    );
}

#[test]
fn standalone_pages_render_their_title() {
    let mut page = row([(
        "title".to_string(),
        PropertyValue::Title(vec![RichText::plain("Root")]),
    )]
    .into());
    page.parent = Parent::Workspace;
    page.icon = Some(Icon::Emoji("🧪".into()));
    page.cover = Some("https://example.com/c.png".into());
    page.in_trash = true;
    let rendered = render::page(&page, None, &render::RenderContext::default());
    assert_eq!(
        rendered["parent"],
        json!({ "type": "workspace", "workspace": true })
    );
    assert_eq!(rendered["properties"].as_object().unwrap().len(), 1);
    assert_eq!(rendered["properties"]["title"]["id"], "title");
    assert_eq!(rendered["properties"]["title"]["type"], "title");
    assert_eq!(
        rendered["properties"]["title"]["title"][0]["text"]["content"],
        "Root"
    );
    assert_eq!(rendered["icon"], json!({ "type": "emoji", "emoji": "🧪" }));
    assert_eq!(
        rendered["cover"],
        json!({ "type": "external", "external": { "url": "https://example.com/c.png" } })
    );
    assert_eq!(rendered["in_trash"], true);
    assert_eq!(rendered["archived"], true);

    page.parent = Parent::Page(uuid(DATABASE_ID));
    let rendered = render::page(&page, None, &render::RenderContext::default());
    assert_eq!(
        rendered["parent"],
        json!({ "type": "page_id", "page_id": DATABASE_ID })
    );
    page.parent = Parent::Block(uuid(DATABASE_ID));
    let rendered = render::page(&page, None, &render::RenderContext::default());
    assert_eq!(
        rendered["parent"],
        json!({ "type": "block_id", "block_id": DATABASE_ID })
    );
}

#[test]
fn property_items_are_lists_or_single_items() {
    let page = alpha();
    let data_source = tracker();
    let title = render::property_item(&page, Some(&data_source), "title", None).unwrap();
    assert_eq!(title["object"], "list");
    assert_eq!(title["type"], "property_item");
    assert_eq!(title["has_more"], false);
    assert_eq!(title["next_cursor"], Value::Null);
    assert_eq!(
        title["property_item"],
        json!({ "id": "title", "next_url": null, "type": "title", "title": {} })
    );
    assert_eq!(title["results"].as_array().unwrap().len(), 1);
    assert_eq!(title["results"][0]["object"], "property_item");
    assert_eq!(title["results"][0]["type"], "title");
    assert_eq!(title["results"][0]["id"], "title");
    assert_eq!(title["results"][0]["title"]["plain_text"], "Alpha");

    let people = render::property_item(&page, Some(&data_source), "own", None).unwrap();
    assert_eq!(people["property_item"]["type"], "people");
    assert_eq!(
        people["results"][0]["people"],
        json!({ "object": "user", "id": USER_ID })
    );
    let relation = render::property_item(&page, Some(&data_source), "rel", None).unwrap();
    assert_eq!(relation["results"][0]["relation"], json!({ "id": PAGE_ID }));
    let notes = render::property_item(&page, Some(&data_source), "nts", None).unwrap();
    assert_eq!(
        notes["results"][0]["rich_text"]["plain_text"],
        "first row alpha"
    );

    let number = render::property_item(&page, Some(&data_source), "amt", None).unwrap();
    assert_eq!(
        number,
        json!({ "object": "property_item", "id": "amt", "type": "number", "number": 10 })
    );
    let select = render::property_item(&page, Some(&data_source), "pri", None).unwrap();
    assert_eq!(select["select"]["name"], "High");
    let created = render::property_item(&page, Some(&data_source), "crb", None).unwrap();
    assert_eq!(
        created["created_by"],
        json!({ "object": "user", "id": USER_ID })
    );
    assert_eq!(
        render::property_item(&page, Some(&data_source), "nope", None),
        None
    );

    let mut standalone = row([(
        "title".to_string(),
        PropertyValue::Title(vec![RichText::plain("A"), RichText::plain("B")]),
    )]
    .into());
    standalone.parent = Parent::Workspace;
    let title = render::property_item(&standalone, None, "title", None).unwrap();
    assert_eq!(title["results"].as_array().unwrap().len(), 2);
    assert_eq!(render::property_item(&standalone, None, "amt", None), None);
}

fn tracker_database() -> Database {
    Database {
        id: uuid(DATABASE_ID),
        parent: Parent::Page(uuid(PAGE_ID)),
        title: vec![RichText::plain("Tracker")],
        description: vec![],
        icon: Some(Icon::External("https://example.com/i.png".into())),
        cover: None,
        is_inline: true,
        in_trash: false,
        is_locked: false,
        created_time: T0,
        created_by: uuid(USER_ID),
        last_edited_time: T0,
        last_edited_by: uuid(USER_ID),
    }
}

#[test]
fn databases_render_their_data_sources() {
    let ctx = render::RenderContext::default();
    let rendered = render::database(
        &tracker_database(),
        &[(uuid(DATA_SOURCE_ID), "Tracker".into())],
        &ctx,
    );
    assert_eq!(rendered["object"], "database");
    assert_eq!(rendered["id"], DATABASE_ID);
    assert_eq!(rendered["title"][0]["plain_text"], "Tracker");
    assert_eq!(rendered["description"], json!([]));
    assert_eq!(
        rendered["parent"],
        json!({ "type": "page_id", "page_id": PAGE_ID })
    );
    assert_eq!(
        rendered["data_sources"],
        json!([{ "id": DATA_SOURCE_ID, "name": "Tracker" }])
    );
    assert_eq!(rendered["is_inline"], true);
    assert_eq!(rendered["in_trash"], false);
    assert_eq!(rendered["archived"], false);
    assert_eq!(rendered["is_locked"], false);
    assert_eq!(
        rendered["icon"],
        json!({ "type": "external", "external": { "url": "https://example.com/i.png" } })
    );
    assert_eq!(
        rendered["url"],
        format!("https://trellis.local/{}", DATABASE_ID.replace('-', ""))
    );
    assert!(
        rendered.get("properties").is_none(),
        "2025-09-03 databases carry no properties"
    );
}

#[test]
fn data_sources_render_their_schema() {
    let rendered = render::data_source(&tracker(), &tracker_database());
    assert_eq!(rendered["object"], "data_source");
    assert_eq!(rendered["id"], DATA_SOURCE_ID);
    assert_eq!(
        rendered["parent"],
        json!({ "type": "database_id", "database_id": DATABASE_ID })
    );
    assert_eq!(
        rendered["database_parent"],
        json!({ "type": "page_id", "page_id": PAGE_ID })
    );
    assert_eq!(rendered["title"][0]["plain_text"], "Tracker");
    assert_eq!(rendered["in_trash"], false);
    assert_eq!(rendered["archived"], false);
    assert_eq!(
        rendered["created_by"],
        json!({ "object": "user", "id": USER_ID })
    );
    let properties = &rendered["properties"];
    assert_eq!(properties.as_object().unwrap().len(), 17);
    assert_eq!(
        properties["Name"],
        json!({ "id": "title", "name": "Name", "type": "title", "description": null, "title": {} })
    );
    assert_eq!(
        properties["Priority"]["select"]["options"][0],
        json!({ "id": "hi", "name": "High", "color": "red", "description": null })
    );
    assert_eq!(
        properties["Amount"]["number"],
        json!({ "format": "number" })
    );
    let groups = properties["Stage"]["status"]["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 3);
    assert_eq!(groups[0]["option_ids"], json!(["not-started"]));
    assert_eq!(
        properties["Stage"]["status"]["options"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(properties["Related"]["relation"]["type"], "single_property");
    assert_eq!(properties["Created by"]["type"], "created_by");

    // Rendered schema entries parse back to the same configuration.
    for property in &tracker().properties {
        let entry = &properties[&property.name];
        assert_eq!(
            property_config(entry, "p").unwrap(),
            property.config,
            "{}",
            property.name
        );
    }
}

#[test]
fn users_comments_lists_and_errors() {
    let user = uuid(USER_ID);
    assert_eq!(
        render::user(user, false, "Ada", None, Some("ada@example.com"), "Acme"),
        json!({
            "object": "user", "id": USER_ID, "type": "person", "name": "Ada",
            "avatar_url": null, "person": { "email": "ada@example.com" },
        })
    );
    assert_eq!(
        render::user(user, false, "Ada", Some("https://a/x.png"), None, "Acme")["person"],
        json!({})
    );
    assert_eq!(
        render::user(user, true, "Bot", None, None, "Acme"),
        json!({
            "object": "user", "id": USER_ID, "type": "bot", "name": "Bot", "avatar_url": null,
            "bot": { "owner": { "type": "workspace", "workspace": true }, "workspace_name": "Acme" },
        })
    );

    let comment = render::comment(
        uuid(DATABASE_ID),
        Some(uuid(PAGE_ID)),
        None,
        uuid(DATA_SOURCE_ID),
        &[RichText::plain("First comment")],
        T0,
        user,
    );
    assert_eq!(comment["object"], "comment");
    assert_eq!(comment["id"], DATABASE_ID);
    assert_eq!(
        comment["parent"],
        json!({ "type": "page_id", "page_id": PAGE_ID })
    );
    assert_eq!(comment["discussion_id"], DATA_SOURCE_ID);
    assert_eq!(comment["created_time"], "2024-05-01T09:30:00.000Z");
    assert_eq!(comment["last_edited_time"], "2024-05-01T09:30:00.000Z");
    assert_eq!(
        comment["created_by"],
        json!({ "object": "user", "id": USER_ID })
    );
    assert_eq!(comment["rich_text"][0]["plain_text"], "First comment");
    let on_block = render::comment(
        uuid(DATABASE_ID),
        Some(uuid(PAGE_ID)),
        Some(user),
        uuid(DATA_SOURCE_ID),
        &[],
        T0,
        user,
    );
    assert_eq!(
        on_block["parent"],
        json!({ "type": "block_id", "block_id": USER_ID })
    );

    assert_eq!(
        render::list(vec![json!(1)], Some("abc".into()), "block"),
        json!({ "object": "list", "results": [1], "next_cursor": "abc", "has_more": true, "type": "block", "block": {} })
    );
    assert_eq!(
        render::list(vec![], None, "page_or_data_source"),
        json!({ "object": "list", "results": [], "next_cursor": null, "has_more": false, "type": "page_or_data_source", "page_or_data_source": {} })
    );
    assert_eq!(
        render::error(400, "validation_error", "body.x should be defined"),
        json!({ "object": "error", "status": 400, "code": "validation_error", "message": "body.x should be defined" })
    );
}

// ----- fuzzing the query parsers -----------------------------------------------------------

/// Keys and strings a filter or sort body is made of, so that random bodies reach deep into the
/// parsers instead of failing at the first key.
const QUERY_WORDS: &str = "and or property timestamp direction ascending descending title \
    rich_text number checkbox select multi_select status date people relation formula rollup \
    created_time last_edited_time equals does_not_equal contains does_not_contain starts_with \
    ends_with is_empty is_not_empty greater_than less_than before after on_or_before past_week \
    next_month this_week me any every none string Name Stage";

fn query_json() -> impl Strategy<Value = Value> {
    let mut words: Vec<String> = QUERY_WORDS.split_whitespace().map(String::from).collect();
    words.push(String::new());
    let word = proptest::sample::select(words);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        word.clone().prop_map(Value::String),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 96, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(word.clone(), inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Whatever a client sends as `filter` or `sorts`, the parsers answer a value or a
    /// validation error: never a panic. A parsed filter's size check answers too.
    #[test]
    fn query_parsers_answer_every_body(body in query_json()) {
        if let Ok(filter) = filter(&body, "filter") {
            let within = filter.condition_count() <= document::limits::FILTER_CONDITIONS_MAX;
            prop_assert_eq!(filter.check_size("filter").is_ok(), within);
        }
        let _ = filter_with_me(&body, "filter", Some(Id::from_u128(7)));
        let _ = sorts(&body, "sorts");
        let wrapped = json!([body]);
        let _ = sorts(&wrapped, "sorts");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Nesting as deep or as wide as a client likes is refused with an error, not a stack
    /// overflow or an unbounded parse.
    #[test]
    fn deep_and_wide_filters_are_errors_or_bounded(depth in 1usize..400, width in 1usize..300) {
        let mut body = json!({ "property": "Name", "title": { "contains": "x" } });
        for level in 0..depth {
            let key = if level % 2 == 0 { "and" } else { "or" };
            body = json!({ key: vec![body; if level == 0 { width } else { 1 }] });
        }
        if let Ok(filter) = filter(&body, "filter") {
            prop_assert!(filter.condition_count() == width);
        }
    }
}
