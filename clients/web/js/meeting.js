// 同步视讯 (meetings): a county or school video conference. The host talks and
// shares the screen at any time and grants the floor; participants raise a hand
// and are heard once granted. The host may also show courseware.
import { api } from './api.js';
import { t } from './i18n.js';
import { h, clear, boot, renderHeader, requireUser, describeError, showError, param } from './ui.js';
import { joinRoom, RoomView } from './roomview.js';
import { CoursewarePanel } from './courseware.js';
import { inviteFields, inviteBody, fmtRange } from './collabforms.js';

const main = document.getElementById('main');
const state = { me: null, session: null, room: null, meeting: null, courseware: null };
window.tongbu = state;

async function renderList() {
  let meetings;
  try { meetings = await api.get('/api/meetings'); } catch (e) {
    clear(main).append(h('div', { class: 'alert alert-error', role: 'alert' }, describeError(e)));
    return;
  }
  const list = meetings.length
    ? h('table', { id: 'meeting-table' },
      h('thead', {}, h('tr', {}, [t('collab.title'), t('collab.time'), t('collab.state'), t('common.actions')].map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, meetings.map((m) => h('tr', { dataset: { meetingId: m.id } },
        h('td', {}, m.title), h('td', {}, fmtRange(m.starts_at, m.ends_at)), h('td', {}, t(`collab.state.${m.state}`)),
        h('td', {}, m.state === 'ended' ? '' : h('a', { class: 'btn', href: `?meeting=${m.id}` }, t('collab.enter')))))))
    : h('p', { class: 'muted', id: 'no-meetings' }, t('meeting.none'));
  const err = h('div', { role: 'alert' });
  const form = h('form', { class: 'card stack', id: 'meeting-form', 'aria-labelledby': 'meeting-new' },
    h('h2', { id: 'meeting-new' }, t('meeting.new')), ...inviteFields('meeting'), err,
    h('button', { type: 'submit', class: 'btn', id: 'meeting-create' }, t('collab.create')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(err);
    try {
      const created = await api.post('/api/meetings', inviteBody(form));
      location.search = `?meeting=${created.id}`;
    } catch (e) { err.append(h('div', { class: 'alert alert-error' }, describeError(e))); }
  });
  clear(main).append(h('div', { class: 'row', style: 'align-items:flex-start' },
    h('section', { class: 'card stack', style: 'flex:2; min-width:320px', 'aria-labelledby': 'meeting-list' },
      h('h2', { id: 'meeting-list' }, t('meeting.list')), list),
    h('div', { style: 'flex:1; min-width:300px' }, form)));
}

async function enter(id) {
  try {
    state.meeting = await api.get(`/api/meetings/${id}`);
    const { session } = await joinRoom(`/api/meetings/${id}/join`);
    state.session = session;
  } catch (e) {
    clear(main).append(h('div', { class: 'alert alert-error', role: 'alert' }, describeError(e)),
      h('a', { class: 'btn', href: './meeting.html' }, t('common.back')));
    return;
  }
  const s = state.session;
  const host = s.role === 'teacher';
  state.room = new RoomView(s, { kind: 'meeting' });
  state.courseware = new CoursewarePanel(s, { drive: host, owner: host ? { meeting_id: id } : null, compact: true });
  const leave = h('button', { type: 'button', class: 'btn btn-secondary', id: 'leave', onclick: async () => {
    await state.room.close();
    location.href = './meeting.html';
  } }, t('room.leave'));
  const end = h('button', { type: 'button', class: 'btn btn-danger', id: 'end-meeting', hidden: !host, onclick: async () => {
    try { await api.post(`/api/meetings/${id}/end`, {}); } catch (e) { showError(e); return; }
    await state.room.close();
    location.href = './meeting.html';
  } }, t('meeting.end'));
  s.addEventListener('closed', (ev) => {
    if (!ev.detail.byUs) clear(main).append(h('p', { class: 'card', id: 'meeting-closed' }, t('meeting.closed')));
  });
  const m = state.meeting;
  clear(main).append(h('div', { class: 'room-layout' },
    h('aside', { class: 'stack', 'aria-labelledby': 'room-title' },
      h('div', { class: 'card stack' }, h('h2', { id: 'room-title' }, m.title),
        h('p', { class: 'muted' }, fmtRange(m.starts_at, m.ends_at)),
        h('p', { class: 'badge', id: 'my-role' }, t(host ? 'meeting.host' : 'meeting.participant')),
        state.room.controls(), h('div', { class: 'row' }, leave, end)),
      state.room.handPanel(),
      h('div', { class: 'card' }, state.courseware.root)),
    h('section', { 'aria-label': t('meeting.video') }, state.room.grid)));
  state.room.render();
  await state.room.start();
}

async function render() {
  state.me = state.me || await requireUser();
  renderHeader({ titleKey: 'page.meeting', user: state.me });
  const id = param('meeting');
  if (id && !state.session) { await enter(Number(id)); return; }
  if (state.session) return;
  await renderList();
}

boot(render);
