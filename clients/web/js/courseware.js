// Courseware sync (课件同步) for the live pages: the shared page with its ink and
// pointer, and — for whoever drives (the teacher, a meeting's host, everyone in
// 同步教研) — upload, document list, page turns, drawing and the laser pointer.
// Wire format: signaling/messages/courseware.py (docs/protocol.md).
import { tokens, ApiError, api } from './api.js';
import { t } from './i18n.js';
import { h, clear, showError, toast } from './ui.js';

const MAX_POINTS = 500;
const POINTER_MS = 50; // the server forwards at most 20 moves per second anyway

/** POST /api/courseware as multipart (the JSON client cannot send files). */
export async function uploadCourseware(file, owner, title = '') {
  const form = new FormData();
  form.append('file', file, file.name);
  if (title) form.append('title', title);
  for (const [k, v] of Object.entries(owner)) form.append(k, String(v));
  let res;
  try {
    res = await fetch('/api/courseware', {
      method: 'POST', body: form, headers: tokens.access ? { Authorization: `Bearer ${tokens.access}` } : {},
    });
  } catch (e) {
    throw new ApiError(0, 'network_error', String(e && e.message || e));
  }
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) {
    const err = body && body.error;
    throw err ? new ApiError(res.status, err.code, err.message, err.details) : new ApiError(res.status, `http_${res.status}`, res.statusText);
  }
  return body;
}

/** The owner's documents: `owner` is {lesson_id} | {session_id} | {meeting_id} | {course_id}. */
export function listCourseware(owner) {
  return api.get('/api/courseware', { query: owner });
}

/** A sentence for a refused upload (413, 422 courseware_invalid with details.reason). */
export function describeUploadError(e) {
  if (e && e.code === 'courseware_invalid' && e.details && e.details.reason) return t(`cw.invalid.${e.details.reason}`);
  if (e && e.code === 'payload_too_large') return t('cw.too_large');
  return null;
}

export class CoursewarePanel {
  /**
   * @param {LiveSession} session  the joined signaling session
   * @param {{drive: boolean, owner?: object, compact?: boolean}} opts
   *   drive: show controls and send page turns/ink; owner: where uploads attach.
   */
  constructor(session, { drive = false, owner = null, compact = false } = {}) {
    this.session = session;
    this.drive = drive;
    this.owner = owner;
    this.compact = compact;
    this.state = { document: null, page: 1, strokes: [] };
    this.pointers = new Map();
    this.drawing = false;
    this.current = null;
    this.lastPointer = 0;
    this.listeners = [];
    this.root = this.build();
    this.listen();
    // The snapshot may have arrived before we listened: ask for the state.
    session.request({ type: 'courseware_sync' }).then((st) => this.setState(st)).catch(() => {});
  }

  on(type, fn) {
    this.session.addEventListener(type, fn);
    this.listeners.push([type, fn]);
  }

  destroy() {
    for (const [type, fn] of this.listeners) this.session.removeEventListener(type, fn);
    this.listeners = [];
    if (this.resize) window.removeEventListener('resize', this.resize);
  }

  listen() {
    this.on('courseware_state', (ev) => this.setState(ev.detail));
    this.on('courseware_page_changed', (ev) => {
      const m = ev.detail;
      this.state = { ...this.state, page: m.page, strokes: m.strokes || [] };
      this.render();
    });
    this.on('courseware_stroke_added', (ev) => {
      const s = ev.detail.stroke;
      if (s.page === this.state.page && !this.state.strokes.some((x) => x.id === s.id)) this.state.strokes.push(s);
      this.paint();
    });
    this.on('courseware_cleared', (ev) => {
      if (ev.detail.page === this.state.page) this.state.strokes = [];
      this.paint();
    });
    this.on('courseware_pointer_moved', (ev) => {
      const m = ev.detail;
      if (m.x === null || m.y === null) this.pointers.delete(m.participant_id);
      else this.pointers.set(m.participant_id, { x: m.x, y: m.y });
      this.placePointers();
    });
    this.resize = () => this.paint();
    window.addEventListener('resize', this.resize);
  }

  setState(st) {
    this.state = { document: st.document || null, page: st.page || 1, strokes: st.strokes || [] };
    this.render();
    this.root.dispatchEvent(new CustomEvent('courseware', { bubbles: true, detail: this.state }));
  }

  get isOpen() { return Boolean(this.state.document); }

  // ---------------------------------------------------------------- DOM
  build() {
    this.img = h('img', { id: 'cw-page', class: 'cw-page', alt: '' });
    this.canvas = h('canvas', { id: 'cw-ink', class: 'cw-ink', 'aria-hidden': 'true' });
    this.pointerLayer = h('div', { class: 'cw-pointers', 'aria-hidden': 'true' });
    this.empty = h('p', { id: 'cw-empty', class: 'cw-empty muted' }, t('cw.none_open'));
    this.stage = h('div', { id: 'cw-stage', class: 'cw-stage', role: 'img', 'aria-label': t('cw.stage') },
      this.img, this.canvas, this.pointerLayer, this.empty);
    this.img.addEventListener('load', () => this.paint());
    const root = h('section', { class: `courseware${this.compact ? ' compact' : ''}`, id: 'courseware', 'aria-label': t('cw.title') });
    if (this.drive) {
      root.append(this.controls());
      this.bindInk();
    }
    root.append(this.stage);
    return root;
  }

  controls() {
    this.pageNo = h('span', { id: 'cw-pageno', class: 'cw-pageno', 'aria-live': 'polite' }, '');
    this.prev = h('button', { type: 'button', class: 'btn btn-secondary', id: 'cw-prev', onclick: () => this.turn(-1) }, t('cw.prev'));
    this.next = h('button', { type: 'button', class: 'btn btn-secondary', id: 'cw-next', onclick: () => this.turn(1) }, t('cw.next'));
    this.drawBtn = h('button', { type: 'button', class: 'btn btn-secondary', id: 'cw-draw', 'aria-pressed': 'false', onclick: () => this.toggleDraw() }, t('cw.draw'));
    this.clearBtn = h('button', { type: 'button', class: 'btn btn-secondary', id: 'cw-clear', onclick: () => this.send({ type: 'courseware_clear' }) }, t('cw.clear'));
    this.closeBtn = h('button', { type: 'button', class: 'btn btn-ghost', id: 'cw-close', onclick: () => this.send({ type: 'courseware_close' }) }, t('cw.close'));
    this.docs = h('select', { id: 'cw-docs', 'aria-label': t('cw.documents') });
    const open = h('button', { type: 'button', class: 'btn', id: 'cw-open', onclick: () => {
      const id = Number(this.docs.value);
      if (id) this.send({ type: 'courseware_open', document_id: id, page: 1 });
    } }, t('cw.open'));
    const file = h('input', { type: 'file', id: 'cw-file', accept: 'application/pdf,image/png,image/jpeg', 'aria-label': t('cw.file') });
    const status = h('span', { id: 'cw-upload-status', class: 'muted', role: 'status' });
    const uploadBtn = h('button', { type: 'button', class: 'btn btn-secondary', id: 'cw-upload' }, t('cw.upload'));
    uploadBtn.addEventListener('click', async () => {
      const f = file.files && file.files[0];
      if (!f || !this.owner) return;
      uploadBtn.disabled = true;
      status.textContent = t('cw.uploading');
      try {
        const doc = await uploadCourseware(f, this.owner);
        await this.refreshDocs(doc.id);
        status.textContent = t('cw.uploaded', { pages: doc.page_count });
        file.value = '';
      } catch (e) {
        status.textContent = '';
        const text = describeUploadError(e);
        if (text) toast(text, 'error'); else showError(e);
      }
      uploadBtn.disabled = false;
    });
    if (this.owner) this.refreshDocs();
    return h('div', { class: 'cw-controls', role: 'toolbar', 'aria-label': t('cw.controls') },
      this.owner ? h('div', { class: 'row' }, file, uploadBtn, status) : null,
      h('div', { class: 'row' }, this.docs, open, this.closeBtn),
      h('div', { class: 'row' }, this.prev, this.pageNo, this.next, this.drawBtn, this.clearBtn));
  }

  async refreshDocs(select = null) {
    // Only the newest listing is shown: an older one answering late must not win.
    const seq = (this.docSeq = (this.docSeq || 0) + 1);
    try {
      const docs = await listCourseware(this.owner);
      if (seq !== this.docSeq) return;
      clear(this.docs).append(...(docs.length ? docs : []).map((d) => h('option', { value: d.id, selected: d.id === select }, `${d.title} (${t('cw.pages', { n: d.page_count })})`)));
      if (!docs.length) this.docs.append(h('option', { value: '' }, t('cw.no_documents')));
    } catch (e) { showError(e); }
  }

  send(msg) {
    return this.session.request(msg).catch((e) => showError(e));
  }

  turn(delta) {
    const doc = this.state.document;
    if (!doc) return;
    const page = Math.min(doc.page_count, Math.max(1, this.state.page + delta));
    if (page !== this.state.page) this.send({ type: 'courseware_page', page });
  }

  toggleDraw() {
    this.drawing = !this.drawing;
    this.drawBtn.setAttribute('aria-pressed', String(this.drawing));
    this.stage.classList.toggle('drawing', this.drawing);
  }

  // ---------------------------------------------------------------- ink and pointer
  /** Where the page image is painted (object-fit: contain letterboxes it in its box). */
  pageRect() {
    const box = this.img.getBoundingClientRect();
    const w = this.img.naturalWidth;
    const hgt = this.img.naturalHeight;
    if (!w || !hgt || !box.width || !box.height) return box;
    const scale = Math.min(box.width / w, box.height / hgt);
    const width = w * scale;
    const height = hgt * scale;
    return { left: box.left + (box.width - width) / 2, top: box.top + (box.height - height) / 2, width, height };
  }

  norm(ev) {
    const r = this.pageRect();
    return [Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width)), Math.min(1, Math.max(0, (ev.clientY - r.top) / r.height))];
  }

  bindInk() {
    this.canvas.addEventListener('pointerdown', (ev) => {
      if (!this.drawing || !this.isOpen) return;
      this.canvas.setPointerCapture(ev.pointerId);
      this.current = [this.norm(ev)];
    });
    this.canvas.addEventListener('pointermove', (ev) => {
      if (!this.isOpen) return;
      if (this.current) {
        this.current.push(this.norm(ev));
        this.paint();
        return;
      }
      const now = Date.now();
      if (!this.drawing && now - this.lastPointer >= POINTER_MS) {
        this.lastPointer = now;
        const [x, y] = this.norm(ev);
        this.session.send({ type: 'courseware_pointer', x, y });
      }
    });
    const finish = () => {
      if (!this.current) return;
      let pts = this.current;
      this.current = null;
      if (pts.length > MAX_POINTS) { const step = pts.length / MAX_POINTS; pts = Array.from({ length: MAX_POINTS }, (_, i) => pts[Math.floor(i * step)]); }
      this.send({ type: 'courseware_stroke', points: pts, color: '#e11d48', width: 3 });
    };
    this.canvas.addEventListener('pointerup', finish);
    this.canvas.addEventListener('pointercancel', finish);
    this.canvas.addEventListener('pointerleave', () => {
      if (!this.drawing && this.isOpen) this.session.send({ type: 'courseware_pointer', x: null, y: null });
    });
  }

  render() {
    const doc = this.state.document;
    this.empty.hidden = Boolean(doc);
    this.stage.classList.toggle('open', Boolean(doc));
    if (this.root) this.root.classList.toggle('open', Boolean(doc));
    if (!doc) {
      this.img.removeAttribute('src');
      this.img.alt = '';
      this.stage.dataset.page = '';
      this.stage.dataset.document = '';
    } else {
      const page = doc.pages[this.state.page - 1];
      if (page && this.img.getAttribute('src') !== page.url) this.img.src = page.url;
      this.img.alt = t('cw.page_alt', { title: doc.title, page: this.state.page, count: doc.page_count });
      this.stage.dataset.page = String(this.state.page);
      this.stage.dataset.document = String(doc.id);
    }
    if (this.pageNo) {
      this.pageNo.textContent = doc ? `${this.state.page} / ${doc.page_count}` : '';
      this.prev.disabled = !doc || this.state.page <= 1;
      this.next.disabled = !doc || this.state.page >= doc.page_count;
      this.drawBtn.disabled = !doc;
      this.clearBtn.disabled = !doc;
      this.closeBtn.disabled = !doc;
    }
    this.paint();
  }

  paint() {
    const c = this.canvas;
    const r = this.pageRect();
    const sr = this.stage.getBoundingClientRect();
    c.style.left = `${r.left - sr.left}px`;
    c.style.top = `${r.top - sr.top}px`;
    c.style.width = `${r.width}px`;
    c.style.height = `${r.height}px`;
    c.width = Math.max(1, Math.round(r.width));
    c.height = Math.max(1, Math.round(r.height));
    this.stage.dataset.strokes = String(this.state.strokes.length);
    const ctx = c.getContext('2d');
    ctx.clearRect(0, 0, c.width, c.height);
    if (!this.isOpen) return;
    const draw = (points, color, width) => {
      if (!points.length) return;
      ctx.strokeStyle = color;
      ctx.lineWidth = width * (c.width / 800);
      ctx.lineCap = 'round';
      ctx.lineJoin = 'round';
      ctx.beginPath();
      points.forEach(([x, y], i) => (i ? ctx.lineTo(x * c.width, y * c.height) : ctx.moveTo(x * c.width, y * c.height)));
      if (points.length === 1) ctx.lineTo(points[0][0] * c.width + 0.5, points[0][1] * c.height);
      ctx.stroke();
    };
    for (const s of this.state.strokes) draw(s.points, s.color, s.width);
    if (this.current) draw(this.current, '#e11d48', 3);
    this.placePointers();
  }

  placePointers() {
    const r = this.pageRect();
    const sr = this.stage.getBoundingClientRect();
    clear(this.pointerLayer);
    if (!this.isOpen) return;
    for (const [id, p] of this.pointers) {
      this.pointerLayer.append(h('span', { class: 'cw-pointer', dataset: { participantId: id },
        style: `left:${r.left - sr.left + p.x * r.width}px; top:${r.top - sr.top + p.y * r.height}px` }));
    }
  }
}
