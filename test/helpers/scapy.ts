import { spawnSync } from 'node:child_process';

/**
 * scapy as an independent implementation: runs a Python snippet with Debian's /usr/bin/python3
 * (where python3-scapy lives), optionally inside a network namespace. The snippet defines
 * `def main(inp):` and returns something JSON-serialisable; `input` arrives as `inp` (parsed
 * JSON). bytes in the result come back as hex strings. scapy's own chatter on stdout is kept
 * apart from the result by a marker line.
 */
const MARK = '@@SCAPY-RESULT@@';

const WRAPPER = `
import json, sys
import logging
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
inp = json.loads(sys.stdin.read())
src = inp.pop("__script__")
ns = {"__name__": "snippet"}
exec(compile(src, "<snippet>", "exec"), ns)
def enc(o):
    if isinstance(o, (bytes, bytearray)):
        return bytes(o).hex()
    raise TypeError(repr(o))
res = ns["main"](inp["input"])
sys.stdout.write("\\n${MARK}\\n" + json.dumps(res, default=enc) + "\\n")
`;

export interface ScapyOptions {
  /** Run inside this network namespace (`ip netns exec`). */
  netns?: string;
  timeoutMs?: number;
}

export function runScapy<T = unknown>(script: string, input: unknown = null, opts: ScapyOptions = {}): T {
  const cmd = ['/usr/bin/python3', '-c', WRAPPER];
  const argv = opts.netns ? ['ip', ['netns', 'exec', opts.netns, ...cmd]] as const : [cmd[0]!, cmd.slice(1)] as const;
  const r = spawnSync(argv[0], argv[1], {
    input: JSON.stringify({ __script__: script, input }),
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const at = r.stdout?.lastIndexOf(`\n${MARK}\n`) ?? -1;
  if (r.status !== 0 || at < 0) {
    throw new Error(`python snippet failed (${r.status ?? r.signal}):\n${r.stderr}\n${r.stdout}`);
  }
  return JSON.parse(r.stdout.slice(at + MARK.length + 2)) as T;
}
