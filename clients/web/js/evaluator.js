// Remote evaluator (评课专家) and admin patrol (巡课): pick a live lesson in
// scope, join hidden (nobody sees a tile for us), switch between the views of
// the teacher, the courseware and each receiving classroom.
import { t, fmtTime } from './i18n.js';
import { h, clear, boot, renderHeader, requireUser, describeError, param } from './ui.js';
import { lesson as L, liveLessons, loadNames } from './model.js';
import { joinLesson, attachTrack, detachKind } from './live.js';
import { CoursewarePanel } from './courseware.js';

const main = document.getElementById('main');
const state = { me: null, lessons: [], lesson: null, session: null, view: null, joined: null };
window.tongbu = state;

async function renderPicker() {
  clear(main).append(h('p', { class: 'muted' }, t('home.loading')));
  let lessons;
  try {
    [lessons] = await Promise.all([liveLessons(), loadNames()]);
  } catch (e) {
    clear(main).append(h('div', { class: 'alert alert-error', role: 'alert' }, describeError(e)));
    return;
  }
  state.lessons = lessons;
  const list = lessons.length
    ? h('table', { id: 'live-table' },
      h('thead', {}, h('tr', {}, [t('lesson.time'), t('lesson.title'), t('lesson.teacher'), t('lesson.receiving'), t('common.actions')]
        .map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, lessons.map((l) => h('tr', {},
        h('td', {}, `${fmtTime(L.start(l))}–${fmtTime(L.end(l))}`), h('td', {}, L.title(l)), h('td', {}, L.teacher(l)),
        h('td', {}, String(L.receivingCount(l))),
        h('td', {}, h('button', { type: 'button', class: 'btn', dataset: { lessonId: l.id }, onclick: () => enter(l) }, t('evaluator.watch')))))))
    : h('p', { class: 'muted', id: 'no-live' }, t('evaluator.no_live'));
  clear(main).append(h('section', { class: 'card stack', 'aria-labelledby': 'live-title' },
    h('div', { class: 'row' }, h('h2', { id: 'live-title' }, t('evaluator.live_now')),
      h('button', { type: 'button', class: 'btn btn-secondary', id: 'refresh', onclick: renderPicker }, t('common.refresh'))),
    list));
}

async function enter(l) {
  state.lesson = l;
  try {
    const { session, joined } = await joinLesson(l.id);
    state.session = session;
    state.joined = joined;
  } catch (e) {
    clear(main).append(h('div', { class: 'alert alert-error', role: 'alert' }, describeError(e)),
      h('button', { type: 'button', class: 'btn', onclick: renderPicker }, t('common.back')));
    return;
  }
  const s = state.session;
  ['participant_joined', 'participant_left', 'participant_updated', 'producer_added', 'producer_removed', 'track', 'floor_changed']
    .forEach((ev) => s.addEventListener(ev, () => updateViews()));
  s.addEventListener('closed', (ev) => {
    if (ev.detail.byUs) return;
    const note = document.getElementById('eval-status');
    if (note) note.textContent = ev.detail.reason === 'room_closed' ? t('evaluator.lesson_ended') : t('live.disconnected');
  });
  renderLive();
}

function views() {
  const s = state.session;
  const out = [];
  const people = [...s.participants.values()].filter((p) => p.id !== s.participantId);
  people.sort((a, b) => (a.role === 'teacher' ? -1 : 0) - (b.role === 'teacher' ? -1 : 0));
  for (const p of people) {
    const prods = s.producersOf(p.id);
    const cam = prods.find((x) => x.kind === 'video' && x.source === 'camera');
    const screen = prods.find((x) => x.kind === 'video' && x.source === 'screen');
    const label = p.role === 'teacher' ? t('evaluator.view_teacher', { name: p.name || p.identity }) : (p.name || p.identity);
    out.push({ key: `${p.id}:camera`, label, participant: p, producer: cam });
    if (screen) out.push({ key: `${p.id}:screen`, label: t('evaluator.view_screen'), participant: p, producer: screen });
  }
  return out;
}

function renderLive() {
  const video = h('video', { id: 'eval-video', autoplay: true, playsinline: true, 'aria-label': t('evaluator.main_video') });
  const leave = h('button', { type: 'button', class: 'btn btn-secondary', id: 'leave', onclick: async () => {
    await state.session.close();
    state.session = null;
    renderPicker();
  } }, t('evaluator.leave'));
  clear(main).append(h('div', { class: 'eval-layout' },
    h('section', { class: 'eval-main', 'aria-label': t('evaluator.main_video') }, video,
      h('p', { class: 'waiting', id: 'eval-empty', style: 'position:absolute; inset:auto 0 45% 0' }, t('evaluator.no_video'))),
    h('aside', { class: 'stack', 'aria-label': t('evaluator.views') },
      h('div', { class: 'card stack' },
        h('h2', {}, L.title(state.lesson)),
        h('p', { class: 'badge', id: 'hidden-badge' }, state.joined && state.joined.hidden ? t('evaluator.hidden') : t('evaluator.visible')),
        h('p', { class: 'muted', id: 'eval-status', role: 'status' }, t('state.live'))),
      h('nav', { class: 'card', 'aria-labelledby': 'views-title' },
        h('h3', { id: 'views-title' }, t('evaluator.views')),
        h('div', { class: 'view-list', id: 'view-list', role: 'radiogroup', 'aria-labelledby': 'views-title' })),
      courseware(),
      leave)));
  updateViews();
}

// The courseware the teacher shows (课件同步), view only: evaluators never drive it.
function courseware() {
  if (state.courseware) state.courseware.destroy();
  state.courseware = new CoursewarePanel(state.session, { drive: false, compact: true });
  return h('div', { class: 'card' }, state.courseware.root);
}

function updateViews() {
  const s = state.session;
  const box = document.getElementById('view-list');
  if (!s || !box) return;
  const list = views();
  if (!state.view || !list.some((v) => v.key === state.view)) {
    const first = list.find((v) => v.producer && s.trackOf(v.producer.id)) || list[0];
    state.view = first ? first.key : null;
  }
  clear(box);
  for (const v of list) {
    const selected = v.key === state.view;
    const hasFloor = s.floor.holder === v.participant.id;
    box.append(h('button', {
      type: 'button', role: 'radio', class: `btn ${selected ? '' : 'btn-secondary'}`, 'aria-checked': String(selected),
      dataset: { view: v.key, participantId: v.participant.id },
      onclick: () => { state.view = v.key; updateViews(); },
    }, v.label, hasFloor ? ` · ${t('evaluator.has_floor')}` : '', v.participant.hand_raised ? ' ✋' : ''));
  }
  const video = document.getElementById('eval-video');
  const current = list.find((v) => v.key === state.view);
  const track = current && current.producer ? s.trackOf(current.producer.id) : null;
  if (track) attachTrack(video, track); else detachKind(video, 'video');
  // Audio: the teacher and whoever holds the floor.
  for (const p of s.producers.values()) {
    if (p.kind !== 'audio') continue;
    const owner = s.participants.get(p.participant_id);
    const tr = s.trackOf(p.id);
    if (tr && owner && (owner.role === 'teacher' || s.floor.holder === owner.id)) attachTrack(video, tr);
  }
  document.getElementById('eval-empty').hidden = Boolean(track);
}

async function render() {
  state.me = state.me || await requireUser();
  renderHeader({ titleKey: 'page.evaluator', user: state.me });
  if (state.session) { renderLive(); return; }
  const id = param('lesson');
  if (id && !state.lesson) {
    const { api } = await import('./api.js');
    try {
      const l = await api.get(`/api/lessons/${id}`);
      await enter(l);
      return;
    } catch (e) {
      clear(main).append(h('div', { class: 'alert alert-error', role: 'alert' }, describeError(e)));
    }
  }
  await renderPicker();
}

boot(render);
