import path from 'node:path';

/**
 * The state directory shared by the operator and the node agents of one machine:
 *   <state>/store/            the embedded store (FsStore)
 *   <state>/operator/ca/      CA private keys (0600), never in the store
 *   <state>/nodes/<name>/     a node's own files: system-id, ipsec-privkey.pem (0600),
 *                             ipsec-req.pem, ipsec-cert.pem, ipsec-cacert.pem
 */
export function storeDir(stateDir: string): string {
  return path.join(stateDir, 'store');
}
export function operatorDir(stateDir: string): string {
  return path.join(stateDir, 'operator');
}
export function nodeDir(stateDir: string, node: string): string {
  return path.join(stateDir, 'nodes', node);
}

/** DNS-label-like node names: they become directory names and store keys. */
export function checkNodeName(name: string): string | undefined {
  if (!/^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/.test(name)) return `node name "${name}" must be lowercase letters, digits, '-' or '.', 1-63 characters, starting and ending alphanumeric`;
  return undefined;
}

/** Where the daemons keep state when no --state-dir is given (OI_STATE_DIR overrides). */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.OI_STATE_DIR ?? '/var/lib/overlay-ipsec';
}
