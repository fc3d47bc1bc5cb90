// Type declarations of cachekit for Node.js (written for users; the addon's
// own surface is private).

/** Circuit breaker of a namespace (only transient Redis errors count). */
export interface BreakerOptions {
  enabled?: boolean;
  failureThreshold?: number;
  successThreshold?: number;
  /** Seconds in OPEN before a trial. */
  recoveryTimeout?: number;
  halfOpenRequests?: number;
}

/** Adaptive timeout of Redis calls: a multiple of the recent P95. */
export interface TimeoutOptions {
  enabled?: boolean;
  /** Seconds. */
  minTimeout?: number;
  /** Seconds. */
  maxTimeout?: number;
  windowSize?: number;
  percentileMultiplier?: number;
}

export interface BackpressureOptions {
  enabled?: boolean;
  /** Redis operations in flight per namespace; beyond it Redis is skipped, never queued. */
  maxConcurrentRequests?: number;
}

export interface EncryptionOptions {
  /** 64 hex digits; defaults to CACHEKIT_MASTER_KEY. */
  masterKey?: string;
  /** Older master keys that still decrypt during a rotation (at most three). */
  decryptOnlyKeys?: string[];
  tenantId?: string;
  /** Keep decrypted values in L1 (default: ciphertext, decrypted per hit). */
  l1Plaintext?: boolean;
}

/** Options of one cached function (its namespace's options in the core). */
export interface CacheOptions {
  /** Default: the defining file, relative to the working directory. */
  namespace?: string;
  /** Default: the function's name (an anonymous function needs one). */
  operation?: string;
  /** The client to use; default: one per process from CACHEKIT_* variables. */
  client?: Client;
  /** Seconds; default: the client's defaultTtl (3600). */
  ttl?: number;
  /** "envelope" (default: LZ4 + checksum) or "interop" (plain MessagePack of the protocol). */
  format?: 'envelope' | 'interop';
  /** Shorthand for format: "interop". */
  interop?: boolean;
  /** The in-process L1: on/off, or its byte budget in MiB. */
  l1?: boolean | { enabled?: boolean; maxSizeMb?: number };
  l1MaxSizeMb?: number;
  /** AES-256-GCM of values: true (with masterKey or CACHEKIT_MASTER_KEY) or its settings. */
  encryption?: boolean | EncryptionOptions;
  masterKey?: string;
  decryptOnlyKeys?: string[];
  tenantId?: string;
  l1Plaintext?: boolean;
  /** Reject with a BACKEND error when Redis fails, instead of failing open. */
  failClosed?: boolean;
  circuitBreaker?: boolean | BreakerOptions;
  /** Alias of circuitBreaker. */
  breaker?: boolean | BreakerOptions;
  adaptiveTimeout?: boolean | TimeoutOptions;
  /** Alias of adaptiveTimeout. */
  timeout?: boolean | TimeoutOptions;
  backpressure?: boolean | BackpressureOptions;
  maxConcurrentRequests?: number;
  /** How long a caller waits for another caller's fill before computing itself. */
  fillWaitMs?: number;
  distributedLock?: boolean;
  lockTtlMs?: number;
  lockRenewal?: boolean;
  readLockCombined?: boolean | 'auto';
  refreshTtlOnGet?: boolean;
  ttlRefreshThreshold?: number;
  pipelined?: boolean;
  /** Probabilistic early refresh (XFetch) with this beta. */
  earlyRefreshBeta?: number;
  /** Seconds a value is served past its TTL while one caller refreshes it. */
  staleWhileRevalidate?: number;
  maxBackgroundRefreshes?: number;
  /** Cache null results for this many seconds (otherwise they are not cached). */
  negativeTtl?: number;
  /** Bound (ms) on how long another process's L1 may serve a deleted entry. */
  l1SyncMs?: number;
  collectStats?: boolean;
  structuredLogging?: boolean;
}

/** Client-wide settings; each overrides its CACHEKIT_* variable. */
export interface ClientSettings {
  /** redis://, rediss:// (TLS), user:password@ (ACL); null: L1 only. */
  redisUrl?: string | null;
  connectionPoolSize?: number;
  /** Seconds. */
  socketTimeout?: number;
  /** Seconds. */
  socketConnectTimeout?: number;
  /** Seconds. */
  defaultTtl?: number;
  enableCompression?: boolean;
  compressionLevel?: number;
  maxChunkSizeMb?: number;
  l1Enabled?: boolean;
  l1MaxSizeMb?: number;
  enablePrometheusMetrics?: boolean;
  masterKey?: string | null;
  keyPrefix?: string;
  tenantId?: string | null;
  tlsCaCert?: string | null;
}

/** Health of a namespace, in the shape of the API reference. */
export interface HealthStatus {
  namespace: string;
  features_enabled: Record<string, boolean>;
  circuit_breaker: { state: 'CLOSED' | 'OPEN' | 'HALF_OPEN'; [k: string]: unknown };
  backpressure: Record<string, unknown>;
  adaptive_timeout: Record<string, unknown>;
  backend: string;
  stats: Record<string, number>;
  [k: string]: unknown;
}

export interface HealthCheck {
  decorator: HealthStatus;
  system: {
    status: 'healthy' | 'unhealthy';
    backend: string;
    redis_connection: 'active' | 'failed' | 'none';
    ping_latency_seconds: number | null;
    error: string | null;
    connection_pool: Record<string, number>;
  };
}

/** The function `cache` returns: same arguments, always async. */
export interface CachedFunction<A extends unknown[], R> {
  (...args: A): Promise<Awaited<R>>;
  readonly namespace: string;
  readonly operation: string;
  /** Delete the entry of these arguments (L1, Redis, other processes' L1); resolves with whether it existed. */
  invalidate(...args: A): Promise<boolean>;
  /** Delete every entry of this function; resolves with the number of Redis keys deleted. */
  clear(): Promise<number>;
  /** The Redis key of these arguments. */
  key(...args: A): string;
  /** Health of the namespace, without I/O. */
  healthStatus(): HealthStatus;
  /** healthStatus plus an active PING of Redis. */
  checkHealth(): Promise<HealthCheck>;
}

/**
 * Memoise `fn`. A hit is answered from the in-process L1 or Redis; a miss
 * runs `fn` once however many callers ask at the same time (in this
 * process and across processes), stores its result and returns it. A
 * rejection is passed on and never cached. Redis failures are never the
 * caller's problem (unless failClosed).
 *
 * Arguments and results are MessagePack: plain data (numbers, strings,
 * booleans, null, arrays, plain objects, Buffers, BigInt within 64 bits,
 * Date, Set, Map). A hit returns the stored form: a Set comes back as an
 * array, a Date as a Date (millisecond precision).
 */
export function cache<A extends unknown[], R>(fn: (...args: A) => Promise<R> | R, opts?: CacheOptions): CachedFunction<A, R>;

/** Explicit get/set/delete by operation name and argument list. */
export class Namespace {
  readonly name: string;
  get<T = unknown>(operation: string, args?: unknown[]): Promise<T | undefined>;
  /** `ttl` in seconds (the namespace default when omitted). */
  set(operation: string, args: unknown[], value: unknown, ttl?: number): Promise<void>;
  delete(operation: string, args?: unknown[]): Promise<boolean>;
  key(operation: string, args?: unknown[]): string;
  /** Every entry of the namespace, or of one operation. */
  clear(operation?: string): Promise<number>;
  healthStatus(): HealthStatus;
  checkHealth(): Promise<HealthCheck>;
}

export class Client {
  constructor(settings?: ClientSettings | null);
  cache<A extends unknown[], R>(fn: (...args: A) => Promise<R> | R, opts?: Omit<CacheOptions, 'client'>): CachedFunction<A, R>;
  namespace(name: string, opts?: Omit<CacheOptions, 'client' | 'namespace' | 'operation'>): Namespace;
  /** Prometheus exposition text of every cache of this client. */
  metrics(): string;
  /** Wait for the Redis writes made behind callers (done for you before exit); resolves with how many are still under way. */
  flush(timeoutMs?: number): Promise<number>;
  /** Close the client: writes behind land first, then every call of its caches rejects with code CLOSED and writes nothing; resolves with the writes still under way. */
  close(): Promise<number>;
}

/** A client of its own with explicit settings. */
export function createClient(settings?: ClientSettings): Client;

/** Prometheus text of the default client. */
export function metrics(): string;
/** Flush the default client. */
export function flush(timeoutMs?: number): Promise<number>;

export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'INVALID_KEY'
  | 'CONFIG'
  | 'ENCODE'
  | 'ENCRYPTION'
  | 'BACKEND'
  | 'LEASE'
  | 'PANIC'
  | 'UNDECODABLE';

/** Errors of cachekit (never a Redis outage, unless failClosed). */
export class CachekitError extends Error {
  readonly code: ErrorCode;
}
export class UndecodableError extends CachekitError {}

/** A float64 on the wire even when integral. */
export class Float {
  constructor(value: number);
  readonly value: number;
}
export function float(value: number): Float;

/** A UUID: in keys equal to Python's uuid.UUID; as a value its string. */
export class Uuid {
  constructor(text: string);
  readonly value: string;
}
export function uuid(text: string): Uuid;

/** An instant with nanosecond precision (Python datetimes have microseconds). */
export class Timestamp {
  constructor(seconds: bigint | number, nanoseconds?: number);
  readonly seconds: bigint;
  readonly nanoseconds: number;
  /** ISO 8601 with an offset; a naive datetime throws (it has no instant). */
  static fromISO(text: string): Timestamp;
  static fromDate(date: Date): Timestamp;
  toDate(): Date;
  toISOString(): string;
}

/** A MessagePack ext value of a type cachekit has no JavaScript form for. */
export class Ext {
  readonly type: number;
  readonly data: Buffer;
}

export const coreVersion: string;
/** The MessagePack argument array the core derives keys from. */
export function encodeArgs(args: unknown[]): Buffer;
export function encodeValue(value: unknown): Buffer;
export function decodeValue(bytes: Uint8Array): unknown;

declare const cachekit: {
  cache: typeof cache;
  createClient: typeof createClient;
  Client: typeof Client;
  Namespace: typeof Namespace;
  CachekitError: typeof CachekitError;
  UndecodableError: typeof UndecodableError;
  Float: typeof Float;
  Uuid: typeof Uuid;
  Timestamp: typeof Timestamp;
  Ext: typeof Ext;
  float: typeof float;
  uuid: typeof uuid;
  metrics: typeof metrics;
  flush: typeof flush;
  coreVersion: string;
  encodeArgs: typeof encodeArgs;
  encodeValue: typeof encodeValue;
  decodeValue: typeof decodeValue;
};
export default cachekit;
