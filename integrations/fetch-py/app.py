"""Fetches the URL an invoke names and returns the response's status and body: the Python twin of
integrations/fetch-js, and the end-to-end check that a Python guest's outbound HTTP goes out
through `wasi:http/outgoing-handler` and so through the host's egress checks (approved origins,
the public-address guard, the run record).

Input: `{"url": "..."}`. Output: `{"status": 200, "body": "..."}`. A request the host refuses
ends the run `error` with `fetch URL failed: CODE`, CODE being the WASI `error-code` as its
dataclass prints, e.g. `ErrorCode_HttpRequestDenied()`.

It is built without `--stub-wasi`, which would stub `wasi:http` too (see README.md). The runtime
gives WASI no sockets, so `urllib.request` cannot reach the network; this calls the resource API
componentize-py generates from `wasi:http` instead (modules `outgoing_handler`, `types`, `poll`,
`streams` under `wit_world.imports`):

- A resource is a class; a constructor is `__init__`, a static function a classmethod, and
  `with` (its `__exit__`) drops the handle. A child resource (the pollable of a future, the
  stream of a body) must be dropped before its parent, so each is used in a `with`.
- A function returning `result<T, E>` returns T and raises `componentize_py_types.Err(E)`
  (`outgoing_handler.handle`, `InputStream.blocking_read`), but a result nested inside another
  type is a value: `FutureIncomingResponse.get()` returns
  `Optional[Ok|Err[Ok[IncomingResponse]|Err[ErrorCode]]]`, `None` until the response is ready.
- `option<T>` is `Optional[T]`; variant cases are dataclasses `Type_Case` (`Scheme_Http()`,
  `ErrorCode_HttpRequestDenied()`, `StreamError_Closed()`), their payload in `.value`.
- A request whose body is never taken goes out with an empty body, as a GET's should.
- The host's refusals come back through the future, not from `handle`; both are handled.

See integrations/echo-py for the shapes of the world's own `handle`.
"""

import json
from urllib.parse import urlsplit

from componentize_py_types import Err, Ok

import wit_world
from wit_world.imports import events, outgoing_handler, streams, types

# How much one blocking read asks for.
READ_BYTES = 64 * 1024


class FetchFailed(Exception):
    """The request failed with a WASI HTTP error code."""


class WitWorld(wit_world.WitWorld):
    def handle(self, event: events.Event) -> events.Output:
        if not isinstance(event, events.Event_Invoke):
            return events.Output_None_()
        url = json.loads(event.value.input)["url"]
        try:
            status, body = get(url)
        except FetchFailed as failure:
            raise Err(f"fetch {url} failed: {failure}")
        return events.Output_Json(
            json.dumps({"status": status, "body": body.decode("utf-8", "replace")})
        )


def get(url: str) -> tuple[int, bytes]:
    """Sends a GET to `url` and reads the whole response; raises FetchFailed on an error code."""
    parts = urlsplit(url)
    request = types.OutgoingRequest(types.Fields())
    request.set_method(types.Method_Get())
    request.set_scheme(
        types.Scheme_Https() if parts.scheme == "https"
        else types.Scheme_Http() if parts.scheme == "http"
        else types.Scheme_Other(parts.scheme)
    )
    request.set_authority(parts.netloc)
    request.set_path_with_query((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    try:
        future = outgoing_handler.handle(request, None)
    except Err as refused:
        raise FetchFailed(refused.value)
    with future:
        with future.subscribe() as ready:
            ready.block()
        outcome = future.get()
    # Ready after `block`, so never None; the outer Err only on a second `get`.
    assert isinstance(outcome, Ok), outcome
    if isinstance(outcome.value, Err):
        raise FetchFailed(outcome.value.value)
    with outcome.value.value as response:
        status = response.status()
        with response.consume() as body:
            return status, read_all(body)


def read_all(body: types.IncomingBody) -> bytes:
    chunks = []
    with body.stream() as stream:
        while True:
            try:
                chunks.append(stream.blocking_read(READ_BYTES))
            except Err as error:
                if isinstance(error.value, streams.StreamError_Closed):
                    return b"".join(chunks)
                # The body failed part way (cut off at its cap, the connection lost).
                code = types.http_error_code(error.value.value)
                raise FetchFailed(code if code is not None else error.value)
