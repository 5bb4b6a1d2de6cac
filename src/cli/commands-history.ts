import type { CliKit } from './kit.js';

export function registerHistoryCommands(_kit: CliKit): void {}
