/**
 * A TEK (traffic encryption key, RFC 6407 §5.5) as the data plane holds it: one ESP SA shared by every
 * member of the group.
 *
 * Transforms:
 *   'aes-cbc-hmac-sha256-128'  ESP_AES-CBC (RFC 3602, key 16/24/32 bytes, 16-byte random IV) with
 *                              HMAC-SHA-256-128 (RFC 4868, 32-byte key, ICV = first 16 bytes of the MAC).
 *   'aes-gcm-16'               ESP_AES-GCM with a 16-octet ICV (RFC 4106, key 16 or 32 bytes, 4-byte salt,
 *                              8-byte explicit IV). No separate integrity key.
 *
 * Where the keys come from (GDOI Key Download, RFC 6407 §5.5.2): TEK_ALGORITHM_KEY carries the cipher key
 * and TEK_INTEGRITY_KEY the HMAC key. For AES-GCM, RFC 4106 §8.1 says the KEYMAT for a key of N octets is
 * N + 4 octets: the first N are the AES key and the LAST FOUR the salt. `tekFromKeyDownload` applies
 * exactly that split: an AES-GCM TEK_ALGORITHM_KEY of 20 bytes is AES-128 + salt, 36 bytes AES-256 + salt.
 * (This is also the form Wireshark's esp_sa table wants for "AES-GCM with 16 octet ICV [RFC4106]": key
 * followed by salt.)
 *
 * Mode: tunnel with address preservation (RFC 6407 §5.5.1.1.1: the outer IP header copies the inner
 * source and destination). In our ESP-in-UDP form (RFC 3948) the outer header is the host's UDP/IP
 * between the members' transport addresses, which a user-space endpoint cannot rewrite. The preserved
 * addresses are therefore carried where a receiver can check them: the encrypted inner IPv4 header
 * (next header 4), whose source and destination are the group-policy addresses. `EspEndpoint` checks,
 * after decryption, that the inner header falls inside the TEK's selector (`policy`), reports the inner
 * addresses with every delivered packet, and keeps the outer address only for transport and per-sender
 * replay state. See README.md.
 *
 * Times are in milliseconds on the caller's clock (the same `now` given to the SA database).
 *   activation    the TEK may be used for SENDING from this time (newest active TEK wins).
 *   deactivation  the TEK is neither used nor accepted from this time on (Infinity: until removed).
 * A TEK is accepted INBOUND from the moment it is installed, before its activation: other members may
 * switch to it a little earlier than we do (push arrival differs per member).
 */
import { Secret } from '@gvpn/crypto';
import { EspError } from './errors.js';
import { prefixContains, type Ipv4Prefix } from './ipv4.js';

export type EspTransform = 'aes-cbc-hmac-sha256-128' | 'aes-gcm-16';

export const ESP_TRANSFORMS: readonly EspTransform[] = ['aes-cbc-hmac-sha256-128', 'aes-gcm-16'];

/** Selector of a group SA (from the GCKS's match-policy): inner source and destination prefixes. */
export interface TekPolicy {
  source: Ipv4Prefix;
  destination: Ipv4Prefix;
}

export interface Tek {
  /** non-zero u32; 1..255 are reserved by RFC 4303 and refused */
  readonly spi: number;
  readonly transform: EspTransform;
  /** AES key: 16/24/32 bytes for CBC, 16/32 for GCM (without the salt) */
  readonly encKey: Secret;
  /** HMAC-SHA-256 key, 32 bytes; CBC only */
  readonly authKey: Secret | undefined;
  /** RFC 4106 salt, 4 bytes; GCM only */
  readonly salt: Uint8Array | undefined;
  readonly mode: 'tunnel';
  /** RFC 6407 §5.5.1.1.1 address preservation of source and destination (always true here) */
  readonly addressPreservation: true;
  /** selector checked on the decrypted inner header; undefined = accept any inner addresses */
  readonly policy: TekPolicy | undefined;
  readonly activation: number;
  readonly deactivation: number;
}

export interface TekInput {
  spi: number;
  transform: EspTransform;
  encKey: Uint8Array | Secret;
  authKey?: Uint8Array | Secret;
  salt?: Uint8Array;
  policy?: TekPolicy;
  activation?: number;
  deactivation?: number;
}

export const HMAC_SHA256_KEY_LENGTH = 32;
export const GCM_SALT_LENGTH = 4;

function asSecret(key: Uint8Array | Secret): Secret {
  return key instanceof Secret ? key : Secret.copyOf(key);
}

/** Validates and freezes a TEK. Keys given as bytes are copied into `Secret`s. */
export function makeTek(input: TekInput): Tek {
  const { spi, transform } = input;
  if (!Number.isInteger(spi) || spi < 256 || spi > 0xffffffff) {
    throw new EspError('BAD_TEK', `SPI must be a u32 of at least 256 (RFC 4303 reserves 0..255), got ${spi}`);
  }
  const encKey = asSecret(input.encKey);
  const activation = input.activation ?? 0; // ?? also covers an explicit undefined
  const deactivation = input.deactivation ?? Infinity;
  if (!Number.isFinite(activation) || Number.isNaN(deactivation) || deactivation <= activation) {
    throw new EspError('BAD_TEK', `TEK ${spi}: deactivation (${deactivation}) must follow activation (${activation})`);
  }
  let authKey: Secret | undefined;
  let salt: Uint8Array | undefined;
  if (transform === 'aes-cbc-hmac-sha256-128') {
    if (![16, 24, 32].includes(encKey.length)) throw new EspError('BAD_TEK', `AES-CBC key must be 16, 24 or 32 bytes, got ${encKey.length}`);
    if (input.authKey === undefined) throw new EspError('BAD_TEK', 'AES-CBC TEK needs an HMAC-SHA-256 key');
    authKey = asSecret(input.authKey);
    if (authKey.length !== HMAC_SHA256_KEY_LENGTH) throw new EspError('BAD_TEK', `HMAC-SHA-256 key must be 32 bytes, got ${authKey.length}`);
    if (input.salt !== undefined) throw new EspError('BAD_TEK', 'AES-CBC TEK takes no salt');
  } else if (transform === 'aes-gcm-16') {
    if (![16, 32].includes(encKey.length)) throw new EspError('BAD_TEK', `AES-GCM key must be 16 or 32 bytes, got ${encKey.length}`);
    if (input.authKey !== undefined) throw new EspError('BAD_TEK', 'AES-GCM TEK takes no integrity key');
    if (input.salt?.length !== GCM_SALT_LENGTH) throw new EspError('BAD_TEK', 'AES-GCM TEK needs a 4-byte salt');
    salt = Uint8Array.from(input.salt);
  } else {
    throw new EspError('BAD_TEK', `unknown ESP transform ${String(transform)}`);
  }
  return Object.freeze({
    spi, transform, encKey, authKey, salt, mode: 'tunnel', addressPreservation: true,
    policy: input.policy, activation, deactivation,
  });
}

export interface KeyDownloadInput {
  spi: number;
  transform: EspTransform;
  /** TEK_ALGORITHM_KEY: the AES key; for GCM the AES key followed by the 4-byte salt (RFC 4106 §8.1) */
  algorithmKey: Uint8Array;
  /** TEK_INTEGRITY_KEY: the HMAC key (CBC only) */
  integrityKey?: Uint8Array;
  policy?: TekPolicy;
  activation?: number;
  deactivation?: number;
}

/** A TEK from GDOI Key Download attributes, splitting the GCM salt off the end of the algorithm key. */
export function tekFromKeyDownload(input: KeyDownloadInput): Tek {
  const { algorithmKey, transform } = input;
  const clean = {
    spi: input.spi, transform, policy: input.policy, activation: input.activation, deactivation: input.deactivation,
  };
  if (transform === 'aes-gcm-16') {
    if (algorithmKey.length !== 20 && algorithmKey.length !== 36) {
      throw new EspError('BAD_TEK', `AES-GCM key material must be 16+4 or 32+4 bytes, got ${algorithmKey.length}`);
    }
    const n = algorithmKey.length - GCM_SALT_LENGTH;
    return makeTek({ ...clean, encKey: algorithmKey.slice(0, n), salt: algorithmKey.slice(n) });
  }
  if (input.integrityKey === undefined) throw new EspError('BAD_TEK', 'AES-CBC TEK needs TEK_INTEGRITY_KEY');
  return makeTek({ ...clean, encKey: algorithmKey, authKey: input.integrityKey });
}

/** Whether the TEK may carry outbound traffic at `now`. */
export function tekActiveOutbound(tek: Tek, now: number): boolean {
  return tek.activation <= now && now < tek.deactivation;
}

/** Whether the TEK's selector covers an inner packet from `source` to `destination` (u32 addresses); no selector covers all. */
export function tekCovers(tek: Tek, source: number, destination: number): boolean {
  return tek.policy === undefined || (prefixContains(tek.policy.source, source) && prefixContains(tek.policy.destination, destination));
}

/** Whether inbound packets under this TEK are accepted at `now` (from installation until deactivation). */
export function tekAcceptsInbound(tek: Tek, now: number): boolean {
  return now < tek.deactivation;
}

/** The same SA with new times (a GDOI rekey shortens the old TEK's life; the keys stay). */
export function retimeTek(tek: Tek, times: { activation?: number; deactivation?: number }): Tek {
  return makeTek({
    spi: tek.spi, transform: tek.transform, encKey: tek.encKey, authKey: tek.authKey, salt: tek.salt, policy: tek.policy,
    activation: times.activation ?? tek.activation, deactivation: times.deactivation ?? tek.deactivation,
  });
}
