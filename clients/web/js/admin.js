// Admin pages: org tree, schools, classrooms (pairing codes), users, the
// timetable week view with drag-to-move (409 clash warnings from the API) and
// the list of live lessons now (巡课).
import { api, items } from './api.js';
import { t, fmtTime, fmtDate } from './i18n.js';
import { h, clear, boot, renderHeader, requireUser, describeError, toast, isoDay, param } from './ui.js';
import { lesson as L, rolesOf, loadNames, TZ } from './model.js';
import { ADMIN_PATHS as P } from './paths.js';

const main = document.getElementById('main');
const TABS = ['timetable', 'patrol', 'org', 'schools', 'classrooms', 'users'];
let me = null;
let tab = param('tab') || 'timetable';
let weekStart = mondayOf(param('week') ? new Date(`${param('week')}T00:00:00`) : new Date());
let units = [];

function mondayOf(d) {
  const x = new Date(d.getFullYear(), d.getMonth(), d.getDate());
  const dow = (x.getDay() + 6) % 7;
  x.setDate(x.getDate() - dow);
  return x;
}
function addDays(d, n) { const x = new Date(d); x.setDate(x.getDate() + n); return x; }

function alertBox(err) {
  return h('div', { class: 'alert alert-error', role: 'alert' }, describeError(err));
}

async function loadUnits() {
  units = items(await api.get(P.orgUnits, { query: { limit: 500 } }));
  return units;
}
function unitName(id) {
  const u = units.find((x) => x.id === id);
  return u ? u.name : (id == null ? '' : `#${id}`);
}

// ------------------------------------------------------------ org tree
async function orgTab(panel) {
  await loadUnits();
  const byParent = new Map();
  for (const u of units) {
    const k = u.parent_id ?? null;
    if (!byParent.has(k)) byParent.set(k, []);
    byParent.get(k).push(u);
  }
  const ids = new Set(units.map((u) => u.id));
  const roots = units.filter((u) => u.parent_id == null || !ids.has(u.parent_id));
  const branch = (list) => h('ul', { role: 'group' }, list.map((u) => h('li', { role: 'treeitem', 'aria-expanded': byParent.has(u.id) ? 'true' : undefined },
    h('span', {}, u.name), h('span', { class: 'kind' }, t(`level.${u.level}`)),
    byParent.has(u.id) ? branch(byParent.get(u.id)) : null)));
  const tree = branch(roots);
  tree.className = 'tree';
  tree.setAttribute('role', 'tree');
  tree.setAttribute('aria-label', t('admin.org'));
  tree.id = 'org-tree';
  panel.append(h('div', { class: 'card' }, units.length ? tree : h('p', { class: 'muted' }, t('common.empty'))));
}

// ------------------------------------------------------------ schools
async function schoolsTab(panel) {
  await loadUnits();
  const schools = units.filter((u) => u.level === 'school');
  panel.append(table('schools-table', [t('school.name'), t('school.parent'), t('school.code')],
    schools.map((s) => [s.name, unitName(s.parent_id), s.code || ''])));
}

function table(id, heads, rows) {
  if (!rows.length) return h('p', { class: 'muted', id }, t('common.empty'));
  return h('table', { id },
    h('thead', {}, h('tr', {}, heads.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c))))));
}

// ------------------------------------------------------------ classrooms
async function classroomsTab(panel) {
  await loadUnits();
  const rooms = items(await api.get(P.classrooms, { query: { limit: 500 } }));
  const rows = rooms.map((c) => {
    const out = h('output', { class: 'pairing-code', 'aria-live': 'polite', id: `pairing-${c.id}` });
    const btn = h('button', {
      type: 'button', class: 'btn btn-secondary', 'aria-label': t('classroom.pairing_for', { name: c.name }),
      onclick: async () => {
        btn.disabled = true;
        try {
          const r = await api.post(P.pairingCode(c.id), {});
          const exp = r.expires_at ? ` · ${t('classroom.expires', { time: fmtTime(r.expires_at) })}` : '';
          clear(out).append(h('strong', { class: 'code' }, r.code), exp);
        } catch (e) { clear(out).append(alertBox(e)); }
        btn.disabled = false;
      },
    }, t('classroom.pairing_code'));
    return [c.name, unitName(c.school_id), t(`classroom.kind.${c.kind}`),
      c.device_paired_at ? t('classroom.paired_at', { time: fmtDate(c.device_paired_at) }) : t('classroom.not_paired'),
      h('div', { class: 'row' }, btn, out)];
  });
  panel.append(table('classrooms-table', [t('classroom.name'), t('classroom.school'), t('classroom.kind'),
    t('classroom.device'), t('common.actions')], rows));
}

// ------------------------------------------------------------ users
async function usersTab(panel) {
  await loadUnits();
  const users = items(await api.get(P.users, { query: { limit: 500 } }));
  panel.append(table('users-table', [t('user.login'), t('user.name'), t('user.role'), t('user.unit')],
    users.map((u) => [u.login, u.display_name, t(`role.${u.role}`), unitName(u.org_unit_id)])));
  const err = h('div', { role: 'alert' });
  const form = h('form', { class: 'card stack', id: 'user-form', 'aria-labelledby': 'new-user-title' },
    h('h3', { id: 'new-user-title' }, t('user.new')),
    h('div', { class: 'row' },
      field('nu-login', t('user.login'), h('input', { id: 'nu-login', name: 'login', required: true, autocomplete: 'off' })),
      field('nu-name', t('user.name'), h('input', { id: 'nu-name', name: 'display_name', required: true })),
      field('nu-role', t('user.role'), h('select', { id: 'nu-role', name: 'role' },
        ['teacher', 'evaluator', 'researcher', 'admin'].map((r) => h('option', { value: r }, t(`role.${r}`))))),
      field('nu-unit', t('user.unit'), h('select', { id: 'nu-unit', name: 'org_unit_id' },
        units.map((u) => h('option', { value: u.id }, `${u.name} (${t(`level.${u.level}`)})`)))),
      field('nu-pass', t('user.password'), h('input', { id: 'nu-pass', name: 'password', type: 'password', required: true, minlength: 8, autocomplete: 'new-password' }))),
    err,
    h('div', {}, h('button', { class: 'btn', type: 'submit' }, t('common.create'))));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(err);
    try {
      await api.post(P.users, {
        login: form.login.value.trim(), display_name: form.display_name.value.trim(), role: form.role.value,
        org_unit_id: Number(form.org_unit_id.value), password: form.password.value,
      });
      toast(t('common.saved'), 'ok');
      await show('users');
    } catch (e) { err.append(alertBox(e)); }
  });
  panel.append(form);
}

function field(id, label, control) {
  return h('div', { class: 'field' }, h('label', { for: id }, label), control);
}

// ------------------------------------------------------------ patrol (巡课)
async function patrolTab(panel) {
  const lessons = items(await api.get(P.lessons, { query: { state: 'live', limit: 200 } }))
    .filter((l) => L.state(l) === 'live');
  panel.append(h('p', { class: 'muted' }, t('patrol.intro')));
  panel.append(h('p', { class: 'row' },
    h('a', { class: 'btn', href: './patrol.html', id: 'patrol-grid-link' }, t('dash.patrol_link')),
    h('a', { class: 'btn btn-secondary', href: './dashboard.html', id: 'dashboard-link' }, t('dash.link')),
    h('a', { class: 'btn btn-secondary', href: './playback.html', id: 'playback-link' }, t('playback.link'))));
  panel.append(table('patrol-table', [t('lesson.time'), t('lesson.title'), t('lesson.teacher'), t('lesson.receiving'), t('common.actions')],
    lessons.map((l) => [`${fmtTime(L.start(l))}–${fmtTime(L.end(l))}`, L.title(l), L.teacher(l), String(L.receivingCount(l)),
      h('a', { class: 'btn btn-secondary', href: `./evaluator.html?lesson=${l.id}` }, t('home.patrol'))])));
}

// ------------------------------------------------------------ timetable week view
const DAY_START_H = 7;
const DAY_END_H = 20;
const SNAP_MIN = 5;

/** "Clash: with «title» (time): the teacher…, the main classroom…" from the 409 details. */
function clashText(err, known = []) {
  const d = err.details;
  const list = Array.isArray(d) ? d : (d && d.clashes) || [];
  const byLesson = new Map();
  for (const c of list) {
    const key = c.lesson_id ?? '?';
    if (!byLesson.has(key)) byLesson.set(key, { c, what: [] });
    const what = c.resource ? t(`clash.${c.resource}`) : '';
    if (what && !byLesson.get(key).what.includes(what)) byLesson.get(key).what.push(what);
  }
  const parts = [...byLesson.entries()].map(([id, { c, what }]) => {
    const other = known.find((l) => l.id === id);
    const title = other ? L.title(other) : `#${id}`;
    const when = c.starts_at && c.ends_at ? `${fmtDate(c.starts_at)} ${fmtTime(c.starts_at)}–${fmtTime(c.ends_at)}` : '';
    return t('timetable.clash_item', { title, when, what: what.join(t('timetable.list_sep')) });
  });
  return parts.length ? t('timetable.clash_with', { what: parts.join('；') }) : t('timetable.clash', { message: err.message });
}

async function timetableTab(panel) {
  const days = [...Array(7)].map((_, i) => addDays(weekStart, i));
  const page = await api.get(P.lessons, { query: { week: isoDay(weekStart), tz: TZ, limit: 500 } });
  const lessons = items(page);
  const warning = h('div', { id: 'clash-warning', class: 'alert alert-warn', role: 'alert', hidden: true });
  const nav = h('div', { class: 'row', role: 'group', 'aria-label': t('timetable.week_nav') },
    h('button', { type: 'button', class: 'btn btn-secondary', id: 'week-prev', onclick: () => { weekStart = addDays(weekStart, -7); show('timetable'); } }, t('timetable.prev')),
    h('button', { type: 'button', class: 'btn btn-secondary', id: 'week-today', onclick: () => { weekStart = mondayOf(new Date()); show('timetable'); } }, t('timetable.this_week')),
    h('button', { type: 'button', class: 'btn btn-secondary', id: 'week-next', onclick: () => { weekStart = addDays(weekStart, 7); show('timetable'); } }, t('timetable.next')),
    h('strong', {}, `${fmtDate(days[0], { month: 'long', day: 'numeric' })} – ${fmtDate(days[6], { month: 'long', day: 'numeric' })}`),
    h('span', { class: 'muted' }, t('timetable.hint')));
  const hourH = 52;
  const grid = h('div', { class: 'week', id: 'week-grid', style: `--hour-h:${hourH}px` });
  const todayIso = isoDay(new Date());
  grid.append(h('div', { class: 'week-head' }, ''));
  days.forEach((d) => grid.append(h('div', { class: `week-head${isoDay(d) === todayIso ? ' today' : ''}` }, fmtDate(d, { weekday: 'short', month: 'numeric', day: 'numeric' }))));
  const height = (DAY_END_H - DAY_START_H) * hourH;
  const hours = h('div', { class: 'week-hours', style: `height:${height}px` });
  for (let hr = DAY_START_H; hr <= DAY_END_H; hr++) hours.append(h('span', { class: 'hour', style: `top:${(hr - DAY_START_H) * hourH}px` }, `${hr}:00`));
  grid.append(hours);
  const cols = days.map((d) => {
    const col = h('div', { class: 'week-day', style: `height:${height}px`, dataset: { day: isoDay(d) }, 'aria-label': fmtDate(d) });
    grid.append(col);
    return col;
  });
  const minutesToPx = (m) => (m / 60) * hourH;
  const place = (block, start, end) => {
    const mins = (start.getHours() - DAY_START_H) * 60 + start.getMinutes();
    block.style.top = `${minutesToPx(mins)}px`;
    block.style.height = `${Math.max(18, minutesToPx((end - start) / 60000))}px`;
  };

  async function move(l, block, newStart) {
    const dur = L.end(l) - L.start(l);
    const newEnd = new Date(newStart.getTime() + dur);
    warning.hidden = true;
    block.classList.remove('clash');
    try {
      const updated = await api.patch(P.lesson(l.id), { starts_at: newStart.toISOString(), ends_at: newEnd.toISOString() });
      Object.assign(l, updated || { starts_at: newStart.toISOString(), ends_at: newEnd.toISOString() });
      toast(t('timetable.moved', { title: L.title(l), time: `${fmtDate(newStart)} ${fmtTime(newStart)}` }), 'ok');
      await show('timetable');
    } catch (e) {
      block.classList.add('clash');
      warning.textContent = e.status === 409 ? clashText(e, lessons) : describeError(e);
      warning.dataset.code = e.code;
      warning.hidden = false;
      const col = cols.find((c) => c.dataset.day === isoDay(L.start(l)));
      if (col) { col.append(block); place(block, L.start(l), L.end(l)); }
    }
  }

  for (const l of lessons) {
    const s = L.start(l);
    const col = cols.find((c) => c.dataset.day === isoDay(s));
    if (!col) continue;
    const state = L.state(l);
    const label = `${L.title(l)} ${fmtTime(s)}–${fmtTime(L.end(l))} ${L.teacher(l)}`;
    const block = h('div', {
      class: `lesson-block ${state}`, tabindex: '0', role: 'button', dataset: { lessonId: l.id },
      'aria-label': t('timetable.block_label', { label }), title: label,
    }, h('strong', {}, L.title(l)), ' ', h('span', { class: 'when' }, `${fmtTime(s)}–${fmtTime(L.end(l))}`), h('br'), L.teacher(l));
    place(block, s, L.end(l));
    col.append(block);
    if (state !== 'scheduled') continue;

    // keyboard: arrows move by 15 minutes / one day
    block.addEventListener('keydown', (ev) => {
      const steps = { ArrowUp: -15, ArrowDown: 15, ArrowLeft: -24 * 60, ArrowRight: 24 * 60 };
      if (!(ev.key in steps)) return;
      ev.preventDefault();
      move(l, block, new Date(L.start(l).getTime() + steps[ev.key] * 60000));
    });
    // pointer drag: ghost follows the pointer, snapped to 5 minutes
    block.addEventListener('pointerdown', (ev) => {
      if (ev.button !== 0) return;
      ev.preventDefault();
      const rect = block.getBoundingClientRect();
      const grabOffset = ev.clientY - rect.top;
      const ghost = h('div', { class: 'drop-ghost', style: `height:${rect.height}px` });
      let target = null;
      let moved = false;
      block.classList.add('dragging');
      const onMove = (e) => {
        moved = moved || Math.abs(e.clientY - ev.clientY) > 4 || Math.abs(e.clientX - ev.clientX) > 4;
        const col = cols.find((c) => { const r = c.getBoundingClientRect(); return e.clientX >= r.left && e.clientX < r.right; });
        cols.forEach((c) => c.classList.toggle('drop-target', c === col));
        if (!col) { ghost.remove(); target = null; return; }
        const r = col.getBoundingClientRect();
        let mins = ((e.clientY - grabOffset - r.top) / hourH) * 60;
        mins = Math.max(0, Math.round(mins / SNAP_MIN) * SNAP_MIN);
        const day = new Date(`${col.dataset.day}T00:00:00`);
        target = new Date(day.getTime() + (DAY_START_H * 60 + mins) * 60000);
        ghost.style.top = `${minutesToPx(mins)}px`;
        ghost.textContent = fmtTime(target);
        col.append(ghost);
      };
      const onUp = () => {
        window.removeEventListener('pointermove', onMove);
        window.removeEventListener('pointerup', onUp);
        block.classList.remove('dragging');
        cols.forEach((c) => c.classList.remove('drop-target'));
        ghost.remove();
        if (moved && target && target.getTime() !== L.start(l).getTime()) move(l, block, target);
      };
      window.addEventListener('pointermove', onMove);
      window.addEventListener('pointerup', onUp);
    });
  }
  panel.append(nav, warning, grid);
  window.tongbu = { ...(window.tongbu || {}), weekStart, lessons };
}

// ------------------------------------------------------------ shell
const RENDER = { org: orgTab, schools: schoolsTab, classrooms: classroomsTab, users: usersTab, timetable: timetableTab, patrol: patrolTab };

async function show(name, focusTab = false) {
  tab = name;
  const url = new URL(location.href);
  url.searchParams.set('tab', name);
  history.replaceState(null, '', url);
  document.querySelectorAll('.tabs [role=tab]').forEach((b) => {
    const sel = b.dataset.tab === name;
    b.setAttribute('aria-selected', String(sel));
    b.tabIndex = sel ? 0 : -1;
    if (sel && focusTab) b.focus();
  });
  const panel = document.getElementById('tab-panel');
  clear(panel);
  panel.setAttribute('aria-labelledby', `tab-${name}`);
  panel.append(h('h2', {}, t(`admin.${name}`)));
  try {
    await RENDER[name](panel);
  } catch (e) {
    panel.append(alertBox(e));
  }
}

async function render() {
  if (!me) {
    me = await requireUser();
    await loadNames();
  }
  renderHeader({ titleKey: 'page.admin', user: me });
  if (!rolesOf(me).includes('admin')) {
    clear(main).append(h('div', { class: 'alert alert-error', role: 'alert' }, t('error.permission_denied')));
    return;
  }
  const tabs = h('div', { class: 'tabs', role: 'tablist', 'aria-label': t('page.admin') },
    TABS.map((name) => h('button', {
      type: 'button', role: 'tab', id: `tab-${name}`, dataset: { tab: name }, 'aria-controls': 'tab-panel',
      onclick: () => show(name),
    }, t(`admin.${name}`))));
  tabs.addEventListener('keydown', (ev) => {
    const i = TABS.indexOf(tab);
    if (ev.key === 'ArrowRight') show(TABS[(i + 1) % TABS.length], true);
    if (ev.key === 'ArrowLeft') show(TABS[(i + TABS.length - 1) % TABS.length], true);
  });
  clear(main).append(tabs, h('section', { id: 'tab-panel', role: 'tabpanel', class: 'stack' }));
  await show(TABS.includes(tab) ? tab : 'timetable');
}

boot(render);
