// Classroom interaction shared by the teacher and classroom pages (docs/interaction.md):
// requests of the floor-mode, chat, quiz and attendance messages, the state
// kept from the server's events, and the chat / quiz-result views.
import { t } from './i18n.js';
import { h, clear } from './ui.js';

export const LETTERS = 'ABCDEFGH';

/** Requests over the signaling session (each resolves with the reply, rejects with a SignalingError). */
export const ia = {
  setMode: (s, mode, maxSpeakers = null, timeLimit = null) => s.request({
    type: 'floor_mode', mode, max_speakers: maxSpeakers, time_limit: timeLimit,
  }),
  muteAll: (s, muted = true) => s.request({ type: 'mute_all', muted }),
  chatSend: (s, text, to = 'all') => s.request({ type: 'chat_send', text, to }),
  chatDelete: (s, messageId) => s.request({ type: 'chat_delete', message_id: messageId }),
  chatEnable: (s, enabled) => s.request({ type: 'chat_enable', enabled }),
  quizOpen: (s, question, options, multiple = false, seconds = null) => s.request({
    type: 'quiz_open', question, options, multiple, seconds,
  }),
  quizAnswer: (s, quizId, { hands = null, choices = null, replace = false } = {}) => s.request({
    type: 'quiz_answer', quiz_id: quizId, hands, choices, replace,
  }),
  quizClose: (s, quizId, reveal = false) => s.request({ type: 'quiz_close', quiz_id: quizId, reveal }),
  reportPupils: (s, n) => s.request({ type: 'pupils_report', pupils_present: n }),
};

/** Is this participant one of the speakers (the floor is a set since issue 6)? */
export function isSpeaker(session, participantId) {
  const f = session.floor || {};
  return (f.speakers || (f.holder ? [f.holder] : [])).includes(participantId);
}

/**
 * Interaction state of one session, kept from its events; `onChange` runs after each.
 * Attach once per session (the pages re-render their views from it).
 */
export function track(session, onChange) {
  if (session.ia) { session.ia.listeners.add(onChange); return session.ia; }
  const st = {
    chat: [], chatEnabled: true, quiz: null, answered: false, results: new Map(),
    closed: new Map(), pupils: new Map(), listeners: new Set([onChange]),
  };
  session.ia = st;
  const changed = (what, detail) => st.listeners.forEach((fn) => fn(what, detail));
  const on = (type, fn) => session.addEventListener(type, (ev) => { fn(ev.detail); changed(type, ev.detail); });
  on('chat_message', (m) => { st.chat.push(m.message); });
  on('chat_deleted', (m) => { st.chat = st.chat.filter((e) => e.id !== m.message_id); });
  on('chat_state', (m) => {
    st.chatEnabled = m.enabled;
    if (m.history) st.chat = [...m.history];
  });
  on('quiz_opened', (m) => { st.quiz = m.quiz; st.answered = !!m.answered; });
  on('quiz_results', (m) => { st.results.set(m.quiz_id, m); });
  on('quiz_closed', (m) => {
    st.closed.set(m.quiz_id, m);
    if (st.quiz && st.quiz.id === m.quiz_id) st.quiz = { ...st.quiz, closed: true };
  });
  on('pupils_reported', (m) => { st.pupils.set(m.identity, m); });
  return st;
}

/** Add our own message (the reply to chat_send) to the shared list. */
export function ownMessage(session, reply) {
  if (reply && reply.message && session.ia && !session.ia.chat.some((e) => e.id === reply.message.id)) {
    session.ia.chat.push(reply.message);
  }
}

function clockOf(iso) {
  const d = new Date(iso);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

/** The chat list; `onDelete(entry)` adds a delete button (moderators). */
export function renderChatList(list, entries, { me = null, onDelete = null } = {}) {
  clear(list);
  if (!entries.length) { list.append(h('li', { class: 'muted ia-empty' }, t('ia.chat_empty'))); return; }
  for (const e of entries) {
    const who = e.name || e.identity;
    list.append(h('li', {
      class: `ia-msg${e.participant_id === me ? ' ia-mine' : ''}${e.to === 'moderators' ? ' ia-private' : ''}`,
      dataset: { messageId: e.id },
    },
    h('span', { class: 'ia-who' }, who), ' ', h('time', { class: 'muted', datetime: e.at }, clockOf(e.at)),
    e.to === 'moderators' ? h('span', { class: 'ia-tag' }, ' ', t('ia.to_teacher_tag')) : null,
    h('div', { class: 'ia-text' }, e.text),
    onDelete ? h('button', {
      type: 'button', class: 'btn btn-ghost ia-delete', 'aria-label': t('ia.delete_named', { name: who }),
      onclick: () => onDelete(e),
    }, t('ia.delete')) : null));
  }
  list.scrollTop = list.scrollHeight;
}

/** Bars of the totals (hands per option) and, for moderators, the table per classroom. */
export function renderResults(box, quiz, results, { perClassroom = false } = {}) {
  clear(box);
  if (!quiz) return;
  const totals = (results && results.totals) || quiz.options.map(() => 0);
  const top = Math.max(1, ...totals);
  box.append(h('p', { class: 'ia-answered' }, results
    ? t('ia.quiz_answered', { answered: results.answered, expected: results.expected }) : ''));
  box.append(h('ol', { class: 'ia-totals', 'aria-label': t('ia.quiz_totals') },
    quiz.options.map((opt, i) => h('li', { dataset: { option: String(i), total: String(totals[i]) } },
      h('span', { class: 'ia-opt' }, `${LETTERS[i]}. ${opt}`),
      h('span', { class: 'ia-bar', style: `width:${Math.round((100 * totals[i]) / top)}%`, 'aria-hidden': 'true' }),
      h('strong', { class: 'ia-count' }, String(totals[i]))))));
  if (perClassroom && results && results.classrooms.length) {
    box.append(h('table', { class: 'ia-table', 'aria-label': t('ia.quiz_by_classroom') },
      h('tbody', {}, results.classrooms.map((c) => h('tr', {},
        h('th', { scope: 'row' }, c.name || c.identity),
        h('td', {}, c.hands ? c.hands.map((n, i) => `${LETTERS[i]}:${n}`).join(' ')
          : (c.choices || []).map((i) => LETTERS[i]).join(',')))))));
  }
}
