//! What a run is asked to do: the `invoke` input, and the configuration kept for scheduled runs.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::date::Date;

/// An `invoke`'s input, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `None`: find the data source titled "Tasks".
    pub data_source_id: Option<String>,
    pub report_parent_id: String,
    /// `None`: today's UTC date.
    pub today: Option<Date>,
}

/// Where reports are read from and written to; kept in the key-value store under
/// [`CONFIG_KEY`] by each `invoke`, read by each scheduled run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub data_source_id: String,
    pub report_parent_id: String,
}

pub const CONFIG_KEY: &str = "config";

/// The input as sent. Unknown keys are refused, so that a misspelt key is not silently ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInput {
    data_source_id: Option<String>,
    report_parent_id: Option<String>,
    today: Option<String>,
}

const INPUT_SHAPE: &str = r#"input should be {"report_parent_id": "<page id>", "data_source_id"?: "<data source id>", "today"?: "YYYY-MM-DD"}"#;

/// Checks an `invoke`'s input JSON. Ids may be dashed or 32 hex digits; they come back dashed
/// and lower-case.
pub fn parse_invoke(input: &Value) -> Result<Request, String> {
    if !input.is_object() {
        return Err(format!("{INPUT_SHAPE}, not {input}"));
    }
    let raw: RawInput =
        serde_json::from_value(input.clone()).map_err(|error| format!("input: {error}"))?;
    let report_parent_id = raw
        .report_parent_id
        .ok_or_else(|| format!("input.report_parent_id is required: {INPUT_SHAPE}"))?;
    Ok(Request {
        data_source_id: raw
            .data_source_id
            .map(|id| normalize_id(&id, "input.data_source_id"))
            .transpose()?,
        report_parent_id: normalize_id(&report_parent_id, "input.report_parent_id")?,
        today: raw
            .today
            .map(|today| {
                Date::parse(&today).ok_or_else(|| {
                    format!("input.today should be a date YYYY-MM-DD, not {today:?}")
                })
            })
            .transpose()?,
    })
}

impl Config {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a config serializes")
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Config, String> {
        let config: Config = serde_json::from_slice(bytes)
            .map_err(|error| format!("the saved `{CONFIG_KEY}` is not readable: {error}"))?;
        Ok(Config {
            data_source_id: normalize_id(&config.data_source_id, "config.data_source_id")?,
            report_parent_id: normalize_id(&config.report_parent_id, "config.report_parent_id")?,
        })
    }
}

fn normalize_id(text: &str, field: &str) -> Result<String, String> {
    uuid::Uuid::try_parse(text)
        .map(|id| id.hyphenated().to_string())
        .map_err(|_| format!("{field} should be a page or data source id (a UUID), not {text:?}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const PAGE: &str = "0198c0de-1234-7abc-8def-0123456789ab";

    #[test]
    fn a_full_input_is_checked_and_normalized() {
        let request = parse_invoke(&json!({
            "data_source_id": "0198C0DE12347ABC8DEF0123456789AC",
            "report_parent_id": PAGE,
            "today": "2026-11-28",
        }))
        .unwrap();
        assert_eq!(
            request,
            Request {
                data_source_id: Some("0198c0de-1234-7abc-8def-0123456789ac".into()),
                report_parent_id: PAGE.into(),
                today: Date::parse("2026-11-28"),
            }
        );
    }

    #[test]
    fn only_the_report_parent_is_required() {
        let request = parse_invoke(&json!({"report_parent_id": PAGE})).unwrap();
        assert_eq!(request.data_source_id, None);
        assert_eq!(request.today, None);
    }

    #[test]
    fn bad_input_gets_a_message_naming_the_field() {
        let error = |input: Value| parse_invoke(&input).unwrap_err();
        assert!(error(Value::Null).starts_with("input should be {"));
        assert!(error(json!({})).contains("input.report_parent_id is required"));
        assert!(
            error(json!({"report_parent_id": "abc"}))
                .contains("input.report_parent_id should be a page or data source id")
        );
        assert!(
            error(json!({"report_parent_id": PAGE, "data_source_id": "Tasks"}))
                .contains("input.data_source_id should be")
        );
        assert!(
            error(json!({"report_parent_id": PAGE, "today": "28/11/2026"}))
                .contains("input.today should be a date YYYY-MM-DD")
        );
        assert!(error(json!({"report_parent": PAGE})).contains("unknown field `report_parent`"));
        assert!(error(json!({"report_parent_id": 7})).starts_with("input: invalid type"));
    }

    #[test]
    fn the_config_round_trips_through_bytes() {
        let config = Config {
            data_source_id: "0198c0de-1234-7abc-8def-0123456789ac".into(),
            report_parent_id: PAGE.into(),
        };
        assert_eq!(Config::from_bytes(&config.to_bytes()).unwrap(), config);
        assert!(Config::from_bytes(b"{}").is_err());
        assert!(Config::from_bytes(b"not json").is_err());
    }
}
