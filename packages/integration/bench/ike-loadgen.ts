/**
 * Load generator for bench/ike.ts (its own process, pinned to another core): N concurrent lean Main
 * Mode initiators, one UDP socket each (127.0.6.2, ports BASE..BASE+N-1, which the responder's config
 * knows as N gateways). Each repeatedly completes Main Mode (fresh cookies and nonces every time), then
 * sends an encrypted informational Delete so the responder drops the SA, and starts again.
 *
 * Lean: the engine's own MainModeInitiator builds and checks every message, except that each
 * connection reuses ONE Diffie-Hellman key pair for all its handshakes (message 3 is otherwise built
 * exactly as MainModeInitiator builds it). So the generator pays one DH compute per handshake where the
 * responder pays a key generation and a compute. Never do this outside a benchmark.
 *
 * argv: group count basePort. Prints one JSON line per second: {"done": handshakes completed, "stalls": restarts after 2 s without an answer}.
 */
import { createSocket, type Socket } from 'node:dgram';
import { Secret, dhGroup, systemRandom, type DhKeyPair } from '@gvpn/crypto';
import { PayloadType, decodeHeader, type KePayload, type NoncePayload, type Header } from '@gvpn/wire';
// Engine internals, by path from dist/bench (not part of @gvpn/ike's public surface): the benchmark drives
// the real code. Loaded at run time so the compiled file's relative location is the one that counts.
/* eslint-disable @typescript-eslint/no-explicit-any */
const internal = async (file: string): Promise<any> => import(new URL(`../../../ike/dist/src/${file}`, import.meta.url).href);
const { MainModeInitiator, InitiatorState } = await internal('main-mode-initiator.js');
const { protectedInformational } = await internal('informational.js');
const { encodeClear, payloadsOf } = await internal('message.js');
const { acceptAnswer, isPhase1Sa } = await internal('proposal.js');
const { hasDpdVendorId } = await internal('main-mode.js');
type ParsedMessage = { payloads: unknown[] };
import type { GatewayPolicy, IkeProposal } from '@gvpn/ike';

const [groupArg = '14', countArg = '64', baseArg = '21000'] = process.argv.slice(2);
const group = Number(groupArg) as 14 | 19;
const count = Number(countArg);
const base = Number(baseArg);
const RESPONDER = { address: '127.0.6.1', port: 848 };
const LOCAL = '127.0.6.2';
const PSK = 'bench-only';
const proposal: IkeProposal = { encryption: 'aes-256-cbc', hash: 'sha256', dhGroup: group, lifetimeSeconds: 3600 };

/** MainModeInitiator whose message 3 uses a key pair shared by the connection (see the file comment). */
class LeanInitiator extends (MainModeInitiator as new (ctx: unknown) => any) {
  constructor(ctx: unknown, readonly shared: DhKeyPair) {
    super(ctx);
  }
}
// Replaces the private onMessage2 (same steps as the engine's, minus the key generation).
(LeanInitiator.prototype as any).onMessage2 = function onMessage2(this: any, header: Header, m: ParsedMessage) {
  const sa = payloadsOf(m, PayloadType.SA)[0]?.payload;
  if (sa === undefined || !isPhase1Sa(sa)) throw new Error('message 2 without SA');
  const chosen = acceptAnswer(sa, [proposal]);
  if (chosen === undefined) throw new Error('message 2: not our offer');
  this.proposal = chosen;
  this.peerSupportsDpd = hasDpdVendorId(m.payloads);
  this.rcookie = Uint8Array.from(header.rcookie);
  const keyPair = this.shared as DhKeyPair;
  this.keyPair = keyPair;
  const ke: KePayload = { type: PayloadType.KE, data: keyPair.publicValue };
  const nonce: NoncePayload = { type: PayloadType.NONCE, data: this.nonceI as Uint8Array };
  this.state = InitiatorState.Mm3Sent;
  return { kind: 'send', bytes: encodeClear({ icookie: this.icookie as Uint8Array, rcookie: this.rcookie as Uint8Array, exchangeType: 2, messageId: 0 }, [ke, nonce]) };
};

let done = 0;
let stalls = 0;
const dh = dhGroup(group);

function connection(port: number): void {
  const socket: Socket = createSocket('udp4');
  const gateway: GatewayPolicy = {
    name: `g${port}`, peer: RESPONDER, psk: Secret.copyOf(new TextEncoder().encode(PSK)), proposals: [proposal], initiate: true, doi: 2,
  };
  const shared = dh.generate(systemRandom);
  let task: any;
  let timer: NodeJS.Timeout | undefined;
  const send = (b: Uint8Array): void => {
    socket.send(b, RESPONDER.port, RESPONDER.address);
    clearTimeout(timer);
    // a lost datagram (or a responder at its half-open bound) must not stall this connection
    timer = setTimeout(() => { stalls++; begin(); }, 2000);
  };
  function begin(): void {
    task = new LeanInitiator({
      gateway, proposals: [proposal], local: { address: LOCAL, port }, random: systemRandom, allowLegacyGroups: false,
      initialContact: false, countDh: () => {},
    }, shared);
    send(task.start());
  }
  socket.on('message', (msg) => {
    const bytes = new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
    let header: Header;
    try { header = decodeHeader(bytes, 0); } catch { return; }
    if (header.exchangeType !== 2 || !header.icookie.every((b: number, i: number) => b === task.icookie[i])) return;
    const step = task.process(header, bytes);
    if (step.kind === 'send') send(step.bytes);
    else if (step.kind === 'established') {
      done++;
      const keys = task.keys!;
      const spi = new Uint8Array(16);
      spi.set(task.icookie, 0);
      spi.set(task.rcookie, 8);
      socket.send(protectedInformational({ icookie: task.icookie, rcookie: task.rcookie },
        { type: PayloadType.D, doi: 1, protocolId: 1, spiSize: 16, spis: [spi] }, keys, systemRandom), RESPONDER.port, RESPONDER.address);
      begin();
    }
  });
  socket.bind(port, LOCAL, begin);
}

for (let i = 0; i < count; i++) connection(base + i);
setInterval(() => console.log(JSON.stringify({ done, stalls })), 1000);
