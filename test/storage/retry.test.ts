import { describe, expect, it } from 'vitest';
import { MlvError } from '../../dist/core/errors.js';
import { backoffMs, classify, DEFAULT_RETRY, parseRetryAfter, withRetries } from '../../dist/storage/retry.js';

const sdkError = (name: string, status?: number, headers: Record<string, string> = {}) =>
  Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status }, $response: { headers } });
const sysError = (code: string) => Object.assign(new Error(code), { code });

describe('classify', () => {
  it.each([
    ['SlowDown 503', sdkError('SlowDown', 503)],
    ['500 InternalError', sdkError('InternalError', 500)],
    ['429', sdkError('TooManyRequests', 429)],
    ['unknown 503 on HEAD', sdkError('Unknown', 503)],
    ['RequestTimeout', sdkError('RequestTimeout', 400)],
    ['ECONNRESET', sysError('ECONNRESET')],
    ['EPIPE', sysError('EPIPE')],
    ['ETIMEDOUT', sysError('ETIMEDOUT')],
    ['socket hang up', new Error('socket hang up')],
    ['corrupt download', new MlvError('CORRUPT_OBJECT', 'x')],
  ])('retries %s', (_label, err) => {
    expect(classify(err).retry).toBe(true);
    expect(classify(err).fatal).toBe(false);
  });

  it.each([
    ['403', sdkError('AccessDenied', 403)],
    ['404', sdkError('NotFound', 404)],
    ['EACCES', sysError('EACCES')],
  ])('does not retry %s', (_label, err) => {
    expect(classify(err).retry).toBe(false);
    expect(classify(err).fatal).toBe(false);
  });

  it.each([
    ['bad key', sdkError('InvalidAccessKeyId', 403)],
    ['bad signature', sdkError('SignatureDoesNotMatch', 403)],
    ['expired token', sdkError('ExpiredToken', 400)],
    ['disk full', sysError('ENOSPC')],
    ['read-only fs', sysError('EROFS')],
    ['disk full, wrapped', new MlvError('IO', 'no space left on device')],
    ['no bucket', new MlvError('NOT_FOUND', 'the bucket does not exist')],
  ])('stops the whole run on %s', (_label, err) => {
    const c = classify(err);
    expect(c.retry).toBe(false);
    expect(c.fatal).toBe(true);
  });

  it('reads Retry-After in seconds and as an HTTP date, capped at a minute', () => {
    expect(classify(sdkError('SlowDown', 503, { 'retry-after': '2' })).retryAfterMs).toBe(2000);
    expect(parseRetryAfter('3600')).toBe(60_000);
    const inFive = new Date(Date.now() + 5000).toUTCString();
    expect(parseRetryAfter(inFive)).toBeGreaterThan(3000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(backoffMs(1, DEFAULT_RETRY, 1234)).toBe(1234);
  });

  it('backs off exponentially with jitter, bounded', () => {
    for (let attempt = 1; attempt <= 10; attempt++) {
      const cap = Math.min(DEFAULT_RETRY.maxDelayMs, DEFAULT_RETRY.baseDelayMs * 2 ** (attempt - 1));
      const d = backoffMs(attempt, DEFAULT_RETRY);
      expect(d).toBeGreaterThanOrEqual(cap / 2);
      expect(d).toBeLessThanOrEqual(cap);
    }
  });
});

describe('withRetries', () => {
  const fast = { attempts: 4, baseDelayMs: 1, maxDelayMs: 2 };

  it('retries transient failures until success', async () => {
    let calls = 0;
    const r = await withRetries(async () => {
      calls++;
      if (calls < 3) throw sysError('ECONNRESET');
      return 'ok';
    }, fast);
    expect(r).toBe('ok');
    expect(calls).toBe(3);
  });

  it('gives up after the allowed attempts with the last error', async () => {
    let calls = 0;
    await expect(
      withRetries(async () => {
        calls++;
        throw sdkError('SlowDown', 503);
      }, fast),
    ).rejects.toMatchObject({ name: 'SlowDown' });
    expect(calls).toBe(4);
  });

  it('does not retry permanent failures', async () => {
    let calls = 0;
    await expect(
      withRetries(async () => {
        calls++;
        throw sdkError('AccessDenied', 403);
      }, fast),
    ).rejects.toMatchObject({ name: 'AccessDenied' });
    expect(calls).toBe(1);
  });
});
