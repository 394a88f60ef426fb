// Camera/microphone selection, a pre-join test (preview + level meter) and
// clear messages when permission is denied or no device exists.
import { t } from './i18n.js';
import { h, clear } from './ui.js';

const PREF = { camera: 'tongbu.camera', mic: 'tongbu.mic' };

export function mediaErrorKey(err) {
  const name = (err && err.name) || '';
  if (name === 'NotAllowedError' || name === 'SecurityError' || name === 'PermissionDeniedError') return 'media.error.denied';
  if (name === 'NotFoundError' || name === 'DevicesNotFoundError' || name === 'OverconstrainedError') return 'media.error.no_device';
  if (name === 'NotReadableError' || name === 'TrackStartError' || name === 'AbortError') return 'media.error.in_use';
  if (name === 'TypeError' && !navigator.mediaDevices) return 'media.error.insecure';
  return 'media.error.other';
}

export function preferredDevice(kind) {
  return localStorage.getItem(PREF[kind]) || '';
}

/** getUserMedia with the chosen devices; `video`/`audio` false to skip one. */
export async function getLocalMedia({ video = true, audio = true, cameraId = preferredDevice('camera'), micId = preferredDevice('mic') } = {}) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    const e = new Error('mediaDevices unavailable'); e.name = 'TypeError'; throw e;
  }
  const constraints = {
    video: video ? { ...(cameraId ? { deviceId: { ideal: cameraId } } : {}), width: { ideal: 1280 }, height: { ideal: 720 } } : false,
    audio: audio ? { ...(micId ? { deviceId: { ideal: micId } } : {}), echoCancellation: true, noiseSuppression: true } : false,
  };
  return navigator.mediaDevices.getUserMedia(constraints);
}

/** Meter the level of an audio track into a <span> width; returns stop(). */
export function meterLevel(track, bar) {
  const ctx = new AudioContext();
  const src = ctx.createMediaStreamSource(new MediaStream([track]));
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 512;
  src.connect(analyser);
  const data = new Uint8Array(analyser.fftSize);
  let raf = 0;
  const tick = () => {
    analyser.getByteTimeDomainData(data);
    let peak = 0;
    for (const v of data) peak = Math.max(peak, Math.abs(v - 128));
    const pct = Math.min(100, Math.round((peak / 128) * 180));
    bar.style.width = `${pct}%`;
    bar.parentElement.setAttribute('aria-valuenow', String(pct));
    bar.parentElement.dataset.peak = String(Math.max(Number(bar.parentElement.dataset.peak || 0), pct));
    raf = requestAnimationFrame(tick);
  };
  tick();
  return () => { cancelAnimationFrame(raf); ctx.close(); };
}

/**
 * A device-check panel: camera + mic selects, preview, level meter, messages.
 * `onStream(stream)` is called whenever a new stream is acquired.
 */
export class DeviceCheck {
  constructor({ video = true, audio = true, onStream = () => {}, compact = false } = {}) {
    this.video = video;
    this.audio = audio;
    this.onStream = onStream;
    this.compact = compact;
    this.stream = null;
    this.stopMeter = null;
    this.el = h('section', { class: 'card device-check stack', 'aria-labelledby': 'devcheck-title' });
  }

  render() {
    clear(this.el);
    this.cameraSelect = h('select', { id: 'camera-select' });
    this.micSelect = h('select', { id: 'mic-select' });
    this.previewVideo = h('video', { id: 'device-preview', autoplay: true, muted: true, playsinline: true, 'aria-label': t('devices.preview') });
    this.bar = h('span');
    this.meter = h('div', { class: 'meter', role: 'meter', 'aria-label': t('devices.mic_level'), 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0' }, this.bar);
    this.message = h('div', { id: 'device-message', role: 'alert', hidden: true });
    this.cameraSelect.addEventListener('change', () => { localStorage.setItem(PREF.camera, this.cameraSelect.value); this.start(); });
    this.micSelect.addEventListener('change', () => { localStorage.setItem(PREF.mic, this.micSelect.value); this.start(); });
    this.el.append(
      h('h2', { id: 'devcheck-title' }, t('devices.title')),
      this.message,
      this.video ? h('div', { class: 'field' }, h('label', { for: 'camera-select' }, t('devices.camera')), this.cameraSelect) : null,
      this.audio ? h('div', { class: 'field' }, h('label', { for: 'mic-select' }, t('devices.mic')), this.micSelect) : null,
      this.video ? h('div', { class: 'preview' }, this.previewVideo) : null,
      this.audio ? h('div', { class: 'field' }, h('span', { id: 'meter-label' }, t('devices.mic_level')), this.meter) : null,
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'btn btn-secondary', id: 'device-retest', onclick: () => this.start() }, t('devices.test'))),
    );
    return this.el;
  }

  showMessage(key, kind = 'error') {
    this.message.className = `alert alert-${kind}`;
    this.message.textContent = t(key);
    this.message.dataset.key = key;
    this.message.hidden = false;
  }

  async fillSelects() {
    const devices = await navigator.mediaDevices.enumerateDevices();
    const fill = (select, kind, pref, labelKey) => {
      clear(select);
      const list = devices.filter((d) => d.kind === kind);
      list.forEach((d, i) => select.append(h('option', { value: d.deviceId, selected: d.deviceId === pref }, d.label || t(labelKey, { n: i + 1 }))));
      if (!list.length) select.append(h('option', { value: '' }, t('devices.none')));
      return list.length;
    };
    const cams = fill(this.cameraSelect, 'videoinput', preferredDevice('camera'), 'devices.camera_n');
    const mics = fill(this.micSelect, 'audioinput', preferredDevice('mic'), 'devices.mic_n');
    return { cams, mics };
  }

  /** Acquire media with the selected devices; returns the stream or null on error. */
  async start() {
    this.stop();
    this.message.hidden = true;
    try {
      this.stream = await getLocalMedia({ video: this.video, audio: this.audio,
        cameraId: this.cameraSelect.value || preferredDevice('camera'), micId: this.micSelect.value || preferredDevice('mic') });
    } catch (err) {
      this.error = err;
      this.showMessage(mediaErrorKey(err));
      await this.fillSelects().catch(() => {});
      return null;
    }
    this.error = null;
    const { cams, mics } = await this.fillSelects();
    this.previewVideo.srcObject = this.stream;
    const audioTrack = this.stream.getAudioTracks()[0];
    if (audioTrack) this.stopMeter = meterLevel(audioTrack, this.bar);
    if ((this.video && !cams) || (this.audio && !mics)) this.showMessage('media.error.no_device', 'warn');
    else this.showMessage('devices.ok', 'ok');
    this.onStream(this.stream);
    return this.stream;
  }

  /** Hand the stream over (e.g. to publish) without stopping its tracks. */
  detach() {
    const s = this.stream;
    if (this.stopMeter) this.stopMeter();
    this.stopMeter = null;
    this.stream = null;
    return s;
  }

  stop() {
    if (this.stopMeter) this.stopMeter();
    this.stopMeter = null;
    if (this.stream) this.stream.getTracks().forEach((tr) => tr.stop());
    this.stream = null;
  }
}
