import { describe, expect, it } from 'vitest';

import { applyPull, pullView, sortedPulls } from '../src/pulls';
import type { PullJob } from '../src/types';

function job(extra: Partial<PullJob> = {}): PullJob {
  return {
    id: 'j1', model: 'gemma2:2b', status: 'downloading', digest: null, total: 1_600_000_000, completed: 400_000_000,
    percent: 25.4, message: null, error: null, queuePosition: null, bytesPerSecond: 20_000_000, etaSeconds: 60,
    createdAt: '2026-12-02T10:00:00.000Z', startedAt: null, finishedAt: null, ...extra,
  };
}

describe('pull view', () => {
  it('a running pull: whole percent, bytes, speed, time left, cancellable', () => {
    expect(pullView(job())).toMatchObject({
      percent: 25, label: 'downloading 400.0 MB of 1.6 GB', speed: '20.0 MB/s', eta: '1 min 00 s left', active: true, cancellable: true, outcome: null,
    });
  });

  it('a queued pull says its place in line', () => {
    const v = pullView(job({ status: 'queued', total: 0, completed: 0, percent: 0, queuePosition: 2, bytesPerSecond: null, etaSeconds: null }));
    expect(v).toMatchObject({ percent: null, label: 'queued, 2nd in line', queue: '2nd in line', speed: '', eta: '' });
  });

  it('finished pulls say how they ended', () => {
    expect(pullView(job({ status: 'completed', percent: 100 }))).toMatchObject({ percent: 100, outcome: 'completed, 1.6 GB', cancellable: false });
    expect(pullView(job({ status: 'cancelled' })).outcome).toBe('cancelled');
    expect(pullView(job({ status: 'failed', error: 'disk full' })).outcome).toBe('failed: disk full');
  });

  it('ordinals', () => {
    expect(pullView(job({ status: 'queued', queuePosition: 1 })).queue).toBe('1st in line');
    expect(pullView(job({ status: 'queued', queuePosition: 3 })).queue).toBe('3rd in line');
    expect(pullView(job({ status: 'queued', queuePosition: 12 })).queue).toBe('12th in line');
  });
});

describe('applying pull events', () => {
  it('updates the bar of the same job', () => {
    const pulls = applyPull(new Map(), job());
    const next = applyPull(pulls, job({ completed: 800_000_000, percent: 50 }));
    expect(next.get('gemma2:2b')?.percent).toBe(50);
  });

  it('a late progress of a finished job does not bring the bar back', () => {
    const done = applyPull(new Map(), job({ status: 'cancelled' }));
    expect(applyPull(done, job())).toBe(done);
  });

  it('a newer job for the model replaces the old one, an older one does not', () => {
    const first = applyPull(new Map(), job({ status: 'cancelled' }));
    const resumed = applyPull(first, job({ id: 'j2', createdAt: '2026-12-02T10:05:00.000Z' }));
    expect(resumed.get('gemma2:2b')?.id).toBe('j2');
    expect(applyPull(resumed, job({ status: 'cancelled' }))).toBe(resumed);
  });

  it('sorts running pulls first', () => {
    let pulls = applyPull(new Map(), job({ model: 'a', status: 'completed' }));
    pulls = applyPull(pulls, job({ model: 'b' }));
    expect(sortedPulls(pulls).map((j) => j.model)).toEqual(['b', 'a']);
  });
});
