// Calls to the wqmon API with the operator's key (kept in localStorage, sent as a header).
const KEY_STORE = "wqmon.apiKey";

export class Unauthorised extends Error {}

export function apiKey() {
  return localStorage.getItem(KEY_STORE);
}

export function saveKey(key) {
  localStorage.setItem(KEY_STORE, key);
}

export function forgetKey() {
  localStorage.removeItem(KEY_STORE);
}

// A sign-in link (`wqmon demo` prints one) carries the key in the fragment, `/#key=wqm_…`:
// a fragment never reaches a server or its logs. It is stored like a typed key and removed
// from the address bar, so a bookmark of the page does not carry it.
export function takeKeyFromLink() {
  const params = new URLSearchParams(location.hash.slice(1));
  const key = params.get("key");
  if (!key) return false;
  saveKey(key.trim());
  history.replaceState(null, "", location.pathname + location.search);
  return true;
}

export async function call(path, { method = "GET", body, params } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params ?? {})) if (v != null) url.searchParams.set(k, v);
  const headers = { "X-API-Key": apiKey() ?? "" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(url, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (resp.status === 401) throw new Unauthorised((await resp.json()).detail);
  if (!resp.ok) {
    const detail = await resp.json().then((b) => b.detail, () => resp.statusText);
    throw new Error(`${resp.status} ${detail}`);
  }
  return resp.json();
}

// Server-sent events over fetch: EventSource cannot send the key header. Resumes from the
// last event id after a drop, so no alarm change is missed across reconnects.
export function streamEvents(path, { onEvent, onState }) {
  let lastId = null;
  let stopped = false;
  let controller = null;

  async function once() {
    controller = new AbortController();
    const headers = { "X-API-Key": apiKey() ?? "", Accept: "text/event-stream" };
    if (lastId !== null) headers["Last-Event-ID"] = lastId;
    const resp = await fetch(path, { headers, signal: controller.signal });
    if (resp.status === 401) throw new Unauthorised("stream refused the key");
    if (!resp.ok || !resp.body) throw new Error(`stream: ${resp.status}`);
    onState(true);
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      const blocks = buffer.split(/\r?\n\r?\n/);
      buffer = blocks.pop();
      for (const block of blocks) dispatch(block);
    }
  }

  function dispatch(block) {
    const event = { type: "message", data: [], id: null };
    for (const line of block.split(/\r?\n/)) {
      if (!line || line.startsWith(":")) continue;
      const at = line.indexOf(":");
      const field = at < 0 ? line : line.slice(0, at);
      const value = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
      if (field === "data") event.data.push(value);
      else if (field === "event") event.type = value;
      else if (field === "id") event.id = value;
    }
    if (event.id !== null) lastId = event.id;
    if (event.data.length) onEvent(event.type, JSON.parse(event.data.join("\n")), event.id);
  }

  (async () => {
    let delay = 500;
    while (!stopped) {
      try {
        await once();
        delay = 500;
      } catch (err) {
        if (err instanceof Unauthorised) { onState(false, err); return; }
      }
      onState(false);
      if (stopped) return;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10000);
    }
  })();

  return () => { stopped = true; controller?.abort(); };
}
