export { GCKS_COMMANDS, createGcks, type Gcks, type GcksOptions, type ResumedGroup } from './gcks.js';
export { GroupState, type GivenKeys, groupPolicy, deactivationDelaySeconds, RSA_BITS } from './group-state.js';
export { GroupRekey, type CampaignKind, type KeyChange, type PushCampaign } from './rekey.js';
export { Registrations, type Registration, type RegistrationChange } from './registrations.js';
export { authorizeMember, DEFAULT_PLATFORM_MAX_MEMBERS } from './authorization.js';
export { emptyGdoiCounters, type GdoiCounters } from './statistics.js';
export { emptyClusterCounters, messageDrops, withRegistrations, type ClusterCounters } from './cluster-counters.js';
export { ikeSaState, newestSa, secondsAgo } from './cluster-peers.js';
export { addedGroups, endedGroups, gatewaysLosingMembers, gatewaysToClear, kekChanges, serverRefusal } from './live-config.js';
export {
  GroupRecordError, MEMBER_ROWS, allMemberRows, applyMemberChanges, checkArray, checkTime, groupRecords, isObject, memberChanges, readMembers, resumeGroups, resumeOrDiscard,
  toMono, toWall, type Clocks, type GroupRecord, type MemberChange,
} from './group-record.js';
