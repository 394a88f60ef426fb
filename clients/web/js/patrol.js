// 巡课: every live lesson of the admin's scope as a thumbnail (hidden, subscribe-only,
// low layer), one opened large (switched to the high layer), and an issue flag that
// lands in the lesson's event log. Reuses LiveSession (signaling.js) and attachTrack.
import { api, items } from './api.js';
import { t, fmtTime } from './i18n.js';
import { h, clear, boot, renderHeader, requireUser, describeError, param } from './ui.js';
import { LiveSession, resolveWsUrl } from './signaling.js';
import { attachTrack } from './live.js';

const main = document.getElementById('main');
const P = {
  live: '/api/patrol/live',
  join: (id) => `/api/patrol/lessons/${id}/join`,
  flags: (id) => `/api/patrol/lessons/${id}/flags`,
  flagList: '/api/patrol/flags',
};
const CATEGORIES = ['no_video', 'no_audio', 'poor_network', 'teacher_absent', 'pupils_absent', 'off_schedule', 'other'];
const MAX_TILES = 12; // one peer connection per thumbnail: keep the admin's PC responsive

let me = null;
const watching = new Map(); // lesson id -> {session, video, producers:Set, layer}
let focused = null;

function categoryLabel(c) { return t(`xunke.cat.${c}`); }

async function watch(lesson, video) {
  // Hidden, subscribe-only: the classrooms never see the patrol.
  const grant = await api.post(P.join(lesson.lesson_id), {});
  const session = new LiveSession({ wsUrl: resolveWsUrl(grant.ws_url), token: grant.token, iceServers: grant.ice_servers || [] });
  const entry = { session, video, producers: new Set(), layer: grant.layer || 'low' };
  watching.set(lesson.lesson_id, entry);
  session.addEventListener('track', (ev) => {
    const { track, producer } = ev.detail;
    if (track.kind !== 'video') return;
    attachTrack(entry.video, track);
    if (producer) {
      entry.producers.add(producer.id);
      // Thumbnails take the low layer (spares the village uplinks); no-op without one.
      session.setLayer(producer.id, entry.layer).catch(() => {});
    }
  });
  await session.connect();
  video.closest('.patrol-tile')?.setAttribute('data-state', 'connected');
  return entry;
}

async function setLayer(lessonId, layer) {
  const entry = watching.get(lessonId);
  if (!entry) return;
  entry.layer = layer;
  for (const id of entry.producers) await entry.session.setLayer(id, layer).catch(() => {});
}

async function closeAll() {
  for (const entry of watching.values()) await entry.session.close().catch(() => {});
  watching.clear();
}

function flagForm(lesson) {
  const category = h('select', { id: 'flag-category', name: 'category' },
    CATEGORIES.map((c) => h('option', { value: c }, categoryLabel(c))));
  const note = h('textarea', { id: 'flag-note', name: 'note', rows: 2, maxlength: 2000 });
  const out = h('div', { role: 'status', id: 'flag-result' });
  const form = h('form', { class: 'stack', id: 'flag-form', 'aria-labelledby': 'flag-title' },
    h('h3', { id: 'flag-title' }, t('xunke.flag')),
    h('label', { for: 'flag-category' }, t('xunke.category')), category,
    h('label', { for: 'flag-note' }, t('xunke.note')), note,
    h('div', {}, h('button', { class: 'btn', type: 'submit' }, t('xunke.flag_submit'))), out);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const flag = await api.post(P.flags(lesson.lesson_id), { category: category.value, note: note.value });
      note.value = '';
      clear(out).append(h('p', { class: 'alert alert-ok' }, t('xunke.flagged', { time: fmtTime(flag.created_at) })));
      await renderFlags(lesson);
    } catch (err) {
      clear(out).append(h('p', { class: 'alert alert-error', role: 'alert' }, describeError(err)));
    }
  });
  return form;
}

async function renderFlags(lesson) {
  const box = document.getElementById('flag-list');
  if (!box) return;
  const flags = items(await api.get(P.flagList, { query: { lesson_id: lesson.lesson_id } }));
  clear(box).append(flags.length
    ? h('ul', {}, flags.map((f) => h('li', { 'data-flag-id': f.id }, `${fmtTime(f.created_at)} · ${categoryLabel(f.category)}${f.note ? ` · ${f.note}` : ''}`)))
    : h('p', { class: 'muted' }, t('xunke.no_flags')));
}

async function open(lesson) {
  if (focused && focused !== lesson.lesson_id) await setLayer(focused, 'low');
  focused = lesson.lesson_id;
  await setLayer(lesson.lesson_id, 'high');
  const entry = watching.get(lesson.lesson_id);
  const big = h('video', { autoplay: true, playsinline: true, muted: true, id: 'focus-video' });
  if (entry && entry.video.srcObject) big.srcObject = entry.video.srcObject;
  const panel = document.getElementById('patrol-focus');
  clear(panel).append(
    h('h2', { id: 'focus-title' }, `${lesson.title} · ${lesson.school_name}`),
    h('p', { class: 'muted' }, t('xunke.hidden_note')),
    big,
    h('div', { class: 'row' },
      h('a', { class: 'btn btn-secondary', href: `./dashboard.html?unit=${lesson.school_id}&lesson=${lesson.lesson_id}` }, t('xunke.in_dashboard')),
      h('button', { class: 'btn btn-ghost', type: 'button', id: 'focus-close', onclick: async () => { await setLayer(lesson.lesson_id, 'low'); focused = null; clear(panel); panel.hidden = true; } }, t('xunke.close'))),
    flagForm(lesson),
    h('div', { id: 'flag-list' }));
  panel.hidden = false;
  big.play().catch(() => {});
  await renderFlags(lesson);
}

async function render() {
  renderHeader({ titleKey: 'xunke.title', user: me });
  await closeAll();
  clear(main);
  if (me.role !== 'admin') {
    main.append(h('div', { class: 'alert alert-error', role: 'alert' }, t('xunke.admins_only')));
    return;
  }
  const grid = h('div', { class: 'patrol-grid', id: 'patrol-grid', 'aria-live': 'polite' });
  const focus = h('section', { class: 'card patrol-focus stack', id: 'patrol-focus', hidden: true, 'aria-labelledby': 'focus-title' });
  main.append(
    h('div', { class: 'row' }, h('p', { class: 'muted' }, t('xunke.intro')),
      h('button', { class: 'btn btn-secondary', type: 'button', id: 'patrol-refresh', onclick: () => render() }, t('common.refresh'))),
    focus, grid);
  let live;
  try {
    live = await api.get(P.live);
  } catch (err) {
    grid.append(h('div', { class: 'alert alert-error', role: 'alert' }, describeError(err)));
    return;
  }
  if (!live.length) {
    grid.append(h('p', { class: 'muted', id: 'patrol-empty' }, t('xunke.none_live')));
    return;
  }
  for (const lesson of live.slice(0, MAX_TILES)) {
    const video = h('video', { autoplay: true, playsinline: true, muted: true });
    const tile = h('article', { class: 'patrol-tile', 'data-lesson-id': lesson.lesson_id, 'data-state': 'connecting' },
      video,
      h('div', { class: 'caption' },
        h('span', {}, h('strong', {}, lesson.title), h('br'), `${lesson.school_name} · ${lesson.teacher_name}`,
          lesson.flags ? h('span', { class: 'badge', title: t('xunke.flags') }, ` ⚑ ${lesson.flags}`) : null),
        h('button', { class: 'btn', type: 'button', 'aria-label': t('xunke.open_named', { title: lesson.title }), onclick: () => open(lesson) }, t('xunke.open'))));
    grid.append(tile);
    watch(lesson, video).catch((err) => {
      tile.dataset.state = 'error';
      tile.append(h('p', { class: 'alert alert-error', role: 'alert' }, describeError(err)));
    });
  }
  if (live.length > MAX_TILES) grid.append(h('p', { class: 'muted' }, t('xunke.more', { count: live.length - MAX_TILES })));
  const wanted = Number(param('lesson'));
  const first = live.find((l) => l.lesson_id === wanted);
  if (first) await open(first);
}

window.addEventListener('pagehide', () => { closeAll(); });

boot(async () => {
  me = me || await requireUser();
  await render();
});
