/**
 * Names that one file system keeps apart and another folds together. The folding logic is tested
 * against every kind of collision; the probe is tested on this machine's file system (case and
 * normalisation sensitive ext4/tmpfs/overlay, where it must find no folding) and, through the CLI,
 * on a simulated folding file system (MLV_TEST_ASSUME_FOLDING) where checkout and get must refuse
 * the collision and write nothing. test/reliability/hostile-paths.test.ts runs the same on a real
 * case-insensitive mount where the kernel allows one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertDistinctNames, probeFolding } from '../../dist/workspace/name-folding.js';
import { MlvError } from '../../dist/core/errors.js';
import { expectCleanError, write } from '../helpers/assert.js';
import { git, initRepo, mlv, snapshotTree, tempDir } from '../helpers/cli.js';

const CI = { caseInsensitive: true, normalizesUnicode: true };
const NFC_ONLY = { caseInsensitive: false, normalizesUnicode: true };
const SENSITIVE = { caseInsensitive: false, normalizesUnicode: false };

describe('name folding', () => {
  it('finds every pair that would be one file, and only those', () => {
    const clash = (paths: string[], f = CI) => {
      try {
        assertDistinctNames(paths, f, 'checkout');
        return undefined;
      } catch (err) {
        expect(err).toBeInstanceOf(MlvError);
        expect((err as MlvError).code).toBe('CONFLICT');
        return (err as MlvError).details?.paths;
      }
    };
    expect(clash(['data/A.txt', 'data/a.txt'])).toEqual(['data/A.txt', 'data/a.txt']);
    expect(clash(['data/Sub', 'data/sub/x'])).toBeUndefined(); // a folder and a file below the other spelling: caught via the folder entries
    expect(clash(['data/Sub', 'data/sub', 'data/sub/x'])).toEqual(['data/Sub', 'data/sub']);
    expect(clash(['d/\u00e9.txt', 'd/e\u0301.txt'], NFC_ONLY)).toEqual(['d/\u00e9.txt', 'd/e\u0301.txt']);
    expect(clash(['d/\u00c9', 'd/e\u0301'])).toEqual(['d/\u00c9', 'd/e\u0301']); // both foldings at once
    expect(clash(['data/A.txt', 'data/a.txt'], NFC_ONLY)).toBeUndefined();
    expect(clash(['data/A.txt', 'data/a.txt', 'd/\u00e9', 'd/e\u0301'], SENSITIVE)).toBeUndefined();
    expect(clash(['a', 'b', 'c/a', 'c/b'])).toBeUndefined();
  });

  it('the probe sees this file system as it is (Linux: no folding) and leaves nothing behind', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'A'), 'upper');
    const sensitive = !fs.existsSync(path.join(dir, 'a'));
    expect(probeFolding(dir)).toEqual({ caseInsensitive: !sensitive, normalizesUnicode: false });
    expect(fs.readdirSync(dir)).toEqual(['A']);
  });
});

describe('checkout and get on a folding file system (simulated)', () => {
  const FOLD = { MLV_TEST_ASSUME_FOLDING: 'case,nfc' };

  function repoWithClash() {
    const repo = initRepo();
    write(repo, 'data/README', 'r\n');
    write(repo, 'data/Label.csv', 'upper\n');
    write(repo, 'data/label.csv', 'lower\n');
    expect(mlv(repo, ['add', 'data']).code).toBe(0);
    git(repo, ['commit', '-qm', 'clash']);
    return repo;
  }

  it('checkout refuses two names that would be one file, writing nothing', () => {
    const repo = repoWithClash();
    fs.rmSync(path.join(repo, 'data'), { recursive: true });
    const before = snapshotTree(repo);
    const r = mlv(repo, ['checkout'], FOLD);
    expectCleanError(r, 4, /data\/Label\.csv and data\/label\.csv would be the same file on this case-insensitive file system/);
    expect(snapshotTree(repo)).toEqual(before);
    // Where names are kept apart, the same checkout writes both.
    expect(mlv(repo, ['checkout']).code).toBe(0);
    expect(fs.readFileSync(path.join(repo, 'data', 'Label.csv'), 'utf8')).toBe('upper\n');
    expect(fs.readFileSync(path.join(repo, 'data', 'label.csv'), 'utf8')).toBe('lower\n');
  });

  it('get refuses the same, creating no output', () => {
    const repo = repoWithClash();
    const out = path.join(tempDir(), 'out');
    const r = mlv(repo, ['get', 'data', '-o', out], FOLD);
    expectCleanError(r, 4, /would be the same file/);
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readdirSync(path.dirname(out))).toEqual([]);
  });
});
