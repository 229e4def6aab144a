// EBML: variable-length integers, element ids, payload decoding and element writing.

export { MkvId, formatId } from './ids.js';
export { EbmlError } from './errors.js';
export { UNKNOWN_SIZE, encodeElementId, encodeVint, readElementId, readElementSize, readVint, vintLength, type Vint } from './vint.js';
export { readBigUint, readFloat, readString, readUint } from './values.js';
export { children, concatBytes, element, floatElement, stringElement, uintElement, type EbmlChild } from './element.js';
