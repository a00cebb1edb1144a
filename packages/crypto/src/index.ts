export { CryptoError, type CryptoErrorCode } from './errors.js';
export { Secret, keyBytes, type KeyBytes } from './secret.js';
export { systemRandom, seededRandom, type RandomSource } from './random.js';
export { equalBytes } from './equal.js';
export { HASH_NAMES, hash, hashLength, prf, type HashName } from './hash.js';
export {
  expandKey, hashI, hashR, phase1Keys, skeyidPsk, type Phase1KeyInput, type Phase1Keys,
} from './ikev1-keys.js';
export { phase1Iv, phase2Iv } from './iv.js';
export { AES_BLOCK_SIZE, aesCbcDecrypt, aesCbcEncrypt, padZero } from './cbc.js';
export {
  DH_GROUP_IDS, dhGroup, type DhGroup, type DhGroupId, type DhGroupOptions, type DhKeyPair,
} from './dh.js';
