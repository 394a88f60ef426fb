// The main-classroom teacher (主讲教师): device check, start the lesson, a tile
// per receiving classroom (quality, hand-raise, 连麦, mute), screen sharing, end.
import { api } from './api.js';
import { t, fmtTime, fmtDate } from './i18n.js';
import { h, clear, boot, renderHeader, requireUser, describeError, showError, toast, param } from './ui.js';
import { lesson as L, lessonsOfDay } from './model.js';
import { LESSON_PATHS as P } from './paths.js';
import { DeviceCheck, mediaErrorKey } from './devices.js';
import { joinLesson, attachTrack, qualityBars, setQuality, qualityLevel, InboundQuality } from './live.js';
import { mountTeacherInteraction, grantSeconds, isSpeaker } from './interaction-teacher.js';
import { CoursewarePanel } from './courseware.js';

const main = document.getElementById('main');
const state = {
  me: null, lesson: null, session: null, local: null, screen: null, tiles: new Map(),
  check: null, phase: 'prejoin', startedAt: null, quality: new InboundQuality(), timers: [],
};
window.tongbu = state;

async function findLesson() {
  const id = param('lesson');
  if (id) return api.get(P.lesson(id));
  const lessons = await lessonsOfDay(new Date());
  return lessons.find((l) => L.state(l) === 'live') || lessons.find((l) => L.state(l) === 'scheduled') || null;
}

function lessonInfo() {
  const l = state.lesson;
  return h('div', { class: 'stack' },
    h('h2', { id: 'lesson-title' }, L.title(l)),
    h('p', { class: 'muted' }, `${fmtDate(L.start(l))} ${fmtTime(L.start(l))}–${fmtTime(L.end(l))}`),
    h('p', { class: 'state-line', id: 'lesson-state' }, t(`state.${L.state(l)}`)));
}

// ------------------------------------------------------------ before the lesson
function renderPrejoin() {
  if (state.check) state.check.stop();
  state.check = new DeviceCheck({});
  const startBtn = h('button', { type: 'button', class: 'btn btn-big', id: 'start-lesson' },
    L.state(state.lesson) === 'live' ? t('teacher.enter') : t('teacher.start'));
  const err = h('div', { role: 'alert', id: 'start-error' });
  startBtn.addEventListener('click', async () => {
    startBtn.disabled = true;
    clear(err);
    try { await startLesson(); } catch (e) {
      err.append(h('div', { class: 'alert alert-error' }, describeError(e)));
      startBtn.disabled = false;
    }
  });
  const ended = L.state(state.lesson) === 'ended';
  clear(main).append(h('div', { class: 'row', style: 'align-items:flex-start' },
    h('section', { class: 'card stack', style: 'flex:1; min-width: 300px' }, lessonInfo(),
      ended ? h('p', {}, t('teacher.already_ended')) : startBtn, err,
      h('p', { class: 'muted' }, t('teacher.prejoin_hint'))),
    h('div', { style: 'flex:1; min-width: 340px' }, state.check.render())));
  state.check.start();
}

async function startLesson() {
  if (L.state(state.lesson) === 'scheduled') {
    try {
      state.lesson = { ...state.lesson, ...(await api.post(P.start(state.lesson.id), {})) };
    } catch (e) {
      if (e.code !== 'invalid_state') throw e; // already live: join it
    }
  }
  const { session } = await joinLesson(state.lesson.id);
  state.session = session;
  state.startedAt = new Date(state.lesson.actual_start || Date.now());
  state.local = state.check.detach();
  state.check = null;
  state.phase = 'live';
  wireSession(session);
  renderLive();
  if (state.local) {
    const tracks = [];
    const video = state.local.getVideoTracks()[0];
    const audio = state.local.getAudioTracks()[0];
    if (video) {
      tracks.push({ track: video, source: 'camera', layer: 'high' });
      // A second, smaller copy for weak village links (no rid-simulcast in aiortc).
      tracks.push({ track: video.clone(), source: 'camera', layer: 'low', encodings: [{ scaleResolutionDownBy: 4, maxBitrate: 150000 }] });
    }
    if (audio) tracks.push({ track: audio, source: 'mic', layer: 'high' });
    if (tracks.length) await session.publish(tracks);
  } else {
    toast(t('teacher.no_media'), 'warn');
  }
}

// ------------------------------------------------------------ during the lesson
function wireSession(s) {
  const refresh = () => renderTiles();
  ['participant_joined', 'participant_left', 'participant_updated', 'floor_changed', 'producer_added', 'producer_removed', 'track']
    .forEach((ev) => s.addEventListener(ev, refresh));
  s.addEventListener('muted', (ev) => {
    const p = s.participants.get(ev.detail.participant_id);
    if (p) { p.muted = ev.detail.muted ? [...new Set([...(p.muted || []), ev.detail.kind])] : (p.muted || []).filter((k) => k !== ev.detail.kind); }
    renderTiles();
  });
  s.addEventListener('closed', (ev) => {
    if (state.phase !== 'live' || ev.detail.byUs) return;
    toast(t('live.disconnected'), 'error', 0);
    document.getElementById('lesson-state').textContent = t('live.disconnected');
  });
  state.timers.push(setInterval(updateQuality, 2000));
  state.timers.push(setInterval(() => {
    const el = document.getElementById('lesson-clock');
    if (el && state.startedAt) el.textContent = clock(Date.now() - state.startedAt.getTime());
  }, 1000));
}

function clock(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const p = (n) => String(n).padStart(2, '0');
  return `${p(Math.floor(s / 3600))}:${p(Math.floor(s / 60) % 60)}:${p(s % 60)}`;
}

function renderLive() {
  const preview = h('video', { id: 'local-preview', autoplay: true, muted: true, playsinline: true, 'aria-label': t('teacher.preview') });
  if (state.local) preview.srcObject = state.local;
  const micBtn = h('button', { type: 'button', class: 'btn btn-secondary', id: 'toggle-mic', 'aria-pressed': 'false' }, t('teacher.mute_self'));
  micBtn.addEventListener('click', () => {
    const tr = state.local && state.local.getAudioTracks()[0];
    if (!tr) return;
    tr.enabled = !tr.enabled;
    micBtn.setAttribute('aria-pressed', String(!tr.enabled));
    micBtn.textContent = tr.enabled ? t('teacher.mute_self') : t('teacher.unmute_self');
  });
  const camBtn = h('button', { type: 'button', class: 'btn btn-secondary', id: 'toggle-camera', 'aria-pressed': 'false' }, t('teacher.camera_off'));
  camBtn.addEventListener('click', () => {
    const trs = state.session.published.filter((e) => e.source === 'camera').map((e) => e.transceiver.sender.track).filter(Boolean);
    if (!trs.length) return;
    const on = !trs[0].enabled;
    trs.forEach((tr) => { tr.enabled = on; });
    camBtn.setAttribute('aria-pressed', String(!on));
    camBtn.textContent = on ? t('teacher.camera_off') : t('teacher.camera_on');
  });
  const shareBtn = h('button', { type: 'button', class: 'btn btn-secondary', id: 'share-screen', 'aria-pressed': 'false' }, t('teacher.share'));
  shareBtn.addEventListener('click', () => toggleShare(shareBtn));
  const endBtn = h('button', { type: 'button', class: 'btn btn-danger', id: 'end-lesson' }, t('teacher.end'));
  const confirmBtn = h('button', { type: 'button', class: 'btn btn-danger', id: 'end-confirm', hidden: true }, t('teacher.end_confirm'));
  const cancelBtn = h('button', { type: 'button', class: 'btn btn-secondary', id: 'end-cancel', hidden: true }, t('common.cancel'));
  endBtn.addEventListener('click', () => { endBtn.hidden = true; confirmBtn.hidden = false; cancelBtn.hidden = false; confirmBtn.focus(); });
  cancelBtn.addEventListener('click', () => { endBtn.hidden = false; confirmBtn.hidden = true; cancelBtn.hidden = true; endBtn.focus(); });
  confirmBtn.addEventListener('click', endLesson);

  if (state.courseware) state.courseware.destroy();
  state.courseware = new CoursewarePanel(state.session, { drive: true, owner: { lesson_id: state.lesson.id } });
  clear(main).append(h('div', { class: 'teacher-layout' },
    h('aside', { class: 'teacher-side', 'aria-label': t('teacher.controls') },
      h('div', { class: 'card stack' },
        h('h2', { id: 'lesson-title' }, L.title(state.lesson)),
        h('p', { class: 'state-line', id: 'lesson-state' }, h('span', { class: 'live-dot', 'aria-hidden': 'true' }), t('state.live'), ' ',
          h('span', { id: 'lesson-clock' }, '00:00:00'))),
      h('div', { class: 'preview' }, preview),
      h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': t('teacher.controls') }, micBtn, camBtn, shareBtn),
      h('section', { class: 'card', 'aria-labelledby': 'hands-title' },
        h('h3', { id: 'hands-title' }, t('teacher.hands')), h('ol', { id: 'hand-queue' })),
      h('div', { class: 'toolbar' }, endBtn, confirmBtn, cancelBtn)),
    h('section', { 'aria-labelledby': 'tiles-title', class: 'stack', style: 'min-height:0; overflow:auto' },
      h('div', { class: 'card teacher-courseware' }, state.courseware.root),
      h('h2', { id: 'tiles-title' }, t('teacher.classrooms'), ' ', h('span', { id: 'tile-count', class: 'muted' })),
      h('div', { class: 'tiles', id: 'tiles' }))));
  state.tiles.clear();
  renderTiles();
  mountTeacherInteraction(main.querySelector('.teacher-side'), state.session, state.lesson);
}

function classroomParticipants() {
  return [...state.session.participants.values()].filter((p) => p.id !== state.session.participantId && p.role !== 'teacher');
}

function tileFor(p) {
  let tile = state.tiles.get(p.id);
  if (tile) return tile;
  const video = h('video', { autoplay: true, playsinline: true, muted: false, 'aria-label': t('teacher.tile_video', { name: p.name || p.identity }) });
  const placeholder = h('span', { class: 'placeholder' }, t('teacher.no_video'));
  const quality = qualityBars();
  const hand = h('span', { class: 'hand-icon', role: 'img', 'aria-label': t('teacher.hand_raised'), title: t('teacher.hand_raised'), hidden: true }, '✋');
  const floorBtn = h('button', { type: 'button', class: 'btn floor-btn' });
  const muteBtn = h('button', { type: 'button', class: 'btn btn-secondary mute-btn' });
  floorBtn.addEventListener('click', async () => {
    floorBtn.disabled = true;
    try {
      if (isSpeaker(state.session, p.id)) await state.session.revokeFloor(p.id);
      else await state.session.grantFloor(p.id, grantSeconds());
    } catch (e) { showError(e); }
    floorBtn.disabled = false;
  });
  muteBtn.addEventListener('click', async () => {
    const cur = state.session.participants.get(p.id);
    const muted = (cur && cur.muted || []).includes('audio');
    try { await state.session.mute(p.id, 'audio', !muted); } catch (e) { showError(e); }
  });
  const el = h('article', { class: 'tile', dataset: { participantId: p.id, identity: p.identity }, 'aria-label': p.name || p.identity },
    h('div', { class: 'tile-head' }, quality, h('span', { class: 'name' }, p.name || p.identity), hand),
    h('div', { class: 'tile-video' }, placeholder, video),
    h('div', { class: 'tile-actions' }, floorBtn, muteBtn));
  tile = { el, video, placeholder, quality, hand, floorBtn, muteBtn, trackIds: new Set() };
  state.tiles.set(p.id, tile);
  return tile;
}

function renderTiles() {
  const box = document.getElementById('tiles');
  if (!box || !state.session) return;
  const s = state.session;
  const people = classroomParticipants();
  for (const [id, tile] of state.tiles) if (!s.participants.has(id)) { tile.el.remove(); state.tiles.delete(id); }
  for (const p of people) {
    const tile = tileFor(p);
    if (!tile.el.isConnected) box.append(tile.el);
    const name = p.name || p.identity;
    const hasFloor = isSpeaker(s, p.id);
    const hand = p.hand_raised || (s.floor.queue || []).includes(p.id);
    tile.el.classList.toggle('has-floor', hasFloor);
    tile.el.classList.toggle('hand', hand);
    tile.hand.hidden = !hand;
    tile.floorBtn.textContent = hasFloor ? t('teacher.take_floor') : t('teacher.give_floor');
    tile.floorBtn.setAttribute('aria-pressed', String(hasFloor));
    tile.floorBtn.setAttribute('aria-label', `${hasFloor ? t('teacher.take_floor') : t('teacher.give_floor')} · ${name}`);
    const muted = (p.muted || []).includes('audio');
    tile.muteBtn.textContent = muted ? t('teacher.unmute') : t('teacher.mute');
    tile.muteBtn.setAttribute('aria-pressed', String(muted));
    tile.muteBtn.setAttribute('aria-label', `${muted ? t('teacher.unmute') : t('teacher.mute')} · ${name}`);
    for (const prod of s.producersOf(p.id)) {
      if (prod.source === 'screen') continue;
      const track = s.trackOf(prod.id);
      if (track && !tile.trackIds.has(track.id)) {
        tile.trackIds.add(track.id);
        attachTrack(tile.video, track);
      }
    }
    tile.placeholder.hidden = hasFloor;
    tile.placeholder.textContent = hand ? t('teacher.hand_raised') : t('teacher.no_video');
  }
  const count = document.getElementById('tile-count');
  if (count) count.textContent = `(${people.length})`;
  const queue = document.getElementById('hand-queue');
  if (queue) {
    clear(queue);
    for (const id of s.floor.queue || []) {
      const p = s.participants.get(id);
      if (!p) continue;
      queue.append(h('li', {}, p.name || p.identity, ' ',
        h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => s.grantFloor(id, grantSeconds()).catch(showError) }, t('teacher.give_floor'))));
    }
    if (!queue.children.length) queue.append(h('li', { class: 'muted' }, t('teacher.no_hands')));
  }
}

async function updateQuality() {
  if (!state.session || !state.session.sub) return;
  let samples;
  try { samples = await state.quality.sample(state.session.sub); } catch { return; }
  const rtt = [...samples.values()].map((x) => x.rtt).find((x) => x !== null) ?? null;
  for (const [id, tile] of state.tiles) {
    const mine = [...tile.trackIds].map((tid) => samples.get(tid)).filter((x) => x && x.receiving);
    let level;
    if (mine.length) level = qualityLevel({ loss: Math.max(...mine.map((x) => x.loss ?? 0)), rtt });
    else level = state.session.participants.has(id) ? 'idle' : 'unknown';
    setQuality(tile.quality, level);
  }
}

async function toggleShare(btn) {
  if (state.screen) {
    await state.session.unpublish('screen');
    state.screen = null;
    btn.setAttribute('aria-pressed', 'false');
    btn.textContent = t('teacher.share');
    return;
  }
  try {
    state.screen = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 10 }, audio: false });
  } catch (e) {
    toast(t(mediaErrorKey(e) === 'media.error.denied' ? 'teacher.share_denied' : mediaErrorKey(e)), 'error');
    return;
  }
  const track = state.screen.getVideoTracks()[0];
  track.contentHint = 'detail';
  track.addEventListener('ended', () => { if (state.screen) toggleShare(btn); });
  await state.session.publish([{ track, source: 'screen', layer: 'high' }]);
  btn.setAttribute('aria-pressed', 'true');
  btn.textContent = t('teacher.stop_share');
}

async function endLesson() {
  try {
    await api.post(P.end(state.lesson.id), {});
  } catch (e) {
    if (e.code !== 'invalid_state') { showError(e); return; }
  }
  state.phase = 'ended';
  state.timers.forEach(clearInterval);
  if (state.session) await state.session.close();
  for (const s of [state.local, state.screen]) if (s) s.getTracks().forEach((tr) => tr.stop());
  state.lesson = { ...state.lesson, state: 'ended' };
  clear(main).append(h('section', { class: 'card narrow stack', id: 'lesson-ended' },
    h('h2', {}, t('teacher.ended')), h('a', { class: 'btn', href: './index.html' }, t('app.home')),
    h('a', { class: 'btn btn-secondary', href: './playback.html', id: 'playback-link' }, t('playback.link'))));
}

async function render() {
  state.me = state.me || await requireUser();
  renderHeader({ titleKey: 'page.teacher', user: state.me });
  if (state.phase === 'live') { renderLive(); return; }
  if (state.phase === 'ended') return;
  try {
    state.lesson = state.lesson || await findLesson();
  } catch (e) {
    clear(main).append(h('div', { class: 'alert alert-error', role: 'alert' }, describeError(e)));
    return;
  }
  if (!state.lesson) {
    clear(main).append(h('section', { class: 'card narrow' }, h('p', { id: 'no-lesson' }, t('teacher.no_lesson')),
      h('a', { class: 'btn', href: './index.html' }, t('app.home'))));
    return;
  }
  renderPrejoin();
}

boot(render);
