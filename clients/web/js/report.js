// 同步评估 report, printable: ?lesson=<id> (one lesson) or ?user=<id>&from=&to= (a
// teacher). The numbers come from GET /api/lessons/{id}/evaluation-report and
// /api/users/{id}/evaluation-report; the browser's print (Ctrl+P → "Save as PDF")
// makes the PDF, with the print styles of css/collab.css.
import { api } from './api.js';
import { t, fmtDate, fmtTime } from './i18n.js';
import { h, clear, boot, renderHeader, requireUser, describeError, param } from './ui.js';

const main = document.getElementById('main');
const state = { me: null, report: null };
window.tongbu = state;

const num = (x) => (x === null || x === undefined ? '—' : String(x));

function clock(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const p = (n) => String(n).padStart(2, '0');
  return `${p(Math.floor(s / 60))}:${p(s % 60)}`;
}

function bar(mean, max) {
  const pct = max > 0 && mean !== null ? Math.round((100 * mean) / max) : 0;
  return h('div', { class: 'bar', role: 'img', 'aria-label': `${pct}%` }, h('i', { style: `width:${pct}%` }));
}

function criteriaTable(criteria) {
  return h('table', { id: 'criteria' },
    h('thead', {}, h('tr', {}, [t('report.criterion'), t('report.max'), t('report.mean'), t('report.n'), ''].map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, criteria.map((c) => h('tr', { dataset: { key: c.key } },
      h('td', {}, c.label), h('td', {}, String(c.max)), h('td', { class: 'mean' }, num(c.mean)), h('td', {}, String(c.n)), h('td', {}, bar(c.mean, c.max))))));
}

function printButton() {
  return h('div', { class: 'row no-print' },
    h('button', { type: 'button', class: 'btn', id: 'print', onclick: () => window.print() }, t('report.print')),
    h('span', { class: 'muted' }, t('report.pdf_hint')));
}

function renderLesson(r) {
  const l = r.lesson;
  const keys = r.criteria.map((c) => c.key);
  return h('article', { class: 'report', id: 'report' },
    printButton(),
    h('h1', {}, t('report.lesson_title', { title: l.title })),
    h('p', {}, [l.course, l.teacher_name, `${fmtDate(l.actual_start || l.starts_at)} ${fmtTime(l.actual_start || l.starts_at)}`].filter(Boolean).join(' · ')),
    h('p', { class: 'total', id: 'mean-total' }, t('report.total', { mean: num(r.mean_total), max: r.max_total, n: r.evaluation_count })),
    h('h2', {}, t('report.criteria')), criteriaTable(r.criteria),
    h('h2', {}, t('report.evaluations')),
    h('table', { id: 'evaluations' },
      h('thead', {}, h('tr', {}, [t('report.evaluator'), ...r.criteria.map((c) => c.label), t('report.sum'), t('report.summary')].map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, r.evaluations.map((e) => h('tr', {},
        h('td', {}, e.evaluator_name), ...keys.map((k) => h('td', {}, num(e.scores[k]))), h('td', { class: 'sum' }, String(e.total)), h('td', {}, e.summary))))),
    h('h2', {}, t('report.comments')),
    r.comments.length
      ? h('ol', { id: 'comments', class: 'stack' }, r.comments.map((c) => h('li', {},
        h('strong', {}, clock(c.offset_ms)), ' ', c.classroom_name ? `[${c.classroom_name}] ` : '', c.text, ' — ', h('span', { class: 'muted' }, c.evaluator_name))))
      : h('p', { class: 'muted' }, t('report.no_comments')));
}

function renderTeacher(r) {
  return h('article', { class: 'report', id: 'report' },
    printButton(),
    h('h1', {}, t('report.teacher_title', { name: r.teacher_name })),
    h('p', {}, [r.from_ ? fmtDate(r.from_) : '', r.to ? fmtDate(r.to) : ''].filter(Boolean).join(' – ')),
    h('p', { class: 'total', id: 'mean-total' }, t('report.teacher_total', { mean: num(r.mean_total), n: r.evaluation_count, lessons: r.lesson_count })),
    h('h2', {}, t('report.criteria')), criteriaTable(r.criteria),
    h('h2', {}, t('report.lessons')),
    h('table', { id: 'lessons' },
      h('thead', {}, h('tr', {}, [t('report.lesson'), t('report.date'), t('report.n'), t('report.mean_total')].map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, r.lessons.map((x) => h('tr', {},
        h('td', {}, h('a', { href: `?lesson=${x.lesson_id}` }, x.title)), h('td', {}, fmtDate(x.starts_at)),
        h('td', {}, String(x.evaluation_count)), h('td', {}, x.mean_total === null ? '—' : `${x.mean_total} / ${x.max_total}`))))));
}

async function render() {
  state.me = state.me || await requireUser();
  renderHeader({ titleKey: 'page.report', user: state.me });
  const lesson = param('lesson');
  const user = param('user');
  try {
    if (lesson) {
      state.report = await api.get(`/api/lessons/${lesson}/evaluation-report`);
      clear(main).append(renderLesson(state.report));
    } else if (user) {
      state.report = await api.get(`/api/users/${user}/evaluation-report`, { query: { from: param('from'), to: param('to') } });
      clear(main).append(renderTeacher(state.report));
    } else {
      clear(main).append(h('p', { class: 'card', id: 'report-missing' }, t('report.pick')));
    }
  } catch (e) {
    clear(main).append(h('div', { class: 'alert alert-error', role: 'alert', id: 'report-error' }, describeError(e)));
  }
}

boot(render);
