// Small DOM helpers shared by every page: element builder, page header with
// the language switch, status/alert regions and typed error messages.
import { t, has, lang, setLang, LANGS, LANG_NAMES, initI18n } from './i18n.js';
import { api, tokens } from './api.js';

/** h('button', {class: 'x', onclick: fn, 'aria-label': '...'}, 'text', child) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'text') el.textContent = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** A user-facing sentence for an ApiError / DOMException / Error. */
export function describeError(err) {
  if (!err) return t('error.unknown');
  if (err.name === 'ApiError' || err.name === 'SignalingError') {
    const key = `error.${err.code}`;
    return has(key) ? t(key) : t('error.generic', { message: err.message || err.code });
  }
  if (err.name && has(`media.error.${err.name}`)) return t(`media.error.${err.name}`);
  return t('error.generic', { message: err.message || String(err) });
}

let toastTimer = null;
/** Show a message in the page's live region (#toast). kind: info | error | warn | ok */
export function toast(message, kind = 'info', ms = 6000) {
  let box = document.getElementById('toast');
  if (!box) {
    box = h('div', { id: 'toast', class: 'toast', role: 'status', 'aria-live': 'polite' });
    document.body.append(box);
  }
  box.textContent = message;
  box.dataset.kind = kind;
  box.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  box.hidden = false;
  clearTimeout(toastTimer);
  if (ms) toastTimer = setTimeout(() => { box.hidden = true; }, ms);
}

export function showError(err) {
  console.error(err);
  toast(describeError(err), 'error', 10000);
}

/** Page header: product name, page title, user, language switch, logout. */
export function renderHeader({ titleKey, user = null, showLogout = true, home = true } = {}) {
  const header = document.querySelector('header.app-header') || h('header', { class: 'app-header' });
  clear(header);
  const select = h('select', { id: 'lang-select', 'aria-label': t('common.language') },
    ...LANGS.map((code) => h('option', { value: code, selected: code === lang(), lang: code },
      has(`lang.${code}`) ? t(`lang.${code}`) : LANG_NAMES[code])));
  select.addEventListener('change', () => setLang(select.value));
  header.append(
    h('a', { class: 'brand', href: home ? './index.html' : '#', 'aria-label': t('app.home') },
      h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, '同'), t('app.name')),
    titleKey ? h('h1', { class: 'page-title' }, t(titleKey)) : h('span'),
    h('div', { class: 'header-tools' },
      user ? h('span', { class: 'user-name' }, user.name || user.display_name || user.login) : null,
      h('label', { class: 'sr-only', for: 'lang-select' }, t('common.language')),
      select,
      user && showLogout ? h('button', {
        type: 'button', class: 'btn btn-ghost', id: 'logout',
        onclick: () => { api.logout(); location.href = './index.html'; },
      }, t('common.logout')) : null),
  );
  if (!header.isConnected) document.body.prepend(header);
  return header;
}

/** Start a page: load the catalogue, re-render on language change. */
export async function boot(render) {
  await initI18n();
  await render();
  document.addEventListener('langchange', () => render());
}

/** The logged-in user, or redirect to the login page. */
export async function requireUser() {
  if (!tokens.access && !tokens.refresh) {
    location.href = `./index.html?next=${encodeURIComponent(location.pathname + location.search)}`;
    return new Promise(() => {});
  }
  try {
    return await api.me();
  } catch (err) {
    if (err.status === 401) {
      tokens.clearUser();
      location.href = `./index.html?next=${encodeURIComponent(location.pathname + location.search)}`;
      return new Promise(() => {});
    }
    throw err;
  }
}

export function param(name) {
  return new URLSearchParams(location.search).get(name);
}

/** Local calendar day as YYYY-MM-DD. */
export function isoDay(d = new Date()) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}
