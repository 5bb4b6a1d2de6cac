/**
 * Deterministic crash points for the crash-safety tests. When the test-only environment variable
 * MLV_TEST_CRASH_AT names a point (`name`, or `name@N` for its Nth hit in this process), the
 * process kills itself there with SIGKILL, as a power cut or `kill -9` would. Unset, a crash point
 * is one string comparison. docs/reliability.md lists the points.
 */
const spec = process.env.MLV_TEST_CRASH_AT;
const at = spec?.lastIndexOf('@') ?? -1;
const target = spec === undefined ? undefined : at > 0 ? spec.slice(0, at) : spec;
const nth = spec !== undefined && at > 0 ? Number(spec.slice(at + 1)) : 1;
let hits = 0;

export function crashPoint(name: string): void {
  if (target === undefined || name !== target) return;
  if (++hits < nth) return;
  process.kill(process.pid, 'SIGKILL');
}
