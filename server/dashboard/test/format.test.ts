import { describe, expect, it } from 'vitest';

import { activityLine, pushActivity } from '../src/activity';
import { buildConfig, fromText, SECTIONS, splitConfig } from '../src/config';
import { bytes, clock, duration, expiry, shortTokens, speed } from '../src/format';

describe('format', () => {
  it('sizes are decimal', () => {
    expect(bytes(4_661_224_676)).toBe('4.7 GB');
    expect(bytes(999)).toBe('999 bytes');
    expect(bytes(1)).toBe('1 byte');
    expect(bytes(1500)).toBe('1.5 kB');
    expect(bytes(null)).toBe('–');
    expect(speed(12_300_000)).toBe('12.3 MB/s');
    expect(speed(0)).toBe('–');
  });

  it('durations read naturally', () => {
    expect(duration(45.7)).toBe('45 s');
    expect(duration(125)).toBe('2 min 05 s');
    expect(duration(3720)).toBe('1 h 02 min');
    expect(duration(90_000)).toBe('1 d 1 h');
    expect(duration(null)).toBe('–');
  });

  it('context lengths are short', () => {
    expect(shortTokens(1_048_576)).toBe('1M');
    expect(shortTokens(131_072)).toBe('128K');
    expect(shortTokens(1000)).toBe('1,000');
    expect(shortTokens(null)).toBe('–');
  });

  it('times are UTC like the CLI', () => {
    expect(clock('2026-12-02T14:03:22.123Z')).toBe('14:03:22');
    expect(expiry(null)).toBe('no expiry');
    expect(expiry(10_000 + 125_000, 10_000)).toBe('in 2 min 05 s');
    expect(expiry(10_000, 70_000)).toBe('1 min 00 s ago');
  });
});

describe('activity lines', () => {
  it('word events like `modeldeck watch`', () => {
    const line = activityLine('models:updated', { action: 'created', modelId: 'gpt-4o', total: 12, seq: 42, timestamp: '2026-12-02T14:03:22.123Z' });
    expect(line).toMatchObject({ time: '14:03:22', seq: 42, event: 'models:updated', text: 'created model gpt-4o (12 models)' });
    expect(activityLine('providers:updated', { action: 'disabled', providerId: 'openai', total: 4, enabled: 3 }).text)
      .toBe('disabled provider openai (3 of 4 enabled)');
    expect(activityLine('proxy:status', { status: 'partial', providers: { total: 3, enabled: 2 }, models: { total: 7 }, message: 'router exited' }).text)
      .toBe('proxy partial: 2 of 3 providers enabled, 7 models; router exited');
    expect(activityLine('credentials:updated', { action: 'deleted', provider: 'qwen', isValid: false, isExpired: false }).text)
      .toBe('deleted credentials of qwen (none)');
    expect(activityLine('ollama:updated', { action: 'pulled', model: 'gemma2:2b', total: 2, totalSize: 6_000_000_000 }).text)
      .toBe('pulled gemma2:2b (2 installed, 6.0 GB)');
    expect(activityLine('pull:error', { model: 'x', status: 'cancelled' }).text).toBe('pull of x cancelled');
  });

  it('a delta that touched several objects says so', () => {
    const text = activityLine('models:updated', { action: 'deleted', modelId: null, total: 0, changed: [], deleted: ['a', 'b'] }).text;
    expect(text).toBe('deleted model – (0 models; 2 removed)');
  });

  it('unknown events are shortened JSON, never the whole payload', () => {
    const text = activityLine('something:new', { blob: 'x'.repeat(500) }).text;
    expect(text.length).toBe(200);
    expect(text.endsWith('…')).toBe(true);
  });

  it('the feed keeps the newest lines', () => {
    let lines = [] as ReturnType<typeof activityLine>[];
    for (let i = 0; i < 5; i += 1) lines = pushActivity(lines, activityLine('x', { seq: i }), 3);
    expect(lines.map((l) => l.seq)).toEqual([4, 3, 2]);
  });
});

describe('config sections', () => {
  it('turn stored values into form text and back', () => {
    const { texts, extra } = splitConfig('gpu', { nGpuLayers: -1, tensorSplit: [0.5, 0.5], custom: 'kept' });
    expect(texts).toMatchObject({ nGpuLayers: '-1', tensorSplit: '0.5, 0.5', flashAttn: '' });
    expect(extra).toEqual({ custom: 'kept' });
    expect(buildConfig('gpu', { ...texts, flashAttn: 'true' }, extra)).toEqual({
      custom: 'kept', nGpuLayers: -1, tensorSplit: [0.5, 0.5], flashAttn: true,
    });
  });

  it('send what does not parse as typed, so the server names the field', () => {
    const temperature = SECTIONS.sampling.find((f) => f.key === 'temperature')!;
    expect(fromText(temperature, 'hot')).toBe('hot');
    expect(fromText(temperature, ' 0.7 ')).toBe(0.7);
    expect(fromText(temperature, '')).toBeUndefined();
  });
});
