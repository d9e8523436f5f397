// The HTTP API as the page uses it: the same endpoints, tokens, sandbox and limits as any
// other client (docs/http.md). The token lives in sessionStorage (this tab, until it
// closes) and travels in the Authorization header, never in a cookie, so another site
// cannot make the browser send it (no CSRF).

const TOKEN_KEY = 'loch.token';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// A bearer token is visible ASCII (RFC 6750's b64token and more); anything else cannot
// go in a header at all (fetch throws before sending), such as a curly quote pasted
// from a document. Such a stored token is no token: the next 401 asks again.
export function tokenValid(t) {
  return /^[\x21-\x7e]+$/.test(t);
}

export function token() {
  const t = sessionStorage.getItem(TOKEN_KEY) || '';
  return tokenValid(t) ? t : '';
}

export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
}

// Called on a 401 with the server's reason; resolves true when a new token was given
// (the request is then sent again), false to give up.
let askToken = null;
export function onUnauthorized(fn) {
  askToken = fn;
}

export async function errorOf(r) {
  let code = 'http_' + r.status, message = r.statusText || 'HTTP ' + r.status;
  try {
    const e = (await r.json()).error;
    if (e && typeof e === 'object') {
      code = e.code || code;
      message = e.message || message;
    } else if (typeof e === 'string') {
      message = e;
    }
  } catch {
    /* not JSON: the status says it */
  }
  return new ApiError(r.status, code, message);
}

// fetch() with the token; a JSON body is sent as JSON. Throws ApiError for any answer
// that is not 2xx, after asking for a token on a 401.
export async function request(path, { method = 'GET', json, body, headers = {}, signal } = {}) {
  for (;;) {
    const h = { ...headers };
    const t = token();
    if (t) h.Authorization = 'Bearer ' + t;
    let b = body;
    if (json !== undefined) {
      b = JSON.stringify(json);
      h['Content-Type'] = 'application/json';
    }
    const r = await fetch(path, { method, body: b, headers: h, signal, cache: 'no-store' });
    if (r.status === 401 && askToken) {
      const why = await errorOf(r);
      if (await askToken(why.message)) continue;
      throw why;
    }
    if (!r.ok) throw await errorOf(r);
    return r;
  }
}

export async function getJSON(path, opts) {
  return (await request(path, opts)).json();
}

// One line of NDJSON at a time, as the server sends them (POST /v1/ask).
export async function* ndjson(response) {
  const reader = response.body.getReader();
  const dec = new TextDecoder();
  let rest = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    rest += dec.decode(value, { stream: true });
    let nl;
    while ((nl = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, nl).trim();
      rest = rest.slice(nl + 1);
      if (line) yield JSON.parse(line);
    }
  }
  if (rest.trim()) yield JSON.parse(rest);
}
