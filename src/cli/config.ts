import type { Command } from 'commander';
import { validateFiles, formatDiagnostic, type ValidateOptions } from '../config/index.js';
import { throwConfigErrors } from './config-errors.js';
import { interfaceMtu, parseMtu } from './underlay-mtu.js';
import { registerConfigApply } from './config-apply.js';

export function registerConfig(program: Command): void {
  const config = program.command('config').description('Cluster network configuration');
  registerConfigApply(config);
  config
    .command('validate')
    .description(
      'Validate install-config.yaml and/or manifests/cluster-network-03-config.yml: CIDRs, hostPrefix, overlaps, ' +
        'MTU vs Geneve (100) + ESP-in-UDP (46) overhead, IPsec mode. Exit 0 valid (warnings on stderr), 2 invalid.',
    )
    .argument('<files...>', 'config files')
    .option('--underlay-mtu <n>', 'the hosts\' underlay MTU; a pod MTU that does not fit is then an error', parseMtu)
    .option('--underlay-interface <name>', 'read the underlay MTU from this interface')
    .option('--underlay-cidr <cidr...>', 'underlay (node) networks that pods and services must not overlap')
    .option('--json', 'print the validated network config and findings as JSON')
    .action(async (files: string[], o: { underlayMtu?: number; underlayInterface?: string; underlayCidr?: string[]; json?: boolean }) => {
      const opts: ValidateOptions = {};
      if (o.underlayMtu !== undefined) opts.underlayMtu = o.underlayMtu;
      else if (o.underlayInterface) opts.underlayMtu = await interfaceMtu(o.underlayInterface);
      if (o.underlayCidr) opts.underlayCidrs = o.underlayCidr;
      const r = await validateFiles(files, opts);
      for (const w of r.warnings) process.stderr.write(`overlay-ipsec: warning: ${formatDiagnostic(w)}\n`);
      if (o.json) process.stdout.write(JSON.stringify({ valid: r.errors.length === 0, network: r.network ?? null, errors: r.errors, warnings: r.warnings }, null, 2) + '\n');
      if (r.errors.length) throwConfigErrors(r.errors);
      if (!o.json) {
        const n = r.network!;
        process.stdout.write(
          `valid: ${files.join(', ')}\n` +
            `  cluster network ${n.clusterNetwork.map((c) => `${c.cidr} (/${c.hostPrefix} per node)`).join(', ')}; services ${n.serviceNetwork.join(', ')}\n` +
            `  pod MTU ${n.mtu}; IPsec ${n.ipsec.mode}${n.ipsec.mode === 'Full' ? ` (encapsulation ${n.ipsec.encapsulation})` : ''}\n`,
        );
      }
    });
}
