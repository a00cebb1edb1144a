// What the sub-server daemon needs to play a standalone or root server after a change of role
// (R-CHG-2.2b/2.2f: packages/sub-server/src/server-role.ts). The dependency goes one way, sub-server ->
// root-server: the root-server daemon never becomes a sub (docs/config-changes.md).
export { createDurableRoot, type DurableRoot } from './durable-root.js';
export { ROOT_STATE, type RootRecord, type StoredRoot } from './root-state.js';
