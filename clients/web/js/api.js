// REST client: JSON in and out, bearer tokens, one refresh-and-retry on an
// expired access token, and a typed ApiError built from the common error body
// {"error": {"code", "message", "details"}}.
const KEYS = { access: 'tongbu.access', refresh: 'tongbu.refresh', device: 'tongbu.device' };

export const PATHS = {
  login: '/api/auth/login',
  refresh: '/api/auth/refresh',
  me: '/api/me',
  pair: '/api/devices/pair',
};

export class ApiError extends Error {
  constructor(status, code, message, details = null) {
    super(message || code);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export const tokens = {
  get access() { return localStorage.getItem(KEYS.access); },
  get refresh() { return localStorage.getItem(KEYS.refresh); },
  get device() { return localStorage.getItem(KEYS.device); },
  setUser(access, refresh) {
    localStorage.setItem(KEYS.access, access);
    if (refresh) localStorage.setItem(KEYS.refresh, refresh);
  },
  setDevice(token) { localStorage.setItem(KEYS.device, token); },
  clearUser() { localStorage.removeItem(KEYS.access); localStorage.removeItem(KEYS.refresh); },
  clearDevice() { localStorage.removeItem(KEYS.device); },
};

function queryString(query) {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    params.set(k, String(v));
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

async function parseError(res) {
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  const err = body && body.error;
  if (err && err.code) return new ApiError(res.status, err.code, err.message, err.details);
  return new ApiError(res.status, `http_${res.status}`, res.statusText);
}

let refreshing = null;

async function refreshAccess() {
  const refresh = tokens.refresh;
  if (!refresh) return false;
  if (!refreshing) {
    refreshing = (async () => {
      try {
        const res = await fetch(PATHS.refresh, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ refresh_token: refresh }),
        });
        if (!res.ok) { tokens.clearUser(); return false; }
        const data = await res.json();
        tokens.setUser(data.access_token, data.refresh_token || refresh);
        return true;
      } catch {
        return false;
      } finally {
        setTimeout(() => { refreshing = null; }, 0);
      }
    })();
  }
  return refreshing;
}

/**
 * request('GET', '/api/lessons', {query: {day: '2025-01-01'}})
 * `auth`: 'user' (default; access token, refreshed once), 'device' or 'none'.
 */
export async function request(method, path, { body, query, auth = 'user', retry = true } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const token = auth === 'device' ? tokens.device : auth === 'user' ? tokens.access : null;
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path + queryString(query), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'network_error', String(e && e.message || e));
  }
  if (res.status === 401 && auth === 'user' && retry && tokens.refresh) {
    if (await refreshAccess()) return request(method, path, { body, query, auth, retry: false });
  }
  if (!res.ok) throw await parseError(res);
  if (res.status === 204) return null;
  const type = res.headers.get('Content-Type') || '';
  return type.includes('json') ? res.json() : res.text();
}

export const api = {
  get: (path, opts) => request('GET', path, opts),
  post: (path, body, opts = {}) => request('POST', path, { ...opts, body }),
  patch: (path, body, opts = {}) => request('PATCH', path, { ...opts, body }),
  put: (path, body, opts = {}) => request('PUT', path, { ...opts, body }),
  del: (path, opts) => request('DELETE', path, opts),

  async login(login, password) {
    const data = await request('POST', PATHS.login, { body: { login, password }, auth: 'none' });
    tokens.setUser(data.access_token, data.refresh_token);
    return data;
  },
  logout() { tokens.clearUser(); },
  me() { return request('GET', PATHS.me); },

  async pair(code) {
    const data = await request('POST', PATHS.pair, { body: { code }, auth: 'none' });
    tokens.setDevice(data.device_token);
    return data;
  },
};

/** Items of a `{items, total}` page, or the array itself. */
export function items(page) {
  if (Array.isArray(page)) return page;
  return (page && page.items) || [];
}
