/** Keeping tracked targets out of Git: one anchored entry per target in the `.gitignore` beside it. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { errnoCode } from '../core/errors.js';
import { writeFileAtomic } from './atomic.js';

/** `/name` with gitignore's special characters escaped, so the entry matches exactly one name. */
export function ignoreEntryFor(name: string): string {
  let escaped = name.replace(/[\\*?[\]!#]/g, (c) => '\\' + c);
  if (/^\s/.test(escaped)) escaped = '\\' + escaped;
  if (/\s$/.test(escaped)) escaped = escaped.slice(0, -1) + '\\' + escaped.slice(-1);
  return '/' + escaped;
}

function read(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** Adds the entry unless present. Returns true when the file changed. */
export function addIgnoreEntry(dirAbs: string, name: string): boolean {
  const file = path.join(dirAbs, '.gitignore');
  const entry = ignoreEntryFor(name);
  const text = read(file) ?? '';
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  if (lines.includes(entry)) return false;
  const prefix = text === '' || text.endsWith('\n') ? text : text + '\n';
  writeFileAtomic(file, prefix + entry + '\n');
  return true;
}

/** Removes the entry; deletes the file when nothing else is left in it. Returns true when changed. */
export function removeIgnoreEntry(dirAbs: string, name: string): boolean {
  const file = path.join(dirAbs, '.gitignore');
  const text = read(file);
  if (text === undefined) return false;
  const entry = ignoreEntryFor(name);
  const lines = text.split('\n');
  const kept = lines.filter((l) => l.replace(/\r$/, '') !== entry);
  if (kept.length === lines.length) return false;
  const result = kept.join('\n');
  if (result.trim() === '') fs.rmSync(file);
  else writeFileAtomic(file, result);
  return true;
}
