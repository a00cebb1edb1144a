/**
 * Protocol numbers. Plain objects rather than enums so a decoded value that is not listed stays what it
 * is — a number — and callers compare against these names. Sources: RFC 2407 (IPsec DOI), RFC 2408
 * (ISAKMP), RFC 2409 App. A (phase 1), RFC 3706 (DPD), RFC 6407 (GDOI), RFC 8263 (PUSH ACK).
 */

export const HEADER_LENGTH = 28;
/** Generic payload header: Next Payload(1) RESERVED(1) Payload Length(2). RFC 2408 §3.2 */
export const GENERIC_HEADER_LENGTH = 4;
/** Cap on payloads per message. Lengths >= 4 already guarantee progress; this bounds work per datagram. */
export const MAX_PAYLOADS = 64;

/** RFC 2408 §3.1 version byte: major 1, minor 0. */
export const ISAKMP_VERSION = 0x10;

export const ExchangeType = {
  Base: 1,
  IdentityProtection: 2,
  AuthenticationOnly: 3,
  Aggressive: 4,
  Informational: 5,
  /** RFC 6407 §3 (the IPsec DOI uses the same number for Quick Mode). */
  GroupkeyPull: 32,
  /** RFC 6407 §4 */
  GroupkeyPush: 33,
  /** RFC 8263 §3.1 */
  GroupkeyPushAck: 35,
} as const;

export const PayloadType = {
  None: 0,
  SA: 1,
  Proposal: 2,
  Transform: 3,
  KE: 4,
  ID: 5,
  CERT: 6,
  CR: 7,
  HASH: 8,
  SIG: 9,
  NONCE: 10,
  N: 11,
  D: 12,
  VID: 13,
  SAK: 15,
  SAT: 16,
  KD: 17,
  SEQ: 18,
  POP: 19,
  NATD: 20,
  NATOA: 21,
  GAP: 22,
} as const;

export const HeaderFlags = {
  Encryption: 0x01,
  Commit: 0x02,
  AuthOnly: 0x04,
} as const;

export const DOI = {
  ISAKMP: 0,
  IPSEC: 1,
  GDOI: 2,
} as const;

export const NotifyType = {
  InvalidPayloadType: 1,
  DoiNotSupported: 2,
  SituationNotSupported: 3,
  InvalidCookie: 4,
  InvalidMajorVersion: 5,
  InvalidMinorVersion: 6,
  InvalidExchangeType: 7,
  InvalidFlags: 8,
  InvalidMessageId: 9,
  InvalidProtocolId: 10,
  InvalidSpi: 11,
  InvalidTransformId: 12,
  AttributesNotSupported: 13,
  NoProposalChosen: 14,
  BadProposalSyntax: 15,
  PayloadMalformed: 16,
  InvalidKeyInformation: 17,
  InvalidIdInformation: 18,
  InvalidCertEncoding: 19,
  InvalidCertificate: 20,
  CertTypeUnsupported: 21,
  InvalidCertAuthority: 22,
  InvalidHashInformation: 23,
  AuthenticationFailed: 24,
  InvalidSignature: 25,
  AddressNotification: 26,
  NotifySaLifetime: 27,
  CertificateUnavailable: 28,
  UnsupportedExchangeType: 29,
  UnequalPayloadLengths: 30,
  Connected: 16384,
  /** RFC 2407 §4.6.3 */
  ResponderLifetime: 24576,
  ReplayStatus: 24577,
  InitialContact: 24578,
  /** RFC 3706 §5 */
  RUThere: 36136,
  RUThereAck: 36137,
} as const;

/** RFC 2407 §4.4.1 protocol ids, used in phase-1 proposals, Notify and Delete under DOI 1. */
export const ProtocolId = {
  Isakmp: 1,
  IpsecAh: 2,
  IpsecEsp: 3,
  Ipcomp: 4,
} as const;

/** RFC 6407 §5.5 SAT Protocol-ID; also Delete/Notify under DOI 2, where 0 means the KEK (§5.9). */
export const TekProtocolId = {
  Kek: 0,
  IpsecEsp: 1,
  IpsecAh: 2,
} as const;

/** RFC 2409 App. A phase-1 SA attribute classes. */
export const Phase1Attr = {
  EncryptionAlgorithm: 1,
  HashAlgorithm: 2,
  AuthenticationMethod: 3,
  GroupDescription: 4,
  GroupType: 5,
  GroupPrime: 6,
  GroupGeneratorOne: 7,
  GroupGeneratorTwo: 8,
  GroupCurveA: 9,
  GroupCurveB: 10,
  LifeType: 11,
  LifeDuration: 12,
  Prf: 13,
  KeyLength: 14,
  FieldSize: 15,
  GroupOrder: 16,
} as const;

/** RFC 6407 §5.3 SA KEK attribute classes (9 from RFC 8263 §2). */
export const KekAttr = {
  ManagementAlgorithm: 1,
  Algorithm: 2,
  KeyLength: 3,
  KeyLifetime: 4,
  SigHashAlgorithm: 5,
  SigAlgorithm: 6,
  SigKeyLength: 7,
  AckRequested: 9,
} as const;

/** RFC 2407 §4.5 IPsec SA attributes as carried in a SAT (14/15 per RFC 6407 §5.5.1 and IANA). */
export const TekAttr = {
  SaLifeType: 1,
  SaLifeDuration: 2,
  GroupDescription: 3,
  EncapsulationMode: 4,
  AuthenticationAlgorithm: 5,
  KeyLength: 6,
  KeyRounds: 7,
  CompressDictionarySize: 8,
  CompressPrivateAlgorithm: 9,
  AddressPreservation: 14,
  SaDirection: 15,
} as const;

/** RFC 6407 §5.4 GAP attributes. */
export const GapAttr = {
  ActivationTimeDelay: 1,
  DeactivationTimeDelay: 2,
  SenderIdRequest: 3,
} as const;

/** RFC 6407 §5.6 key packet types. */
export const KdType = {
  Tek: 1,
  Kek: 2,
  Lkh: 3,
  Sid: 4,
} as const;

/** RFC 6407 §5.6.1 TEK key packet attributes. */
export const TekKeyAttr = { AlgorithmKey: 1, IntegrityKey: 2, SourceAuthKey: 3 } as const;
/** RFC 6407 §5.6.2 KEK key packet attributes. KEK_ALGORITHM_KEY carries IV || key when the mode has an IV. */
export const KekKeyAttr = { AlgorithmKey: 1, SigAlgorithmKey: 2 } as const;
/** RFC 6407 §5.6.3 LKH key packet attributes. */
export const LkhKeyAttr = { DownloadArray: 1, UpdateArray: 2, SigAlgorithmKey: 3 } as const;
/** RFC 6407 §5.6.4 SID key packet attributes. */
export const SidKeyAttr = { NumberOfSidBits: 1, SidValue: 2 } as const;

/** RFC 2407 §4.6.2.1 identification types (13 = ID_OID, RFC 8052). */
export const IdType = {
  Ipv4Addr: 1,
  Fqdn: 2,
  UserFqdn: 3,
  Ipv4AddrSubnet: 4,
  Ipv6Addr: 5,
  Ipv6AddrSubnet: 6,
  Ipv4AddrRange: 7,
  Ipv6AddrRange: 8,
  DerAsn1Dn: 9,
  DerAsn1Gn: 10,
  KeyId: 11,
  Oid: 13,
} as const;

/** RFC 2409 App. A: the only phase-1 transform id. */
export const IkeTransformId = { KeyIke: 1 } as const;

/** RFC 2407 §4.4.4 ESP transform ids (AES: RFC 3602, RFC 4106, RFC 4543). */
export const EspTransformId = {
  Des: 2,
  TripleDes: 3,
  Null: 11,
  AesCbc: 12,
  AesCtr: 13,
  AesGcm8: 18,
  AesGcm12: 19,
  AesGcm16: 20,
  NullAuthAesGmac: 23,
} as const;

/** RFC 2407 §4.4.3 AH transform ids (SHA-2: RFC 4868). */
export const AhTransformId = {
  Md5: 2,
  Sha: 3,
  Sha2_256: 5,
  Sha2_384: 6,
  Sha2_512: 7,
} as const;
