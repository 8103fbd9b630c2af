import { ESP_HEADER_LENGTH } from '../wire/esp.js';

/**
 * The addon's batch AEAD descriptors (sealBatch / openBatch): per packet six 32-bit words —
 * IV offset, AAD offset, AAD length, input offset, input length, output offset — into one
 * buffer that holds the whole batch. ESP's are always in place, with the packet's own header as
 * the AAD and the IV right behind it.
 */
export const DESC_WORDS = 6;

/** AAD of a packet without extended sequence numbers: its own SPI ‖ seq (RFC 4106 §5). */
const AAD_LENGTH = 8;

/** Writes entry `i` for the ESP packet at `espOffset` whose payload (to seal or open) is `dataOffset`/`dataLength`. */
export function writeEspDescriptor(desc: Uint32Array, i: number, espOffset: number, dataOffset: number, dataLength: number): void {
  const d = i * DESC_WORDS;
  desc[d] = espOffset + ESP_HEADER_LENGTH; // IV
  desc[d + 1] = espOffset; // AAD: SPI ‖ seq
  desc[d + 2] = AAD_LENGTH;
  desc[d + 3] = dataOffset;
  desc[d + 4] = dataLength;
  desc[d + 5] = dataOffset; // in place
}
