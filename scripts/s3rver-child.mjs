// Child-process entry for the loopback S3 server used by the tests (test/helpers/s3-server.ts) and
// the benchmark's push/pull rows (bench/lib/s3rver.mjs), with the bucket(s) to create at start.
//
// Started as `node --openssl-legacy-provider s3rver-child.mjs <dataDir> [bucket...]` with an IPC
// channel: s3rver builds ListObjectsV2 continuation tokens with DES, which Node 20's OpenSSL 3 only
// provides through the legacy provider, so any listing past 1,000 keys fails with InternalError
// unless the process running s3rver has that flag.
//
// Protocol: sends { type: 'ready', port } once listening on 127.0.0.1 (port 0 = any free port),
// or { type: 'error', message } and exits 1. Exits when the parent disconnects (parent exit or
// crash included), on SIGTERM/SIGINT, or on a { type: 'stop' } message.
import { createRequire } from 'node:module';
import * as crypto from 'node:crypto';

const require = createRequire(import.meta.url);

const [directory, ...buckets] = process.argv.slice(2);
if (!directory) {
  process.send?.({ type: 'error', message: 'usage: s3rver-child.mjs <dataDir> [bucket...]' });
  process.exit(2);
}

// No graceful close: a throwaway server whose data dir the parent removes, and an orphan must not
// linger (close() could wait on a half-open client connection).
function shutdown(code = 0) {
  process.exit(code);
}

process.on('disconnect', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));
process.on('message', (m) => {
  if (m && m.type === 'stop') shutdown(0);
});

try {
  // Fail fast with a clear message instead of an InternalError on the 1,001st key.
  crypto.createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8));
} catch (err) {
  process.send?.({ type: 'error', message: `DES unavailable (start with --openssl-legacy-provider): ${err.message}` });
  process.exit(1);
}

try {
  // Resolved from the package root's node_modules (s3rver is a devDependency of mlv).
  const S3rver = require('s3rver');
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    // Path-style only: a Host header that is not an IP or "localhost" would otherwise be taken
    // as a virtual-host bucket name.
    vhostBuckets: false,
    resetOnClose: false,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  // Koa logs unexpected errors to stderr unless silenced.
  server.silent = true;
  server.on('error', () => {});
  const address = await server.run();
  // Node's default 5 s keep-alive timeout races with clients reusing an idle socket (the client
  // sends just as the server closes it: "socket hang up"). A long timeout keeps that race away.
  server.httpServer.keepAliveTimeout = 120_000;
  server.httpServer.headersTimeout = 121_000;
  process.send?.({ type: 'ready', port: address.port });
} catch (err) {
  process.send?.({ type: 'error', message: String(err?.stack ?? err) });
  process.exit(1);
}
