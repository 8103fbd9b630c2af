import type { Command } from 'commander';

// Placeholder until this command is implemented; the owner of this file replaces it.
export function registerIpsec(_program: Command): void {}
