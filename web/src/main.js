// loch's browser UI: four tabs over the HTTP API (Ask, Explore, SQL, System). The page
// keeps its state in the URL's fragment (#/sql?q=..., #/explore/trips?v=3), so a link
// or a reload shows the same thing. Nothing here is fetched from anywhere but the
// server that served it (the Content-Security-Policy says so too).

import { onUnauthorized, setToken, token, tokenValid, getJSON } from './api.js';
// Each tab's code loads when the tab is first shown: the editor and Arrow JS (most of
// the bundle) only when they are needed.
const TABS = {
  ask: () => import('./ask.js'),
  explore: () => import('./explore.js'),
  sql: () => import('./sql.js'),
  system: () => import('./system.js'),
};
const loaded = {};

export function toast(text) {
  const t = document.getElementById('toast');
  t.textContent = text;
  t.classList.add('shown');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove('shown'), 4000);
}

// "#/explore/trips?v=3" -> { tab: 'explore', path: ['trips'], params: {v: '3'} }
function parse(hash) {
  const h = hash.replace(/^#\/?/, '');
  const q = h.indexOf('?');
  const decode = (x) => {
    try {
      return decodeURIComponent(x);
    } catch {
      return x; // a malformed escape is taken as it is
    }
  };
  const path = (q >= 0 ? h.slice(0, q) : h).split('/').filter(Boolean).map(decode);
  const params = Object.fromEntries(new URLSearchParams(q >= 0 ? h.slice(q + 1) : ''));
  const tab = Object.hasOwn(TABS, path[0] ?? '') ? path.shift() : 'sql'; // never "toString" or "__proto__"
  return { tab, path, params };
}

export function href(tab, path = [], params = {}) {
  const p = [tab, ...path.map(encodeURIComponent)].join('/');
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ''));
  return '#/' + p + (q.size ? '?' + q : '');
}

// Changes the URL without a new history entry (typing in the editor), or with one (a
// table picked, a tab changed).
export function setRoute(tab, path, params, { push = false } = {}) {
  const h = href(tab, path, params);
  if (location.hash === h) return;
  if (push) location.hash = h;
  else history.replaceState(null, '', h);
}

const ctx = { navigate: (tab, path, params) => (location.hash = href(tab, path, params)), setRoute, toast, href };

async function route() {
  const { tab, path, params } = parse(location.hash);
  for (const b of document.querySelectorAll('[role=tab]')) {
    const on = b.dataset.tab === tab;
    b.setAttribute('aria-selected', String(on));
    b.tabIndex = on ? 0 : -1;
    document.getElementById('panel-' + b.dataset.tab).hidden = !on;
  }
  document.title = 'loch · ' + tab[0].toUpperCase() + tab.slice(1);
  const panel = document.getElementById('panel-' + tab);
  if (!loaded[tab])
    loaded[tab] = TABS[tab]().then((m) => {
      m.mount(panel, ctx);
      return m;
    });
  const m = await loaded[tab];
  if (parse(location.hash).tab === tab) m.show(path, params); // unless another tab was chosen meanwhile
}

function tabKeys(e) {
  const tabs = [...document.querySelectorAll('[role=tab]')];
  const i = tabs.indexOf(document.activeElement);
  if (i < 0) return;
  const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
  if (next === undefined) return;
  e.preventDefault();
  const t = tabs[(next + tabs.length) % tabs.length];
  t.focus();
  t.click();
}

// The login prompt: a 401 from any request opens it; the request is sent again with the
// token given. Several requests failing at once share one prompt.
let pending = null, declined = false;
function login(why) {
  if (pending) return pending;
  if (declined) return Promise.resolve(false); // until the user asks (Sign in): no prompt again and again
  const dlg = document.getElementById('login');
  document.getElementById('login-why').textContent = why || '';
  const input = document.getElementById('login-token');
  input.value = '';
  pending = new Promise((resolve) => {
    dlg.addEventListener(
      'close',
      () => {
        pending = null;
        const given = input.value.trim();
        if (dlg.returnValue === 'ok' && given && !tokenValid(given)) {
          resolve(login('That token holds a character no token has (a token is ASCII letters, digits and punctuation, without spaces): paste it again.'));
          return;
        }
        const ok = dlg.returnValue === 'ok' && given !== '';
        if (ok) setToken(given);
        declined = !ok;
        document.getElementById('logout').hidden = !token();
        document.getElementById('signin').hidden = ok;
        resolve(ok);
      },
      { once: true },
    );
  });
  dlg.showModal();
  input.focus();
  return pending;
}

function start() {
  onUnauthorized(login);
  for (const b of document.querySelectorAll('[role=tab]'))
    b.addEventListener('click', () => {
      const cur = parse(location.hash);
      if (cur.tab !== b.dataset.tab) location.hash = href(b.dataset.tab);
    });
  document.querySelector('[role=tablist]').addEventListener('keydown', tabKeys);
  const logout = document.getElementById('logout');
  logout.hidden = !token();
  logout.addEventListener('click', () => {
    setToken('');
    location.reload(); // nothing read with the token stays on the screen
  });
  document.getElementById('signin').addEventListener('click', () => {
    declined = false;
    login('').then((ok) => ok && route());
  });
  window.addEventListener('hashchange', route);
  route().then(() => performance.mark('loch-ready')); // the page answers input from here (the browser test reads it)
  getJSON('/v1/status')
    .then((s) => {
      const el = document.getElementById('lake-name');
      el.textContent = s.lake;
      el.title = 'loch ' + s.version + ' · lake ' + s.lake;
    })
    .catch(() => {});
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
