// Our daemons' IKE key log (`system.debug.ike-key-log`), one `<icookie hex16>,<encryption key hex>` line
// per phase-1 SA: the same rows tshark's ikev1_decryption_table takes.
import { readFile } from 'node:fs/promises';
import type { IkeKey } from './charon-keys.js';

export function parseIkeKeyLog(text: string): IkeKey[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line, index) => {
      const match = /^([0-9a-fA-F]{16}),((?:[0-9a-fA-F]{2})+)$/.exec(line);
      if (match?.[1] === undefined || match[2] === undefined) throw new Error(`IKE key log line ${index + 1} is not <icookie>,<key>`);
      return { icookie: match[1].toLowerCase(), key: match[2].toLowerCase() };
    });
}

export async function readIkeKeyLog(path: string): Promise<IkeKey[]> {
  return parseIkeKeyLog(await readFile(path, 'utf8'));
}
