/**
 * A server cluster under load: the real root-server daemon and four real sub-server daemons (the example
 * lab, configs/lab/example, run by ClusterLab in a network namespace of this bench) with N simulated
 * members spread evenly over the four subs.
 *   ./scripts/bench cluster [--members N] [--generators G] [--concurrency C]
 *       without --members: N = 1000, then 10000; G = 4 generator processes (a multiple of 4), C = 128 in all
 *
 * Setup per N: the lab's root and subs with these edits, the same on every server where the group is
 * concerned (R-CONF-4/5): member-threshold N (R-CONF-5; any one sub could carry every member), TEK and KEK
 * lifetimes 3600 s (no timed rekey during the run), pushes retransmitted every 10 s (as bench/rekey.ts), log
 * level warn. Each sub replaces its four GM-000x gateways with ONE `address: dynamic` gateway for members
 * (docs/configuration.md, "Dynamic member gateways"); its platform (srx345) publishes no member maximum, so
 * the daemon's DEFAULT_PLATFORM_MAX_MEMBERS (10,000) applies, four times the 2,500 a sub gets at N = 10000.
 * Cluster DPD stays as in the lab: the sub's RootSrv gateway, always-send, interval 5 s, threshold 3.
 * G load generators (bench/gdoi-loadgen.ts, each its own process inside the namespace; generator g serves sub
 * g mod 4 with N/G members at its own addresses) register every member with real Main Mode (group 19) +
 * GROUPKEY-PULL over UDP, at most C/G at a time each, and keep listening for pushes, which they verify and ACK.
 *
 * Figures:
 * 1. rekey_ms: `request security group-vpn server rekey group GROUP_ID-0001` on the root (sent by this
 *    process; time 0 is just before the request) until the LAST of the N members has accepted (decrypted
 *    under the KEK, RSA signature verified, SEQ fresh) a push carrying the new TEK. The path: root ->
 *    CLUSTER-UPDATE to each sub -> the sub installs it, ACKs and pushes to its own members. Every generator
 *    times its members on the host's monotonic clock (the same in every process). Also rekey_arrival_ms (the
 *    last push reached a generator) and rekey_own_cpu_ms (with a CPU per member, as real members have: each
 *    push's arrival plus one member's work on it), since on a small machine the generators' own verification
 *    work competes with the servers for the same cores.
 * 2. freeze_detect_s: SIGSTOP the root, then time until `show security group-vpn server server-cluster` on
 *    EVERY sub shows the root inactive (each sub polled every 20 ms). Against: dpd_configured_s = the subs'
 *    DPD interval x threshold, and dpd_last_ack_bound_s = interval x (threshold + 1). Why both: a sub probes
 *    every interval T and declares the root dead at the first tick with `threshold` N probes unanswered; the
 *    probe answered last went out at most T before the freeze, so the detection comes between N x T and
 *    (N + 1) x T after the freeze (the bound counts from that last answered probe, its ACK).
 * Also register_s: from starting the generators (which first bind their sockets) until all N members are
 * registered, for orientation only (bench/register.ts measures registration).
 * Ends with one line: `RESULT members=N1 rekey_ms=... freeze_detect_s=... members_N2_rekey_ms=... dpd_configured_s=...`
 * (the first N's keys bare, each further N's keys prefixed `members_N_`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cleanup, ClusterLab, waitFor, type ExampleNode, type ManagedProcess, type NodeDocument } from '../src/index.js';
import { cpuMs, monoMs, option } from './gcks-loadgen-host.js';

const here = import.meta.dirname;
const GROUP = { name: 'GROUP_ID-0001', id: 1 };
const MEMBER_PSK = 'lab-only-member-secret'; // the subs' GMs policy in configs/lab/example
const SUBS = ['sub1', 'sub2', 'sub3', 'sub4'] as const satisfies readonly ExampleNode[];

const GENERATORS = Number(option('generators') ?? 4);
const CONCURRENCY = Number(option('concurrency') ?? 128);
const sizes = option('members') === undefined ? [1000, 10_000] : [Number(option('members'))];
for (const n of sizes) {
  // Every server's member-threshold is set to N (any one sub could carry every member): at most the 10,000 a
  // platform without a published maximum allows.
  if (!Number.isInteger(n) || n < GENERATORS || n > 10_000) throw new Error(`--members: ${GENERATORS}..10000 (member-threshold on every server is N)`);
}
if (!Number.isInteger(GENERATORS) || GENERATORS < 4 || GENERATORS % 4 !== 0) throw new Error('--generators: a multiple of 4 (each sub gets the same number)');
if (!Number.isInteger(CONCURRENCY) || CONCURRENCY < GENERATORS) throw new Error(`--concurrency: at least ${GENERATORS} (one per generator)`);

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

function edit(n: number) {
  return (node: ExampleNode, doc: NodeDocument): void => {
    doc.system['log-level'] = 'warn';
    const server = doc.security['group-vpn'].server;
    for (const proposal of Object.values(server.ipsec.proposal) as NodeDocument[]) proposal['lifetime-seconds'] = 3600;
    const group = server.group[GROUP.name];
    group['member-threshold'] = n;
    const smc = group['server-member-communication'];
    smc['lifetime-seconds'] = 3600;
    smc['retransmission-period'] = 10;
    if (node.startsWith('sub')) {
      const gateways = server.ike.gateway as Record<string, unknown>;
      for (const name of Object.keys(gateways)) if (name.startsWith('GM-')) delete gateways[name];
      gateways['GM-ANY'] = { 'ike-policy': 'GMs', address: 'dynamic' };
      group['ike-gateway'] = ['GM-ANY'];
    }
  };
}

interface Generator {
  name: string;
  sub: (typeof SUBS)[number];
  members: number;
  child: ManagedProcess;
}

/** The generator's JSON lines with this event (stdout is a file, read whole: a few lines only). */
function events(gen: Generator, event: string): Record<string, unknown>[] {
  return gen.child.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((o) => o['event'] === event);
}

/** UDP RcvbufErrors inside the lab's namespace (/proc/net/snmp is per network namespace). */
async function rcvbufErrors(lab: ClusterLab): Promise<number> {
  const { stdout } = await lab.ns.run('cat', ['/proc/net/snmp']);
  const lines = stdout.split('\n').filter((l) => l.startsWith('Udp: '));
  const names = (lines[0] ?? '').split(' ');
  return Number((lines[1] ?? '').split(' ')[names.indexOf('RcvbufErrors')] ?? 0);
}

interface Figures {
  rekeyMs: number;
  rekeyArrivalMs: number;
  rekeyOwnCpuMs: number;
  registerS: number;
  freezeDetectS: number;
  dpdConfiguredS: number;
  dpdBoundS: number;
}

async function run(n: number): Promise<Figures> {
  const cleanup = new Cleanup();
  try {
    const lab = await ClusterLab.start(cleanup, { label: `bench-cluster-${n}`, nodes: ['root', ...SUBS], edit: edit(n) });
    await lab.clusterUp(30_000);
    const oldTeks = await lab.tekSpis('root');

    // Generators: g serves SUBS[g % 4] with its share of the N members, at addresses no other generator uses.
    const gens: Generator[] = [];
    let offset = 0;
    for (let g = 0; g < GENERATORS; g++) {
      const members = Math.floor((n * (g + 1)) / GENERATORS) - Math.floor((n * g) / GENERATORS);
      const sub = SUBS[g % SUBS.length] as (typeof SUBS)[number];
      const args = {
        server: { address: lab.configs.get(sub).system.listen.address as string, port: 848 }, psk: MEMBER_PSK, groupId: GROUP.id,
        dhGroup: 19, members, concurrency: Math.floor(CONCURRENCY / GENERATORS), memberOffset: offset, watchTeks: true,
      };
      offset += members;
      const name = `loadgen-${g}`;
      gens.push({ name, sub, members, child: lab.ns.spawn(name, process.execPath, [join(here, 'gdoi-loadgen.js'), JSON.stringify(args)], { logDir: lab.dir }) });
    }
    const alive = async (): Promise<void> => {
      for (const gen of gens) if (!gen.child.running) throw new Error(`${gen.name} exited: ${gen.child.stderr()}`);
      for (const node of ['root', ...SUBS] as const) if (!lab.running(node)) throw new Error(`${node} died: ${lab.log(node).slice(-2000)}`);
    };

    const reg0 = monoMs();
    const registered = await waitFor(async () => {
      await alive();
      const lines = gens.map((gen) => events(gen, 'registered')[0]);
      return lines.every((l) => l !== undefined) && (lines as Record<string, unknown>[]);
    }, 240_000, 'every member registered', 100);
    const registerS = (monoMs() - reg0) / 1000;
    for (const sub of SUBS) {
      const { groups } = await lab.show<{ groups: { members: unknown[] }[] }>(sub, 'registered-members');
      const want = sum(gens.filter((g) => g.sub === sub).map((g) => g.members));
      if (groups[0]?.members.length !== want) throw new Error(`${sub} lists ${groups[0]?.members.length} members, expected ${want}`);
    }
    console.log(`N=${n}: ${GENERATORS} generators registered ${n} members with ${SUBS.length} subs (${n / SUBS.length} each) in ${registerS.toFixed(1)} s `
      + `(generators' own figures: ${registered.map((r) => `${Number(r['perS']).toFixed(0)}/s`).join(', ')}; retries ${sum(registered.map((r) => Number(r['retries'])))})`);

    // 1. Rekey on the root until every member has verified a push with the new TEK.
    const drops0 = await rcvbufErrors(lab);
    const acks0 = sum(await Promise.all(SUBS.map(async (s) => (await lab.statistics(s)).gdoi?.acksReceived ?? 0)));
    const updatesAcked0 = (await lab.statistics('root')).cluster?.clusterUpdatesAcked ?? 0;
    const cpu0 = new Map((['root', ...SUBS] as const).map((node) => [node, cpuMs(lab.pid(node))]));
    const genCpu0 = gens.map((g) => cpuMs(g.child.pid));
    const t0 = monoMs();
    const answer = (await lab.request('root', ['request', 'security', 'group-vpn', 'server', 'rekey', 'group'], { group: GROUP.name })) as { spis: string[]; seq: number };
    const answeredMs = monoMs() - t0;
    const spi = answer.spis[0];
    if (spi === undefined || oldTeks.includes(spi)) throw new Error(`the rekey answered ${JSON.stringify(answer)}; TEKs before: ${oldTeks.join(', ')}`);
    const teks = await waitFor(async () => {
      await alive();
      const lines = gens.map((gen) => events(gen, 'tek').find((o) => o['spi'] === spi && o['installed'] === o['of']));
      return lines.every((l) => l !== undefined) && (lines as Record<string, unknown>[]);
    }, 60_000, `every member holding TEK ${spi}`, 20).catch(async (error: unknown) => {
      for (const gen of gens) process.kill(gen.child.pid, 'SIGUSR2');
      await new Promise((r) => setTimeout(r, 500));
      const partial = gens.map((gen) => events(gen, 'tek').filter((o) => o['spi'] === spi).at(-1));
      throw new Error(`${String(error)}; per generator installed: ${partial.map((p) => `${String(p?.['installed'] ?? 0)}/${String(p?.['of'] ?? '?')}`).join(', ')}`);
    });
    const cpuRekey = new Map([...cpu0].map(([node, c]) => [node, cpuMs(lab.pid(node)) - c]));
    const genCpu = sum(gens.map((g, i) => cpuMs(g.child.pid) - (genCpu0[i] ?? 0)));
    const rel = (key: string, pick: (xs: number[]) => number): number => pick(teks.map((t) => Number(t[key]))) - t0;
    const rekeyMs = rel('lastMono', (xs) => Math.max(...xs));
    const rekeyArrivalMs = rel('lastArrivalMono', (xs) => Math.max(...xs));
    const rekeyOwnCpuMs = rel('ownCpuLastMono', (xs) => Math.max(...xs));
    const firstMs = rel('firstMono', (xs) => Math.min(...xs));
    const workMedian = teks.map((t) => Number(t['memberWorkMedianMs'])).sort((a, b) => a - b)[Math.floor(teks.length / 2)] ?? 0;
    // ACKs: informational (a lost ACK is counted after the sub's retransmission, 10 s later).
    const acks = await waitFor(async () => {
      const a = sum(await Promise.all(SUBS.map(async (s) => (await lab.statistics(s)).gdoi?.acksReceived ?? 0))) - acks0;
      return a >= n && a;
    }, 15_000, 'every member ACK at the subs', 100).catch(async () => sum(await Promise.all(SUBS.map(async (s) => (await lab.statistics(s)).gdoi?.acksReceived ?? 0))) - acks0);
    const updatesAcked = ((await lab.statistics('root')).cluster?.clusterUpdatesAcked ?? 0) - updatesAcked0;
    const drops = (await rcvbufErrors(lab)) - drops0;
    const pushDrops = sum(gens.map((g) => Number(events(g, 'tek').find((o) => o['spi'] === spi)?.['pushDrops'] ?? 0)));
    console.log(`N=${n}: rekey (SEQ ${answer.seq}, TEK ${spi}): root answered after ${answeredMs.toFixed(1)} ms; first member installed at ${firstMs.toFixed(1)} ms, `
      + `last at ${rekeyMs.toFixed(1)} ms; last push reached a generator at ${rekeyArrivalMs.toFixed(1)} ms; one member's work per push median `
      + `${workMedian.toFixed(3)} ms, so with a CPU per member the last would have installed at ${rekeyOwnCpuMs.toFixed(1)} ms; `
      + `CPU meanwhile: ${[...cpuRekey].map(([node, c]) => `${node} ${c.toFixed(0)} ms`).join(', ')}, generators ${genCpu.toFixed(0)} ms in all; cluster-update ACKs at the root ${updatesAcked}/${SUBS.length}; `
      + `member ACKs at the subs ${acks}/${n}; pushes dropped by members ${pushDrops}; UDP receive-buffer drops in the namespace ${drops}`);

    // 2. Freeze the root; every sub must find it dead by DPD.
    for (const sub of SUBS) if ((await lab.cluster(sub)).groups[0]?.root !== 'active') throw new Error(`${sub} does not see the root active before the freeze`);
    const dpd = (sub: ExampleNode): { interval: number; threshold: number } => lab.configs.get(sub).security['group-vpn'].server.ike.gateway.RootSrv['dead-peer-detection'];
    const { interval, threshold } = dpd('sub1');
    if (SUBS.some((s) => dpd(s).interval !== interval || dpd(s).threshold !== threshold)) throw new Error('the subs\' DPD settings differ');
    const f0 = monoMs();
    lab.signal('root', 'SIGSTOP');
    cleanup.defer('SIGCONT root', () => { if (lab.running('root')) lab.signal('root', 'SIGCONT'); });
    const detected = await Promise.all(SUBS.map((sub) => waitFor(async () => {
      await alive();
      return (await lab.cluster(sub)).groups[0]?.root === 'inactive' && (monoMs() - f0) / 1000;
    }, (interval * (threshold + 1) + 15) * 1000, `${sub}: root inactive`, 20)));
    lab.signal('root', 'SIGCONT');
    const freezeDetectS = Math.max(...detected);
    const dpdConfiguredS = interval * threshold;
    const dpdBoundS = interval * (threshold + 1);
    console.log(`N=${n}: root frozen (SIGSTOP): root inactive on ${SUBS.map((s, i) => `${s} after ${(detected[i] ?? 0).toFixed(2)} s`).join(', ')}; `
      + `DPD interval ${interval} s x threshold ${threshold} = ${dpdConfiguredS} s, at most ${dpdBoundS} s after the last answered probe`
      + `${freezeDetectS > dpdBoundS + 1 ? ' — LATER than the DPD bound' : ''}`);
    return { rekeyMs, rekeyArrivalMs, rekeyOwnCpuMs, registerS, freezeDetectS, dpdConfiguredS, dpdBoundS };
  } finally {
    await cleanup.run();
  }
}

console.log(`${sizes.join(' and ')} members; ${GENERATORS} generators, registration concurrency ${CONCURRENCY} in all; ${readFileSync('/proc/cpuinfo', 'utf8').split('\n').filter((l) => l.startsWith('processor')).length} CPUs shared by the 5 daemons and the generators`);
const results: [number, Figures][] = [];
for (const n of sizes) results.push([n, await run(n)]);
const fields = results.map(([n, f], i) => {
  const p = i === 0 ? '' : `members_${n}_`;
  return `${i === 0 ? `members=${n} ` : ''}${p}rekey_ms=${f.rekeyMs.toFixed(1)} ${p}rekey_arrival_ms=${f.rekeyArrivalMs.toFixed(1)} ${p}rekey_own_cpu_ms=${f.rekeyOwnCpuMs.toFixed(1)} `
    + `${p}register_s=${f.registerS.toFixed(1)} ${p}freeze_detect_s=${f.freezeDetectS.toFixed(2)}`;
});
const last = results[results.length - 1]?.[1];
console.log(`RESULT ${fields.join(' ')} dpd_configured_s=${last?.dpdConfiguredS} dpd_last_ack_bound_s=${last?.dpdBoundS}`);
