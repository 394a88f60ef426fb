// 同步教研 (teaching research): sessions of teachers from several schools. The
// list and a form to convene one; inside: everyone's video (everyone publishes),
// the shared courseware (everyone drives) and the course's notes.
import { api, items } from './api.js';
import { t, fmtDate } from './i18n.js';
import { h, clear, boot, renderHeader, requireUser, describeError, showError, param } from './ui.js';
import { joinRoom, RoomView } from './roomview.js';
import { CoursewarePanel } from './courseware.js';
import { inviteFields, inviteBody, fmtRange } from './collabforms.js';

const main = document.getElementById('main');
const state = { me: null, session: null, room: null, research: null, courseware: null };
window.tongbu = state;

async function renderList() {
  let sessions = [];
  let courses = [];
  try {
    [sessions, courses] = await Promise.all([api.get('/api/research'), api.get('/api/courses', { query: { limit: 500 } }).then(items).catch(() => [])]);
  } catch (e) {
    clear(main).append(h('div', { class: 'alert alert-error', role: 'alert' }, describeError(e)));
    return;
  }
  const courseName = new Map(courses.map((c) => [c.id, c.name]));
  const list = sessions.length
    ? h('table', { id: 'research-table' },
      h('thead', {}, h('tr', {}, [t('collab.title'), t('collab.course'), t('collab.time'), t('collab.state'), t('common.actions')].map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, sessions.map((s) => h('tr', { dataset: { sessionId: s.id } },
        h('td', {}, s.title), h('td', {}, s.course_id ? (courseName.get(s.course_id) || `#${s.course_id}`) : '—'),
        h('td', {}, fmtRange(s.starts_at, s.ends_at)), h('td', {}, t(`collab.state.${s.state}`)),
        h('td', {}, s.state === 'ended' ? '' : h('a', { class: 'btn', href: `?session=${s.id}` }, t('collab.enter')))))))
    : h('p', { class: 'muted', id: 'no-sessions' }, t('research.none'));
  const course = h('select', { id: 'research-course', name: 'course' },
    h('option', { value: '' }, t('collab.no_course')), ...courses.map((c) => h('option', { value: c.id }, c.name)));
  const err = h('div', { role: 'alert' });
  const form = h('form', { class: 'card stack', id: 'research-form', 'aria-labelledby': 'research-new' },
    h('h2', { id: 'research-new' }, t('research.new')),
    ...inviteFields('research'),
    h('div', { class: 'field' }, h('label', { for: 'research-course' }, t('collab.course')), course),
    err, h('button', { type: 'submit', class: 'btn', id: 'research-create' }, t('collab.create')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(err);
    try {
      const body = { ...inviteBody(form), course_id: course.value ? Number(course.value) : null };
      const created = await api.post('/api/research', body);
      location.search = `?session=${created.id}`;
    } catch (e) { err.append(h('div', { class: 'alert alert-error' }, describeError(e))); }
  });
  clear(main).append(h('div', { class: 'row', style: 'align-items:flex-start' },
    h('section', { class: 'card stack', style: 'flex:2; min-width:320px', 'aria-labelledby': 'research-list' },
      h('h2', { id: 'research-list' }, t('research.list')), list),
    h('div', { style: 'flex:1; min-width:300px' }, form)));
}

function notesPanel(courseId, sessionId) {
  const list = h('ul', { id: 'notes', class: 'stack' });
  const title = h('input', { id: 'note-title', required: true, maxlength: 200 });
  const body = h('textarea', { id: 'note-body', rows: 4, maxlength: 20000 });
  const form = h('form', { class: 'stack', id: 'note-form' },
    h('div', { class: 'field' }, h('label', { for: 'note-title' }, t('research.note_title')), title),
    h('div', { class: 'field' }, h('label', { for: 'note-body' }, t('research.note_body')), body),
    h('button', { type: 'submit', class: 'btn btn-secondary', id: 'note-save' }, t('research.note_save')));
  const load = async () => {
    try {
      const notes = await api.get(`/api/courses/${courseId}/notes`);
      clear(list).append(...notes.map((n) => h('li', { class: 'card', dataset: { noteId: n.id } },
        h('strong', {}, n.title), h('p', {}, n.body), h('span', { class: 'muted' }, fmtDate(n.updated_at)))));
      if (!notes.length) list.append(h('li', { class: 'muted' }, t('research.no_notes')));
    } catch (e) { showError(e); }
  };
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api.post(`/api/courses/${courseId}/notes`, { title: title.value.trim(), body: body.value, session_id: sessionId });
      title.value = '';
      body.value = '';
      await load();
    } catch (e) { showError(e); }
  });
  load();
  return h('section', { class: 'card stack', 'aria-labelledby': 'notes-title' }, h('h2', { id: 'notes-title' }, t('research.notes')), form, list);
}

async function enter(id) {
  try {
    state.research = await api.get(`/api/research/${id}`);
    const { session } = await joinRoom(`/api/research/${id}/join`);
    state.session = session;
  } catch (e) {
    clear(main).append(h('div', { class: 'alert alert-error', role: 'alert' }, describeError(e)),
      h('a', { class: 'btn', href: './research.html' }, t('common.back')));
    return;
  }
  state.room = new RoomView(state.session, { kind: 'research' });
  state.courseware = new CoursewarePanel(state.session, { drive: !state.session.hidden, owner: { session_id: id } });
  const leave = h('button', { type: 'button', class: 'btn btn-secondary', id: 'leave', onclick: async () => {
    await state.room.close();
    location.href = './research.html';
  } }, t('room.leave'));
  const r = state.research;
  clear(main).append(h('div', { class: 'room-layout' },
    h('section', { class: 'stack', 'aria-labelledby': 'room-title' },
      h('div', { class: 'card stack' }, h('h2', { id: 'room-title' }, r.title),
        h('p', { class: 'muted' }, fmtRange(r.starts_at, r.ends_at)), state.room.controls(), leave),
      state.room.grid),
    h('div', { class: 'stack' }, h('div', { class: 'card' }, state.courseware.root),
      r.course_id ? notesPanel(r.course_id, r.id) : null)));
  state.room.render();
  await state.room.start();
}

async function render() {
  state.me = state.me || await requireUser();
  renderHeader({ titleKey: 'page.research', user: state.me });
  const id = param('session');
  if (id && !state.session) { await enter(Number(id)); return; }
  if (state.session) return;
  await renderList();
}

boot(render);
