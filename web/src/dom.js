// el('button', {class: 'primary', onclick: f}, 'Run'): an element with its attributes,
// listeners (on...) and children, without innerHTML (nothing the page shows is parsed as
// markup, so no row or message can inject any).
// A query this page itself puts in an address (Explore's "Query in SQL"): the SQL tab
// takes it as the user's own, not as a link's (sql.js).
export const OWN_QUERY_KEY = 'loch.sql.own';
export function ownQuery(text) {
  try {
    sessionStorage.setItem(OWN_QUERY_KEY, text);
  } catch {
    /* no storage: the SQL tab shows the link's warning, which only asks */
  }
}

export function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  e.append(...kids);
  return e;
}
