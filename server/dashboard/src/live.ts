// The Socket.IO connection: greeting, live events, resume after any reconnect.
//
// The handshake asks for the delta format and resumes from the last seq applied; a
// server that does not know the format yet ignores the key and sends full lists,
// which the reducer takes as well. socket.io-client calls `auth` again on every
// reconnect, so a Wi-Fi blink or a server restart resumes where the page was.

import { io, type Socket } from 'socket.io-client';

import { activityLine, isFeedEvent, pushActivity } from './activity';
import { api, currentToken } from './api';
import { applyPull, isPullJob, ACTIVE } from './pulls';
import { applyEvent, withLists } from './state';
import { getState, update, type Connection } from './store';
import type { CatalogEntry, Json, Model, OllamaModel, Provider, PullJob } from './types';

let socket: Socket | null = null;
let greetingPending = false;
let failures = 0;
let retryTimer: ReturnType<typeof setTimeout> | null = null;
const subscribedPulls = new Set<string>();

function setConnection(connection: Connection, detail = ''): void {
  update((s) => (s.connection === connection && s.connectionDetail === detail ? s : { ...s, connection, connectionDetail: detail }));
}

/** Lists over REST: the first load without a socket yet, and after `events:reset`. */
export async function refetchLists(): Promise<void> {
  const [providers, models] = await Promise.all([
    api.get<Provider[]>('/api/providers'),
    api.get<Model[]>('/api/models'),
  ]);
  update((s) => ({ ...s, loaded: true, registry: withLists(s.registry, providers, models) }));
}

function onEvent(name: string, data: unknown): void {
  const now = Date.now();
  if (name.startsWith('pull:')) {
    onPullEvent(name, data);
    return;
  }
  const greeting = name === 'proxy:status' && greetingPending;
  if (name === 'proxy:status') greetingPending = false;
  update((s) => {
    const registry = applyEvent(s.registry, name, data, now, { greeting });
    let next = registry === s.registry ? s : { ...s, registry };
    if (greeting && !next.loaded) next = { ...next, loaded: true };
    // Replayed or live, every event that changed something gets its line; a
    // proxy:status only when the proxy's state or message changed (every registry write
    // is followed by one, which would double the feed).
    const proxyNews = name !== 'proxy:status' || proxyLine(data);
    if (isFeedEvent(name) && proxyNews && (registry !== s.registry || name === 'events:reset' || name === 'ollama:updated')) {
      next = { ...next, activity: pushActivity(next.activity, activityLine(name, data, now)) };
    }
    if (name === 'ollama:updated' && typeof data === 'object' && data !== null) {
      const models = (data as Json).models;
      if (Array.isArray(models)) next = { ...next, ollamaModels: models as OllamaModel[] };
    }
    return next;
  });
  if (name === 'events:reset') {
    refetchLists().catch(() => {});
  }
  if (name === 'ollama:updated') {
    // The catalog's "installed" marks changed too.
    api.get<CatalogEntry[]>('/api/ollama/catalog').then(
      (catalog) => update((s) => ({ ...s, catalog })),
      () => {},
    );
  }
}

let lastProxyLine = '';

function proxyLine(data: unknown): boolean {
  const d = (data ?? {}) as Json;
  const line = `${d.status}|${d.message}`;
  if (line === lastProxyLine) return false;
  lastProxyLine = line;
  return true;
}

function onPullEvent(name: string, data: unknown): void {
  if (!isPullJob(data)) return;
  update((s) => {
    const pulls = applyPull(s.pulls, data);
    let next = pulls === s.pulls ? s : { ...s, pulls };
    if (name === 'pull:complete' || name === 'pull:error') {
      next = { ...next, activity: pushActivity(next.activity, activityLine(name, data)) };
    }
    return next;
  });
  if (name === 'pull:complete' || name === 'pull:error') subscribedPulls.delete(data.model);
}

/** Watch one model's pull: the ack is its current job, then progress follows. */
export function watchPull(model: string): void {
  if (!socket?.connected) return;
  subscribedPulls.add(model);
  socket.timeout(10_000).emit('pull:subscribe', { model }, (err: Error | null, job: unknown) => {
    if (!err && isPullJob(job)) update((s) => ({ ...s, pulls: applyPull(s.pulls, job) }));
  });
}

/** Start a pull over the socket (which also subscribes); resolves with the job or throws the server's message. */
export function startPull(model: string): Promise<PullJob> {
  return new Promise((resolve, reject) => {
    if (!socket?.connected) {
      reject(new Error('Not connected to the server'));
      return;
    }
    socket.timeout(15_000).emit('pull:start', { model }, (err: Error | null, ack: unknown) => {
      if (err) reject(new Error('The server did not answer within 15 s'));
      else if (isPullJob(ack)) {
        subscribedPulls.add(ack.model);
        update((s) => ({ ...s, pulls: applyPull(s.pulls, ack) }));
        resolve(ack);
      } else {
        const message = (ack as { error?: { message?: string } })?.error?.message ?? 'The pull could not start';
        reject(new Error(message));
      }
    });
  });
}

/** Pulls running on the server (started here, in another tab or by the CLI): show and follow each. */
export async function syncPulls(): Promise<void> {
  const answer = await api.get<{ jobs: PullJob[] }>('/api/ollama/pulls?limit=50');
  update((s) => {
    let pulls = s.pulls;
    for (const job of answer.jobs) {
      if (ACTIVE.has(job.status) || s.pulls.has(job.model)) pulls = applyPull(pulls, job);
    }
    return pulls === s.pulls ? s : { ...s, pulls };
  });
  for (const job of answer.jobs) {
    if (ACTIVE.has(job.status) && !subscribedPulls.has(job.model)) watchPull(job.model);
  }
}

function scheduleRetry(delay: number): void {
  if (retryTimer !== null) return;
  retryTimer = setTimeout(() => {
    retryTimer = null;
    if (socket && !socket.connected && !socket.active) socket.connect();
  }, delay);
}

export function connect(): void {
  if (socket) {
    socket.removeAllListeners();
    socket.disconnect();
  }
  greetingPending = false;
  const s = io({
    // Called on every (re)connect: the token, and where to resume from.
    auth: (cb) => {
      greetingPending = true;
      const auth: Record<string, unknown> = { format: 'delta' };
      const token = currentToken();
      if (token) auth.token = token;
      const lastSeq = getState().registry.lastSeq;
      if (lastSeq !== null) auth.lastSeq = lastSeq;
      cb(auth);
    },
    reconnectionDelayMax: 2000,
    // WebSocket straight away, long-polling only if it fails: no upgrade from polling,
    // so a refused connect (wrong token) never closes the engine mid-upgrade, when its
    // last long-poll would reach a closed session and fail with a 400.
    transports: ['websocket', 'polling'],
    tryAllTransports: true,
    // A Manager of its own: the one socket.io caches per URL may be closing with the
    // socket this one replaces (after a token was entered), and then never connects.
    forceNew: true,
  });
  socket = s;
  setConnection('connecting');

  s.on('connect', () => {
    failures = 0;
    setConnection('live');
    // Pulls the page was following: the ack brings each bar up to date.
    for (const model of subscribedPulls) watchPull(model);
    syncPulls().catch(() => {});
  });
  s.on('disconnect', (reason) => {
    setConnection('reconnecting', reason);
    // A server that closes the socket (a restart) is not retried by socket.io itself.
    if (reason === 'io server disconnect') scheduleRetry(500);
  });
  s.on('connect_error', (err) => {
    failures += 1;
    const message = err?.message ?? String(err);
    if (message.startsWith('unauthorized')) {
      setConnection('unauthorized', message);
      update((st) => ({ ...st, needToken: true, tokenMessage: currentToken() ? 'The token was refused.' : '' }));
      return; // refused by the server: no retry until a token is given
    }
    setConnection(failures >= 3 || !navigator.onLine ? 'offline' : 'reconnecting', message);
    if (!s.active) scheduleRetry(2000);
  });
  s.onAny(onEvent);
}

/** Reconnect now (after a token was entered). */
export function reconnect(): void {
  connect();
}

export function isConnected(): boolean {
  return socket?.connected ?? false;
}

if (typeof window !== 'undefined') {
  window.addEventListener('offline', () => setConnection('offline', 'the browser is offline'));
  window.addEventListener('online', () => {
    if (socket && !socket.connected) socket.connect();
  });
}
