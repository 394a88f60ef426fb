// Lesson library (名校网络课堂): search published lessons, play them (HLS), count views,
// download and attach resources (课件, 导学案, 微课), publish a recording, unpublish.
// Titles and section headings are written vertically in traditional Mongolian (css/mongolian.css).
import { api, items, tokens, ApiError } from './api.js';
import { t, fmtDate } from './i18n.js';
import { h, clear, boot, renderHeader, requireUser, showError, toast, param } from './ui.js';

const LANGUAGES = ['zh', 'mn', 'bilingual'];
const VISIBILITIES = ['school', 'county', 'city', 'province', 'public'];
const RESOURCE_KINDS = ['courseware', 'guide', 'microlesson'];
const main = document.getElementById('main');
const state = { me: null, filters: { q: '', subject: '', grade: '', language: '', sort: 'recent' },
  page: null, entry: null, hls: null, counted: new Set() };

function section(id, titleKey, ...body) {
  return h('section', { class: 'lib-section', id, 'aria-labelledby': `${id}-title` },
    h('h2', { id: `${id}-title`, class: 'mn-vertical' }, t(titleKey)),
    h('div', { class: 'lib-body stack' }, ...body));
}

function field(id, labelKey, control) {
  control.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, t(labelKey)), control);
}

function select(name, values, labelOf, current = '', withAll = false) {
  return h('select', { name },
    withAll ? h('option', { value: '' }, t('library.all')) : null,
    ...values.map((v) => h('option', { value: v, selected: v === current }, labelOf(v))));
}

// --- search --------------------------------------------------------------------------------

function searchForm() {
  const f = state.filters;
  const form = h('form', { class: 'lib-search', id: 'lib-search', role: 'search' },
    field('lib-q', 'library.search', h('input', { name: 'q', type: 'search', value: f.q,
      placeholder: t('library.search_hint') })),
    field('lib-subject', 'library.subject', h('input', { name: 'subject', value: f.subject, size: 8 })),
    field('lib-grade', 'library.grade', h('input', { name: 'grade', value: f.grade, size: 8 })),
    field('lib-language', 'library.language',
      select('language', LANGUAGES, (v) => t(`library.lang.${v}`), f.language, true)),
    field('lib-sort', 'library.sort',
      select('sort', ['recent', 'views', 'relevance'], (v) => t(`library.sort.${v}`), f.sort)),
    h('button', { class: 'btn', type: 'submit', id: 'lib-search-submit' }, t('library.search_submit')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    for (const key of Object.keys(f)) f[key] = (form.elements[key]?.value || '').trim();
    await loadResults();
    renderResults();
  });
  return form;
}

async function loadResults() {
  state.page = await api.get('/api/library', { query: { ...state.filters, limit: 60 } });
}

function card(entry) {
  const selected = state.entry && state.entry.id === entry.id;
  return h('li', {},
    h('button', { type: 'button', class: 'lib-card', 'aria-current': selected ? 'true' : 'false',
      dataset: { entry: entry.id }, onclick: () => openEntry(entry.id) },
    entry.thumbnail_url
      ? h('img', { src: entry.thumbnail_url, alt: t('library.thumbnail_of', { title: entry.title }), loading: 'lazy' })
      : h('div', { class: 'lib-thumb-empty', 'aria-hidden': 'true' }),
    h('div', { class: 'stack', style: 'gap:4px' },
      h('span', { class: 'lib-title', lang: entry.language === 'mn' ? 'mn-Mong' : null }, entry.title),
      h('span', { class: 'lib-meta' },
        entry.subject ? h('span', {}, entry.subject) : null,
        entry.grade ? h('span', {}, entry.grade) : null,
        h('span', {}, entry.teacher_name),
        h('span', { class: `lib-lang-${entry.language}` }, t(`library.lang.${entry.language}`)),
        h('span', { class: 'lib-card-views' }, t('library.views', { n: entry.views }))))));
}

function renderResults() {
  const box = document.getElementById('lib-results');
  if (!box) return;
  clear(box);
  const list = items(state.page);
  box.append(h('p', { class: 'muted', id: 'lib-count', 'aria-live': 'polite' },
    t('library.found', { n: state.page ? state.page.total : 0 })));
  box.append(list.length
    ? h('ul', { class: 'lib-grid', id: 'lib-grid' }, list.map(card))
    : h('p', { class: 'muted', id: 'lib-empty' }, t('library.empty')));
}

// --- player and details ----------------------------------------------------------------------

async function attachPlayer(video, url) {
  if (state.hls) { state.hls.destroy(); state.hls = null; }
  // hls.js over Media Source Extensions wherever they exist (Chromium's own HLS support is
  // new and stalled in our tests); the browser's native HLS only without MSE (iOS Safari).
  const { default: Hls } = await import('../vendor/hls.js/hls.light.min.mjs');
  if (!Hls.isSupported()) {
    if (video.canPlayType('application/vnd.apple.mpegurl')) video.src = url;
    else video.replaceWith(h('p', { class: 'alert alert-warn' }, t('library.no_hls')));
    return;
  }
  state.hls = new Hls({ maxBufferLength: 20 });
  state.hls.on(Hls.Events.ERROR, (_ev, data) => {
    if (data.fatal) toast(t('library.play_error', { detail: data.details }), 'error');
  });
  state.hls.loadSource(url);
  state.hls.attachMedia(video);
}

async function countView(entry) {
  if (state.counted.has(entry.id)) return;
  state.counted.add(entry.id);
  try {
    const res = await api.post(`/api/library/${entry.id}/views`);
    entry.views = res.views;
    const el = document.getElementById('lib-views');
    if (el) el.textContent = t('library.views', { n: res.views });
    const cardViews = document.querySelector(`.lib-card[data-entry="${entry.id}"] .lib-card-views`);
    if (cardViews) cardViews.textContent = t('library.views', { n: res.views });
  } catch (err) {
    state.counted.delete(entry.id);
    showError(err);
  }
}

async function download(entry, res) {
  try {
    const r = await fetch(`/api/library/${entry.id}/resources/${res.id}`,
      { headers: { Authorization: `Bearer ${tokens.access}` } });
    if (!r.ok) throw new ApiError(r.status, `http_${r.status}`, r.statusText);
    const url = URL.createObjectURL(await r.blob());
    const a = h('a', { href: url, download: res.filename });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (err) { showError(err); }
}

function uploadForm(entry) {
  const form = h('form', { class: 'row', id: 'lib-upload' },
    field('lib-res-kind', 'library.resource_kind',
      select('kind', RESOURCE_KINDS, (v) => t(`library.resource.${v}`))),
    field('lib-res-file', 'library.resource_file',
      h('input', { type: 'file', name: 'file', required: true, accept: '.pdf,.docx,.mp4' })),
    h('button', { class: 'btn btn-secondary', type: 'submit' }, t('library.upload')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = new FormData(form);
    try {
      const r = await fetch(`/api/library/${entry.id}/resources`, { method: 'POST', body,
        headers: { Authorization: `Bearer ${tokens.access}`, Accept: 'application/json' } });
      const data = await r.json();
      if (!r.ok) throw new ApiError(r.status, data.error?.code, data.error?.message, data.error?.details);
      toast(t('library.uploaded', { name: data.filename }), 'ok');
      await openEntry(entry.id);
    } catch (err) { showError(err); }
  });
  return form;
}

function detail(entry) {
  const video = h('video', { id: 'lib-video', controls: true, playsinline: true, preload: 'metadata',
    poster: entry.thumbnail_url || undefined, 'aria-label': t('library.player_label', { title: entry.title }) });
  video.addEventListener('playing', () => countView(entry));
  const resources = entry.resources.length
    ? h('ul', { class: 'lib-resources', id: 'lib-resources' }, entry.resources.map((r) => h('li', {},
      h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => download(entry, r) },
        `${t(`library.resource.${r.kind}`)} · ${r.filename}`),
      h('span', { class: 'muted' }, ` ${Math.ceil(r.size_bytes / 1024)} KB`))))
    : h('p', { class: 'muted' }, t('library.no_resources'));
  const box = h('div', { class: 'stack lib-player', id: 'lib-detail' },
    h('h3', { class: 'mn-vertical', id: 'lib-detail-title', lang: entry.language === 'mn' ? 'mn-Mong' : null },
      entry.title),
    video,
    h('div', { class: 'lib-meta' },
      h('span', { class: 'lib-views', id: 'lib-views' }, t('library.views', { n: entry.views })),
      h('span', {}, entry.teacher_name),
      h('span', {}, t(`library.lang.${entry.language}`)),
      h('span', {}, t(`library.visibility.${entry.visibility}`)),
      h('span', {}, fmtDate(entry.published_at))),
    entry.tags.length ? h('div', { class: 'lib-tags' }, entry.tags.map((tag) => h('span', { class: 'badge' }, tag))) : null,
    entry.description ? h('p', {}, entry.description) : null,
    h('h3', {}, t('library.resources')),
    resources,
    entry.can_manage ? uploadForm(entry) : null,
    entry.can_manage && entry.state === 'published'
      ? h('button', { class: 'btn btn-danger', type: 'button', id: 'lib-unpublish', onclick: () => unpublish(entry) },
        t('library.unpublish'))
      : null);
  queueMicrotask(() => attachPlayer(video, entry.hls_url).catch(showError));
  return box;
}

async function openEntry(id) {
  try {
    state.entry = await api.get(`/api/library/${id}`);
    const url = new URL(location.href);
    url.searchParams.set('entry', id);
    history.replaceState(null, '', url);
    const box = document.getElementById('lib-detail-box');
    clear(box).append(detail(state.entry));
    renderResults();
  } catch (err) { showError(err); }
}

async function unpublish(entry) {
  if (!confirm(t('library.unpublish_confirm', { title: entry.title }))) return;
  try {
    await api.post(`/api/library/${entry.id}/unpublish`);
    toast(t('library.unpublished'), 'ok');
    state.entry = null;
    clear(document.getElementById('lib-detail-box')).append(h('p', { class: 'muted' }, t('library.pick')));
    await loadResults();
    renderResults();
  } catch (err) { showError(err); }
}

// --- publishing --------------------------------------------------------------------------------

async function untilDone(id) {
  for (;;) {
    const entry = await api.get(`/api/library/${id}`);
    if (entry.state !== 'processing') return entry;
    await new Promise((resolve) => { setTimeout(resolve, 2000); });
  }
}

async function publishForm() {
  let recordings = [];
  try {
    recordings = items(await api.get('/api/recordings', { query: { limit: 100 } }));
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 403)) showError(err);
  }
  if (!recordings.length) return h('p', { class: 'muted', id: 'lib-no-recordings' }, t('library.no_recordings'));
  const form = h('form', { class: 'stack', id: 'lib-publish' },
    field('pub-recording', 'library.recording', h('select', { name: 'recording_id', required: true },
      ...recordings.map((r) => h('option', { value: r.id },
        t('library.recording_item', { id: r.id, lesson: r.lesson_id, state: r.state }))))),
    field('pub-title', 'library.title_field', h('input', { name: 'title', maxlength: 200 })),
    h('div', { class: 'row' },
      field('pub-subject', 'library.subject', h('input', { name: 'subject', maxlength: 80, size: 10 })),
      field('pub-grade', 'library.grade', h('input', { name: 'grade', maxlength: 40, size: 10 })),
      field('pub-language', 'library.language', select('language', LANGUAGES, (v) => t(`library.lang.${v}`))),
      field('pub-visibility', 'library.visibility',
        select('visibility', VISIBILITIES, (v) => t(`library.visibility.${v}`), 'school'))),
    field('pub-tags', 'library.tags', h('input', { name: 'tags', placeholder: t('library.tags_hint') })),
    field('pub-description', 'library.description', h('textarea', { name: 'description', rows: 3, maxlength: 5000 })),
    h('button', { class: 'btn', type: 'submit', id: 'pub-submit' }, t('library.publish')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const v = (name) => form.elements[name].value.trim();
    const body = { recording_id: Number(v('recording_id')), visibility: v('visibility'),
      language: v('language'), description: v('description'),
      tags: v('tags').split(/[,，、\s]+/).filter(Boolean) };
    for (const key of ['title', 'subject', 'grade']) if (v(key)) body[key] = v(key);
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    toast(t('library.publishing'), 'info', 0);
    try {
      let entry = await api.post('/api/library', body);
      if (entry.state === 'processing') {
        // Never exported: the server renders the lesson first (minutes for a long one).
        toast(t('library.processing'), 'info', 0);
        entry = await untilDone(entry.id);
      }
      if (entry.state === 'failed') {
        toast(t('library.failed', { error: entry.error }), 'error', 0);
        return;
      }
      toast(t('library.published', { title: entry.title }), 'ok');
      await loadResults();
      renderResults();
      await openEntry(entry.id);
    } catch (err) { showError(err); } finally { button.disabled = false; }
  });
  return form;
}

// --- page ----------------------------------------------------------------------------------------

async function render() {
  state.me = state.me || await requireUser();
  renderHeader({ titleKey: 'library.title', user: state.me });
  clear(main);
  const detailBox = h('div', { id: 'lib-detail-box' }, h('p', { class: 'muted' }, t('library.pick')));
  const canPublish = ['teacher', 'admin', 'researcher'].includes(state.me.role);
  main.append(h('div', { class: 'lib-layout' },
    h('div', {},
      section('lib-find', 'library.find', searchForm(), h('div', { id: 'lib-results' })),
      canPublish ? section('lib-pub', 'library.publish_title', h('div', { id: 'lib-publish-box' })) : null),
    section('lib-watch', 'library.watch', detailBox)));
  try {
    await loadResults();
    renderResults();
    if (canPublish) document.getElementById('lib-publish-box').append(await publishForm());
    const wanted = param('entry') || (state.entry && state.entry.id);
    // A card clicked while this render was still loading has opened its player already:
    // opening again would replace the <video> under a play() in progress.
    if (wanted && !document.getElementById('lib-video')) await openEntry(Number(wanted));
  } catch (err) { showError(err); }
}

boot(render);
