// Timetable notices: my notifications (mark read), my calendar feed, my e-mail; for admins
// also publishing a week's timetable, lessons at short notice and the e-mail queue.
import { api, items } from './api.js';
import { t, fmtDate, fmtTime } from './i18n.js';
import { h, clear, boot, renderHeader, requireUser, showError, toast, isoDay } from './ui.js';

const main = document.getElementById('main');
let me = null;

function when(iso) {
  return `${fmtDate(iso)} ${fmtTime(iso)}`;
}

function describe(n) {
  const p = n.payload || {};
  if (n.kind === 'timetable_published') return t('notices.week_text', { week: p.week_start, n: p.lessons });
  const text = `${p.title || ''} · ${p.starts_at ? when(p.starts_at) : ''}`;
  return p.old_starts_at ? `${text} (${t('notices.was', { time: when(p.old_starts_at) })})` : text;
}

async function inbox() {
  const page = await api.get('/api/notifications', { query: { limit: 100 } });
  const list = items(page);
  const box = h('div', { class: 'stack' },
    h('div', { class: 'row' },
      h('button', { class: 'btn btn-secondary', type: 'button', id: 'notices-read-all',
        onclick: async () => { await api.post('/api/notifications/read-all'); await render(); } },
      t('notices.read_all'))));
  if (!list.length) {
    box.append(h('p', { class: 'muted', id: 'notices-empty' }, t('notices.empty')));
    return box;
  }
  box.append(h('ul', { class: 'stack', id: 'notices-list', style: 'list-style:none;padding:0' },
    list.map((n) => h('li', { class: 'card', dataset: { kind: n.kind, read: n.read_at ? '1' : '0' } },
      h('div', { class: 'row' },
        h('strong', {}, t(`notices.kind.${n.kind}`)),
        n.payload?.short_notice ? h('span', { class: 'badge', style: 'color:var(--warn)' }, t('notices.short_badge')) : null,
        h('span', { class: 'muted' }, when(n.created_at)),
        n.read_at ? h('span', { class: 'muted' }, t('notices.read'))
          : h('button', { class: 'btn btn-ghost', type: 'button',
            onclick: async () => { await api.post(`/api/notifications/${n.id}/read`); await render(); } },
          t('notices.mark_read'))),
      h('p', {}, describe(n))))));
  return box;
}

function calendarBox() {
  const out = h('p', { class: 'muted', id: 'notices-feed-url' });
  return h('div', { class: 'stack' },
    h('p', { class: 'muted' }, t('notices.feed_hint')),
    h('button', { class: 'btn btn-secondary', type: 'button', id: 'notices-feed',
      onclick: async () => {
        try {
          const feed = await api.post('/api/calendar/feeds', { kind: 'teacher', subject_id: me.user_id });
          out.textContent = feed.url;
        } catch (err) { showError(err); }
      } }, t('notices.feed_create')),
    out);
}

function emailBox() {
  const form = h('form', { class: 'row', id: 'notices-email' },
    h('label', { for: 'notices-email-input' }, t('notices.email')),
    h('input', { id: 'notices-email-input', type: 'email', name: 'email', required: true }),
    h('button', { class: 'btn btn-secondary', type: 'submit' }, t('notices.save')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api.put('/api/notifications/contacts/me', { email: form.email.value.trim() });
      toast(t('notices.saved'), 'ok');
    } catch (err) { showError(err); }
  });
  return form;
}

async function adminBox() {
  const units = items(await api.get('/api/org-units', { query: { limit: 500 } }));
  const result = h('p', { id: 'notices-publish-result', 'aria-live': 'polite' });
  const form = h('form', { class: 'row', id: 'notices-publish' },
    h('label', { for: 'publish-unit' }, t('notices.unit')),
    h('select', { id: 'publish-unit', name: 'unit' }, units.map((u) => h('option', { value: u.id }, u.name))),
    h('label', { for: 'publish-week' }, t('notices.week')),
    h('input', { id: 'publish-week', name: 'week', type: 'date', value: isoDay(), required: true }),
    h('button', { class: 'btn', type: 'submit' }, t('notices.publish')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const r = await api.post('/api/timetable/publish',
        { org_unit_id: Number(form.unit.value), week: form.week.value });
      result.textContent = t('notices.published', { n: r.lessons, users: r.users_notified, mails: r.emails_queued });
    } catch (err) { showError(err); }
  });
  const short = items(await api.get('/api/notifications/short-notice'));
  const outbox = await api.get('/api/notifications/outbox');
  return h('div', { class: 'stack' }, form, result,
    h('h3', {}, t('notices.short_title')),
    short.length
      ? h('ul', { id: 'notices-short' }, short.map((l) => h('li', {}, `${l.title} · ${when(l.starts_at)}`)))
      : h('p', { class: 'muted' }, t('notices.short_none')),
    h('p', { id: 'notices-outbox' }, t('notices.outbox', { pending: outbox.pending, sent: outbox.sent })),
    outbox.last_error ? h('p', { class: 'alert alert-warn' }, outbox.last_error) : null);
}

async function render() {
  me = me || await requireUser();
  renderHeader({ titleKey: 'notices.title', user: me });
  clear(main);
  try {
    const parts = [
      h('section', { class: 'card stack', 'aria-labelledby': 'inbox-title' },
        h('h2', { id: 'inbox-title' }, t('notices.inbox')), await inbox()),
      h('section', { class: 'card stack', 'aria-labelledby': 'contact-title' },
        h('h2', { id: 'contact-title' }, t('notices.contact')), emailBox(),
        me.role === 'teacher' ? calendarBox() : null),
    ];
    if (me.role === 'admin') {
      parts.push(h('section', { class: 'card stack', 'aria-labelledby': 'admin-title' },
        h('h2', { id: 'admin-title' }, t('notices.admin')), await adminBox()));
    }
    main.append(h('div', { class: 'stack' }, ...parts));
  } catch (err) { showError(err); }
}

boot(render);
