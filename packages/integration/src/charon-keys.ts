// Phase-1 encryption keys from a charon log written with `ike = 4, mgr = 2` (see charon-config.ts), in
// the form tshark's ikev1_decryption_table takes. charon does not log the cookies next to the key, but
// each worker thread logs "checkout IKEv1 SA ... with SPIs <icookie>_i <rcookie>_r" before processing a
// message, and the thread that derives the keys logs them afterwards, so the thread number pairs them:
//
//   05[MGR] checkout IKEv1 SA by message with SPIs 21768ef8818e548a_i a97b7c417b485b1b_r
//   05[IKE] encryption key Ka => 32 bytes @ 0x565299746680
//   05[IKE]    0: 09 18 21 4D 50 7C 0A 03 57 DD 57 D8 D4 26 BA 1E  ..!MP|..W.W..&..
//   05[IKE]   16: 78 EB 66 09 1E 3E F5 7C 45 11 48 CD 73 B7 18 5C  x.f..>.|E.H.s..\

/** One row of tshark's ikev1_decryption_table: initiator cookie and encryption key, lowercase hex. */
export interface IkeKey {
  icookie: string;
  key: string;
}

const CHECKOUT = /^(\d+)\[MGR\] .*IKEv1 SA.* with SPIs ([0-9a-f]{16})_i /;
const KEY_HEADER = /^(\d+)\[IKE\] encryption key Ka => (\d+) bytes/;
const DUMP_LINE = /^(\d+)\[IKE\]\s+\d+: ((?:[0-9A-F]{2} ?)+)/;

/** Every phase-1 encryption key in the log with the initiator cookie of its SA, in log order. */
export function charonIkeKeys(log: string): IkeKey[] {
  const cookieByThread = new Map<string, string>();
  const pending = new Map<string, { icookie: string; length: number; hex: string }>();
  const keys: IkeKey[] = [];
  for (const line of log.split('\n')) {
    const checkout = CHECKOUT.exec(line);
    if (checkout?.[1] !== undefined && checkout[2] !== undefined) {
      cookieByThread.set(checkout[1], checkout[2]);
      continue;
    }
    const header = KEY_HEADER.exec(line);
    if (header?.[1] !== undefined && header[2] !== undefined) {
      const icookie = cookieByThread.get(header[1]);
      if (icookie === undefined) throw new Error(`charon log: key on thread ${header[1]} before any SA checkout (is mgr = 2 set?)`);
      pending.set(header[1], { icookie, length: Number(header[2]), hex: '' });
      continue;
    }
    const dump = DUMP_LINE.exec(line);
    const thread = dump?.[1];
    const pendingKey = thread === undefined ? undefined : pending.get(thread);
    if (pendingKey === undefined || dump?.[2] === undefined || thread === undefined) continue;
    pendingKey.hex += dump[2].replaceAll(' ', '').toLowerCase();
    if (pendingKey.hex.length >= pendingKey.length * 2) {
      keys.push({ icookie: pendingKey.icookie, key: pendingKey.hex.slice(0, pendingKey.length * 2) });
      pending.delete(thread);
    }
  }
  return keys;
}
