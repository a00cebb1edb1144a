/*
 * `commit [check] [--file PATH]`, `show configuration` and `show system commit` (docs/control-protocol.md).
 * Layouts modelled on Junos (`commit complete`, `configuration check succeeds`, the `show system commit`
 * list), not copied.
 */
import { renderTable } from './table.js';

/** One difference between the running and the new configuration (the daemon's `ConfigChange`). */
export interface ConfigChange {
  /** Table cell of the spec (config-changes.md): "1.1" ... "2.2f", "group-added", "group-other". */
  cell: string;
  group?: string;
  gateway?: string;
  ipsecSa?: string;
  kind?: 'added' | 'changed' | 'deleted';
  matchPolicyChanged?: boolean;
  detail: string;
}

export type CommitResultName = 'applied' | 'refused' | 'invalid' | 'no-change';

export interface CommitRecord {
  time: string;
  file: string;
  trigger: 'cli' | 'sighup';
  result: CommitResultName;
  changes: ConfigChange[];
  applied: string[];
  error: string | null;
}

/** The answer to `commit`. */
export interface CommitOutcome extends CommitRecord {
  restartRequired: string[];
  warnings: string[];
}

/** The answer to `commit check`. */
export interface CommitCheck {
  file: string;
  result: 'ok' | 'refused' | 'invalid' | 'no-change';
  changes: ConfigChange[];
  restartRequired: string[];
  warnings: string[];
  error: string | null;
}

export interface RunningConfiguration {
  file: string;
  text: string;
}

export interface CommitHistory {
  commits: CommitRecord[];
}

/** One line per change: the table cell, then the daemon's description. */
function changeLines(changes: readonly ConfigChange[]): string[] {
  const width = Math.max(0, ...changes.map((c) => c.cell.length));
  return changes.map((c) => `  ${c.cell.padEnd(width)}  ${c.detail}`);
}

function warningLines(warnings: readonly string[] | undefined): string[] {
  return (warnings ?? []).map((w) => `warning: ${w}`);
}

export function renderCommit(data: CommitOutcome): string {
  const lines = warningLines(data.warnings);
  switch (data.result) {
    case 'applied':
      lines.push(`commit complete: ${data.file}`, ...changeLines(data.changes));
      break;
    case 'no-change':
      lines.push(`commit complete: ${data.file}: no changes`);
      break;
    case 'refused':
      lines.push(`error: commit refused: ${data.error ?? 'no reason given'}`, ...changeLines(data.changes));
      break;
    case 'invalid':
      lines.push(`error: configuration check-out failed: ${data.error ?? 'no reason given'}`);
      break;
  }
  return `${lines.join('\n')}\n`;
}

export function renderCommitCheck(data: CommitCheck): string {
  const lines = warningLines(data.warnings);
  switch (data.result) {
    case 'ok':
      lines.push(`configuration check succeeds: ${data.file}`, ...changeLines(data.changes));
      break;
    case 'no-change':
      lines.push(`configuration check succeeds: ${data.file}: no changes`);
      break;
    case 'refused':
      lines.push(`configuration check succeeds, but a commit would be refused: ${data.error ?? 'no reason given'}`, ...changeLines(data.changes));
      break;
    case 'invalid':
      lines.push(`error: configuration check-out failed: ${data.error ?? 'no reason given'}`);
      break;
  }
  return `${lines.join('\n')}\n`;
}

/** A commit that changed nothing it was asked to (refused or invalid) makes `gvpn` exit 1. */
export function commitFailed(data: { result: string }): boolean {
  return data.result === 'refused' || data.result === 'invalid';
}

export function renderConfiguration(data: RunningConfiguration): string {
  return `## Running configuration, from ${data.file}\n${data.text.endsWith('\n') ? data.text : `${data.text}\n`}`;
}

/** "2026-11-28T02:03:04.567Z" -> "2026-11-28 02:03:04 UTC". */
function commitTime(iso: string): string {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?Z$/.exec(iso);
  return match === null ? iso : `${match[1]} ${match[2]} UTC`;
}

/** Newest first, numbered from 0 as Junos numbers its commits. */
export function renderCommitHistory(data: CommitHistory): string {
  if (data.commits.length === 0) return 'No commits since the daemon started.\n';
  const rows = data.commits.map((c, index) => [
    String(index),
    commitTime(c.time),
    c.result,
    c.trigger,
    c.file,
    c.changes.length === 0 ? '-' : c.changes.map((change) => change.cell).join(','),
  ]);
  return renderTable(['#', 'Time', 'Result', 'Via', 'File', 'Changes'], rows);
}
