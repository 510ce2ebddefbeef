"""Returns the input of an invoke unchanged, and nothing for other events: the Python twin of
integrations/echo. The input `{"op":"spin"}` loops forever instead, so that tests can check that
a Python guest is stopped by its fuel or wall-clock limit, and `{"op":"fail"}` returns `err`.

componentize-py generates the module `wit_world` from the world at build time. The app module
(`app`, this file) defines a class `WitWorld` implementing `wit_world.WitWorld`: its `handle`
takes an `events.Event` and returns an `events.Output`. A variant case is a dataclass named
`Type_Case` with the payload in `.value` (`Output_None_` for `none`, whose name Python reserves),
and record fields are snake_case. For `result<output, string>`, `handle` returns the ok value and
raises `componentize_py_types.Err(message)` for `err`; any other exception traps the run.
"""

from componentize_py_types import Err

import wit_world
from wit_world.imports import events


class WitWorld(wit_world.WitWorld):
    def handle(self, event: events.Event) -> events.Output:
        if not isinstance(event, events.Event_Invoke):
            return events.Output_None_()
        text = event.value.input
        if text == '{"op":"spin"}':
            while True:
                pass
        if text == '{"op":"fail"}':
            raise Err("asked to fail")
        return events.Output_Json(text)
