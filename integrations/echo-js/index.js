// Returns the input of an `invoke` unchanged, and nothing for other events: the JavaScript twin
// of integrations/echo. The input `{"op":"spin"}` loops forever instead, so that tests can check
// that a JavaScript guest is stopped by its fuel or wall-clock limit.
//
// componentize-js maps the world's types to JavaScript: a variant is `{tag, val}` with the case
// name as `tag` (no `val` for a case without a payload), a record's fields are camelCase. For
// `result<output, string>` the function returns the ok value (or `{tag: 'ok' | 'err', val}`), and
// `throw 'message'` returns `err`; a thrown `Error` is not turned into `err` but traps the run.

export function handle(event) {
  if (event.tag !== 'invoke') {
    return { tag: 'none' };
  }
  const input = event.val.input;
  if (input === '{"op":"spin"}') {
    for (;;) {}
  }
  return { tag: 'json', val: input };
}
