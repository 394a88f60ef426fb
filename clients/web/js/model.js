// Accessors over the REST schema (server/api/schemas.py), in one place so the
// pages stay readable and a renamed field is fixed here only.
import { api, items } from './api.js';
import { isoDay } from './ui.js';

export const TZ = Intl.DateTimeFormat().resolvedOptions().timeZone;

export function rolesOf(me) {
  if (!me) return [];
  if (Array.isArray(me.roles)) return me.roles;
  return me.role ? [me.role] : [];
}

// Names of teachers and classrooms, for lessons that carry only ids. Filled
// from the lists the caller may read (admins: all in scope); others see ids.
export const names = { users: new Map(), classrooms: new Map() };

export async function loadNames(auth = 'user') {
  const [users, rooms] = await Promise.allSettled([
    api.get('/api/users', { query: { limit: 500 }, auth }),
    api.get('/api/classrooms', { query: { limit: 500 }, auth }),
  ]);
  if (users.status === 'fulfilled') for (const u of items(users.value)) names.users.set(u.id, u.display_name);
  if (rooms.status === 'fulfilled') for (const c of items(rooms.value)) names.classrooms.set(c.id, c.name);
}

export const lesson = {
  start: (l) => new Date(l.starts_at),
  end: (l) => new Date(l.ends_at),
  title: (l) => l.title || `#${l.id}`,
  teacher: (l) => names.users.get(l.teacher_id) || (l.teacher_id != null ? `#${l.teacher_id}` : ''),
  mainClassroom: (l) => names.classrooms.get(l.main_classroom_id) || `#${l.main_classroom_id}`,
  receivers: (l) => (l.receiving_classroom_ids || []).map((id) => names.classrooms.get(id) || `#${id}`),
  receivingCount: (l) => (l.receiving_classroom_ids || []).length,
  state: (l) => l.state || 'scheduled',
};

/** Lessons of one local day (the API scopes them to the caller). */
export async function lessonsOfDay(day = new Date(), extra = {}, auth = 'user') {
  const page = await api.get('/api/lessons', { query: { day: isoDay(day), tz: TZ, limit: 500, ...extra }, auth });
  return items(page).sort((a, b) => lesson.start(a) - lesson.start(b));
}

export async function liveLessons(auth = 'user') {
  const page = await api.get('/api/lessons', { query: { state: 'live', limit: 500 }, auth });
  return items(page).filter((l) => lesson.state(l) === 'live');
}
