// Pull jobs as progress bars: the view model of one pull, and how pull:* events and
// REST answers update the set the page shows.

import { bytes, duration, speed } from './format';
import type { PullJob, PullStatus } from './types';

export const ACTIVE: ReadonlySet<PullStatus> = new Set(['queued', 'downloading', 'verifying']);

export interface PullView {
  id: string;
  model: string;
  status: PullStatus;
  active: boolean;
  /** 0–100, whole numbers, for `aria-valuenow`; null while the size is unknown. */
  percent: number | null;
  /** What the bar says: `downloading — 1.2 GB of 4.7 GB`, `queued (2nd in line)` … */
  label: string;
  speed: string;
  eta: string;
  queue: string;
  /** For a finished pull: `completed`, `cancelled`, `failed: <why>`. */
  outcome: string | null;
  cancellable: boolean;
}

function ordinal(n: number): string {
  const teen = n % 100 >= 11 && n % 100 <= 13;
  const suffix = teen ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10] ?? 'th';
  return `${n}${suffix}`;
}

export function pullView(job: PullJob): PullView {
  const active = ACTIVE.has(job.status);
  const known = job.total > 0;
  let percent: number | null = known ? Math.floor(Math.min(100, Math.max(0, job.percent))) : null;
  if (job.status === 'completed') percent = 100;
  const queue = job.status === 'queued' && job.queuePosition ? `${ordinal(job.queuePosition)} in line` : '';
  let label: string;
  switch (job.status) {
    case 'queued':
      label = queue ? `queued, ${queue}` : 'queued';
      break;
    case 'downloading':
      label = known ? `downloading ${bytes(job.completed)} of ${bytes(job.total)}` : (job.message ?? 'starting');
      break;
    case 'verifying':
      label = job.message ?? 'verifying';
      break;
    case 'completed':
      label = known ? `completed, ${bytes(job.total)}` : 'completed';
      break;
    case 'cancelled':
      label = 'cancelled';
      break;
    default:
      label = `failed: ${job.error ?? job.message ?? 'unknown error'}`;
  }
  return {
    id: job.id,
    model: job.model,
    status: job.status,
    active,
    percent,
    label,
    speed: job.status === 'downloading' ? speed(job.bytesPerSecond) : '',
    eta: job.status === 'downloading' && job.etaSeconds !== null ? `${duration(job.etaSeconds)} left` : '',
    queue,
    outcome: active ? null : label,
    cancellable: active,
  };
}

/** The pulls the page shows, by model; a job replaces its model's older job, never a
 * newer one (a late progress of a finished job must not bring its bar back). */
export function applyPull(pulls: ReadonlyMap<string, PullJob>, job: PullJob): ReadonlyMap<string, PullJob> {
  const current = pulls.get(job.model);
  if (current && current.id !== job.id && current.createdAt > job.createdAt) return pulls;
  if (current && current.id === job.id && !ACTIVE.has(current.status) && ACTIVE.has(job.status)) return pulls;
  const next = new Map(pulls);
  next.set(job.model, job);
  return next;
}

export function isPullJob(value: unknown): value is PullJob {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.id === 'string' && typeof v.model === 'string' && typeof v.status === 'string';
}

/** Active pulls first (oldest first, as they run), then finished ones, newest first. */
export function sortedPulls(pulls: ReadonlyMap<string, PullJob>): PullJob[] {
  return [...pulls.values()].sort((a, b) => {
    const aa = ACTIVE.has(a.status);
    const ba = ACTIVE.has(b.status);
    if (aa !== ba) return aa ? -1 : 1;
    return aa ? a.createdAt.localeCompare(b.createdAt) : b.createdAt.localeCompare(a.createdAt);
  });
}
