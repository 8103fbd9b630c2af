// The control sockets' request lines (ipsecd's and the agent's): what each parses to, and the
// one-line reason a bad one is refused with.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRequest } from '../../src/ipsecd/control.js';
import { parseAgentRequest } from '../../src/agent/control.js';

test('ipsecd requests: status and the connection commands', () => {
  assert.deepEqual(parseRequest('{"cmd":"status"}'), { cmd: 'status' });
  assert.deepEqual(parseRequest('{"cmd":"rekey","conn":"site"}'), { cmd: 'rekey', conn: 'site' });
  assert.deepEqual(parseRequest('{"cmd":"terminate","conn":"site","child":"net"}'), { cmd: 'terminate', conn: 'site', child: 'net' });
  assert.equal(parseRequest('status'), 'request is not JSON');
  assert.equal(parseRequest('[1]'), 'request needs a "cmd" string');
  assert.equal(parseRequest('null'), 'request needs a "cmd" string');
  assert.equal(parseRequest('{"cmd":"initiate"}'), 'initiate needs a "conn" string');
  assert.equal(parseRequest('{"cmd":"initiate","conn":"a","child":7}'), '"child" must be a string');
  assert.equal(parseRequest('{"cmd":"tunnels/show"}'), 'unknown command "tunnels/show" (status, initiate, rekey, terminate)');
});

test('agent requests: its status shapes, the connection commands, the clock hook', () => {
  for (const cmd of ['status', 'tunnels/show', 'ipsec/status', 'agent/state']) assert.deepEqual(parseAgentRequest(JSON.stringify({ cmd })), { cmd });
  assert.deepEqual(parseAgentRequest('{"cmd":"initiate","conn":"ovn-abcdef-0","child":"ovn-abcdef-0-in-1"}'),
    { cmd: 'initiate', conn: 'ovn-abcdef-0', child: 'ovn-abcdef-0-in-1' });
  assert.deepEqual(parseAgentRequest('{"cmd":"clock/offset","offset":"4.5y"}'), { cmd: 'clock/offset', offset: '4.5y' });
  assert.equal(parseAgentRequest('{"cmd":"clock/offset"}'), 'clock/offset needs an "offset" string (e.g. "4.5y")');
  assert.equal(parseAgentRequest('{"cmd":"rekey","conn":1}'), 'rekey needs a "conn" string');
  assert.equal(parseAgentRequest('{oops'), 'request is not JSON');
  assert.match(parseAgentRequest('{"cmd":"reboot"}') as string, /^unknown command "reboot" \(status, tunnels\/show/);
});
