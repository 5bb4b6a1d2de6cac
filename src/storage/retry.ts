/**
 * Which transfer failures are worth another try, and how long to wait. Network drops, 5xx, 429 and
 * SlowDown are retried with exponential backoff and jitter (honouring Retry-After); 403, 404, bad
 * credentials, disk full and permission errors are not.
 */
import { MlvError, errnoCode } from '../core/errors.js';

export interface FailureClass {
  retry: boolean;
  /** The whole run is pointless after this (bad credentials, disk full). */
  fatal: boolean;
  /** Server-requested wait (Retry-After), in ms. */
  retryAfterMs?: number;
  /** A short reason for summaries: "HTTP 503 SlowDown", "ECONNRESET", ... */
  reason: string;
}

const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET']);
const RETRY_NAMES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestTimeout', 'RequestTimeTooSkewed', 'InternalError', 'ServiceUnavailable', 'TimeoutError', 'RequestTimeoutException', 'PriorRequestNotComplete', 'BadDigest', 'IncompleteBody', 'XAmzContentSHA256Mismatch']);
const AUTH_NAMES = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'TokenRefreshRequired', 'CredentialsProviderError', 'AuthorizationHeaderMalformed']);

interface SdkLikeError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { headers?: Record<string, string | undefined> };
  $retryable?: unknown;
}

export function classify(err: unknown): FailureClass {
  if (err instanceof MlvError) {
    if (err.code === 'CORRUPT_OBJECT') return { retry: true, fatal: false, reason: 'content did not match its id' };
    if (err.code === 'IO' || err.code === 'USAGE' || err.code === 'NOT_FOUND') return { retry: false, fatal: true, reason: err.message };
    return { retry: false, fatal: false, reason: err.message };
  }
  const e = (err ?? {}) as SdkLikeError;
  const sys = errnoCode(err);
  if (sys === 'ENOSPC' || sys === 'EDQUOT' || sys === 'EROFS' || sys === 'EFBIG') return { retry: false, fatal: true, reason: sys };
  if (sys === 'EACCES' || sys === 'EPERM') return { retry: false, fatal: false, reason: sys };
  const status = e.$metadata?.httpStatusCode;
  const name = e.name ?? '';
  if (AUTH_NAMES.has(name) || (e.code && AUTH_NAMES.has(e.code))) return { retry: false, fatal: true, reason: `${name}: credentials were refused` };
  const retryAfterMs = parseRetryAfter(e.$response?.headers?.['retry-after']);
  const withWait = (c: FailureClass): FailureClass => (retryAfterMs !== undefined ? { ...c, retryAfterMs } : c);
  if (status === 403) return { retry: false, fatal: false, reason: `HTTP 403 ${name || 'AccessDenied'}` };
  if (status === 404) return { retry: false, fatal: false, reason: `HTTP 404 ${name || 'NotFound'}` };
  if (status === 429 || (status !== undefined && status >= 500) || RETRY_NAMES.has(name)) {
    return withWait({ retry: true, fatal: false, reason: `HTTP ${status ?? '?'} ${name}`.trim() });
  }
  if (sys && NETWORK_CODES.has(sys)) return { retry: true, fatal: false, reason: sys };
  if (/socket hang up|ECONNRESET|premature close|aborted|timed? ?out/i.test(e.message ?? '')) return { retry: true, fatal: false, reason: e.message!.slice(0, 80) };
  if (status !== undefined && status >= 400) return { retry: false, fatal: false, reason: `HTTP ${status} ${name}`.trim() };
  return { retry: false, fatal: false, reason: e.message?.slice(0, 120) ?? String(err) };
}

export function parseRetryAfter(value: string | undefined): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Math.min(Number(value.trim()) * 1000, 60_000);
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.min(date - Date.now(), 60_000));
}

export interface RetryOptions {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 5, baseDelayMs: 200, maxDelayMs: 10_000 };

export function backoffMs(attempt: number, opts: RetryOptions, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined) return retryAfterMs;
  const exp = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(exp / 2 + Math.random() * (exp / 2));
}

/** Runs `fn` until it succeeds, fails permanently, or attempts run out; rethrows the last error. */
export async function withRetries<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions = DEFAULT_RETRY, onRetry?: (err: unknown, c: FailureClass, attempt: number) => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const c = classify(err);
      if (!c.retry || attempt >= opts.attempts) throw err;
      onRetry?.(err, c, attempt);
      await new Promise((r) => setTimeout(r, backoffMs(attempt, opts, c.retryAfterMs)));
    }
  }
}

/**
 * Turns a failure talking to a remote into a one-line MlvError (exit 9) with a hint fitting its
 * class. MlvErrors pass through unchanged. Never includes credentials.
 */
export function remoteError(err: unknown, label: string): MlvError {
  if (err instanceof MlvError) return err;
  const c = classify(err);
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode;
  let hint = 'check the remote settings (mlv remote list) and your network, then run the command again';
  if (/credentials were refused/.test(c.reason) || status === 403) {
    hint = 'check the credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID, ~/.aws, or remote.<name>.profile) and that they may read and write this bucket and prefix';
  } else if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH/.test(c.reason)) {
    hint = 'check the endpoint (mlv remote modify <name> endpoint <url>) and that the server is running';
  }
  const reason = status === 403 && /Unknown/.test(c.reason) ? 'HTTP 403: access denied' : c.reason;
  return new MlvError('REMOTE', `cannot use the remote ${label}: ${reason}`, { hint, cause: err });
}
