/**
 * GDOI TEK (what a PULL or PUSH delivered, `@gvpn/gdoi`) -> ESP TEK (what the data plane runs,
 * `@gvpn/esp`). The keys stay in their `Secret`s; the selectors become the inner-header policy the ESP
 * endpoint checks after decryption (address preservation, RFC 6407 §5.5.1.1.1; see packages/esp/README.md).
 */
import type { Tek as GdoiTek } from '@gvpn/gdoi';
import { makeTek, parsePrefix, type EspTransform, type Tek as EspTek, type TekPolicy } from '@gvpn/esp';

/** The 4-byte SPI as the u32 the ESP header carries. */
export function spiNumber(spi: Uint8Array): number {
  if (spi.length !== 4) throw new Error(`TEK SPI of ${spi.length} bytes`);
  return new DataView(spi.buffer, spi.byteOffset, 4).getUint32(0);
}

/** Lower-case hex, 8 digits: how SPIs appear in the control protocol. */
export function spiHex(spi: number): string {
  return spi.toString(16).padStart(8, '0');
}

/** The ESP transform of a GDOI TEK policy, or a reason why the data plane cannot run it. */
export function espTransform(tek: GdoiTek): EspTransform | string {
  const { cipher, integrity } = tek.policy;
  if (cipher === 'aes-gcm-128' || cipher === 'aes-gcm-256') return 'aes-gcm-16';
  if (integrity === 'hmac-sha-256-128') return 'aes-cbc-hmac-sha256-128';
  return `integrity ${integrity ?? 'none'} with ${cipher} is not supported by the data plane`;
}

function selectorPolicy(tek: GdoiTek): TekPolicy {
  return { source: parsePrefix(tek.policy.source.prefix), destination: parsePrefix(tek.policy.destination.prefix) };
}

/** Throws (EspError / Error) when the TEK cannot be run: unsupported transform, SPI below 256, bad key. */
export function espTekFrom(tek: GdoiTek, times: { activation: number; deactivation: number }): EspTek {
  const transform = espTransform(tek);
  if (transform !== 'aes-gcm-16' && transform !== 'aes-cbc-hmac-sha256-128') throw new Error(transform);
  return makeTek({
    spi: spiNumber(tek.spi),
    transform,
    encKey: tek.encKey,
    ...(tek.authKey === undefined ? {} : { authKey: tek.authKey }),
    ...(tek.salt === undefined ? {} : { salt: tek.salt }),
    policy: selectorPolicy(tek),
    activation: times.activation,
    deactivation: times.deactivation,
  });
}
