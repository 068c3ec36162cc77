// The Activity feed: one short line per event, worded like `modeldeck watch`
// (server/admin_output.py), never the raw payload.

import { bytes, clock } from './format';
import type { Json } from './types';

export interface ActivityLine {
  key: number;
  time: string;
  seq: number | null;
  event: string;
  text: string;
}

type Summary = (d: Json) => string;

function changedCount(d: Json): string {
  const changed = Array.isArray(d.changed) ? d.changed.length : 0;
  const deleted = Array.isArray(d.deleted) ? d.deleted.length : 0;
  const parts = [];
  if (changed > 1) parts.push(`${changed} changed`);
  if (deleted > 1) parts.push(`${deleted} removed`);
  return parts.length ? `; ${parts.join(', ')}` : '';
}

const SUMMARIES: Record<string, Summary> = {
  'providers:updated': (d) =>
    `${d.action} provider ${d.providerId ?? '–'} (${d.enabled} of ${d.total} enabled${changedCount(d)})`,
  'models:updated': (d) => `${d.action} model ${d.modelId ?? '–'} (${d.total} models${changedCount(d)})`,
  'credentials:updated': (d) => {
    const state = d.isValid ? 'valid' : d.isExpired ? 'expired' : 'none';
    return `${d.action} credentials of ${d.provider} (${state})`;
  },
  'proxy:status': (d) => {
    const providers = (d.providers ?? {}) as Json;
    const models = (d.models ?? {}) as Json;
    const text = `proxy ${d.status}: ${providers.enabled} of ${providers.total} providers enabled, ${models.total} models`;
    return d.message ? `${text}; ${d.message}` : text;
  },
  'ollama:updated': (d) => `${d.action} ${d.model} (${d.total} installed, ${bytes(d.totalSize as number)})`,
  'events:reset': (d) =>
    `the event log no longer reaches back that far (oldest ${d.oldestSeq}, current ${d.currentSeq}): state reloaded`,
  'pull:complete': (d) => `pulled ${d.model}`,
  'pull:error': (d) =>
    d.status === 'cancelled' ? `pull of ${d.model} cancelled` : `pull of ${d.model} failed: ${d.error ?? d.message}`,
};

let nextKey = 1;

export function activityLine(event: string, data: unknown, now: number = Date.now()): ActivityLine {
  const d = (typeof data === 'object' && data !== null ? data : {}) as Json;
  const summarize = SUMMARIES[event];
  let text: string;
  if (summarize) {
    text = summarize(d);
  } else {
    const raw = JSON.stringify(data ?? null);
    text = raw.length <= 200 ? raw : `${raw.slice(0, 199)}…`;
  }
  return {
    key: nextKey++,
    time: clock(typeof d.timestamp === 'string' ? d.timestamp : null, now),
    seq: Number.isInteger(d.seq) ? (d.seq as number) : null,
    event,
    text,
  };
}

/** Newest first, at most `limit` lines. */
export function pushActivity(lines: readonly ActivityLine[], line: ActivityLine, limit = 200): ActivityLine[] {
  const next = [line, ...lines];
  if (next.length > limit) next.length = limit;
  return next;
}

/** Events the feed shows (pull progress would drown everything else). */
export function isFeedEvent(event: string): boolean {
  return event in SUMMARIES;
}
