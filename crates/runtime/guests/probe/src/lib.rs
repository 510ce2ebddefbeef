//! A guest for the runtime's tests. The `op` field of the invoke input picks the behaviour, so
//! that one component (built once) covers the functional tests and the abuse suite.

use trellis_sdk::serde_json::json;
use trellis_sdk::workspace::{self, Content, Parent};
use trellis_sdk::{Event, Output, http, kv, log, models, secrets, vector_search};

fn handle(event: Event) -> Result<Output, String> {
    let input = match &event {
        Event::Invoke(_) => event.input_json()?,
        Event::Schedule(schedule) => {
            return Ok(Output::Json(json!({"schedule": schedule.name}).to_string()));
        }
        Event::Change(change) => {
            return Ok(Output::Json(
                json!({"changed": change.object_id}).to_string(),
            ));
        }
        Event::Webhook(request) => {
            return Ok(Output::Http(trellis_sdk::WebhookResponse {
                status: 202,
                headers: vec![("content-type".into(), "text/plain".into())],
                body: request.body.clone(),
            }));
        }
    };
    let text = |key: &str| input[key].as_str().unwrap_or_default().to_string();
    let number = |key: &str| input[key].as_u64().unwrap_or_default();
    match input["op"].as_str().unwrap_or_default() {
        "echo" => Ok(Output::json(&input)),
        "fail" => Err(text("message")),
        "spin" => {
            let mut counter: u64 = 0;
            loop {
                counter = std::hint::black_box(counter.wrapping_add(1));
            }
        }
        "allocate" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        "recurse" => Ok(Output::json(&json!(recurse(std::hint::black_box(
            u64::MAX
        ))))),
        "big-output" => Ok(Output::Json(format!(
            "\"{}\"",
            "x".repeat(number("bytes") as usize)
        ))),
        "log-spam" => {
            for index in 0..number("count") {
                log::info("spam", &[("index", &index.to_string())]);
            }
            Ok(Output::None)
        }
        "get-page" => {
            let page = workspace::get_page(&text("page_id"), true)?;
            Ok(Output::json(&json!({
                "id": page.id,
                "properties": page.properties,
                "markdown": page.markdown,
            })))
        }
        "create-and-append" => {
            let parent = Parent::Page(text("parent_id"));
            let page_id = workspace::create_page(
                &parent,
                r#"{"title":{"title":[{"text":{"content":"Report"}}]}}"#,
                None,
            )?;
            workspace::append_blocks(&page_id, &Content::Markdown("# Overdue\n- one".into()))?;
            workspace::add_comment(&page_id, "Generated")?;
            if input["then"] == "trap" {
                panic!("failing after staging writes");
            }
            if input["then"] == "fail" {
                return Err("failing after staging writes".into());
            }
            Ok(Output::json(&json!({ "page_id": page_id })))
        }
        "update" => {
            workspace::update_properties(&text("page_id"), &text("properties"))?;
            Ok(Output::None)
        }
        "search" => {
            let results = workspace::search(&workspace::SearchQuery {
                text: text("text"),
                kind: None,
                cursor: None,
                page_size: 10,
            })?;
            let titles: Vec<String> = results.hits.into_iter().map(|hit| hit.title).collect();
            Ok(Output::json(&json!({ "titles": titles })))
        }
        "http" => {
            let method = match input["method"].as_str().unwrap_or("get") {
                "post" => http::Method::Post,
                _ => http::Method::Get,
            };
            let response = http::send(&http::Request {
                method,
                url: text("url"),
                headers: vec![("x-probe".into(), "1".into())],
                body: text("body").into_bytes(),
            })?;
            Ok(Output::json(&json!({
                "status": response.status,
                "body": String::from_utf8_lossy(&response.body),
            })))
        }
        "kv" => {
            let key = text("key");
            let before = kv::get(&key)?.map(|value| String::from_utf8_lossy(&value).into_owned());
            kv::set(&key, text("value").as_bytes())?;
            let after = kv::get(&key)?.map(|value| String::from_utf8_lossy(&value).into_owned());
            Ok(Output::json(
                &json!({ "before": before, "after": after, "keys": kv::list_keys("")? }),
            ))
        }
        "secret" => {
            let value = secrets::get(&text("name"))?;
            // A careless integration logging its secret: the host must redact it.
            log::info(
                &format!("token is {value:?}"),
                &[("token", value.as_deref().unwrap_or(""))],
            );
            Ok(Output::json(&json!({ "found": value.is_some() })))
        }
        "models" => {
            let error = models::embed(&["hello".to_string()])
                .err()
                .map(|error| error.code());
            let search = vector_search::search("hello", 3)
                .err()
                .map(|error| error.code());
            Ok(Output::json(
                &json!({ "models": error, "vector_search": search }),
            ))
        }
        "vector-search" => {
            let hits = vector_search::search(&text("query"), number("limit") as u32)?;
            let pages: Vec<String> = hits.into_iter().map(|hit| hit.page_id).collect();
            Ok(Output::json(&json!({ "pages": pages })))
        }
        "stderr" => {
            eprintln!("written to stderr");
            Ok(Output::None)
        }
        other => Err(format!("unknown op {other:?}; input was {input}")),
    }
}

/// Recursion the optimiser cannot turn into a loop, and whose frames live on the wasm stack
/// rather than in linear memory, so that it overflows the wasm stack.
fn recurse(depth: u64) -> u64 {
    if depth == 0 {
        return 0;
    }
    recurse(std::hint::black_box(depth - 1))
        .wrapping_mul(31)
        .wrapping_add(depth)
}

trellis_sdk::export!(handle);
