/**
 * Values from a real exchange between two gdoid peers (Cisco's GDOI reference implementation):
 * /work/shared/vectors/gdoid-reference/. Main Mode with AES-128-CBC, SHA-1, MODP-1024, PSK.
 *   - KEi / KEr: the KE payload data of frames 3 and 4 of gdoi-peer.pcap
 *     (tshark -d udp.port==848,isakmp -T fields -e isakmp.key_exchange.data).
 *   - Everything else: gdoi-peer-gm.log (gdoid -DA=59 debug output), lines 43-60 and 79-100:
 *     the IKE SA key, "initialized IV" (phase 1), message 5 before/after encryption,
 *     the IV after message 6 (the last phase-1 CBC block), and the GROUPKEY-PULL M-ID with
 *     the IV gdoid initialised for it.
 */
export const KE_I =
  '56450ec83df5f453cafc9d365746b2c1ef7aa04b19acf854a91c006d8192aa7a3e9d6e07698e1310848592e19874a300'
  + 'eabd0ed9349bcb910d9af75fb34308dc5c9b863f7bfdab19028bd85769a67953bceeb0657229c8726f143a5bf9ddfe20'
  + 'bed9453358a644689ae013733267dbd4cb5800995bb7d7cad5be58e3118057ef';

export const KE_R =
  '096d6129bcec7f79ddbe1a5d52e77ecd0a0bd7ebf8aee31ff10c806764f78de41de20d1131cb404101daaea30d327c12'
  + 'bae583a4534bb09972d7312dedeca5cdd9d27f4f77d9412684fcf1b55e82b07c8a14aeb13b1d24da98cd9ac71938ccc7'
  + '91a84a6b8326e0a34b15475fad8539705fe9dda0624ff54747e5ac9cbf178407';

export const ENC_KEY = '19cdd905 77b46154 d9baebfd 1fda529b';
export const PHASE1_IV = '6f092a18 9c227300 1b590fca 4fbdf437';

export const MESSAGE5_PLAINTEXT =
  '0800000c 01000000 0a630002 0b000018 5d0ec841 6ac095a6 e2d8ae2b cb688916'
  + '8714e053 0000001c 00000001 01106002 e3787137 464179d0 f4fed2b9 c97cedde';
export const MESSAGE5_CIPHERTEXT =
  '248b6cc6 caa7a53b 422e9677 43718b2b cf328e1a e241796a 60e1e6fa 7b848133'
  + 'ed8a59c6 12d2cada 0924cb6d 56a69b8c 684fb7e6 8a8478c4 e8ecaea0 d05df25a';

/** "updated IV" after message 6 was decrypted: its last ciphertext block. */
export const LAST_PHASE1_BLOCK = '60896418 9896a5b0 e203d8c8 561936be';
export const PULL_MESSAGE_ID = 0x3abf1305;
export const PULL_IV = 'bb8dd298 b2b7fd0f 943d034c 857c1e19';
