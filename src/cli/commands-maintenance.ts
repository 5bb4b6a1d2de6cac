import type { CliKit } from './kit.js';

export function registerMaintenanceCommands(_kit: CliKit): void {}
