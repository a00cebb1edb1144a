export { EspError, type EspErrorCode } from './errors.js';
export {
  ESP_TRANSFORMS, GCM_SALT_LENGTH, HMAC_SHA256_KEY_LENGTH, makeTek, retimeTek, tekAcceptsInbound, tekActiveOutbound, tekCovers,
  tekFromKeyDownload, type EspTransform, type KeyDownloadInput, type Tek, type TekInput, type TekPolicy,
} from './tek.js';
export {
  IPV4_HEADER_LENGTH, IP_PROTOCOL_UDP, UDP_HEADER_LENGTH, buildIpv4Udp, formatIpv4, formatPrefix, hostInPrefix,
  internetChecksum, ipv4Addresses, ipv4UdpLength, parseIpv4, parseIpv4Udp, parsePrefix, prefixContains,
  type Ipv4Prefix, type Ipv4UdpPacket,
} from './ipv4.js';
export {
  CBC_IV_LENGTH, ESP_HEADER_LENGTH, GCM_IV_LENGTH, ICV_LENGTH, NEXT_HEADER_IPV4, NEXT_HEADER_NO_NEXT, espLength,
  espLengthValid, ivLength, openEsp, peekEspHeader, sealEsp, type OpenResult, type SealInput,
} from './packet.js';
export { classifyUdpEncap, type UdpEncapKind } from './udp-encap.js';
export { DEFAULT_REPLAY_WINDOW, MAX_REPLAY_WINDOW, ReplayWindow, type ReplayVerdict } from './replay.js';
export {
  MAX_REPLAY_SENDERS, MAX_SEQUENCE, SaDatabase, type ReplayAdmission, type SaDatabaseOptions, type SequenceReservation,
} from './sadb.js';
export {
  EspEndpoint, type DeliveredPacket, type EspCounters, type EspEndpointOptions, type HandleResult, type PeerAddress,
  type SendResult,
} from './endpoint.js';
export {
  DEFAULT_PROBE_PORT, PROBE_PAYLOAD_LENGTH, PROBE_REORDER_WINDOW, TrafficProbe, decodeProbePayload, encodeProbePayload, probeLoss,
  type ProbePayload, type ProbePeer, type ProbePeerStats, type ProbeSenderStats, type ProbeStats, type TrafficProbeOptions,
} from './probe.js';
