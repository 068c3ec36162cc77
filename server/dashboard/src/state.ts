// The registry as the page knows it, and how each event changes it.
//
// Works with both event formats the server speaks: "full" (every providers:updated /
// models:updated carries `items`, the whole list, and so does every proxy:status) and
// "delta" (`changed` objects to upsert by id and `deleted` ids to remove; proxy:status
// broadcasts carry no lists; the greeting proxy:status at connect carries them all).
// Every function here is pure: it returns a new state and leaves the old one alone, so
// views can compare by reference and skip what did not change.

import type { Credentials, Json, Model, ProcessBlock, Provider, ProxyState } from './types';

export interface ProcessView extends ProcessBlock {
  name: string;
  /** When this block was received (ms since the epoch): uptime grows from there. */
  seenAt: number;
}

export interface ProxyView {
  status: ProxyState;
  message: string;
  processes: ProcessView[];
  timestamp: string | null;
}

export interface RegistryState {
  providers: ReadonlyMap<string, Provider>;
  models: ReadonlyMap<string, Model>;
  credentials: ReadonlyMap<string, Credentials>;
  proxy: ProxyView | null;
  /** The highest `seq` applied; events at or below it are already in the state. */
  lastSeq: number | null;
}

export const emptyRegistry: RegistryState = {
  providers: new Map(),
  models: new Map(),
  credentials: new Map(),
  proxy: null,
  lastSeq: null,
};

/** The keys of `proxy:status` that are not process blocks. */
const PROXY_FIELDS = new Set([
  'status', 'providers', 'models', 'credentials', 'message', 'seq', 'timestamp',
]);

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function seqOf(data: unknown): number | null {
  return isObject(data) && Number.isInteger(data.seq) ? (data.seq as number) : null;
}

/** Same keys, same primitive values: rows are flat records. */
function sameRecord(a: object, b: object): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const key of ka) {
    if ((a as Json)[key] !== (b as Json)[key]) return false;
  }
  return true;
}

/** A list by id. An object equal to the one the page holds keeps the old identity, so a
 * full-format event (the whole list, parsed afresh) re-renders only the rows that changed. */
function byId<T extends { id: string }>(items: readonly T[], current?: ReadonlyMap<string, T>): Map<string, T> {
  const next = new Map<string, T>();
  for (const item of items) {
    const before = current?.get(item.id);
    next.set(item.id, before !== undefined && sameRecord(before, item) ? before : item);
  }
  return next;
}

/** `items` replaces the list; otherwise `changed` is upserted and `deleted` removed. */
export function applyListChange<T extends { id: string }>(
  current: ReadonlyMap<string, T>,
  data: Json,
): ReadonlyMap<string, T> {
  if (Array.isArray(data.items)) return byId(data.items as T[], current);
  const changed = Array.isArray(data.changed) ? (data.changed as T[]) : [];
  const deleted = Array.isArray(data.deleted) ? (data.deleted as string[]) : [];
  if (changed.length === 0 && deleted.length === 0) return current;
  const next = new Map(current);
  for (const id of deleted) next.delete(id);
  for (const item of changed) next.set(item.id, item);
  return next;
}

function withSeq(state: RegistryState, seq: number | null): RegistryState {
  if (seq === null || (state.lastSeq !== null && seq <= state.lastSeq)) return state;
  return { ...state, lastSeq: seq };
}

/** An event at or below the applied seq is already reflected: applying it again
 * (a full list, say) could only move the page back in time. */
function isStale(state: RegistryState, data: unknown): boolean {
  const seq = seqOf(data);
  return seq !== null && state.lastSeq !== null && seq <= state.lastSeq;
}

export function proxyFrom(data: Json, now: number): ProxyView {
  const processes: ProcessView[] = [];
  for (const [name, value] of Object.entries(data)) {
    if (PROXY_FIELDS.has(name) || !isObject(value) || typeof value.running !== 'boolean') continue;
    const block = value as unknown as ProcessBlock;
    processes.push({
      name,
      running: block.running,
      port: block.port ?? null,
      pid: block.pid ?? null,
      uptime: typeof block.uptime === 'number' ? block.uptime : 0,
      seenAt: now,
      restarts: typeof block.restarts === 'number' ? block.restarts : 0,
    });
  }
  processes.sort((a, b) => a.name.localeCompare(b.name));
  return {
    status: (data.status as ProxyState) ?? 'stopped',
    message: typeof data.message === 'string' ? data.message : '',
    processes,
    timestamp: typeof data.timestamp === 'string' ? data.timestamp : null,
  };
}

function credentialsFrom(data: Json): Credentials {
  return {
    provider: String(data.provider),
    hasCredentials: Boolean(data.hasCredentials),
    isValid: Boolean(data.isValid),
    isExpired: Boolean(data.isExpired),
    expiresAt: typeof data.expiresAt === 'number' ? data.expiresAt : null,
    createdAt: typeof data.createdAt === 'string' ? data.createdAt : null,
    updatedAt: typeof data.updatedAt === 'string' ? data.updatedAt : null,
  };
}

export interface ApplyOptions {
  /** This proxy:status may be the greeting of a new connection: its lists are the
   * server's whole state even when its seq is below the page's (a new database). */
  greeting?: boolean;
}

/** One live or replayed event. Events the registry state does not hold return it as is. */
export function applyEvent(
  state: RegistryState, name: string, data: unknown, now: number, options: ApplyOptions = {},
): RegistryState {
  if (!isObject(data)) return state;
  const seq = seqOf(data);
  if (name === 'events:reset') {
    const current = Number.isInteger(data.currentSeq) ? (data.currentSeq as number) : null;
    return { ...state, lastSeq: current };
  }
  if (name === 'proxy:status') {
    // A proxy:status at the applied seq is a snapshot at least that new (the greeting
    // carries the seq of the last broadcast): apply it. Older ones are history.
    const behind = seq !== null && state.lastSeq !== null && seq < state.lastSeq;
    if (behind && !options.greeting) return state;
    let next: RegistryState = { ...state, proxy: proxyFrom(data, now) };
    // The greeting (both formats) and every full-format broadcast list the registry.
    if (isObject(data.providers) && Array.isArray(data.providers.items)) {
      next = { ...next, providers: byId(data.providers.items as Provider[], state.providers) };
    }
    if (isObject(data.models) && Array.isArray(data.models.items)) {
      next = { ...next, models: byId(data.models.items as Model[], state.models) };
    }
    return behind ? { ...next, lastSeq: seq } : withSeq(next, seq);
  }
  if (isStale(state, data)) return state;
  switch (name) {
    case 'providers:updated':
      return withSeq({ ...state, providers: applyListChange(state.providers, data) }, seq);
    case 'models:updated':
      return withSeq({ ...state, models: applyListChange(state.models, data) }, seq);
    case 'credentials:updated': {
      const credentials = new Map(state.credentials);
      const record = credentialsFrom(data);
      credentials.set(record.provider, record);
      return withSeq({ ...state, credentials }, seq);
    }
    default:
      return withSeq(state, seq);
  }
}

/** Lists read over REST (first load, or after `events:reset`). */
export function withLists(state: RegistryState, providers: Provider[], models: Model[]): RegistryState {
  return { ...state, providers: byId(providers, state.providers), models: byId(models, state.models) };
}

export function withCredentials(state: RegistryState, records: Credentials[]): RegistryState {
  const credentials = new Map(state.credentials);
  for (const record of records) credentials.set(record.provider, record);
  return { ...state, credentials };
}

/** Models per provider id, for the providers table. */
export function modelCounts(models: ReadonlyMap<string, Model>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const model of models.values()) {
    if (model.providerId) counts.set(model.providerId, (counts.get(model.providerId) ?? 0) + 1);
  }
  return counts;
}

/** Models grouped by type in a stable order: default first, then by name. */
export function modelsByType(models: ReadonlyMap<string, Model>): Map<string, Model[]> {
  const groups = new Map<string, Model[]>();
  for (const model of models.values()) {
    const group = groups.get(model.type);
    if (group) group.push(model);
    else groups.set(model.type, [model]);
  }
  for (const group of groups.values()) {
    group.sort((a, b) => Number(b.isDefault) - Number(a.isDefault) || a.name.localeCompare(b.name));
  }
  return groups;
}
