// Per-model config sections (server/config_sections.py): which fields each section
// knows, and how the form's text becomes the JSON the server validates. A value that
// does not parse is sent as typed, so the server's 422 names the field.

export type FieldKind = 'float' | 'int' | 'bool' | 'text' | 'numbers' | 'json';

export interface ConfigField {
  key: string;
  label: string;
  kind: FieldKind;
  hint?: string;
}

export const SECTIONS: Record<string, ConfigField[]> = {
  sampling: [
    { key: 'temperature', label: 'Temperature', kind: 'float', hint: '0–2' },
    { key: 'topP', label: 'Top p', kind: 'float', hint: '0–1' },
    { key: 'topK', label: 'Top k', kind: 'int' },
    { key: 'minP', label: 'Min p', kind: 'float', hint: '0–1' },
    { key: 'repeatPenalty', label: 'Repeat penalty', kind: 'float' },
    { key: 'presencePenalty', label: 'Presence penalty', kind: 'float', hint: '−2–2' },
    { key: 'frequencyPenalty', label: 'Frequency penalty', kind: 'float', hint: '−2–2' },
    { key: 'seed', label: 'Seed', kind: 'int' },
    { key: 'maxTokens', label: 'Max tokens', kind: 'int' },
  ],
  memory: [
    { key: 'ctxSize', label: 'Context size', kind: 'int' },
    { key: 'batchSize', label: 'Batch size', kind: 'int' },
    { key: 'ubatchSize', label: 'Micro-batch size', kind: 'int' },
    { key: 'mlock', label: 'mlock', kind: 'bool' },
    { key: 'mmap', label: 'mmap', kind: 'bool' },
  ],
  gpu: [
    { key: 'nGpuLayers', label: 'GPU layers', kind: 'int', hint: '−1 = all' },
    { key: 'mainGpu', label: 'Main GPU', kind: 'int' },
    { key: 'tensorSplit', label: 'Tensor split', kind: 'numbers', hint: 'e.g. 0.5, 0.5' },
    { key: 'flashAttn', label: 'Flash attention', kind: 'bool' },
  ],
  advanced: [
    { key: 'threads', label: 'Threads', kind: 'int' },
    { key: 'ropeFreqBase', label: 'RoPE frequency base', kind: 'float' },
    { key: 'ropeFreqScale', label: 'RoPE frequency scale', kind: 'float' },
  ],
  lora: [
    { key: 'adapters', label: 'Adapters (JSON list)', kind: 'json' },
    { key: 'scale', label: 'Scale', kind: 'float' },
  ],
  multimodal: [
    { key: 'mmprojPath', label: 'Projector path', kind: 'text' },
    { key: 'imageMaxTokens', label: 'Image max tokens', kind: 'int' },
  ],
};

export const SECTION_NAMES = Object.keys(SECTIONS);

/** A stored value as the form shows it. */
export function toText(field: ConfigField, value: unknown): string {
  if (value === undefined || value === null) return '';
  if (field.kind === 'numbers' && Array.isArray(value)) return value.join(', ');
  if (field.kind === 'json') return JSON.stringify(value);
  return String(value);
}

/** The form's text as JSON for the server; empty means "not set" (undefined). */
export function fromText(field: ConfigField, text: string): unknown {
  const t = text.trim();
  if (t === '') return undefined;
  switch (field.kind) {
    case 'int':
    case 'float': {
      const n = Number(t);
      return Number.isFinite(n) ? n : t;
    }
    case 'bool':
      return t === 'true' ? true : t === 'false' ? false : t;
    case 'numbers':
      return t.split(/[,\s]+/).filter(Boolean).map((part) => {
        const n = Number(part);
        return Number.isFinite(n) ? n : part;
      });
    case 'json':
      try {
        return JSON.parse(t);
      } catch {
        return t;
      }
    default:
      return t;
  }
}

/** Splits a stored section into the known fields' texts and the other keys. */
export function splitConfig(section: string, config: Record<string, unknown>): { texts: Record<string, string>; extra: Record<string, unknown> } {
  const fields = SECTIONS[section] ?? [];
  const texts: Record<string, string> = {};
  const extra: Record<string, unknown> = { ...config };
  for (const field of fields) {
    texts[field.key] = toText(field, config[field.key]);
    delete extra[field.key];
  }
  return { texts, extra };
}

/** The section to PUT: other keys first, then every known field that has a value. */
export function buildConfig(section: string, texts: Record<string, string>, extra: Record<string, unknown>): Record<string, unknown> {
  const config: Record<string, unknown> = { ...extra };
  for (const field of SECTIONS[section] ?? []) {
    delete config[field.key];
    const value = fromText(field, texts[field.key] ?? '');
    if (value !== undefined) config[field.key] = value;
  }
  return config;
}
