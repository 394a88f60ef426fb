// Login and the role-aware home page: today's timetable in the user's scope.
import { api, tokens } from './api.js';
import { t, fmtTime, fmtDate } from './i18n.js';
import { h, clear, boot, renderHeader, describeError, param, showError } from './ui.js';
import { lesson, lessonsOfDay, rolesOf, loadNames } from './model.js';

const main = document.getElementById('main');
let me = null;

function loginForm() {
  const err = h('div', { class: 'alert alert-error', role: 'alert', id: 'login-error', hidden: true });
  const form = h('form', { class: 'card narrow stack', id: 'login-form', 'aria-labelledby': 'login-title' },
    h('h2', { id: 'login-title' }, t('login.title')),
    h('div', { class: 'field' },
      h('label', { for: 'username' }, t('login.username')),
      h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true, autofocus: true })),
    h('div', { class: 'field' },
      h('label', { for: 'password' }, t('login.password')),
      h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
    err,
    h('button', { class: 'btn btn-big', type: 'submit', id: 'login-submit' }, t('login.submit')),
    h('p', { class: 'muted' }, t('login.device_hint'), ' ', h('a', { href: './classroom.html' }, t('login.device_link'))));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.hidden = true;
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      await api.login(form.username.value.trim(), form.password.value);
      const next = param('next');
      if (next && next.startsWith('/')) { location.href = next; return; }
      await render();
    } catch (e) {
      err.textContent = e.status === 401 ? t('login.failed') : describeError(e);
      err.hidden = false;
      button.disabled = false;
    }
  });
  return form;
}

function actionFor(l, roles) {
  const state = lesson.state(l);
  if (state !== 'scheduled' && state !== 'live') return null;
  if (roles.includes('teacher')) {
    return h('a', { class: 'btn', href: `./teacher.html?lesson=${l.id}` },
      state === 'live' ? t('home.enter') : t('home.prepare'));
  }
  if (state === 'live' && (roles.includes('evaluator') || roles.includes('admin'))) {
    return h('a', { class: 'btn btn-secondary', href: `./evaluator.html?lesson=${l.id}` },
      roles.includes('admin') ? t('home.patrol') : t('home.observe'));
  }
  return null;
}

function timetable(lessons, roles) {
  if (!lessons.length) return h('p', { class: 'muted', id: 'no-lessons' }, t('home.no_lessons'));
  return h('table', { id: 'today-table' },
    h('caption', { class: 'sr-only' }, t('home.today')),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, t('lesson.time')),
      h('th', { scope: 'col' }, t('lesson.title')),
      h('th', { scope: 'col' }, t('lesson.teacher')),
      h('th', { scope: 'col' }, t('lesson.main_classroom')),
      h('th', { scope: 'col' }, t('lesson.receiving')),
      h('th', { scope: 'col' }, t('lesson.state')),
      h('th', { scope: 'col' }, t('common.actions')))),
    h('tbody', {}, lessons.map((l) => h('tr', { dataset: { lessonId: l.id } },
      h('td', {}, `${fmtTime(lesson.start(l))}–${fmtTime(lesson.end(l))}`),
      h('td', {}, lesson.title(l)),
      h('td', {}, lesson.teacher(l)),
      h('td', {}, lesson.mainClassroom(l)),
      h('td', {}, String(lesson.receivingCount(l))),
      h('td', {}, h('span', { class: `badge badge-${lesson.state(l)}` }, t(`state.${lesson.state(l)}`))),
      h('td', {}, actionFor(l, roles))))));
}

async function home() {
  const roles = rolesOf(me);
  const links = [];
  if (roles.includes('admin')) links.push(h('a', { class: 'btn', href: './admin.html' }, t('home.admin')));
  if (roles.includes('admin')) {
    links.push(h('a', { class: 'btn btn-secondary', href: './dashboard.html', id: 'link-dashboard' }, t('dash.link')));
    links.push(h('a', { class: 'btn btn-secondary', href: './patrol.html', id: 'link-patrol' }, t('dash.patrol_link')));
  }
  if (roles.includes('evaluator') || roles.includes('admin')) {
    links.push(h('a', { class: 'btn btn-secondary', href: './evaluator.html' }, t('home.live_lessons')));
  }
  links.push(h('a', { class: 'btn btn-secondary', href: './devices.html' }, t('home.device_check')));
  // Issue 6: 同步教研, 同步视讯, the teacher's own evaluation report.
  if (roles.some((r) => ['teacher', 'researcher', 'admin'].includes(r))) {
    links.push(h('a', { class: 'btn btn-secondary', href: './research.html', id: 'link-research' }, t('collab.link_research')));
  }
  links.push(h('a', { class: 'btn btn-secondary', href: './meeting.html', id: 'link-meeting' }, t('collab.link_meeting')));
  if (roles.includes('teacher') && me.user_id) {
    links.push(h('a', { class: 'btn btn-secondary', href: `./report.html?user=${me.user_id}`, id: 'link-report' }, t('collab.link_report')));
  }
  // Issues 7 and 9: replay (点播), the lesson library (名校网络课堂), timetable notices.
  if (roles.some((r) => ['teacher', 'evaluator', 'admin'].includes(r))) {
    links.push(h('a', { class: 'btn btn-secondary', href: './playback.html', id: 'link-playback' }, t('playback.link')));
  }
  links.push(h('a', { class: 'btn btn-secondary', href: './library.html', id: 'link-library' }, t('library.title')));
  links.push(h('a', { class: 'btn btn-secondary', href: './notices.html', id: 'link-notices' }, t('notices.title')));
  const section = h('section', { class: 'stack', 'aria-labelledby': 'today-title' },
    h('div', { class: 'row' },
      h('h2', { id: 'today-title' }, t('home.today'), ' · ', fmtDate(new Date())),
      h('span', { class: 'muted' }, roles.map((r) => t(`role.${r}`)).join(' / '))),
    h('nav', { class: 'row', 'aria-label': t('home.shortcuts') }, links),
    h('p', { class: 'muted' }, t('home.loading')));
  clear(main).append(section);
  try {
    const [lessons] = await Promise.all([lessonsOfDay(new Date()), loadNames()]);
    section.lastChild.replaceWith(timetable(lessons, roles));
  } catch (e) {
    section.lastChild.replaceWith(h('div', { class: 'alert alert-error', role: 'alert' }, describeError(e)));
  }
}

async function render() {
  if (!tokens.access && !tokens.refresh) {
    me = null;
    renderHeader({ titleKey: 'page.home' });
    clear(main).append(loginForm());
    return;
  }
  try {
    me = await api.me();
  } catch (e) {
    if (e.status === 401) { api.logout(); return render(); }
    showError(e);
    return;
  }
  if (rolesOf(me).includes('classroom')) { location.href = './classroom.html'; return; }
  renderHeader({ titleKey: 'page.home', user: me });
  await home();
}

boot(render);
