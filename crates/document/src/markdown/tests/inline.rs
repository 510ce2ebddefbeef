//! Inline formatting and escaping.

use super::*;

#[test]
fn escaping_round_trips() {
    let tricky = [
        "# not a heading",
        "- not a list",
        "+ plus",
        "1. not numbered",
        "12) nor this",
        "> not a quote",
        "```",
        "~~~ tilde fence",
        "$$",
        "---",
        "***",
        "___",
        "*stars* and _underscores_ and __dunder__",
        "snake_case_name",
        "back\\slash \\* and trailing \\",
        "\\ ",
        "C:\\Users\\x",
        "<details>",
        "</details>",
        "<https://x.y>",
        "<br>",
        "<u>not underlined</u>",
        "a < b > c",
        "[link](url) and ![image](x)",
        "wow!",
        "&amp; &#32; AT&T",
        "| a | b |",
        "  leading spaces",
        "trailing spaces  ",
        "\ttab",
        " ",
        "100$ and $5 and $x$",
        "~~strike~~ ~single~",
        "2 * 3 = 6",
        "[!NOTE]",
        "line\nbreak",
        "\\\nafter backslash",
        "carriage\rreturn",
        "`code` ``double``",
        "non-breaking\u{a0}space and é ü 日本語 🎉",
    ];
    for text in tricky {
        for kind in [
            paragraph(text),
            bullet(text),
            numbered(text),
            heading(2, text),
            BlockKind::Quote(content(text)),
            BlockKind::Toggle(content(text)),
            BlockKind::Callout {
                text: content(text),
                icon: None,
            },
        ] {
            assert_round_trip(&[leaf(kind)]);
        }
        assert_round_trip(&[table(1, true, &[&[text]])]);
    }
    assert_eq!(
        to_markdown(&[leaf(paragraph("snake_case"))]),
        "snake_case\n"
    );
    assert_eq!(to_markdown(&[leaf(paragraph("a < b & c"))]), "a < b & c\n");
}

#[test]
fn inline_formatting() {
    let cases: Vec<(Vec<RichText>, &str)> = vec![
        (vec![RichText::bold("bold")], "**bold**"),
        (vec![styled("it", |a| a.italic = true)], "*it*"),
        (vec![styled("gone", |a| a.strikethrough = true)], "~~gone~~"),
        (
            vec![styled("under", |a| a.underline = true)],
            "<u>under</u>",
        ),
        (vec![code("x = 1")], "`x = 1`"),
        (vec![code("a `b` c")], "``a `b` c``"),
        (vec![code("`tick")], "`` `tick ``"),
        (
            vec![RichText::link("site", "https://example.com/a(b)")],
            "[site](https://example.com/a\\(b\\))",
        ),
        (
            vec![RichText::link("space", "https://example.com/a b")],
            "[space](<https://example.com/a b>)",
        ),
        (
            vec![RichText {
                kind: RichTextKind::Equation {
                    expression: "x^2".into(),
                },
                annotations: Annotations::default(),
                display: None,
            }],
            "$x^2$",
        ),
        (
            vec![RichText::bold("bold "), RichText::plain("plain")],
            "**bold** plain",
        ),
        (
            vec![
                RichText::bold("a"),
                styled("b", |a| {
                    a.bold = true;
                    a.italic = true
                }),
                RichText::bold("c"),
            ],
            "**a*b*c**",
        ),
        (
            vec![styled("a", |a| a.italic = true), RichText::bold("b")],
            "*a*<b>b</b>",
        ),
        (
            vec![styled("both", |a| {
                a.bold = true;
                a.italic = true
            })],
            "***both***",
        ),
        (
            vec![
                RichText::plain("see "),
                styled("this", |a| a.bold = true),
                RichText::link(" page", "/abc"),
            ],
            "see **this**[ page](/abc)",
        ),
        (
            vec![styled("a\nb", |a| {
                a.code = true;
                a.bold = true
            })],
            "**`a`<br>`b`**",
        ),
    ];
    for (runs, markdown) in cases {
        assert_eq!(rich_text_to_markdown(&runs), markdown);
        assert_eq!(
            normalise_runs(&parse_inline(markdown)),
            normalise_runs(&runs),
            "{markdown}"
        );
    }
}

/// Cases the round-trip properties below once found.
#[test]
fn round_trip_regressions() {
    let both = |text: &str| {
        styled(text, |a| {
            a.bold = true;
            a.italic = true;
        })
    };
    let italic = |text: &str| styled(text, |a| a.italic = true);
    let equation = RichText {
        kind: RichTextKind::Equation {
            expression: "x^2".into(),
        },
        annotations: Annotations {
            bold: true,
            ..Default::default()
        },
        display: None,
    };
    let cases = [
        vec![
            italic("\n"),
            both(">"),
            RichText::bold("["),
            RichText::plain("a"),
        ],
        vec![equation, italic("a"), both("~"), RichText::plain("*")],
        vec![RichText::plain("\\ ")],
        vec![RichText::link("!a", "https://example.com")],
    ];
    for runs in cases {
        let markdown = rich_text_to_markdown(&runs);
        assert_eq!(
            normalise_runs(&parse_inline(&markdown)),
            normalise_runs(&runs),
            "{markdown}"
        );
        let text = TextContent {
            rich_text: runs,
            color: Color::Default,
        };
        assert_round_trip(&[
            leaf(BlockKind::Heading2 {
                text: text.clone(),
                is_toggleable: true,
            }),
            BlockTree::with_children(
                BlockKind::ToDo {
                    text: content(""),
                    checked: false,
                },
                vec![leaf(BlockKind::BulletedListItem(text.clone()))],
            ),
            leaf(BlockKind::Quote(text)),
        ]);
    }
    assert_round_trip(&[leaf(BlockKind::Equation {
        expression: "a$$\n".into(),
    })]);
}

#[test]
fn mentions_render_as_text_and_links() {
    let page = Id::from_u128(1);
    let mut page_mention = RichText::mention(Mention::Page(page));
    page_mention.display = Some("Plans".into());
    let mut user_mention = RichText::mention(Mention::User(Id::from_u128(2)));
    user_mention.display = Some("Ada *L*".into());
    let date = RichText::mention(Mention::Date(crate::property::DateValue::on("2024-05-01")));
    assert_eq!(
        rich_text_to_markdown(&[
            page_mention,
            RichText::plain(" by "),
            user_mention,
            RichText::plain(" on "),
            date
        ]),
        "[Plans](/00000000000000000000000000000001) by Ada \\*L\\* on 2024-05-01"
    );
}

#[test]
fn inline_markdown_as_people_write_it() {
    let runs = |markdown: &str| normalise_runs(&parse_inline(markdown));
    assert_eq!(
        runs("__bold__ and _it_"),
        normalise_runs(&[
            RichText::bold("bold"),
            RichText::plain(" and "),
            styled("it", |a| a.italic = true)
        ])
    );
    assert_eq!(
        runs("snake_case_name"),
        vec![RichText::plain("snake_case_name")]
    );
    assert_eq!(runs("2 * 3 * 4"), vec![RichText::plain("2 * 3 * 4")]);
    assert_eq!(runs("**unclosed"), vec![RichText::plain("**unclosed")]);
    assert_eq!(
        runs("<b>b</b><em>i</em><del>s</del>"),
        vec![
            RichText::bold("b"),
            styled("i", |a| a.italic = true),
            styled("s", |a| a.strikethrough = true)
        ]
    );
    assert_eq!(
        runs("a<br/>b<br />c<BR>d"),
        vec![RichText::plain("a\nb\nc\nd")]
    );
    assert_eq!(
        runs("&lt;&#x41;&#66;&nbsp;&bogus;"),
        vec![RichText::plain("<AB\u{a0}&bogus;")]
    );
    assert_eq!(
        runs("![alt](https://i.png \"title\")"),
        vec![RichText::link("alt", "https://i.png")]
    );
    assert_eq!(
        runs("[a [b](u) c](v)"),
        vec![
            RichText::plain("[a "),
            RichText::link("b", "u"),
            RichText::plain(" c](v)")
        ]
    );
    assert_eq!(
        runs("[*x*](u)"),
        vec![RichText {
            annotations: Annotations {
                italic: true,
                ..Default::default()
            },
            ..RichText::link("x", "u")
        }]
    );
    assert_eq!(runs("`a\\`"), vec![code("a\\")]);
    assert_eq!(runs("$5 and $10"), vec![RichText::plain("$5 and $10")]);
    assert_eq!(runs("[empty]()"), vec![RichText::plain("empty")]);
    assert_eq!(
        runs("~~a~~ ~b~"),
        vec![
            styled("a", |a| a.strikethrough = true),
            RichText::plain(" "),
            styled("b", |a| a.strikethrough = true)
        ]
    );
}
