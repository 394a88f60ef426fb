// The receiving classroom (接收课堂) device page: one URL on the classroom PC/TV.
// First use: pair with the 6-digit code an admin shows. Then: wait for the
// lesson ("等待上课" + the next lesson's time), join automatically when it goes
// live (retry with backoff), show the teacher full screen, raise a hand, talk
// when given the floor, and come back by itself after a network drop.
import { api, tokens, items } from './api.js';
import { t, fmtTime } from './i18n.js';
import { h, clear, boot, renderHeader, describeError, toast, isoDay, sleep } from './ui.js';
import { lesson as L, TZ } from './model.js';
import { LESSON_PATHS as P } from './paths.js';
import { getLocalMedia, mediaErrorKey } from './devices.js';
import { joinLesson, attachTrack, detachKind } from './live.js';
import { backoff } from './signaling.js';
import { mountClassroomInteraction, isSpeaker, syncSpeakerAudio } from './interaction-classroom.js';
import { CoursewarePanel } from './courseware.js';

const main = document.getElementById('main');
const POLL_MS = Number(new URLSearchParams(location.search).get('poll')) || 10000;
const state = {
  phase: 'init', device: null, next: null, lesson: null, session: null, local: null,
  attempt: 0, wake: null, handRaised: false, mediaError: null, lastError: null,
};
window.tongbu = state;

// ------------------------------------------------------------ pairing
function renderPairing(error = null) {
  state.phase = 'pairing';
  const err = h('div', { role: 'alert', id: 'pair-error' }, error ? h('div', { class: 'alert alert-error' }, error) : null);
  const form = h('form', { class: 'card narrow stack', id: 'pair-form', 'aria-labelledby': 'pair-title' },
    h('h2', { id: 'pair-title' }, t('classroom.pair_title')),
    h('p', {}, t('classroom.pair_hint')),
    h('div', { class: 'field' }, h('label', { for: 'pair-code' }, t('classroom.pair_code')),
      h('input', { id: 'pair-code', name: 'code', inputmode: 'numeric', pattern: '[0-9]{6}', maxlength: 6, required: true, autocomplete: 'one-time-code', autofocus: true })),
    err,
    h('button', { type: 'submit', class: 'btn btn-big', id: 'pair-submit' }, t('classroom.pair_submit')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(err);
    try {
      await api.pair(form.code.value.trim());
      state.device = null;
      loop();
    } catch (e) {
      err.append(h('div', { class: 'alert alert-error' }, e.status === 404 || e.status === 400 || e.code === 'validation_failed' ? t('classroom.pair_failed') : describeError(e)));
    }
  });
  clear(main).append(form);
}

// ------------------------------------------------------------ waiting
async function deviceInfo() {
  if (!state.device) state.device = await api.get('/api/me', { auth: 'device' });
  return state.device;
}

async function myLessons() {
  const today = items(await api.get(P.lessons, { query: { day: isoDay(), tz: TZ, limit: 100 }, auth: 'device' }));
  const now = Date.now();
  const live = today.find((l) => L.state(l) === 'live');
  const next = today.filter((l) => L.state(l) === 'scheduled' && L.end(l).getTime() > now)
    .sort((a, b) => L.start(a) - L.start(b))[0] || null;
  return { live, next };
}

function renderWaiting() {
  state.phase = 'waiting';
  const name = (state.device && state.device.name) || '';
  const next = state.next;
  clear(main).append(h('div', { class: 'classroom-stage' },
    h('div', { class: 'waiting', id: 'waiting', role: 'status', 'aria-live': 'polite' },
      h('div', { class: 'muted' }, name),
      h('div', { class: 'big' }, t('classroom.waiting')),
      h('div', { class: 'next', id: 'next-lesson' }, next
        ? t('classroom.next', { time: fmtTime(L.start(next)), title: L.title(next) })
        : t('classroom.no_more')),
      state.lastError ? h('p', { class: 'muted', id: 'retry-note' }, state.lastError) : null,
      h('div', { class: 'row', style: 'justify-content:center; margin-top:24px' },
        h('button', { type: 'button', class: 'btn btn-secondary', id: 'check-now', onclick: () => wake() }, t('classroom.check_now')),
        h('button', { type: 'button', class: 'btn btn-ghost', id: 'unpair', onclick: unpair }, t('classroom.unpair'))))));
}

function unpair() {
  tokens.clearDevice();
  state.device = null;
  renderPairing();
}

function wake() { if (state.wake) state.wake(); }

function nap(ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    state.wake = () => { clearTimeout(timer); resolve(); };
  });
}

/** The device's main loop: poll for a live lesson, join, and rejoin after drops. */
async function loop() {
  if (state.looping) { wake(); return; }
  state.looping = true;
  try {
    while (tokens.device) {
      let found;
      try {
        await deviceInfo();
        found = await myLessons();
        state.lastError = null;
      } catch (e) {
        if (e.status === 401) { tokens.clearDevice(); renderPairing(t('classroom.unpaired')); return; }
        state.lastError = t('classroom.retrying', { error: describeError(e) });
        if (state.phase !== 'live') renderWaiting();
        await nap(backoff(Math.min(state.attempt++, 4)));
        continue;
      }
      state.next = found.next;
      if (found.live) {
        state.lesson = found.live;
        const outcome = await runLesson(found.live);
        if (outcome === 'retry') {
          state.lastError = t('classroom.reconnecting');
          renderWaiting();
          await nap(backoff(Math.min(state.attempt++, 4)));
          continue;
        }
        state.attempt = 0;
        continue;
      }
      state.attempt = 0;
      renderWaiting();
      let wait = POLL_MS;
      if (found.next) wait = Math.max(1000, Math.min(POLL_MS, L.start(found.next).getTime() - Date.now()));
      await nap(wait);
    }
    renderPairing();
  } finally {
    state.looping = false;
  }
}

// ------------------------------------------------------------ the lesson
async function localMedia() {
  if (state.local && state.local.getTracks().every((tr) => tr.readyState === 'live')) return state.local;
  try {
    state.local = await getLocalMedia({});
    state.mediaError = null;
  } catch (e) {
    state.mediaError = mediaErrorKey(e);
    state.local = null;
  }
  return state.local;
}

/** Join and stay until the lesson ends ('ended') or the connection drops ('retry'). */
async function runLesson(lesson) {
  let session;
  try {
    ({ session } = await joinLesson(lesson.id, { auth: 'device' }));
  } catch (e) {
    if (e.status === 401) throw e;
    if (e.code === 'invalid_state' || e.status === 409) return 'ended';
    state.lastError = describeError(e);
    return 'retry';
  }
  state.session = session;
  state.attempt = 0;
  state.handRaised = false;
  state.phase = 'live';
  renderLive();
  // The lesson ends through the REST API; the room itself may stay open while
  // classrooms are in it, so check the lesson when the teacher leaves and now and then.
  const checkEnded = async () => {
    try {
      const l = await api.get(P.lesson(lesson.id), { auth: 'device' });
      if (L.state(l) !== 'live' && state.session === session) await session.close();
    } catch { /* offline: the socket heartbeat notices */ }
  };
  const checker = setInterval(checkEnded, Math.max(3000, POLL_MS * 3));
  session.addEventListener('participant_left', (ev) => {
    if (ev.detail.participant && ev.detail.participant.role === 'teacher') checkEnded();
  });
  const done = new Promise((resolve) => {
    session.addEventListener('closed', (ev) => {
      clearInterval(checker);
      const reason = ev.detail.reason;
      resolve(reason === 'room_closed' || ev.detail.byUs ? 'ended' : 'retry');
    }, { once: true });
    session.addEventListener('connectionstate', (ev) => {
      if (ev.detail.state === 'failed') session.close().then(() => resolve('retry'));
    });
  });
  const wire = () => updateLive();
  ['participant_joined', 'participant_left', 'participant_updated', 'producer_added', 'producer_removed', 'track', 'floor_changed']
    .forEach((name) => session.addEventListener(name, wire));
  session.addEventListener('muted', (ev) => {
    if (ev.detail.participant_id === session.participantId) toast(ev.detail.muted ? t('classroom.muted_by_teacher') : t('classroom.unmuted_by_teacher'), 'info');
  });
  const local = await localMedia();
  if (local) {
    const tracks = [];
    const v = local.getVideoTracks()[0];
    const a = local.getAudioTracks()[0];
    if (v) tracks.push({ track: v, source: 'camera', layer: 'high', encodings: [{ maxBitrate: 500000 }] });
    if (a) tracks.push({ track: a, source: 'mic', layer: 'high' });
    // Published now, forwarded by the server only while this classroom has the floor.
    if (tracks.length) session.publish(tracks).catch((e) => toast(describeError(e), 'error'));
  } else if (state.mediaError) {
    toast(t(state.mediaError), 'warn');
  }
  updateLive();
  const outcome = await done;
  if (outcome === 'ended') {
    // The socket closed for good: check whether the lesson really ended.
    try {
      const l = await api.get(P.lesson(lesson.id), { auth: 'device' });
      if (L.state(l) === 'live') { state.session = null; return 'retry'; }
    } catch { /* offline: the loop retries */ return 'retry'; }
  }
  state.session = null;
  return outcome;
}

function renderLive() {
  const mainVideo = h('video', { id: 'main-video', class: 'main-video', autoplay: true, playsinline: true, 'aria-label': t('classroom.teacher_video') });
  const pip = h('video', { id: 'pip-video', class: 'pip', autoplay: true, playsinline: true, muted: true, hidden: true, 'aria-label': t('classroom.pip_video') });
  const hand = h('button', { type: 'button', class: 'btn btn-big', id: 'raise-hand', 'aria-pressed': 'false' }, t('classroom.raise_hand'));
  hand.addEventListener('click', async () => {
    const s = state.session;
    if (!s) return;
    try {
      await s.raiseHand(state.handRaised);
      state.handRaised = !state.handRaised;
      updateLive();
    } catch (e) { toast(describeError(e), 'error'); }
  });
  const sound = h('button', { type: 'button', class: 'btn btn-secondary', id: 'sound-on', hidden: true }, t('classroom.sound_on'));
  sound.addEventListener('click', () => { mainVideo.muted = false; mainVideo.play().catch(() => {}); sound.hidden = true; });
  const full = h('button', { type: 'button', class: 'btn btn-secondary', id: 'fullscreen' }, t('classroom.fullscreen'));
  full.addEventListener('click', () => document.documentElement.requestFullscreen && document.documentElement.requestFullscreen().catch(() => {}));
  clear(main).append(h('div', { class: 'classroom-stage' },
    h('div', { class: 'floor-banner', id: 'floor-banner', role: 'status', hidden: true }, t('classroom.you_have_floor')),
    h('p', { class: 'waiting', id: 'connecting' }, t('classroom.connecting')),
    mainVideo, pip,
    h('div', { class: 'classroom-bar', role: 'toolbar', 'aria-label': t('classroom.controls') },
      h('span', { id: 'live-title', class: 'state-line' }, h('span', { class: 'live-dot', 'aria-hidden': 'true' }), state.lesson ? L.title(state.lesson) : ''),
      hand, sound, full)));
  state.attached = new Set();
  mountClassroomInteraction(main.querySelector('.classroom-stage'), state.session);
  // Courseware (课件同步): the shared page full width while a document is open.
  if (state.courseware) state.courseware.destroy();
  state.courseware = new CoursewarePanel(state.session, { drive: false });
  const stage = main.querySelector('.classroom-stage');
  stage.append(state.courseware.root);
  state.courseware.root.addEventListener('courseware', (ev) => stage.classList.toggle('has-courseware', Boolean(ev.detail.document)));
}

function updateLive() {
  const s = state.session;
  if (!s || state.phase !== 'live') return;
  const mainVideo = document.getElementById('main-video');
  const pip = document.getElementById('pip-video');
  if (!mainVideo) return;
  const teachers = [...s.participants.values()].filter((p) => p.role === 'teacher');
  const teacherIds = new Set(teachers.map((p) => p.id));
  const byOwner = (pred) => [...s.producers.values()].filter(pred).map((p) => ({ p, track: s.trackOf(p.id) })).filter((x) => x.track);
  const screen = byOwner((p) => teacherIds.has(p.participant_id) && p.source === 'screen')[0];
  const cam = byOwner((p) => teacherIds.has(p.participant_id) && p.source === 'camera')[0];
  const audio = byOwner((p) => teacherIds.has(p.participant_id) && p.kind === 'audio');
  // The first other speaker is shown (the floor may hold several since floor modes).
  const holder = (s.floor.speakers || [s.floor.holder]).find((id) => id && id !== s.participantId) || null;
  const other = holder && holder !== s.participantId
    ? byOwner((p) => p.participant_id === holder && p.kind === 'video')[0] : null;
  // Every other speaker is heard, each through its own <audio> (the video element plays one).
  const otherAudio = byOwner((p) => p.kind === 'audio' && p.participant_id !== s.participantId
    && !teacherIds.has(p.participant_id) && isSpeaker(s, p.participant_id));
  const mainTrack = (screen || cam || other || {}).track;
  if (mainTrack) {
    attachTrack(mainVideo, mainTrack);
    document.getElementById('connecting').hidden = true;
  } else detachKind(mainVideo, 'video');
  for (const a of audio) attachTrack(mainVideo, a.track);
  syncSpeakerAudio(main.querySelector('.classroom-stage'), otherAudio);
  if (mainVideo.muted) document.getElementById('sound-on').hidden = false;
  const pipSource = screen ? cam : (mainTrack !== (other && other.track) ? other : null);
  if (pipSource) { attachTrack(pip, pipSource.track); pip.hidden = false; } else { pip.hidden = true; detachKind(pip, 'video'); }
  const mine = isSpeaker(s, s.participantId);
  document.getElementById('floor-banner').hidden = !mine;
  const me = s.participants.get(s.participantId);
  if (mine || (me && !me.hand_raised && !(s.floor.queue || []).includes(s.participantId))) state.handRaised = false;
  if ((s.floor.queue || []).includes(s.participantId)) state.handRaised = true;
  const hand = document.getElementById('raise-hand');
  hand.setAttribute('aria-pressed', String(state.handRaised));
  hand.textContent = mine ? t('classroom.talking') : state.handRaised ? t('classroom.lower_hand') : t('classroom.raise_hand');
  hand.disabled = mine;
}

async function render() {
  renderHeader({ titleKey: 'page.classroom', home: false });
  if (!tokens.device) { renderPairing(); return; }
  if (state.phase === 'live') { renderLive(); updateLive(); return; }
  if (state.phase === 'waiting') renderWaiting();
  loop();
}

window.addEventListener('online', () => wake());
boot(render);
