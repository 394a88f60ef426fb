// Teacher page: floor modes and time limits, mute-all, chat with moderation, the quiz
// composer with live results, and attendance (head counts + the REST report).
import { api } from './api.js';
import { t } from './i18n.js';
import { h, clear, showError, toast } from './ui.js';
import { ia, track, ownMessage, renderChatList, renderResults, isSpeaker, LETTERS } from './interaction.js';

export { isSpeaker };

const GRANT_TIMES = [0, 30, 60, 120, 300];
const SPEAKER_LIMITS = [1, 2, 3, 4, 6, 8, 0];
let grantTime = 0;
let ticker = null;

/** Seconds of the next floor grant (the time-limit select), or null for no limit. */
export function grantSeconds() {
  return grantTime || null;
}

function timeLabel(s) {
  if (!s) return t('ia.no_limit');
  return s < 60 ? t('ia.seconds', { n: s }) : t('ia.minutes', { n: s / 60 });
}

function nameOf(session, id) {
  const p = session.participants.get(id);
  return p ? (p.name || p.identity) : id;
}

// ------------------------------------------------------------ floor
function floorSection(session) {
  const f = session.floor || {};
  const mode = h('select', { id: 'ia-mode', 'aria-label': t('ia.mode') },
    h('option', { value: 'chair', selected: f.mode !== 'free' }, t('ia.mode_chair')),
    h('option', { value: 'free', selected: f.mode === 'free' }, t('ia.mode_free')));
  const max = h('select', { id: 'ia-max', 'aria-label': t('ia.max_speakers') },
    SPEAKER_LIMITS.map((n) => h('option', { value: String(n), selected: (f.max_speakers ?? 0) === n },
      n ? String(n) : t('ia.unlimited'))));
  const apply = h('button', { type: 'button', class: 'btn btn-secondary', id: 'ia-apply-mode' }, t('ia.apply_mode'));
  apply.addEventListener('click', () => ia.setMode(session, mode.value, Number(max.value)).catch(showError));
  const time = h('select', { id: 'ia-grant-time', 'aria-label': t('ia.time_limit') },
    GRANT_TIMES.map((s) => h('option', { value: String(s), selected: s === grantTime }, timeLabel(s))));
  time.addEventListener('change', () => { grantTime = Number(time.value); });
  const muteAll = h('button', { type: 'button', class: 'btn btn-secondary', id: 'ia-mute-all', 'aria-pressed': String(!!f.mute_all) },
    f.mute_all ? t('ia.unmute_all') : t('ia.mute_all'));
  muteAll.addEventListener('click', () => ia.muteAll(session, !session.floor.mute_all).catch(showError));
  return h('section', { class: 'card stack ia-card', id: 'ia-floor', 'aria-labelledby': 'ia-floor-title' },
    h('h3', { id: 'ia-floor-title' }, t('ia.floor')),
    h('div', { class: 'row' }, h('label', { class: 'ia-label' }, t('ia.mode'), mode),
      h('label', { class: 'ia-label' }, t('ia.max_speakers'), max), apply),
    h('label', { class: 'ia-label' }, t('ia.time_limit'), time),
    h('div', { class: 'row' }, muteAll),
    h('p', { class: 'muted', id: 'ia-mute-note', hidden: !f.mute_all }, t('ia.muted_all_note')),
    h('h4', {}, t('ia.speakers')), h('ul', { id: 'ia-speakers', class: 'ia-list' }));
}

function renderSpeakers(session) {
  const list = document.getElementById('ia-speakers');
  if (!list) return;
  const f = session.floor || {};
  clear(list);
  const speakers = f.speakers || (f.holder ? [f.holder] : []);
  for (const id of speakers) {
    const ends = (f.expires_at || {})[id];
    const left = ends ? Math.max(0, Math.round(ends - Date.now() / 1000)) : null;
    list.append(h('li', { dataset: { participantId: id } }, nameOf(session, id), ' ',
      left !== null ? h('span', { class: 'muted ia-left' }, t('ia.ends_in', { s: left })) : null, ' ',
      h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => session.revokeFloor(id).catch(showError) },
        t('ia.revoke'))));
  }
  if (!speakers.length) list.append(h('li', { class: 'muted' }, t('ia.no_speakers')));
  const btn = document.getElementById('ia-mute-all');
  if (btn) {
    btn.textContent = f.mute_all ? t('ia.unmute_all') : t('ia.mute_all');
    btn.setAttribute('aria-pressed', String(!!f.mute_all));
  }
  const note = document.getElementById('ia-mute-note');
  if (note) note.hidden = !f.mute_all;
  const mode = document.getElementById('ia-mode');
  if (mode && document.activeElement !== mode) mode.value = f.mode || 'chair';
}

// ------------------------------------------------------------ chat
function chatSection(session) {
  const st = session.ia;
  const text = h('textarea', { id: 'ia-chat-text', rows: 2, maxlength: 500, 'aria-label': t('ia.chat_input'), placeholder: t('ia.chat_input') });
  const form = h('form', { class: 'stack', id: 'ia-chat-form' }, text,
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'btn', id: 'ia-chat-send' }, t('ia.chat_send'))));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const value = text.value.trim();
    if (!value) return;
    try {
      ownMessage(session, await ia.chatSend(session, value));
      text.value = '';
      renderChat(session);
    } catch (e) { showError(e); }
  });
  const toggle = h('button', { type: 'button', class: 'btn btn-secondary', id: 'ia-chat-toggle' },
    st.chatEnabled ? t('ia.chat_disable') : t('ia.chat_enable'));
  toggle.addEventListener('click', async () => {
    try { await ia.chatEnable(session, !st.chatEnabled); st.chatEnabled = !st.chatEnabled; renderChat(session); } catch (e) { showError(e); }
  });
  return h('section', { class: 'card stack ia-card', id: 'ia-chat', 'aria-labelledby': 'ia-chat-title' },
    h('div', { class: 'row' }, h('h3', { id: 'ia-chat-title' }, t('ia.chat')), toggle),
    h('ol', { id: 'ia-chat-list', class: 'ia-chat-list', 'aria-live': 'polite' }), form);
}

function renderChat(session) {
  const list = document.getElementById('ia-chat-list');
  if (!list) return;
  renderChatList(list, session.ia.chat, {
    me: session.participantId,
    onDelete: (e) => ia.chatDelete(session, e.id).then(() => {
      session.ia.chat = session.ia.chat.filter((x) => x.id !== e.id);
      renderChat(session);
    }).catch(showError),
  });
  const toggle = document.getElementById('ia-chat-toggle');
  if (toggle) toggle.textContent = session.ia.chatEnabled ? t('ia.chat_disable') : t('ia.chat_enable');
}

// ------------------------------------------------------------ quiz
function optionRow(i, value = '') {
  return h('div', { class: 'row ia-option' },
    h('input', { type: 'text', class: 'ia-option-text', maxlength: 200, value, 'aria-label': t('ia.quiz_option', { n: LETTERS[i] }), placeholder: t('ia.quiz_option', { n: LETTERS[i] }) }));
}

function quizSection(session) {
  const question = h('input', { type: 'text', id: 'ia-quiz-question', maxlength: 1000, 'aria-label': t('ia.quiz_question'), placeholder: t('ia.quiz_question') });
  const options = h('div', { class: 'stack', id: 'ia-quiz-options' }, optionRow(0), optionRow(1));
  const add = h('button', { type: 'button', class: 'btn btn-ghost', id: 'ia-quiz-add' }, t('ia.quiz_add_option'));
  add.addEventListener('click', () => {
    const n = options.children.length;
    if (n < 8) options.append(optionRow(n));
    add.disabled = options.children.length >= 8;
  });
  const multiple = h('input', { type: 'checkbox', id: 'ia-quiz-multiple' });
  const seconds = h('input', { type: 'number', id: 'ia-quiz-seconds', min: 5, max: 3600, step: 5, 'aria-label': t('ia.quiz_seconds') });
  const push = h('button', { type: 'submit', class: 'btn', id: 'ia-quiz-push' }, t('ia.quiz_push'));
  const form = h('form', { class: 'stack', id: 'ia-quiz-form' }, question, options,
    h('div', { class: 'row' }, add, h('label', {}, multiple, ' ', t('ia.quiz_multiple'))),
    h('label', { class: 'ia-label' }, t('ia.quiz_seconds'), seconds), push);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const opts = [...options.querySelectorAll('.ia-option-text')].map((x) => x.value.trim()).filter(Boolean);
    if (opts.length < 2) { toast(t('ia.quiz_need_options'), 'warn'); return; }
    push.disabled = true;
    try {
      const reply = await ia.quizOpen(session, question.value.trim(), opts, multiple.checked, Number(seconds.value) || null);
      session.ia.quiz = reply.quiz;
      renderQuiz(session);
    } catch (e) { showError(e); }
    push.disabled = false;
  });
  const close = h('button', { type: 'button', class: 'btn btn-secondary', id: 'ia-quiz-close' }, t('ia.quiz_close'));
  const reveal = h('button', { type: 'button', class: 'btn', id: 'ia-quiz-reveal' }, t('ia.quiz_close_reveal'));
  const closeWith = (show) => async () => {
    const q = session.ia.quiz;
    if (!q) return;
    try { await ia.quizClose(session, q.id, show); } catch (e) { showError(e); }
  };
  close.addEventListener('click', closeWith(false));
  reveal.addEventListener('click', closeWith(true));
  const live = h('div', { class: 'stack', id: 'ia-quiz-live', hidden: true },
    h('p', { id: 'ia-quiz-title', class: 'ia-question' }), h('p', { id: 'ia-quiz-state', class: 'muted' }),
    h('div', { id: 'ia-quiz-results' }), h('div', { class: 'row', id: 'ia-quiz-actions' }, close, reveal));
  return h('section', { class: 'card stack ia-card', id: 'ia-quiz', 'aria-labelledby': 'ia-quiz-title-h' },
    h('h3', { id: 'ia-quiz-title-h' }, t('ia.quiz')), live, form);
}

function renderQuiz(session) {
  const live = document.getElementById('ia-quiz-live');
  if (!live) return;
  const q = session.ia.quiz;
  const form = document.getElementById('ia-quiz-form');
  live.hidden = !q;
  form.hidden = !!(q && !q.closed);
  if (!q) return;
  document.getElementById('ia-quiz-title').textContent = q.question;
  const closed = session.ia.closed.get(q.id);
  const state = document.getElementById('ia-quiz-state');
  if (q.closed) state.textContent = closed && closed.reason === 'expired' ? t('ia.quiz_expired') : t('ia.quiz_closed');
  else state.textContent = q.closes_at ? t('ia.quiz_time_left', { s: Math.max(0, Math.round((new Date(q.closes_at) - Date.now()) / 1000)) }) : '';
  document.getElementById('ia-quiz-actions').hidden = !!q.closed;
  renderResults(document.getElementById('ia-quiz-results'), q, session.ia.results.get(q.id), { perClassroom: true });
}

// ------------------------------------------------------------ attendance
function attendanceSection(session, lesson) {
  const refresh = h('button', { type: 'button', class: 'btn btn-ghost', id: 'ia-attendance-refresh' }, t('ia.attendance_refresh'));
  refresh.addEventListener('click', () => loadAttendance(session, lesson));
  return h('section', { class: 'card stack ia-card', id: 'ia-attendance', 'aria-labelledby': 'ia-att-title' },
    h('div', { class: 'row' }, h('h3', { id: 'ia-att-title' }, t('ia.attendance')), refresh),
    h('p', { id: 'ia-attendance-total', class: 'muted' }),
    h('ul', { id: 'ia-attendance-list', class: 'ia-list' }));
}

let attendanceTimer = null;
function scheduleAttendance(session, lesson) {
  clearTimeout(attendanceTimer);
  attendanceTimer = setTimeout(() => loadAttendance(session, lesson), 600);
}

async function loadAttendance(session, lesson) {
  let report;
  try { report = await api.get(`/api/lessons/${lesson.id}/attendance/report`); } catch { return; }
  const list = document.getElementById('ia-attendance-list');
  if (!list) return;
  // Live head counts win over the report's (the store writes them a moment later).
  const live = new Map([...session.ia.pupils.values()].map((r) => [r.classroom_id, r.pupils_present]));
  clear(list);
  let pupils = 0;
  for (const c of report.classrooms) {
    const n = live.has(c.classroom_id) ? live.get(c.classroom_id) : c.pupils_present;
    pupils += n || 0;
    list.append(h('li', { dataset: { classroomId: String(c.classroom_id), attended: String(c.attended) } },
      h('span', { class: `badge ${c.attended ? 'badge-live' : 'badge-ended'}` }, c.attended ? t('ia.attended') : t('ia.absent')), ' ',
      c.name, c.main ? ` (${t('ia.main_classroom')})` : '', ' · ',
      h('span', { class: 'ia-pupils' }, n === null || n === undefined ? t('ia.pupils_unknown') : t('ia.pupils_n', { n }))));
  }
  document.getElementById('ia-attendance-total').textContent = t('ia.attendance_total', {
    attended: report.attended, expected: report.expected, pupils,
  });
}

// ------------------------------------------------------------ mount
/** Add the interaction panels to the teacher's side column (called after every live render). */
export function mountTeacherInteraction(side, session, lesson) {
  track(session, (what) => {
    if (what.startsWith('chat')) renderChat(session);
    else if (what.startsWith('quiz')) renderQuiz(session);
    else if (what === 'pupils_reported') scheduleAttendance(session, lesson);
  });
  if (!session.iaWired) {
    session.iaWired = true;
    session.addEventListener('floor_changed', (ev) => {
      renderSpeakers(session);
      if (ev.detail.reason === 'expired') toast(t('ia.expired'), 'info');
    });
    ['participant_joined', 'participant_left'].forEach((e) => session.addEventListener(e, () => scheduleAttendance(session, lesson)));
  }
  side.querySelectorAll('.ia-card').forEach((el) => el.remove());
  const before = side.querySelector('.toolbar:last-child');
  for (const section of [floorSection(session), chatSection(session), quizSection(session), attendanceSection(session, lesson)]) {
    side.insertBefore(section, before);
  }
  renderSpeakers(session);
  renderChat(session);
  renderQuiz(session);
  loadAttendance(session, lesson);
  clearInterval(ticker);
  ticker = setInterval(() => {
    if (!document.getElementById('ia-floor')) { clearInterval(ticker); return; }
    renderSpeakers(session);
    const q = session.ia.quiz;
    if (q && !q.closed && q.closes_at) renderQuiz(session);
  }, 1000);
}
