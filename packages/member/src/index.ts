export { MemberAgent, memberModule } from './agent.js';
export { DataPlane, type InstalledTek, type ProbeCounters, type ProbePeerReport } from './data-plane.js';
export { GroupRegistration, REGISTRATION_COUNTER_NAMES, type RegistrationKeys } from './registration.js';
export { PushHandler, PUSH_ROUTER_COUNTER_NAMES, isPush } from './push-handler.js';
export { espTekFrom, espTransform, spiHex, spiNumber } from './tek-convert.js';
