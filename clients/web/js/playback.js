// Recording playback (点播): every classroom's video side by side, in sync on
// the lesson timeline of the recording's manifest; one audio at a time; the
// lesson's events as clickable markers; timestamped comments while replaying.
//
// Sync: the page keeps one lesson clock (position in ms). Each track plays its
// WebM segments as the recorder wrote them; a segment's file time 0 sits at
// `start_ms` on the lesson timeline. A sync loop compares every element's
// currentTime with where the clock says it should be: beyond HARD_S it seeks,
// beyond NUDGE_S it plays slightly faster or slower until it has caught up.
import { t, fmtDate, fmtTime } from './i18n.js';
import { api, items } from './api.js';
import { h, clear, boot, renderHeader, requireUser, describeError, param, toast, showError } from './ui.js';

const main = document.getElementById('main');
const HARD_S = 0.15;
const NUDGE_S = 0.03;
const NUDGE_RATE = 0.1;
const SYNC_MS = 100;
const KINDS = ['floor', 'slide', 'quiz', 'comment', 'lesson', 'recorder', 'other'];

const state = {
  me: null, pb: null, timeline: [], players: [], audio: null, audioTrack: null,
  playing: false, pos0: 0, t0: 0, timer: null,
};

function fmtClock(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const p = (n) => String(n).padStart(2, '0');
  return s >= 3600 ? `${Math.floor(s / 3600)}:${p(Math.floor(s / 60) % 60)}:${p(s % 60)}` : `${p(Math.floor(s / 60))}:${p(s % 60)}`;
}

/** The lesson clock, in ms. */
function position() {
  return state.playing ? state.pos0 + (performance.now() - state.t0) : state.pos0;
}

function duration() {
  return state.pb ? state.pb.duration_ms : 0;
}

function segmentAt(track, ms) {
  return track.segments.find((s) => ms >= s.start_ms - 1 && ms < s.start_ms + s.duration_ms + 50) || null;
}

/** Put one element where the lesson clock says; `hard` seeks regardless of drift. */
function place(player, ms, hard = false) {
  const { el, track } = player;
  const seg = segmentAt(track, ms);
  player.note.textContent = seg ? '' : t('playback.no_media_here');
  if (!seg) {
    if (!el.paused) el.pause();
    player.active = false;
    return;
  }
  player.active = true;
  if (player.seg !== seg) {
    player.seg = seg;
    player.pending = true;
    el.src = seg.url;
    el.addEventListener('loadedmetadata', () => {
      player.pending = false;
      place(player, position(), true);
    }, { once: true });
    return;
  }
  if (player.pending) return;
  const want = (ms - seg.start_ms) / 1000;
  const drift = el.currentTime - want;
  if (hard || Math.abs(drift) > HARD_S) {
    el.currentTime = Math.max(0, want);
    el.playbackRate = 1;
  } else if (state.playing && Math.abs(drift) > NUDGE_S) {
    el.playbackRate = drift > 0 ? 1 - NUDGE_RATE : 1 + NUDGE_RATE;
  } else {
    el.playbackRate = 1;
  }
  if (state.playing && el.paused && !el.ended) el.play().catch(() => {});
  if (!state.playing && !el.paused) el.pause();
}

function allPlayers() {
  return state.audio ? [...state.players, state.audio] : state.players;
}

function tick() {
  let ms = position();
  if (ms >= duration()) {
    ms = duration();
    if (state.playing) pause();
  }
  for (const p of allPlayers()) place(p, ms);
  const seek = document.getElementById('pb-seek');
  if (seek && document.activeElement !== seek) seek.value = String(Math.round(ms));
  const clock = document.getElementById('pb-clock');
  if (clock) clock.textContent = `${fmtClock(ms)} / ${fmtClock(duration())}`;
  const head = document.getElementById('pb-head');
  if (head && duration()) head.style.left = `${(100 * ms) / duration()}%`;
}

function play() {
  if (state.playing) return;
  if (position() >= duration()) state.pos0 = 0;
  state.t0 = performance.now();
  state.playing = true;
  for (const p of allPlayers()) place(p, state.pos0, true);
  updatePlayButton();
}

function pause() {
  if (!state.playing) return;
  state.pos0 = position();
  state.playing = false;
  for (const p of allPlayers()) p.el.pause();
  updatePlayButton();
}

/** Seek every track to `ms` on the lesson timeline. */
function seek(ms) {
  state.pos0 = Math.max(0, Math.min(duration(), ms));
  state.t0 = performance.now();
  for (const p of allPlayers()) place(p, state.pos0, true);
  tick();
}

/** Lesson time (s) each active video is showing: what the sync keeps together. */
function positions() {
  return state.players.filter((p) => p.active && p.seg && !p.pending).map((p) => ({
    track: p.track.id, participant: p.track.participant,
    lesson_s: p.seg.start_ms / 1000 + p.el.currentTime, currentTime: p.el.currentTime,
    readyState: p.el.readyState,
  }));
}

window.tongbuPlayback = { state, play, pause, seek, position, positions };

function updatePlayButton() {
  const b = document.getElementById('pb-play');
  if (b) {
    b.textContent = state.playing ? t('playback.pause') : t('playback.play');
    b.setAttribute('aria-pressed', state.playing ? 'true' : 'false');
  }
}

function stop() {
  clearInterval(state.timer);
  state.timer = null;
  state.playing = false;
  for (const p of allPlayers()) { p.el.pause(); p.el.removeAttribute('src'); p.el.load(); }
  state.players = [];
  state.audio = null;
}

// --- the list -----------------------------------------------------------------------------

async function renderList() {
  stop();
  clear(main).append(h('p', { class: 'muted' }, t('playback.loading')));
  let recs;
  try {
    recs = items(await api.get('/api/recordings', { query: { limit: 200 } }));
  } catch (e) {
    clear(main).append(h('div', { class: 'alert alert-error', role: 'alert' }, describeError(e)));
    return;
  }
  const table = recs.length
    ? h('table', { id: 'recording-table' },
      h('thead', {}, h('tr', {}, [t('playback.col.title'), t('playback.col.date'), t('playback.col.duration'),
        t('playback.col.state'), t('common.actions')].map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, recs.map((r) => h('tr', { dataset: { recordingId: r.id } },
        h('td', {}, r.lesson_title),
        h('td', {}, r.started_at ? `${fmtDate(r.started_at)} ${fmtTime(r.started_at)}` : ''),
        h('td', {}, fmtClock(r.duration_ms)),
        h('td', {}, t(`playback.state.${r.state}`), r.over_quota ? h('span', { class: 'muted' }, ` · ${t('playback.over_quota')}`) : null),
        h('td', {}, r.state === 'failed' && !r.tracks.length ? h('span', { class: 'muted' }, r.error || '')
          : h('a', { class: 'btn', href: `./playback.html?id=${r.id}` }, t('playback.open')))))))
    : h('p', { class: 'muted', id: 'no-recordings' }, t('playback.none'));
  clear(main).append(h('section', { class: 'card stack', 'aria-labelledby': 'list-title' },
    h('h2', { id: 'list-title' }, t('playback.list_title')), table));
}

// --- the player ---------------------------------------------------------------------------

function trackLabel(track) {
  return track.main ? `${track.classroom || track.participant} · ${t('playback.main')}` : (track.classroom || track.participant);
}

function makePlayer(track, kind) {
  const el = document.createElement(kind);
  el.preload = 'auto';
  el.playsInline = true;
  if (kind === 'video') { el.muted = true; el.setAttribute('aria-label', trackLabel(track)); }
  const note = h('div', { class: 'gap-note', 'aria-live': 'off' });
  return { track, el, note, seg: null, pending: false, active: false };
}

function selectAudio(trackId) {
  const track = state.pb.tracks.find((x) => x.id === trackId && x.kind === 'audio');
  if (state.audio) { state.audio.el.pause(); state.audio.el.removeAttribute('src'); state.audio.el.load(); state.audio.el.remove(); }
  state.audio = null;
  if (!track) return;
  state.audio = makePlayer(track, 'audio');
  state.audio.el.id = 'pb-audio-el';
  document.getElementById('pb-audio-box').append(state.audio.el);
  place(state.audio, position(), true);
}

function markerLabel(ev) {
  return t('playback.marker', { kind: t(`playback.kind.${ev.kind}`), time: fmtClock(ev.offset_ms), text: ev.text || ev.type });
}

function renderTimeline() {
  const bar = document.getElementById('pb-bar');
  const list = document.getElementById('pb-events');
  if (!bar || !list) return;
  clear(bar).append(h('div', { class: 'pb-head', id: 'pb-head', 'aria-hidden': 'true' }));
  const shown = state.timeline.filter((ev) => ['floor', 'slide', 'quiz', 'comment'].includes(ev.kind));
  for (const ev of shown) {
    const left = duration() ? Math.min(100, (100 * ev.offset_ms) / duration()) : 0;
    bar.append(h('button', {
      type: 'button', class: 'pb-marker', style: `left:${left}%`, title: markerLabel(ev),
      'aria-label': markerLabel(ev), dataset: { kind: KINDS.includes(ev.kind) ? ev.kind : 'other', offset: ev.offset_ms },
      onclick: () => seek(ev.offset_ms),
    }));
  }
  clear(list).append(...(shown.length ? shown.map((ev) => h('li', { dataset: { kind: ev.kind } },
    h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => seek(ev.offset_ms) }, fmtClock(ev.offset_ms)),
    h('span', {}, t(`playback.kind.${ev.kind}`)), h('span', { class: 'muted' }, ev.text || ev.type)))
    : [h('li', { class: 'muted' }, t('playback.no_events'))]));
}

async function addComment(form) {
  const text = form.querySelector('textarea').value.trim();
  if (!text) { toast(t('playback.comment_empty'), 'warn'); return; }
  const at = Math.round(position());
  try {
    const item = await api.post(`/api/recordings/${state.pb.recording.id}/comments`, { offset_ms: at, text });
    state.timeline.push(item);
    state.timeline.sort((a, b) => a.offset_ms - b.offset_ms);
    form.querySelector('textarea').value = '';
    renderTimeline();
    toast(t('playback.comment_added', { time: fmtClock(at) }), 'ok');
  } catch (e) {
    showError(e);
  }
}

async function remove() {
  if (!window.confirm(t('playback.delete_confirm'))) return;
  try {
    await api.del(`/api/recordings/${state.pb.recording.id}`);
    toast(t('playback.deleted'), 'ok');
    history.replaceState(null, '', './playback.html');
    renderList();
  } catch (e) {
    showError(e);
  }
}

async function renderPlayer(id) {
  stop();
  clear(main).append(h('p', { class: 'muted' }, t('playback.loading')));
  try {
    [state.pb, state.timeline] = await Promise.all([
      api.get(`/api/recordings/${id}/playback`), api.get(`/api/recordings/${id}/timeline`)]);
  } catch (e) {
    clear(main).append(h('div', { class: 'alert alert-error', role: 'alert' }, describeError(e)),
      h('a', { class: 'btn btn-secondary', href: './playback.html' }, t('playback.back')));
    return;
  }
  const pb = state.pb;
  const videos = pb.tracks.filter((x) => x.kind === 'video').sort((a, b) => Number(b.main) - Number(a.main));
  const audios = pb.tracks.filter((x) => x.kind === 'audio').sort((a, b) => Number(b.main) - Number(a.main));
  state.players = videos.map((track) => makePlayer(track, 'video'));
  state.pos0 = 0;
  const tiles = h('div', { class: 'pb-tiles', id: 'pb-tiles' }, state.players.map((p) => h('figure', {
    class: `pb-tile${p.track.main ? ' main' : ''}`, dataset: { trackId: p.track.id } },
  p.el, h('figcaption', {}, trackLabel(p.track)), p.note)));
  const audioSelect = h('select', { id: 'pb-audio' },
    ...audios.map((a) => h('option', { value: a.id }, trackLabel(a))),
    h('option', { value: '' }, t('playback.audio_none')));
  audioSelect.addEventListener('change', () => selectAudio(audioSelect.value));
  const seekInput = h('input', { type: 'range', id: 'pb-seek', min: 0, max: Math.round(duration()), step: 100, value: 0,
    'aria-label': t('playback.position') });
  seekInput.addEventListener('input', () => seek(Number(seekInput.value)));
  const commentForm = pb.can_comment ? h('form', { class: 'stack', id: 'pb-comment', onsubmit: (ev) => { ev.preventDefault(); addComment(ev.target); } },
    h('label', { for: 'pb-comment-text' }, t('playback.comment_label')),
    h('textarea', { id: 'pb-comment-text', rows: 2, maxlength: 2000 }),
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'btn', id: 'pb-comment-add' }, t('playback.comment_add')))) : null;
  const rec = pb.recording;
  clear(main).append(
    h('section', { class: 'card stack', 'aria-labelledby': 'pb-title' },
      h('div', { class: 'row' },
        h('h2', { id: 'pb-title' }, rec.lesson_title),
        h('span', { class: 'muted' }, rec.started_at ? `${fmtDate(rec.started_at)} ${fmtTime(rec.started_at)}` : ''),
        h('span', { class: 'muted', id: 'pb-state' }, t(`playback.state.${rec.state}`)),
        rec.restarts ? h('span', { class: 'muted' }, t('playback.restarts', { count: rec.restarts })) : null,
        h('a', { class: 'btn btn-secondary', href: './playback.html' }, t('playback.back')),
        pb.can_delete ? h('button', { type: 'button', class: 'btn btn-danger', id: 'pb-delete', onclick: remove }, t('playback.delete')) : null),
      tiles,
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'btn', id: 'pb-play', 'aria-pressed': 'false', onclick: () => (state.playing ? pause() : play()) }, t('playback.play')),
        h('span', { id: 'pb-clock', 'aria-live': 'off' }, `${fmtClock(0)} / ${fmtClock(duration())}`),
        h('label', { for: 'pb-audio' }, t('playback.audio')), audioSelect,
        h('div', { id: 'pb-audio-box', hidden: true })),
      seekInput,
      h('div', { class: 'pb-bar', id: 'pb-bar', role: 'group', 'aria-label': t('playback.events') })),
    h('section', { class: 'card stack', 'aria-labelledby': 'pb-events-title' },
      h('h2', { id: 'pb-events-title' }, t('playback.events')),
      h('ul', { class: 'pb-events', id: 'pb-events' }),
      commentForm));
  renderTimeline();
  selectAudio(audios.length ? audios[0].id : '');
  for (const p of state.players) place(p, 0, true);
  state.timer = setInterval(tick, SYNC_MS);
  tick();
}

async function render() {
  state.me = await requireUser();
  renderHeader({ titleKey: 'playback.title', user: state.me });
  const id = param('id');
  if (id && /^\d+$/.test(id)) await renderPlayer(Number(id));
  else await renderList();
}

boot(render).catch(showError);
