//! Returns the input of an `invoke` unchanged, and nothing for other events.

use trellis_sdk::{Event, Output};

fn handle(event: Event) -> Result<Output, String> {
    match event {
        Event::Invoke(invoke) => Ok(Output::Json(invoke.input)),
        _ => Ok(Output::None),
    }
}

trellis_sdk::export!(handle);
