//! Write a Trellis integration in a few lines.
//!
//! ```ignore
//! use trellis_sdk::{Event, Output, log};
//!
//! fn handle(event: Event) -> Result<Output, String> {
//!     let input = event.input_json()?;
//!     log::info("invoked", &[]);
//!     Ok(Output::json(&input))
//! }
//!
//! trellis_sdk::export!(handle);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`; the `.wasm` file is the component.
//! Every host call returns `Result<_, Error>`, and `Error` converts into `String`, so `?` works in a
//! handler. See `docs/integrations.md` in the Trellis repository for the contract.

// The generated code names this crate by its public path, so that the export macro works in the
// integration's crate too.
extern crate self as trellis_sdk;

/// The raw bindings generated from `wit/world.wit`.
// The generated export glue takes the flattened event as arguments.
#[allow(clippy::too_many_arguments)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "trellis:integration/integration",
        pub_export_macro: true,
        export_macro_name: "__export_bindings",
        default_bindings_module: "trellis_sdk::bindings",
        runtime_path: "trellis_sdk::__wit_bindgen::rt",
    });
}

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

pub use bindings::trellis::integration::events::{
    ChangeEvent, Event, InvokeEvent, InvokeSource, Output, ScheduleEvent, WebhookRequest,
    WebhookResponse,
};
pub use bindings::trellis::integration::types::Error;
pub use bindings::trellis::integration::{http, kv, models, secrets, vector_search, workspace};
pub use serde_json;

impl Error {
    /// The error's code as the WIT spells it, e.g. `not-found`.
    pub fn code(&self) -> &'static str {
        self.parts().0
    }

    /// The host's message.
    pub fn message(&self) -> &str {
        self.parts().1
    }

    fn parts(&self) -> (&'static str, &str) {
        match self {
            Error::NotFound(message) => ("not-found", message),
            Error::InvalidInput(message) => ("invalid-input", message),
            Error::Forbidden(message) => ("forbidden", message),
            Error::LimitExceeded(message) => ("limit-exceeded", message),
            Error::NotAvailable(message) => ("not-available", message),
            Error::Internal(message) => ("internal", message),
        }
    }
}

/// Lets a handler use `?` on host calls: the error becomes the run's error message.
impl From<Error> for String {
    fn from(error: Error) -> String {
        format!("{}: {}", error.code(), error.message())
    }
}

impl Event {
    /// The JSON input of an `invoke` event; `null` for other events.
    pub fn input_json(&self) -> Result<serde_json::Value, String> {
        match self {
            Event::Invoke(invoke) => serde_json::from_str(&invoke.input)
                .map_err(|error| format!("input is not JSON: {error}")),
            _ => Ok(serde_json::Value::Null),
        }
    }
}

impl Output {
    /// A JSON result for the caller of an `invoke`.
    pub fn json(value: &serde_json::Value) -> Output {
        Output::Json(value.to_string())
    }
}

/// Structured logs kept with the run record.
pub mod log {
    use crate::bindings::trellis::integration::log::{Level, write};

    pub fn debug(message: &str, fields: &[(&str, &str)]) {
        emit(Level::Debug, message, fields);
    }

    pub fn info(message: &str, fields: &[(&str, &str)]) {
        emit(Level::Info, message, fields);
    }

    pub fn warn(message: &str, fields: &[(&str, &str)]) {
        emit(Level::Warn, message, fields);
    }

    pub fn error(message: &str, fields: &[(&str, &str)]) {
        emit(Level::Error, message, fields);
    }

    fn emit(level: Level, message: &str, fields: &[(&str, &str)]) {
        let fields: Vec<(String, String)> = fields
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        write(level, message, &fields);
    }
}

/// Exports `handler`, a `fn(Event) -> Result<Output, String>`, as the integration's entry point.
#[macro_export]
macro_rules! export {
    ($handler:path) => {
        struct __TrellisIntegration;

        impl $crate::bindings::Guest for __TrellisIntegration {
            fn handle(event: $crate::Event) -> ::core::result::Result<$crate::Output, String> {
                $handler(event)
            }
        }

        $crate::bindings::__export_bindings!(__TrellisIntegration with_types_in $crate::bindings);
    };
}
