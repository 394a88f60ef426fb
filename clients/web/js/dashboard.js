// 督导统计: usage statistics of the admin's units (GET /api/stats/...), a uPlot chart of
// lessons per day/week, the drill-down table province → city → county → township →
// school → lesson, and CSV/XLSX exports made by the server (so they are audited).
// State lives in the URL (?unit=&from=&to=&g=&lesson=), so every view can be linked.
import uPlot from '../vendor/uplot/uPlot.esm.js';
import { api, items, tokens, request } from './api.js';
import { t, has, fmtDate, fmtTime } from './i18n.js';
import { h, clear, boot, renderHeader, requireUser, describeError, toast, isoDay, param } from './ui.js';

const main = document.getElementById('main');
const PAGE = 50;
const TARGET_ACTIVE_SHARE = 0.5; // provincial notices: at least half the teaching points
const P = {
  unit: (id) => `/api/org-units/${id}`,
  summary: (id) => `/api/stats/units/${id}/summary`,
  children: (id) => `/api/stats/units/${id}/children`,
  series: (id) => `/api/stats/units/${id}/series`,
  lessons: (id) => `/api/stats/units/${id}/lessons`,
  exportFile: (id) => `/api/stats/units/${id}/export`,
  events: (id) => `/api/lessons/${id}/events`,
};
const KPIS = [
  'lessons_scheduled', 'lessons_held', 'lessons_cancelled', 'on_time_share',
  'mean_start_delay_seconds', 'minutes_taught', 'receivers_per_lesson', 'pupils_reported',
  'teaching_points_active_share', 'mean_evaluation_score', 'recordings_ready',
  'mean_loss', 'mean_rtt_ms', 'mean_low_layer_share',
];
const SHARES = new Set(['on_time_share', 'receivers_connected_share', 'teaching_points_active_share',
  'mean_loss', 'mean_low_layer_share']);

let me = null;
let chart = null;

function defaults() {
  const today = new Date();
  const from = new Date(today);
  from.setDate(from.getDate() - 27);
  return { from: isoDay(from), to: isoDay(today) };
}

function state() {
  const d = defaults();
  return {
    unit: Number(param('unit')) || me.org_unit_id,
    from: param('from') || d.from,
    to: param('to') || d.to,
    g: param('g') === 'day' ? 'day' : 'week',
    offset: Number(param('offset')) || 0,
    lesson: Number(param('lesson')) || null,
  };
}

function go(changes) {
  const s = { ...state(), ...changes };
  const q = new URLSearchParams({ unit: s.unit, from: s.from, to: s.to, g: s.g });
  if (s.offset) q.set('offset', s.offset);
  if (s.lesson) q.set('lesson', s.lesson);
  history.pushState(null, '', `?${q}`);
  render();
}
window.addEventListener('popstate', () => render());

function fmt(name, value) {
  if (value === null || value === undefined) return t('dash.none');
  if (SHARES.has(name)) return `${(value * 100).toFixed(1)}%`;
  if (typeof value === 'number' && !Number.isInteger(value)) return value.toFixed(1);
  return String(value);
}

function kpi(name, stats) {
  const value = stats[name];
  const attrs = { class: 'kpi', 'data-metric': name };
  let note = null;
  if (name === 'teaching_points_active_share' && value !== null) {
    attrs['data-ok'] = String(value >= TARGET_ACTIVE_SHARE);
    note = h('div', { class: 'label' }, t('dash.target', { target: `${TARGET_ACTIVE_SHARE * 100}%` }));
  }
  return h('div', attrs,
    h('div', { class: 'value' }, fmt(name, value)),
    h('div', { class: 'label' }, t(`dash.m.${name}`)), note);
}

async function breadcrumb(unitId) {
  // The path from the admin's own unit down to the shown one ("/1/4/9/").
  const unit = await api.get(P.unit(unitId));
  const ids = unit.path.split('/').filter(Boolean).map(Number);
  const start = ids.indexOf(me.org_unit_id);
  const chain = await Promise.all(ids.slice(Math.max(start, 0)).map((id) => (id === unit.id ? unit : api.get(P.unit(id)))));
  const list = h('ol', { class: 'breadcrumb', id: 'breadcrumb', 'aria-label': t('dash.unit') },
    chain.map((u, i) => h('li', {},
      i === chain.length - 1
        ? h('strong', { 'aria-current': 'page' }, u.name)
        : h('a', { href: '#', onclick: (ev) => { ev.preventDefault(); go({ unit: u.id, offset: 0, lesson: null }); } }, u.name))));
  return { unit, list };
}

function controls(s) {
  const from = h('input', { type: 'date', id: 'dash-from', value: s.from, required: true });
  const to = h('input', { type: 'date', id: 'dash-to', value: s.to, required: true });
  const g = h('select', { id: 'dash-g' },
    ['week', 'day'].map((x) => h('option', { value: x, selected: x === s.g }, t(`dash.g.${x}`))));
  const form = h('form', { class: 'dash-controls card', id: 'dash-controls' },
    h('label', { for: 'dash-from' }, t('dash.from'), from),
    h('label', { for: 'dash-to' }, t('dash.to'), to),
    h('label', { for: 'dash-g' }, t('dash.granularity'), g),
    h('button', { class: 'btn', type: 'submit' }, t('dash.apply')),
    h('button', { class: 'btn btn-secondary', type: 'button', id: 'export-csv', onclick: () => download('csv') }, t('dash.export_csv')),
    h('button', { class: 'btn btn-secondary', type: 'button', id: 'export-xlsx', onclick: () => download('xlsx') }, t('dash.export_xlsx')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    go({ from: from.value, to: to.value, g: g.value, offset: 0, lesson: null });
  });
  return form;
}

async function download(format) {
  // A plain link would not carry the bearer token: fetch, then save the blob.
  const s = state();
  const unit = await api.get(P.unit(s.unit));
  const table = unit.level === 'school' ? 'lessons' : 'children';
  const q = new URLSearchParams({ from: s.from, to: s.to, format, table });
  try {
    const res = await fetch(`${P.exportFile(s.unit)}?${q}`, { headers: { Authorization: `Bearer ${tokens.access}` } });
    if (!res.ok) {
      await request('GET', `${P.exportFile(s.unit)}?${q}`); // throws the typed ApiError
      return;
    }
    const name = `tongbu-${table}-${s.unit}-${s.from}-${s.to}.${format}`;
    const a = h('a', { href: URL.createObjectURL(await res.blob()), download: name, hidden: true });
    document.body.append(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    toast(t('dash.exported', { name }), 'ok');
  } catch (err) { toast(describeError(err), 'error'); }
}

let shareChart = null;

function drawChart(box, shareBox, series) {
  if (chart) { chart.destroy(); chart = null; }
  if (shareChart) { shareChart.destroy(); shareChart = null; }
  const xs = series.items.map((b) => new Date(`${b.first}T00:00:00`).getTime() / 1000);
  const col = (name) => series.items.map((b) => b.stats[name]);
  const pct = (name) => series.items.map((b) => (b.stats[name] === null ? null : b.stats[name] * 100));
  const width = Math.max(320, box.clientWidth || 800);
  chart = new uPlot({
    width,
    height: 260,
    series: [
      {},
      { label: t('dash.m.lessons_scheduled'), stroke: '#1f5fbf', width: 2 },
      { label: t('dash.m.lessons_held'), stroke: '#1b7f3b', width: 2 },
      { label: t('dash.m.lessons_cancelled'), stroke: '#b3261e', width: 2 },
    ],
    axes: [{}, { label: t('dash.col.title') }],
  }, [xs, col('lessons_scheduled'), col('lessons_held'), col('lessons_cancelled')], box);
  // Shares in percent: punctuality, booked points that connected, packet loss.
  shareChart = new uPlot({
    width,
    height: 220,
    scales: { y: { range: [0, 100] } },
    series: [
      {},
      { label: t('dash.m.on_time_share'), stroke: '#1b7f3b', width: 2 },
      { label: t('dash.m.receivers_connected_share'), stroke: '#1f5fbf', width: 2 },
      { label: t('dash.m.mean_loss'), stroke: '#b3261e', width: 2 },
    ],
    axes: [{}, { label: '%' }],
  }, [xs, pct('on_time_share'), pct('receivers_connected_share'), pct('mean_loss')], shareBox);
}

function childrenTable(rows) {
  const cols = ['lessons_scheduled', 'lessons_held', 'on_time_share', 'minutes_taught',
    'receivers_per_lesson', 'pupils_reported', 'teaching_points_active_share', 'mean_evaluation_score', 'mean_loss'];
  return h('div', { class: 'table-wrap' }, h('table', { class: 'stats', id: 'children-table' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('dash.col.unit')), h('th', { scope: 'col' }, t('dash.col.level')),
      cols.map((c) => h('th', { scope: 'col', class: 'num' }, t(`dash.m.${c}`))))),
    h('tbody', {}, rows.map((r) => h('tr', { 'data-unit-id': r.unit.id },
      h('th', { scope: 'row' }, h('a', {
        href: '#', 'aria-label': t('dash.drill', { name: r.unit.name }),
        onclick: (ev) => { ev.preventDefault(); go({ unit: r.unit.id, offset: 0, lesson: null }); },
      }, r.unit.name)),
      h('td', {}, t(`level.${r.unit.level}`)),
      cols.map((c) => h('td', { class: 'num' }, fmt(c, r.stats[c]))))))));
}

function lessonsTable(page, s) {
  const rows = page.items;
  const pager = h('div', { class: 'pager' },
    h('button', { class: 'btn btn-secondary', type: 'button', id: 'lessons-prev', disabled: s.offset <= 0,
      onclick: () => go({ offset: Math.max(0, s.offset - PAGE) }) }, t('dash.prev')),
    h('span', { id: 'lessons-range' }, t('dash.page', { from: page.total ? s.offset + 1 : 0, to: s.offset + rows.length, total: page.total })),
    h('button', { class: 'btn btn-secondary', type: 'button', id: 'lessons-next', disabled: s.offset + PAGE >= page.total,
      onclick: () => go({ offset: s.offset + PAGE }) }, t('dash.next')));
  const table = h('table', { class: 'stats', id: 'lessons-table' },
    h('thead', {}, h('tr', {}, ['time', 'title', 'teacher', 'state', 'delay', 'minutes', 'connected', 'pupils', 'score', 'recordings', 'loss']
      .map((c) => h('th', { scope: 'col' }, t(`dash.col.${c}`))))),
    h('tbody', {}, rows.map((r) => h('tr', { 'data-lesson-id': r.lesson_id },
      h('td', {}, `${fmtDate(r.starts_at)} ${fmtTime(r.starts_at)}`),
      h('th', { scope: 'row' }, h('a', { href: '#', onclick: (ev) => { ev.preventDefault(); go({ lesson: r.lesson_id }); } }, r.title)),
      h('td', {}, r.teacher_name),
      h('td', {}, t(`state.${r.state}`)),
      h('td', { class: 'num' }, r.start_delay_seconds === null ? t('dash.none')
        : `${Math.round(r.start_delay_seconds)} s · ${r.on_time ? t('dash.on_time') : t('dash.late')}`),
      h('td', { class: 'num' }, fmt('minutes_taught', r.minutes_taught)),
      h('td', { class: 'num' }, `${r.receivers_connected}/${r.receivers_booked}`),
      h('td', { class: 'num' }, String(r.pupils_reported)),
      h('td', { class: 'num' }, fmt('mean_evaluation_score', r.mean_evaluation_score)),
      h('td', { class: 'num' }, String(r.recordings_ready)),
      h('td', { class: 'num' }, fmt('mean_loss', r.mean_loss))))));
  return h('div', { class: 'stack' }, h('div', { class: 'table-wrap' }, table), pager);
}

async function lessonDetail(s, row) {
  const events = items(await api.get(P.events(s.lesson), { query: { limit: 200 } }));
  const facts = row ? h('dl', { class: 'kpis', id: 'lesson-facts' },
    ['state', 'start_delay_seconds', 'minutes_taught', 'receivers_connected', 'pupils_reported',
      'mean_evaluation_score', 'recordings_ready', 'mean_rtt_ms'].map((k) => h('div', { class: 'kpi' },
      h('dt', { class: 'label' }, k === 'state' ? t('dash.col.state') : has(`dash.m.${k}`) ? t(`dash.m.${k}`) : t(`dash.col.${k === 'receivers_connected' ? 'connected' : 'delay'}`)),
      h('dd', { class: 'value' }, k === 'state' ? t(`state.${row.state}`) : fmt(k, row[k]))))) : null;
  return h('section', { class: 'card stack', id: 'lesson-detail', 'aria-labelledby': 'lesson-title' },
    h('h2', { id: 'lesson-title' }, `${t('dash.lesson')}: ${row ? row.title : `#${s.lesson}`}`),
    facts,
    h('h3', {}, t('dash.events')),
    h('ol', { id: 'lesson-events' }, events.map((e) => h('li', { 'data-type': e.type },
      `${fmtTime(e.created_at)} · ${e.type} · ${e.actor}`))));
}

async function render() {
  renderHeader({ titleKey: 'dash.title', user: me });
  clear(main);
  if (me.role !== 'admin') {
    main.append(h('div', { class: 'alert alert-error', role: 'alert' }, t('dash.admins_only')));
    return;
  }
  const s = state();
  const box = h('div', { class: 'stack' });
  main.append(box);
  try {
    const [{ unit, list }, summary, series] = await Promise.all([
      breadcrumb(s.unit),
      api.get(P.summary(s.unit), { query: { from: s.from, to: s.to } }),
      api.get(P.series(s.unit), { query: { from: s.from, to: s.to, granularity: s.g } }),
    ]);
    const chartBox = h('div', { class: 'chart', id: 'series-chart', role: 'img', 'aria-label': t('dash.chart') });
    const shareBox = h('div', { class: 'chart', id: 'share-chart', role: 'img', 'aria-label': t('dash.chart_shares') });
    box.append(
      h('nav', { 'aria-label': t('dash.unit') }, list),
      controls(s),
      h('section', { 'aria-labelledby': 'summary-title', class: 'stack' },
        h('h2', { id: 'summary-title' }, `${t('dash.summary')} · ${unit.name}`),
        h('div', { class: 'kpis', id: 'kpis' }, KPIS.map((k) => kpi(k, summary.stats)))),
      h('section', { class: 'card', 'aria-labelledby': 'chart-title' }, h('h2', { id: 'chart-title' }, t('dash.chart')), chartBox),
      h('section', { class: 'card', 'aria-labelledby': 'share-title' }, h('h2', { id: 'share-title' }, t('dash.chart_shares')), shareBox));
    drawChart(chartBox, shareBox, series);
    if (unit.level === 'school') {
      const page = await api.get(P.lessons(s.unit), { query: { from: s.from, to: s.to, limit: PAGE, offset: s.offset } });
      box.append(h('section', { class: 'card stack', 'aria-labelledby': 'lessons-title' },
        h('h2', { id: 'lessons-title' }, t('dash.lessons')), lessonsTable(page, s)));
      if (s.lesson) box.append(await lessonDetail(s, page.items.find((r) => r.lesson_id === s.lesson)));
    } else {
      const children = await api.get(P.children(s.unit), { query: { from: s.from, to: s.to } });
      box.append(h('section', { class: 'card stack', 'aria-labelledby': 'children-title' },
        h('h2', { id: 'children-title' }, t('dash.children')), childrenTable(children.items)));
    }
  } catch (err) {
    box.append(h('div', { class: 'alert alert-error', role: 'alert', id: 'dash-error', 'data-code': err.code || '' }, describeError(err)));
  }
}

boot(async () => {
  me = me || await requireUser();
  await render();
});
