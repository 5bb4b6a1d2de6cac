import type { CliKit } from './kit.js';

export function registerHookCommands(_kit: CliKit): void {}
