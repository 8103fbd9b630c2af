/**
 * The IKEv2 protocol core (RFC 7296), sans-I/O. A daemon builds an IkeEngine from its connection
 * configs and an auth provider (src/ike/auth/createAuthProvider), and drives it directly
 * (receive / onTimeout / poll / nextDeadline) or through src/host (IkeDriver in an IpsecStack).
 */
export { IkeEngine, type IkeEngineOptions, type IkeCounters } from './engine.js';
export { resolveConnection, type IkeConnectionConfig, type IkeChildConfig } from './config.js';
export { DEFAULT_TIMERS, type EngineTimers } from './context.js';
export type { IkeAuthProvider, IkeId } from './auth-provider.js';
export type { NegotiatedChild, Endpoint, IkeKeysEvent, IkeOutput } from './events.js';
export type { IkeStatus, IkeSaStatus, ChildStatus } from './status.js';
export type { IkeSaView, ChildSaView, IkeSaState, ChildSaState } from './view.js';
export { ikev2DecryptionRow, ikev2DecryptionTable, wiresharkIkeEncryption } from './keylog.js';
export { parseProposal, parseProposals, proposalName, ProposalSyntaxError } from './proposals.js';
export { parseTs, TsSyntaxError, formatTs, formatTsLibreswan } from '../wire/traffic-selector.js';
