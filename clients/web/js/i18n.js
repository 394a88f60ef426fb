// Message catalogue: zh-CN by default, English on request. Every visible string
// comes from i18n/<lang>.json; markup refers to keys with data-i18n attributes.
// A page may add feature catalogues with <meta name="i18n-parts" content="a b">:
// i18n/parts/<part>.<lang>.json, merged over the main one. Parts keep each
// feature's strings next to each other and out of everyone else's way.
const STORAGE_KEY = 'tongbu.lang';
export const LANGS = ['zh-CN', 'en', 'mn-Mong'];
// Each language named in itself, for the picker (mn-Mong: traditional Mongolian script).
export const LANG_NAMES = { 'zh-CN': '中文', en: 'English', 'mn-Mong': 'ᠮᠣᠩᠭᠣᠯ ᠪᠢᠴᠢᠭ' };
let catalogue = {};
let fallback = {};
let current = 'zh-CN';

export function lang() {
  return current;
}

function pick() {
  const fromUrl = new URLSearchParams(location.search).get('lang');
  const stored = localStorage.getItem(STORAGE_KEY);
  const wanted = fromUrl || stored || 'zh-CN';
  return LANGS.includes(wanted) ? wanted : 'zh-CN';
}

async function fetchJson(path) {
  const res = await fetch(new URL(path, import.meta.url));
  if (!res.ok) throw new Error(`catalogue ${path}: HTTP ${res.status}`);
  return res.json();
}

function pageParts() {
  const meta = document.querySelector('meta[name="i18n-parts"]');
  return meta ? meta.content.split(/\s+/).filter((p) => /^[\w-]+$/.test(p)) : [];
}

async function fetchCatalogue(code) {
  const parts = await Promise.all(
    pageParts().map((part) => fetchJson(`../i18n/parts/${part}.${code}.json`)),
  );
  return Object.assign(await fetchJson(`../i18n/${code}.json`), ...parts);
}

export async function initI18n() {
  current = pick();
  fallback = await fetchCatalogue('zh-CN');
  catalogue = current === 'zh-CN' ? fallback : await fetchCatalogue(current);
  document.documentElement.lang = current;
  applyI18n(document);
}

export async function setLang(code) {
  if (!LANGS.includes(code)) return;
  localStorage.setItem(STORAGE_KEY, code);
  current = code;
  catalogue = code === 'zh-CN' ? fallback : await fetchCatalogue(code);
  document.documentElement.lang = code;
  applyI18n(document);
  document.dispatchEvent(new CustomEvent('langchange', { detail: code }));
}

/** Translate `key`, replacing {name} placeholders from `params`. */
export function t(key, params = {}) {
  let text = catalogue[key] ?? fallback[key];
  if (text === undefined) {
    console.warn('i18n: missing key', key);
    text = key;
  }
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

export function has(key) {
  return key in catalogue || key in fallback;
}

/**
 * Fill elements carrying data-i18n (text) and data-i18n-attr
 * ("placeholder:key;aria-label:key") under `root`.
 */
export function applyI18n(root) {
  root.querySelectorAll('[data-i18n]').forEach((el) => {
    el.textContent = t(el.dataset.i18n);
  });
  root.querySelectorAll('[data-i18n-attr]').forEach((el) => {
    for (const pair of el.dataset.i18nAttr.split(';')) {
      const [attr, key] = pair.split(':').map((s) => s.trim());
      if (attr && key) el.setAttribute(attr, t(key));
    }
  });
  const title = document.querySelector('title[data-i18n]');
  if (title) document.title = t(title.dataset.i18n);
}

/** Format a date/time in the current language. */
export function fmtTime(value, opts = { hour: '2-digit', minute: '2-digit' }) {
  const d = value instanceof Date ? value : new Date(value);
  return d.toLocaleTimeString(current, opts);
}

export function fmtDate(value, opts = { month: 'long', day: 'numeric', weekday: 'short' }) {
  const d = value instanceof Date ? value : new Date(value);
  return d.toLocaleDateString(current, opts);
}
