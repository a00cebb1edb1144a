export { IkeEndpoint } from './endpoint.js';
export type { IkeEndpointConfig } from './endpoint.js';
export { IkeSa } from './sa.js';
export type { IkeEvents } from './sa.js';
export { Keymat } from './keymat.js';
export { COUNTER_NAMES } from './statistics.js';
export { MAX_DH_REUSE_SECONDS, ResponderKeyPairs } from './dh-reuse.js';
export type { CounterName } from './statistics.js';
export { DPD_VENDOR_ID } from './main-mode.js';
export { freshMessageId } from './informational.js';
export { RateLimitedWarn } from './rate-limited-log.js';
// Phase-2 message plumbing that the GDOI exchanges share with ours.
export {
  BLOCK_SIZE, chainBytes, ciphertextOf, encodeClear, encryptedMessage, headerBytes, lastBlock, parseClear, parseDecrypted,
  payloadsOf, tryHeader, u32Bytes,
} from './message.js';
export type { Located, MessageHeader, ParsedMessage } from './message.js';
export { ANY_PEER } from './types.js';
export type {
  DpdPolicy, DpdStatus, Endpoint, GatewayPolicy, IkeEncryption, IkeHash, IkeOptions, IkeProposal, IkeSaStatus,
  Logger, NegotiationFailure, SaDownReason, SaRole,
} from './types.js';
