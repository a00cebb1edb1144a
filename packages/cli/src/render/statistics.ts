import type { Statistics } from '../data.js';
import { counterLabel } from './table.js';

/** One block per counter section, labels left and values right-aligned, in the daemon's order. */
export function renderStatistics(data: Statistics): string {
  const sections = Object.entries(data);
  if (sections.length === 0) return 'No statistics.\n';
  return sections
    .map(([section, counters]) => {
      const rows = Object.entries(counters).map(([name, value]) => [counterLabel(name), String(value)] as const);
      const labelWidth = Math.max(0, ...rows.map(([label]) => label.length));
      const valueWidth = Math.max(0, ...rows.map(([, value]) => value.length));
      const lines = rows.map(([label, value]) => `  ${label.padEnd(labelWidth)}  ${value.padStart(valueWidth)}`);
      return [`${counterLabel(section)} statistics:`, ...lines].join('\n') + '\n';
    })
    .join('\n');
}
