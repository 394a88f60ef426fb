// Forms shared by the research and meeting pages: times, invite lists.
import { t } from './i18n.js';
import { h } from './ui.js';

function localInput(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** Fields: title, start, end (datetime-local, default now → +2 h), invite ids. */
export function inviteFields(prefix) {
  const now = new Date();
  const later = new Date(now.getTime() + 2 * 3600 * 1000);
  const field = (id, label, input, hint = null) => h('div', { class: 'field' },
    h('label', { for: id }, label), input, hint ? h('span', { class: 'muted', id: `${id}-hint` }, hint) : null);
  return [
    field(`${prefix}-title`, t('collab.title'), h('input', { id: `${prefix}-title`, name: 'title', required: true, maxlength: 200 })),
    h('div', { class: 'row' },
      field(`${prefix}-start`, t('collab.starts'), h('input', { id: `${prefix}-start`, name: 'starts', type: 'datetime-local', required: true, value: localInput(now) })),
      field(`${prefix}-end`, t('collab.ends'), h('input', { id: `${prefix}-end`, name: 'ends', type: 'datetime-local', required: true, value: localInput(later) }))),
    field(`${prefix}-users`, t('collab.invite_users'), h('input', { id: `${prefix}-users`, name: 'users', inputmode: 'numeric', 'aria-describedby': `${prefix}-users-hint` }), t('collab.ids_hint')),
    field(`${prefix}-units`, t('collab.invite_units'), h('input', { id: `${prefix}-units`, name: 'units', inputmode: 'numeric', 'aria-describedby': `${prefix}-units-hint` }), t('collab.ids_hint')),
  ];
}

function ids(text) {
  return (text || '').split(/[\s,，、]+/).filter(Boolean).map(Number).filter((n) => Number.isInteger(n) && n > 0);
}

/** The JSON body of those fields. */
export function inviteBody(form) {
  return {
    title: form.title.value.trim(),
    starts_at: new Date(form.starts.value).toISOString(),
    ends_at: new Date(form.ends.value).toISOString(),
    invite_user_ids: ids(form.users.value),
    invite_unit_ids: ids(form.units.value),
  };
}

export function fmtRange(a, b) {
  const s = new Date(a);
  const e = new Date(b);
  const opts = { month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit' };
  return `${s.toLocaleString(undefined, opts)} – ${e.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })}`;
}
