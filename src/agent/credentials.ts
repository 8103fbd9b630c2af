import { readFile } from 'node:fs/promises';
import type { Logger } from '../util/log.js';
import { fingerprintOf, splitPem } from '../pki/cert-chain.js';
import type { AgentAuth } from './auth.js';
import { contentHash } from './desired.js';

export interface CredentialPaths {
  certPath: string;
  keyPath: string;
  caPath: string;
}

/**
 * The node's IKE credentials: key, certificate and CA bundle read from the files the keeper
 * writes, handed to the auth provider when their content changes.
 */
export class CredentialLoader {
  private hash = '';
  private certPem: string | undefined;
  private trustedFps: string[] = [];

  constructor(private readonly auth: AgentAuth, private readonly systemId: string, private readonly log: Logger) {}

  /** The certificate in use (metrics: its expiry). */
  get cert(): string | undefined {
    return this.certPem;
  }

  /**
   * Reads the files; on a change of content, new credentials. Returns whether the peers must
   * see them before they count: our certificate changed, or a CA we trusted is gone — then the
   * pairs re-authenticate (make-before-break).
   */
  async reload(p: CredentialPaths): Promise<{ reauthenticate: boolean }> {
    const rd = (f: string): Promise<string | undefined> => readFile(f, 'utf8').catch(() => undefined);
    const [certPem, keyPem, caPem] = await Promise.all([rd(p.certPath), rd(p.keyPath), rd(p.caPath)]);
    if (!certPem || !keyPem || !caPem) return { reauthenticate: false };
    const hash = contentHash({ certPem, keyPem, caPem });
    if (hash === this.hash) return { reauthenticate: false };
    const fps = splitPem(caPem).map(fingerprintOf);
    const first = this.hash === '';
    const certChanged = !first && certPem !== this.certPem;
    const trustNarrowed = !first && this.trustedFps.some((f) => !fps.includes(f));
    try {
      this.auth.setCredentials({ certPem, keyPem, caPem, systemId: this.systemId });
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'node credentials unusable; keeping the previous ones');
      return { reauthenticate: false };
    }
    this.hash = hash;
    this.certPem = certPem;
    this.trustedFps = fps;
    this.log.info({ cas: fps.length, certChanged, trustNarrowed }, first ? 'IKE credentials loaded' : 'IKE credentials reloaded');
    return { reauthenticate: certChanged || trustNarrowed };
  }
}
