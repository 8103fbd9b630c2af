#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { ExitError } from '../util/errors.js';
import { registerIpsecd } from './ipsecd.js';
import { registerIpsec } from './ipsec.js';
import { registerConfig } from './config.js';
import { registerOperator } from './operator.js';
import { registerPki } from './pki.js';
import { registerAgent } from './agent.js';
import { registerCluster } from './cluster.js';
import { registerNodes } from './nodes.js';
import { registerEtcdAdmin, registerNodeCommands } from './etcd-admin.js';

/** Each command lives in its own file and adds itself to the program. */
function buildProgram(): Command {
  const program = new Command('overlay-ipsec')
    .description('Encrypted pod network: Geneve overlay protected by IKEv2/ESP (AES-GCM)')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  registerIpsecd(program);
  registerIpsec(program);
  registerConfig(program);
  registerOperator(program);
  registerPki(program);
  registerAgent(program);
  registerCluster(program);
  registerNodes(program);
  registerEtcdAdmin(program);
  registerNodeCommands(program);
  return program;
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
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
