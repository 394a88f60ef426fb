// Classroom page: a side panel with the chat (to all / to the teacher), the open quiz
// (hands raised per option), the pupils-present report and "stop speaking".
import { t } from './i18n.js';
import { h, clear, toast, describeError } from './ui.js';
import { ia, track, ownMessage, renderChatList, renderResults, isSpeaker, LETTERS } from './interaction.js';

export { isSpeaker };

function fail(e) { toast(describeError(e), 'error'); }

function chatBlock(session) {
  const text = h('textarea', { id: 'ia-chat-text', rows: 2, maxlength: 500, 'aria-label': t('ia.chat_input'), placeholder: t('ia.chat_input') });
  const to = h('select', { id: 'ia-chat-to', 'aria-label': t('ia.to_all') },
    h('option', { value: 'all' }, t('ia.to_all')), h('option', { value: 'moderators' }, t('ia.to_teacher')));
  const left = h('span', { class: 'muted', id: 'ia-chat-left' }, t('ia.chars_left', { n: 500 }));
  text.addEventListener('input', () => { left.textContent = t('ia.chars_left', { n: 500 - text.value.length }); });
  const form = h('form', { class: 'stack', id: 'ia-chat-form' }, text,
    h('div', { class: 'row' }, to, h('button', { type: 'submit', class: 'btn', id: 'ia-chat-send' }, t('ia.chat_send')), left));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const value = text.value.trim();
    if (!value) return;
    try {
      ownMessage(session, await ia.chatSend(session, value, to.value));
      text.value = '';
      renderChat(session);
    } catch (e) { fail(e); }
  });
  return h('section', { class: 'stack ia-block', id: 'ia-chat', 'aria-labelledby': 'ia-chat-title' },
    h('h3', { id: 'ia-chat-title' }, t('ia.chat')),
    h('p', { class: 'alert alert-warn', id: 'ia-chat-off', hidden: true }, t('ia.chat_off')),
    h('ol', { id: 'ia-chat-list', class: 'ia-chat-list', 'aria-live': 'polite' }), form);
}

function renderChat(session) {
  const list = document.getElementById('ia-chat-list');
  if (!list) return;
  renderChatList(list, session.ia.chat, { me: session.participantId });
  const off = !session.ia.chatEnabled;
  document.getElementById('ia-chat-off').hidden = !off;
  document.getElementById('ia-chat-send').disabled = off;
}

function quizBlock() {
  return h('section', { class: 'stack ia-block', id: 'ia-quiz', 'aria-labelledby': 'ia-quiz-h', hidden: true },
    h('h3', { id: 'ia-quiz-h' }, t('ia.quiz')), h('div', { id: 'ia-quiz-body', class: 'stack' }));
}

function renderQuiz(session, panel) {
  const box = document.getElementById('ia-quiz');
  const body = document.getElementById('ia-quiz-body');
  if (!box || !body) return;
  const q = session.ia.quiz;
  box.hidden = !q;
  if (!q) return;
  clear(body);
  body.append(h('p', { class: 'ia-question', id: 'ia-quiz-question' }, q.question));
  const results = session.ia.results.get(q.id);
  if (q.closed) {
    const closed = session.ia.closed.get(q.id);
    body.append(h('p', { class: 'muted', id: 'ia-quiz-state' }, closed && closed.reason === 'expired' ? t('ia.quiz_expired') : t('ia.quiz_closed')));
    if (results) {
      const out = h('div', { id: 'ia-quiz-results', 'aria-label': t('ia.quiz_results') });
      body.append(h('h4', {}, t('ia.quiz_results')), out);
      renderResults(out, q, results);
    }
    return;
  }
  if (session.ia.answered) {
    body.append(h('p', { class: 'alert alert-ok', id: 'ia-quiz-state' }, t('ia.quiz_submitted')));
    return;
  }
  if (q.closes_at) {
    body.append(h('p', { class: 'muted', id: 'ia-quiz-left' },
      t('ia.quiz_time_left', { s: Math.max(0, Math.round((new Date(q.closes_at) - Date.now()) / 1000)) })));
  }
  const inputs = q.options.map((opt, i) => h('input', {
    type: 'number', min: 0, max: 1000, value: 0, class: 'ia-hands', dataset: { option: String(i) },
    'aria-label': t('ia.quiz_hands_for', { option: `${LETTERS[i]}. ${opt}` }),
  }));
  const form = h('form', { class: 'stack', id: 'ia-quiz-form' },
    h('p', { class: 'muted' }, t('ia.quiz_hands')),
    q.options.map((opt, i) => h('label', { class: 'ia-hands-row' }, h('span', {}, `${LETTERS[i]}. ${opt}`), inputs[i])),
    h('button', { type: 'submit', class: 'btn btn-big', id: 'ia-quiz-submit' }, t('ia.quiz_submit')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const hands = inputs.map((x) => Math.max(0, Math.floor(Number(x.value) || 0)));
    try {
      await ia.quizAnswer(session, q.id, { hands });
      session.ia.answered = true;
      renderQuiz(session, panel);
    } catch (e) { fail(e); }
  });
  body.append(form);
}

function pupilsBlock(session) {
  const input = h('input', { type: 'number', id: 'ia-pupils', min: 0, max: 10000, 'aria-label': t('ia.pupils_present') });
  const done = h('span', { class: 'muted', id: 'ia-pupils-done', role: 'status' });
  const form = h('form', { class: 'row', id: 'ia-pupils-form' },
    h('label', { class: 'ia-label' }, t('ia.pupils_present'), input),
    h('button', { type: 'submit', class: 'btn btn-secondary', id: 'ia-pupils-report' }, t('ia.pupils_report')), done);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const n = Math.floor(Number(input.value));
    if (!Number.isFinite(n) || n < 0) return;
    try {
      await ia.reportPupils(session, n);
      done.textContent = t('ia.pupils_reported', { n });
    } catch (e) { fail(e); }
  });
  return h('section', { class: 'stack ia-block', id: 'ia-attendance', 'aria-labelledby': 'ia-att-h' },
    h('h3', { id: 'ia-att-h' }, t('ia.attendance')), form);
}

function updateFloor(session) {
  const btn = document.getElementById('ia-give-back');
  if (btn) btn.hidden = !isSpeaker(session, session.participantId);
}

/** Add the interaction panel and its toggle to the live classroom stage. */
export function mountClassroomInteraction(stage, session) {
  const panel = h('aside', { class: 'ia-panel', id: 'ia-panel', 'aria-label': t('ia.panel'), hidden: true },
    h('div', { class: 'row' }, h('h2', {}, t('ia.panel')),
      h('button', { type: 'button', class: 'btn btn-ghost', id: 'ia-panel-close', onclick: () => show(false) }, t('ia.panel_close'))),
    quizBlock(), chatBlock(session), pupilsBlock(session));
  const toggle = h('button', { type: 'button', class: 'btn btn-secondary', id: 'ia-toggle', 'aria-expanded': 'false', 'aria-controls': 'ia-panel' }, t('ia.panel'));
  const giveBack = h('button', { type: 'button', class: 'btn btn-secondary', id: 'ia-give-back', hidden: true }, t('ia.give_back'));
  giveBack.addEventListener('click', () => session.revokeFloor(session.participantId).catch(fail));
  function show(on) {
    panel.hidden = !on;
    toggle.setAttribute('aria-expanded', String(on));
  }
  toggle.addEventListener('click', () => show(panel.hidden));
  stage.append(panel);
  const bar = stage.querySelector('.classroom-bar');
  if (bar) bar.append(giveBack, toggle);
  track(session, (what) => {
    if (what.startsWith('chat')) renderChat(session);
    if (what.startsWith('quiz')) {
      if (what === 'quiz_opened' || what === 'quiz_results') show(true);
      renderQuiz(session, panel);
    }
  });
  if (!session.iaWired) {
    session.iaWired = true;
    session.addEventListener('floor_changed', (ev) => {
      updateFloor(session);
      const removed = ev.detail.previous === session.participantId || !isSpeaker(session, session.participantId);
      if (ev.detail.reason === 'expired' && removed && ev.detail.floor && !isSpeaker(session, session.participantId)) {
        toast(t('ia.expired'), 'info');
      }
    });
  }
  if (!window.iaAudioUnlock) {
    // Autoplay may block the speakers' <audio> until a gesture: any click retries them.
    window.iaAudioUnlock = true;
    document.addEventListener('click', () => {
      document.querySelectorAll('#speaker-audio audio').forEach((a) => a.play().catch(() => {}));
    });
  }
  renderChat(session);
  renderQuiz(session, panel);
  updateFloor(session);
  if (session.ia.quiz && !session.ia.quiz.closed && !session.ia.answered) show(true);
}

/**
 * One <audio> per other speaker's sound: since several classrooms may hold the floor,
 * their voices cannot share the teacher's <video> element (it plays one audio track).
 * `tracks`: [{p: ProducerInfo, track}] of the speakers; stale elements are removed.
 */
export function syncSpeakerAudio(stage, tracks) {
  let box = document.getElementById('speaker-audio');
  if (!box) {
    box = h('div', { id: 'speaker-audio', hidden: true });
    stage.append(box);
  }
  const wanted = new Map(tracks.map((x) => [x.p.id, x.track]));
  for (const el of [...box.children]) {
    if (!wanted.has(el.dataset.producerId)) { el.srcObject = null; el.remove(); }
  }
  for (const [id, track] of wanted) {
    let el = box.querySelector(`audio[data-producer-id="${CSS.escape(id)}"]`);
    if (!el) {
      el = h('audio', { autoplay: true, dataset: { producerId: id } });
      box.append(el);
    }
    if (!(el.srcObject instanceof MediaStream) || el.srcObject.getAudioTracks()[0] !== track) {
      el.srcObject = new MediaStream([track]);
      el.play().catch(() => {});
    }
  }
}
