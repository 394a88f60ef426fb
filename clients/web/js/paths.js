// REST paths used by the pages (server/api, docs/api.md).
export const ADMIN_PATHS = {
  orgUnits: '/api/org-units',
  classrooms: '/api/classrooms',
  pairingCode: (id) => `/api/classrooms/${id}/pairing-code`,
  users: '/api/users',
  lessons: '/api/lessons',
  lesson: (id) => `/api/lessons/${id}`,
};

export const LESSON_PATHS = {
  lessons: '/api/lessons',
  lesson: (id) => `/api/lessons/${id}`,
  start: (id) => `/api/lessons/${id}/start`,
  end: (id) => `/api/lessons/${id}/end`,
  join: (id) => `/api/lessons/${id}/join`,
};
