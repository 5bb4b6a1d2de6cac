// The rclone baseline of the S3 rows: `rclone copy` up to and down from the same s3rver bucket,
// configured only through environment variables (no config file is read). Its mlv column is the
// push-s3 / pull-s3 measurement of the same run (rclone runs after mlv, not alternating with it).
// The helpers of bench/run.mjs come in as ctx.h.
import * as path from 'node:path';
import { log, rmTree, syncFs, warmTree } from './util.mjs';

const NAME = 'mlvbench';

/** rclone's environment: remote `mlvbench:` = s3rver (S3, provider Other, path style). */
export function rcloneEnv(env, endpoint) {
  const key = (k) => `RCLONE_CONFIG_${NAME.toUpperCase()}_${k}`;
  return {
    ...env,
    RCLONE_CONFIG: path.join(env.HOME, '.config', 'rclone', 'none.conf'), // never the user's
    [key('TYPE')]: 's3',
    [key('PROVIDER')]: 'Other',
    [key('ACCESS_KEY_ID')]: env.AWS_ACCESS_KEY_ID,
    [key('SECRET_ACCESS_KEY')]: env.AWS_SECRET_ACCESS_KEY,
    [key('REGION')]: 'us-east-1',
    [key('ENDPOINT')]: endpoint,
    [key('FORCE_PATH_STYLE')]: 'true',
    [key('NO_CHECK_BUCKET')]: 'true',
  };
}

/** `rclone copy` up (dir 'push') or down (dir 'pull'), --remote-runs times. */
export async function rowRclone(ctx, row, dir) {
  const { h, ds } = ctx;
  const rclone = ctx.tools.rclone;
  if (!rclone) {
    row.skip = 'rclone is not installed (`which rclone` found nothing; Debian: `apt-get install -y rclone`): skipped';
    return;
  }
  const remote = await h.ensureRemote(ctx, 's3');
  const env = rcloneEnv(remote.env, remote.server.endpoint);
  // --fast-list: one recursive listing of the prefix. s3rver answers delimiter listings without
  // CommonPrefixes, so rclone's default folder-by-folder walk finds nothing below the top level.
  const flags = ['-q', '--stats', '0', '--fast-list'];
  const bucketPath = (p) => `${NAME}:${h.S3_BUCKET}/${p}`;
  const mlvRow = ctx.rows.find((r) => r.id === `${dir}-s3`);
  if (mlvRow && mlvRow.mlv.runs.length > 0) {
    row.mlv = mlvRow.mlv;
    row.notes.push(`mlv column: the ${dir}-s3 measurement (rclone ran after it)`);
  } else {
    row.notes.push(`mlv column empty: include ${dir}-s3 in --rows to compare`);
  }
  row.notes.push('rclone with its defaults (4 transfers, 8 checkers) and --fast-list (s3rver lists no CommonPrefixes)');
  const runs = ctx.opts.remoteRuns;
  const upload = (p, timedRun) => {
    warmTree(ds.dataDir);
    syncFs();
    const args = ['copy', ds.dataDir, bucketPath(p), ...flags];
    const r = timedRun ? h.baseTimed(ctx, rclone, args, ctx.work.root, { env, server: remote.server }) : h.untimed(rclone, args, ctx.work.root, env);
    const st = remote.stored(p);
    if (st.objects !== ds.files || st.bytes !== ds.bytes) {
      throw new h.RowError(`rclone copy stored ${st.objects} objects (${st.bytes} B) under ${p}, expected ${ds.files} (${ds.bytes} B): the baseline is not valid`);
    }
    return r;
  };
  if (dir === 'push') {
    for (let i = 0; i < runs; i++) {
      await h.tick();
      h.assertServer(remote);
      const p = `rclone-push-${i}`;
      const r = upload(p, true);
      h.recordBase(row, r);
      h.recordCpu(row, 'base', r);
      log(`${row.id} run ${i + 1}/${runs}: rclone copy ${h.fmt(r.seconds)} s`);
      if (i < runs - 1) remote.remove(p);
      else ctx.seeds.rclone = p; // what pull-s3-rclone downloads
    }
  } else {
    let seed = ctx.seeds.rclone;
    if (!seed) {
      seed = 'rclone-seed';
      log(`setup: rclone copy to ${seed} (untimed; the rclone download reads it)`);
      upload(seed, false);
    }
    for (let i = 0; i < runs; i++) {
      await h.tick();
      h.assertServer(remote);
      const dest = path.join(ctx.work.scratch, `rclone-pull-${i}`);
      warmTree(remote.prefixDir(seed));
      syncFs();
      const r = h.baseTimed(ctx, rclone, ['copy', bucketPath(seed), dest, ...flags], ctx.work.scratch, { env, server: remote.server });
      h.recordBase(row, r);
      h.recordCpu(row, 'base', r);
      const diff = h.treeDiff(ctx, ds.dataDir, dest);
      if (diff) throw new h.RowError(`rclone copy (run ${i + 1}) downloaded data that differs from the dataset: ${diff}`);
      rmTree(dest);
      log(`${row.id} run ${i + 1}/${runs}: rclone copy ${h.fmt(r.seconds)} s`);
    }
    row.notes.push(`rclone downloads verified identical to the dataset (diff -r) in every run`);
    remote.remove(seed);
    delete ctx.seeds.rclone;
  }
  h.cpuNotes(ctx, row, remote, 'mlv', 'rclone copy');
}
