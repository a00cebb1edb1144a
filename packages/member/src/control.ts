/**
 * The member's control commands (docs/control-protocol.md, "Member commands"). SPIs are lower-case hex;
 * keys appear only when the request carries `options.showKeys: true`.
 */
import { ControlCommandError, type ControlHandler, type RoleContext } from '@gvpn/runtime';
import type { MemberAgent } from './agent.js';
import { REGISTRATION_COUNTER_NAMES } from './registration.js';
import { spiHex } from './tek-convert.js';

const POLICY_COMMAND = 'show security group-vpn member policy';

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function seconds(ms: number): number | null {
  return Number.isFinite(ms) ? Math.max(0, Math.floor(ms / 1000)) : null;
}

export class MemberControl {
  readonly #agent: MemberAgent;
  readonly #ctx: RoleContext;

  constructor(agent: MemberAgent, ctx: RoleContext) {
    this.#agent = agent;
    this.#ctx = ctx;
  }

  handlers(): Record<string, ControlHandler> {
    return {
      'show security group-vpn member kek security-associations': (options) => this.kek(options['showKeys'] === true),
      'show security group-vpn member ipsec security-associations': (options) => this.ipsec(options['showKeys'] === true),
      [POLICY_COMMAND]: () => this.policy(),
      'show security group-vpn member ipsec statistics': () => this.statistics(),
      'clear security group-vpn member ipsec security-associations': () => ({ cleared: this.#agent.clearIpsec(this.#ctx.clock.now()) }),
      'clear security group-vpn member group': () => ({ cleared: this.#agent.clearGroups(this.#ctx.clock.now()) }),
    };
  }

  kek(showKeys: boolean): unknown {
    const now = this.#ctx.clock.now();
    const sas = [];
    for (const r of this.#agent.registrations) {
      const keys = r.keys;
      const kek = keys?.receiver.kek;
      if (keys === undefined || kek === undefined) continue;
      sas.push({
        group: r.name,
        groupId: r.vpn.groupId,
        spi: hex(kek.spi),
        server: keys.result.server.address,
        serverPort: keys.result.server.port,
        gateway: keys.server.name,
        algorithm: kek.cipher,
        signatureHash: kek.sigHash,
        signatureKeyBits: kek.sigBits,
        ackRequested: kek.ackType !== undefined,
        seq: keys.receiver.lastSeq,
        lifetimeSeconds: kek.lifetimeSeconds,
        expiresInSeconds: seconds(keys.kekInstalledAt + kek.lifetimeSeconds * 1000 - now),
        registeredSecondsAgo: seconds(now - keys.registeredAt),
        ...(keys.restoredFromStore === true ? { restoredFromStore: true } : {}),
        ...(showKeys ? { key: hex(kek.key.reveal()), iv: hex(kek.iv), signatureKey: hex(kek.publicKeyDer) } : {}),
      });
    }
    const registrations = this.#agent.registrations.map((r) => ({
      group: r.name,
      groupId: r.vpn.groupId,
      registered: r.keys !== undefined,
      server: r.keys?.result.server.address ?? null,
      attempt: r.attemptState ?? null,
      trying: r.tryingServer?.remote.address ?? null,
    }));
    return { sas, registrations };
  }

  ipsec(showKeys: boolean): unknown {
    const now = this.#ctx.clock.now();
    const sad = this.#agent.dataPlane.endpoint.sad;
    const sas = this.#agent.dataPlane.teks().map((t) => {
      const r = this.#agent.registrations.find((candidate) => candidate.name === t.group);
      const p = t.gdoi.policy;
      return {
        group: t.group,
        groupId: r?.vpn.groupId ?? null,
        spi: spiHex(t.esp.spi),
        algorithm: p.cipher,
        integrity: p.integrity ?? null,
        transform: t.esp.transform,
        state: t.retiring ? 'retiring' : 'active',
        outbound: sad.isOutbound(t.esp.spi, now),
        server: r?.keys?.result.server.address ?? null,
        source: p.source.prefix,
        destination: p.destination.prefix,
        sourcePort: p.source.port,
        destinationPort: p.destination.port,
        protocol: p.protocol,
        mode: 'tunnel',
        lifetimeSeconds: p.lifetimeSeconds,
        antiReplayWindowSeconds: p.antiReplayWindowSeconds ?? null,
        activatesInSeconds: seconds(t.esp.activation - now),
        expiresInSeconds: seconds(t.esp.deactivation - now),
        ...(showKeys ? {
          encryptionKey: hex(t.esp.encKey.reveal()),
          integrityKey: t.esp.authKey === undefined ? null : hex(t.esp.authKey.reveal()),
          salt: t.esp.salt === undefined ? null : hex(t.esp.salt),
        } : {}),
      };
    });
    return { sas };
  }

  policy(): unknown {
    if (!this.#ctx.config.system.platform.commands.includes(POLICY_COMMAND)) {
      throw new ControlCommandError('NOT_AVAILABLE', `not available on this platform (${this.#ctx.config.system.platform.model})`);
    }
    const policies = [];
    for (const r of this.#agent.registrations) {
      const teks = this.#agent.dataPlane.teks(r.name);
      const seen = new Map<string, { source: string; destination: string; sourcePort: number; destinationPort: number; protocol: number; spis: string[] }>();
      for (const t of teks) {
        const p = t.gdoi.policy;
        const key = `${p.source.prefix}|${p.destination.prefix}|${p.source.port}|${p.destination.port}|${p.protocol}`;
        const entry = seen.get(key) ?? { source: p.source.prefix, destination: p.destination.prefix, sourcePort: p.source.port, destinationPort: p.destination.port, protocol: p.protocol, spis: [] };
        entry.spis.push(spiHex(t.esp.spi));
        seen.set(key, entry);
      }
      for (const entry of seen.values()) policies.push({ group: r.name, groupId: r.vpn.groupId, action: 'encrypt', ...entry });
    }
    return { policies };
  }

  statistics(): unknown {
    const regs = this.#agent.registrations;
    const sum = <K extends string>(names: readonly K[], get: (r: (typeof regs)[number]) => Record<K, number>): Record<K, number> =>
      Object.fromEntries(names.map((n) => [n, regs.reduce((acc, r) => acc + get(r)[n], 0)])) as Record<K, number>;
    const pushTotals = regs.length === 0 ? {} : sum(Object.keys(regs[0]?.pushCounters() ?? {}) as string[], (r) => r.pushCounters() as Record<string, number>);
    return {
      probe: this.#agent.dataPlane.probeCounters(),
      esp: this.#agent.dataPlane.counters(),
      push: { ...this.#agent.pushes.counters, ...pushTotals },
      registration: sum(REGISTRATION_COUNTER_NAMES, (r) => r.counters),
      probePeers: this.#agent.dataPlane.probePeers(),
    };
  }
}
