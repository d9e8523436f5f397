// el('button', {class: 'primary', onclick: f}, 'Run'): an element with its attributes,
// listeners (on...) and children, without innerHTML (nothing the page shows is parsed as
// markup, so no row or message can inject any).
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
