#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { ExitError } from '../util/errors.js';

type Register = (program: Command) => void;

/**
 * Each command lives in its own file and adds itself to the program. A run loads only the file
 * of the command it runs (the table below, in the order help lists them): a node agent is a
 * long-lived process on every node, and the operator's X.509 library, etcd client and config
 * parser it never uses were a fifth of its memory. Help and unknown commands load them all.
 */
const COMMANDS: ReadonlyArray<{ names: readonly string[]; load: () => Promise<Register> }> = [
  { names: ['ipsecd'], load: async () => (await import('./ipsecd.js')).registerIpsecd },
  { names: ['ipsec'], load: async () => (await import('./ipsec.js')).registerIpsec },
  { names: ['config'], load: async () => (await import('./config.js')).registerConfig },
  { names: ['operator'], load: async () => (await import('./operator.js')).registerOperator },
  { names: ['pki'], load: async () => (await import('./pki.js')).registerPki },
  { names: ['agent', 'tunnels'], load: async () => (await import('./agent.js')).registerAgent },
  { names: ['up', 'down', 'pods', 'verify'], load: async () => (await import('./cluster.js')).registerCluster },
  { names: ['nodes'], load: async () => (await import('./nodes.js')).registerNodes },
  { names: ['etcd'], load: async () => (await import('./etcd-admin.js')).registerEtcdAdmin },
  { names: ['node'], load: async () => (await import('./etcd-admin.js')).registerNodeCommands },
];

async function buildProgram(argv: string[]): Promise<Command> {
  const program = new Command('overlay-ipsec')
    .description('Encrypted pod network: Geneve overlay protected by IKEv2/ESP (AES-GCM)')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  const name = argv[2];
  const one = COMMANDS.find((c) => name !== undefined && c.names.includes(name));
  for (const c of one ? [one] : COMMANDS) (await c.load())(program);
  return program;
}

async function main(argv: string[]): Promise<void> {
  const program = await buildProgram(argv);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; every other commander error is bad usage.
      process.exit(err.exitCode === 0 ? 0 : 2);
    }
    if (err instanceof ExitError) {
      process.stderr.write(`overlay-ipsec: ${err.message}\n`);
      process.exit(err.exitCode);
    }
    process.stderr.write(`overlay-ipsec: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  }
}

await main(process.argv);
