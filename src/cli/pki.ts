import type { Command } from 'commander';

// Placeholder until this command is implemented; the owner of this file replaces it.
export function registerPki(_program: Command): void {}
