// The shapes the server sends, as README.md and events/payloads.py describe them.

export type ModelType = 'chat' | 'image' | 'speech' | 'embedding';
export const MODEL_TYPES: readonly ModelType[] = ['chat', 'image', 'speech', 'embedding'];
export type ModelStatus = 'stopped' | 'starting' | 'running' | 'stopping' | 'error';

export interface Provider {
  id: string;
  name: string;
  sdkId: string;
  baseUrl: string | null;
  imageUrl: string | null;
  enabled: boolean;
  hasApiKey: boolean;
  apiKeyHint: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface Model {
  id: string;
  name: string;
  description: string;
  type: ModelType;
  providerId: string | null;
  sdkId: string | null;
  contextLength: number | null;
  enabled: boolean;
  isDefault: boolean;
  status: ModelStatus;
  ctxSize: number | null;
  batchSize: number | null;
  threads: number | null;
  modelPath: string | null;
  modelUrl: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface Credentials {
  provider: string;
  hasCredentials: boolean;
  isValid: boolean;
  isExpired: boolean;
  expiresAt: number | null;
  createdAt: string | null;
  updatedAt: string | null;
}

/** One supervised proxy process as `proxy:status` shows it (a top-level key per process). */
export interface ProcessBlock {
  running: boolean;
  port: number | null;
  pid: number | null;
  uptime: number;
  /** Restarts after crashes since the process was last started on request. */
  restarts: number;
}

export type ProxyState = 'running' | 'stopped' | 'partial' | 'starting';

export type PullStatus = 'queued' | 'downloading' | 'verifying' | 'completed' | 'failed' | 'cancelled';

export interface PullJob {
  id: string;
  model: string;
  status: PullStatus;
  digest: string | null;
  total: number;
  completed: number;
  percent: number;
  message: string | null;
  error: string | null;
  queuePosition: number | null;
  bytesPerSecond: number | null;
  etaSeconds: number | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface OllamaModel {
  name: string;
  model: string;
  tag?: string;
  size: number;
  digest: string;
  modifiedAt: string;
  details?: {
    family?: string;
    families?: string[];
    parameterSize?: string;
    quantizationLevel?: string;
    format?: string;
  };
}

export interface CatalogTag {
  tag: string;
  model: string;
  installed: boolean;
  recommended: boolean;
  vramGb: number | null;
}

export interface CatalogEntry {
  name: string;
  description: string;
  category: string;
  parameterSizes: string[];
  recommendedTag: string;
  tags: CatalogTag[];
  installed: boolean;
}

export interface VramTerm {
  bytes: number;
  gib: number;
}

export interface VramAt {
  context: number;
  weights: VramTerm;
  kvCache: VramTerm;
  computeGraph: VramTerm;
  overhead: VramTerm;
  total: VramTerm;
  gpuClass: string | null;
}

export interface VramEstimate {
  model: string;
  source: string;
  contextLength: number | null;
  atModelContext: VramAt | null;
  atRequestedContext: VramAt | null;
  estimatedVramGb: number | null;
  gpuClass: string | null;
  notes: string[];
}

/** A JSON object as received: fields are checked where they are read. */
export type Json = Record<string, unknown>;
