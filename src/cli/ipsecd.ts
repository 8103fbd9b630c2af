import path from 'node:path';
import type { Command } from 'commander';
import { requireRoot } from '../util/errors.js';
import { requirePrograms } from '../util/programs.js';
import { createLogger } from '../util/log.js';
import { loadIpsecdConfig } from '../ipsecd/config.js';

interface IpsecdFlags {
  config: string;
  keylog?: string;
  control?: string;
  log?: string;
  logLevel?: string;
}

/** Resolves on the first SIGINT or SIGTERM. */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      // A second signal while cleaning up must not kill us half-way: ignore it.
      process.on('SIGINT', () => undefined);
      process.on('SIGTERM', () => undefined);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

export function registerIpsecd(program: Command): void {
  program
    .command('ipsecd')
    .description(
      'The IPsec daemon in the foreground: ESP (AES-GCM, RFC 4303/4106) in UDP 4500 (RFC 3948) between this host ' +
        'and its peers, through a TUN device. Connections are keyed by IKEv2 (children:, certificates or PSK) or by static keys ' +
        '(manual:), in tunnel or transport mode (see docs/ipsecd.md). Needs root and `ip` (iproute2). ' +
        'SIGINT/SIGTERM remove its routes, rules, TUN, sockets and control socket, then exit 0. ' +
        'Exit 2: bad config (one line naming file, key and problem) or not root; exit 1: could not start (port in use, …).',
    )
    .requiredOption('--config <file>', 'YAML file with connections: and tun: (see CONTRACTS.md); paths inside it are relative to it')
    .option('--keylog <dir>', 'keep <dir>/esp_sa (and ikev2_decryption_table) current in Wireshark\'s format, mode 0600, for WIRESHARK_CONFIG_DIR=<dir> tshark')
    .option('--control <socket>', 'serve status and commands on this unix socket (mode 0600), for `overlay-ipsec ipsec status --control <socket>`')
    .option('--log <file>', 'write the log (JSON lines, with libreswan-style SA lines) to this file instead of stderr')
    .option('--log-level <level>', 'trace, debug, info, warn or error (default info, or $OI_LOG_LEVEL)')
    .action(async (o: IpsecdFlags) => {
      requireRoot('overlay-ipsec ipsecd');
      requirePrograms(['ip'], 'overlay-ipsec ipsecd');
      const config = loadIpsecdConfig(o.config);
      const logger = createLogger({ name: 'ipsecd', ...(o.log ? { file: path.resolve(o.log) } : {}), ...(o.logLevel ? { level: o.logLevel } : {}) });
      // Loaded here so other commands start without the data path.
      const { Ipsecd } = await import('../ipsecd/daemon.js');
      const daemon = new Ipsecd({
        config,
        logger,
        ...(o.keylog ? { keylogDir: path.resolve(o.keylog) } : {}),
        ...(o.control ? { controlSocket: path.resolve(o.control) } : {}),
      });
      // A bug must not leave routes or rules behind: clean up, then fail.
      process.on('uncaughtException', (err) => {
        logger.fatal({ err }, 'internal error; cleaning up');
        void daemon.stop().finally(() => {
          logger.flush();
          process.stderr.write(`overlay-ipsec: internal error: ${err.stack ?? err.message}\n`);
          process.exit(1);
        });
      });
      const signal = untilSignal();
      await daemon.start();
      const sig = await signal;
      logger.info({ signal: sig }, 'stopping');
      await daemon.stop();
      await new Promise<void>((resolve) => logger.flush(() => resolve()));
      // Everything is closed; leave even if a library left a stray handle behind.
      process.exit(0);
    });
}
