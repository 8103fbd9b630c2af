import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { validateDocuments } from '../../../src/config/index.js';
import { parseIpsecdConfig } from '../../../src/ipsecd/config.js';
import { ConfigError } from '../../../src/util/errors.js';
import { repoRoot, fixturesDir } from '../../helpers/paths.js';
import { keyCause, type FuzzTarget, type Harness } from '../target.js';

const yamlIn = (dir: string): Buffer[] =>
  readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => readFileSync(path.join(dir, f)));

/**
 * The cluster config files a user hands to `config validate`, `operator` and `up`: install-config
 * and the Network manifest. The result is a config or diagnostics, each naming the file and key;
 * nothing else (an exception) is acceptable.
 */
export const clusterConfig: FuzzTarget = {
  name: 'cluster-config',
  what: 'validateDocuments: install-config.yaml and the Network manifest (YAML, schema, CIDR and MTU checks)',
  corpusDirs: [],
  create(): Harness {
    const seeds = [
      readFileSync(path.join(repoRoot, 'examples', 'install-config.yaml')),
      readFileSync(path.join(repoRoot, 'examples', 'manifests', 'cluster-network-03-config.yml')),
      ...yamlIn(path.join(fixturesDir, 'config')),
    ];
    return {
      seeds: () => seeds,
      run(input) {
        // Half the inputs go in with the seed's other document, as `operator --config a b` reads them.
        const docs = [{ file: 'fuzz.yaml', text: input.toString('utf8') }];
        if (input.length % 2 === 0) docs.push({ file: 'other.yml', text: seeds[input.length % 4 === 0 ? 0 : 1]!.toString('utf8') });
        const r = validateDocuments(docs, { underlayMtu: 1546 });
        for (const d of [...r.errors, ...r.warnings]) {
          if (d.file !== 'fuzz.yaml' && d.file !== 'other.yml' && !d.file.startsWith('--')) throw new Error(`diagnostic names no input file: ${JSON.stringify(d)}`);
        }
        if (r.errors.length === 0 && !r.network) throw new Error('neither a config nor an error');
        return r.errors.length > 0 ? keyCause('error', r.errors[0]!.key, r.errors[0]!.problem) : 'accepted:valid';
      },
      check() {},
    };
  },
};

/** ipsecd's YAML (swanctl-like): every refusal must be a ConfigError naming file and key (exit 2). */
export const ipsecdConfig: FuzzTarget = {
  name: 'ipsecd-config',
  what: 'parseIpsecdConfig: the ipsecd YAML (connections, proposals, selectors, manual keys, PSK, certificates)',
  corpusDirs: [],
  create(): Harness {
    const dir = path.join(repoRoot, 'examples', 'ipsecd');
    const seeds = yamlIn(dir);
    // Relative paths (certificates, keys) resolve beside this file: the examples' own directory.
    const file = path.join(dir, 'fuzz.yaml');
    return {
      seeds: () => seeds,
      run(input) {
        try {
          parseIpsecdConfig(input.toString('utf8'), file, () => new Date('2027-01-01T00:00:00Z'));
          return 'accepted:valid';
        } catch (e) {
          if (!(e instanceof ConfigError)) throw e;
          if (e.file !== file) throw new Error(`ConfigError names ${e.file}`);
          return keyCause('config-error', e.key, e.problem);
        }
      },
      check() {},
    };
  },
};
