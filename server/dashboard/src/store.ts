// The page's whole state in one place, and a hook that re-renders on change.
//
// Updates apply at once (so each event sees the state the previous one left), but
// listeners are told at most once per animation frame: 20 writes a second, each with a
// proxy:status, cost one render per frame, not forty.

import { useEffect, useReducer } from 'preact/hooks';

import type { ActivityLine } from './activity';
import { emptyRegistry, type RegistryState } from './state';
import type { CatalogEntry, OllamaModel, PullJob } from './types';

export type Connection = 'connecting' | 'live' | 'reconnecting' | 'offline' | 'unauthorized';

export interface OllamaStatus {
  available: boolean;
  version: string | null;
  url: string;
  error: string | null;
  pulls?: { workers: number; running: number; queued: number };
}

export interface AppState {
  registry: RegistryState;
  /** True once the first lists (greeting or REST) are in. */
  loaded: boolean;
  connection: Connection;
  connectionDetail: string;
  activity: ActivityLine[];
  pulls: ReadonlyMap<string, PullJob>;
  ollamaStatus: OllamaStatus | null;
  ollamaModels: OllamaModel[] | null;
  ollamaError: string | null;
  catalog: CatalogEntry[] | null;
  /** The server answered 401: the page asks for the token. */
  needToken: boolean;
  tokenMessage: string;
}

let state: AppState = {
  registry: emptyRegistry,
  loaded: false,
  connection: 'connecting',
  connectionDetail: '',
  activity: [],
  pulls: new Map(),
  ollamaStatus: null,
  ollamaModels: null,
  ollamaError: null,
  catalog: null,
  needToken: false,
  tokenMessage: '',
};

const listeners = new Set<() => void>();
let scheduled = false;

function schedule(callback: () => void): void {
  if (typeof requestAnimationFrame === 'function' && !document.hidden) requestAnimationFrame(callback);
  else setTimeout(callback, 16);
}

function notify(): void {
  scheduled = false;
  for (const listener of listeners) listener();
}

export function getState(): AppState {
  return state;
}

export function update(change: (s: AppState) => AppState): void {
  const next = change(state);
  if (next === state) return;
  state = next;
  if (!scheduled) {
    scheduled = true;
    schedule(notify);
  }
}

export function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The current state; the component re-renders (once per frame at most) on change. */
export function useAppState(): AppState {
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  useEffect(() => subscribe(() => rerender(1)), []);
  return state;
}
