// Fetches the URL an `invoke` names and returns the response's status and body: the end-to-end
// check that JavaScript's `fetch` goes out through `wasi:http/outgoing-handler` and so through
// the host's egress checks (approved origins, the public-address guard, the run record).
//
// Input: `{"url": "..."}`. Output: `{"status": 200, "body": "..."}`. A fetch the host refuses
// rejects with an error; its message ends the run `error` (a thrown `Error` would trap the run
// instead, so it is thrown as a string).

export async function handle(event) {
  if (event.tag !== 'invoke') {
    return { tag: 'none' };
  }
  const { url } = JSON.parse(event.val.input);
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw `fetch ${url} failed: ${error}`;
  }
  const body = await response.text();
  return { tag: 'json', val: JSON.stringify({ status: response.status, body }) };
}
