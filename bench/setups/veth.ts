import { benchLab } from '../lib/lab.js';
import type { Setup } from '../lib/setup.js';

/** The ceiling of the kernel path: two namespaces joined by a veth pair, nothing in between. */
export async function startVeth(): Promise<Setup & { lab: ReturnType<typeof benchLab> }> {
  const lab = benchLab('veth');
  try {
    const a = lab.addNs('a');
    const b = lab.addNs('b');
    lab.veth(a, 'va', '198.18.0.1/24', b, 'vb', '198.18.0.2/24', { kernelDefaults: true });
    return {
      lab, row: 'veth', describe: 'veth pair between two namespaces (kernel only)',
      clientNs: a, serverNs: b, clientAddr: '198.18.0.1', serverAddr: '198.18.0.2', dataPathPids: [],
      teardown: () => lab.dispose(),
    };
  } catch (e) {
    await lab.dispose();
    throw e;
  }
}
