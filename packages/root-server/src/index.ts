export { createGcks, type Gcks } from './gcks.js';
export { GroupState, groupPolicy, deactivationDelaySeconds, RSA_BITS } from './group-state.js';
export { GroupRekey, type CampaignKind, type PushCampaign } from './rekey.js';
export { Registrations, type Registration } from './registrations.js';
export { authorizeMember, DEFAULT_PLATFORM_MAX_MEMBERS } from './authorization.js';
export { emptyGdoiCounters, type GdoiCounters } from './statistics.js';
