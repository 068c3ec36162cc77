import { describe, expect, it } from 'vitest';

import { applyEvent, applyListChange, emptyRegistry, modelCounts, modelsByType, type RegistryState } from '../src/state';
import type { Model, Provider } from '../src/types';

const NOW = 1_000_000;

function provider(id: string, extra: Partial<Provider> = {}): Provider {
  return {
    id, name: id.toUpperCase(), sdkId: id, baseUrl: null, imageUrl: null, enabled: true,
    hasApiKey: false, apiKeyHint: null, createdAt: 't', updatedAt: 't', ...extra,
  };
}

function model(id: string, extra: Partial<Model> = {}): Model {
  return {
    id, name: id, description: '', type: 'chat', providerId: 'p', sdkId: null, contextLength: null,
    enabled: true, isDefault: false, status: 'stopped', ctxSize: null, batchSize: null, threads: null,
    modelPath: null, modelUrl: null, createdAt: 't', updatedAt: 't', ...extra,
  };
}

function greeting(seq: number, providers: Provider[], models: Model[], extra: object = {}) {
  return {
    status: 'stopped', message: '', timestamp: 't', seq,
    providers: { items: providers, total: providers.length, enabled: providers.length },
    models: { items: models, total: models.length },
    credentials: { valid: false },
    providerRouter: { running: false, port: 3001, pid: null, uptime: 0 },
    ...extra,
  };
}

function ids(map: ReadonlyMap<string, unknown>): string[] {
  return [...map.keys()].sort();
}

describe('the greeting', () => {
  it('fills an empty page and sets the resume point', () => {
    const s = applyEvent(emptyRegistry, 'proxy:status', greeting(7, [provider('a')], [model('m1'), model('m2')]), NOW, { greeting: true });
    expect(ids(s.providers)).toEqual(['a']);
    expect(ids(s.models)).toEqual(['m1', 'm2']);
    expect(s.lastSeq).toBe(7);
    expect(s.proxy?.processes.map((p) => p.name)).toEqual(['providerRouter']);
  });

  it('replaces what the page had, even from a server whose seq went back (a new database)', () => {
    let s = applyEvent(emptyRegistry, 'proxy:status', greeting(50, [provider('a')], [model('old')]), NOW);
    s = applyEvent(s, 'proxy:status', greeting(3, [provider('b')], [model('new')]), NOW, { greeting: true });
    expect(ids(s.models)).toEqual(['new']);
    expect(s.lastSeq).toBe(3);
  });

  it('at the seq already applied still applies (it is at least as new)', () => {
    let s = applyEvent(emptyRegistry, 'proxy:status', greeting(5, [], [model('m1')]), NOW);
    s = applyEvent(s, 'proxy:status', greeting(5, [], [model('m1'), model('m2')]), NOW, { greeting: true });
    expect(ids(s.models)).toEqual(['m1', 'm2']);
  });
});

describe('delta events', () => {
  const start = applyEvent(emptyRegistry, 'proxy:status', greeting(10, [provider('p')], [model('a'), model('b'), model('c')]), NOW);

  it('upsert changed by id and remove deleted', () => {
    const s = applyEvent(start, 'models:updated', {
      action: 'updated', modelId: 'a', changed: [model('a', { name: 'renamed' }), model('d')], deleted: ['b'], total: 3, seq: 11,
    }, NOW);
    expect(ids(s.models)).toEqual(['a', 'c', 'd']);
    expect(s.models.get('a')?.name).toBe('renamed');
    expect(s.lastSeq).toBe(11);
  });

  it('set-default lists the new default and the previous one', () => {
    let s = applyEvent(start, 'models:updated', { action: 'default', modelId: 'a', changed: [model('a', { isDefault: true })], deleted: [], total: 3, seq: 11 }, NOW);
    s = applyEvent(s, 'models:updated', {
      action: 'default', modelId: 'b', changed: [model('b', { isDefault: true }), model('a', { isDefault: false })], deleted: [], total: 3, seq: 12,
    }, NOW);
    expect([...s.models.values()].filter((m) => m.isDefault).map((m) => m.id)).toEqual(['b']);
  });

  it('a cascading provider delete removes the provider and its models', () => {
    let s = applyEvent(start, 'models:updated', { action: 'deleted', modelId: null, changed: [], deleted: ['a', 'b', 'c'], total: 0, seq: 11 }, NOW);
    s = applyEvent(s, 'providers:updated', { action: 'deleted', providerId: 'p', changed: [], deleted: ['p'], total: 0, enabled: 0, seq: 12 }, NOW);
    expect(s.models.size).toBe(0);
    expect(s.providers.size).toBe(0);
  });

  it('a proxy:status without lists keeps the lists and updates the process', () => {
    const s = applyEvent(start, 'proxy:status', {
      status: 'running', message: 'up', seq: 11, timestamp: 't', providers: { total: 1, enabled: 1 }, models: { total: 3 },
      credentials: {}, providerRouter: { running: true, port: 3001, pid: 42, uptime: 1.5 },
    }, NOW);
    expect(s.models).toBe(start.models);
    expect(s.proxy?.status).toBe('running');
    expect(s.proxy?.processes[0]).toMatchObject({ name: 'providerRouter', pid: 42, running: true, uptime: 1.5 });
  });

  it('an event the state already holds is skipped (a replay overlapping the greeting)', () => {
    const s = applyEvent(start, 'models:updated', { action: 'deleted', modelId: 'a', changed: [], deleted: ['a'], total: 2, seq: 9 }, NOW);
    expect(s).toBe(start);
  });
});

describe('full-format events (the server today)', () => {
  it('items replace the list', () => {
    const start = applyEvent(emptyRegistry, 'proxy:status', greeting(1, [], [model('a'), model('b')]), NOW);
    const s = applyEvent(start, 'models:updated', { action: 'deleted', modelId: 'a', items: [model('b')], total: 1, seq: 2 }, NOW);
    expect(ids(s.models)).toEqual(['b']);
  });

  it('every proxy:status lists the registry and replaces it', () => {
    const start = applyEvent(emptyRegistry, 'proxy:status', greeting(1, [provider('p')], [model('a')]), NOW);
    const s = applyEvent(start, 'proxy:status', greeting(2, [provider('p'), provider('q')], [model('a')]), NOW);
    expect(ids(s.providers)).toEqual(['p', 'q']);
    expect(s.lastSeq).toBe(2);
  });

  it('an older proxy:status does not move the page back', () => {
    const start = applyEvent(emptyRegistry, 'proxy:status', greeting(5, [provider('p')], [model('a')]), NOW);
    const s = applyEvent(start, 'proxy:status', greeting(4, [], []), NOW);
    expect(s).toBe(start);
  });
});

describe('seq tracking', () => {
  it('follows every event and events:reset', () => {
    let s: RegistryState = emptyRegistry;
    s = applyEvent(s, 'credentials:updated', { action: 'updated', provider: 'qwen', hasCredentials: true, isValid: true, isExpired: false, expiresAt: null, seq: 4 }, NOW);
    expect(s.lastSeq).toBe(4);
    expect(s.credentials.get('qwen')?.isValid).toBe(true);
    s = applyEvent(s, 'ollama:updated', { action: 'pulled', model: 'x', models: [], total: 0, totalSize: 0, seq: 6 }, NOW);
    expect(s.lastSeq).toBe(6);
    s = applyEvent(s, 'events:reset', { oldestSeq: 100, currentSeq: 200 }, NOW);
    expect(s.lastSeq).toBe(200);
  });
});

describe('proxy processes', () => {
  const block = (pid: number | null, running: boolean, status = 'running') => ({
    status, message: '', seq: null, providers: {}, models: {}, credentials: {}, router: { running, port: 1, pid, uptime: 0 },
  });

  it('shows the restart count the server reports, whatever the page saw before', () => {
    const counted = (restarts: number) => ({ ...block(11, true), router: { running: true, port: 1, pid: 11, uptime: 0, restarts } });
    let s = applyEvent(emptyRegistry, 'proxy:status', counted(2), NOW);
    expect(s.proxy?.processes[0].restarts).toBe(2);
    s = applyEvent(s, 'proxy:status', counted(0), NOW);
    expect(s.proxy?.processes[0].restarts).toBe(0);
  });
});

describe('helpers', () => {
  it('applyListChange keeps the map when nothing changed', () => {
    const map = new Map([['a', model('a')]]);
    expect(applyListChange(map, { changed: [], deleted: [] })).toBe(map);
  });

  it('counts models per provider and groups them by type, default first', () => {
    const models = new Map([
      ['z', model('z', { providerId: 'p' })],
      ['y', model('y', { providerId: 'p', isDefault: true })],
      ['i', model('i', { providerId: 'q', type: 'image' })],
    ]);
    expect(Object.fromEntries(modelCounts(models))).toEqual({ p: 2, q: 1 });
    const groups = modelsByType(models);
    expect(groups.get('chat')?.map((m) => m.id)).toEqual(['y', 'z']);
    expect(groups.get('image')?.map((m) => m.id)).toEqual(['i']);
  });
});

describe('identity', () => {
  it('a full list keeps the objects that did not change, so their rows are not redrawn', () => {
    const start = applyEvent(emptyRegistry, 'proxy:status', greeting(1, [], [model('a'), model('b')]), NOW);
    const s = applyEvent(start, 'models:updated', { action: 'updated', modelId: 'b', items: [model('a'), model('b', { name: 'B' })], total: 2, seq: 2 }, NOW);
    expect(s.models.get('a')).toBe(start.models.get('a'));
    expect(s.models.get('b')).not.toBe(start.models.get('b'));
    expect(s.models.get('b')?.name).toBe('B');
  });
});
