export { evaluatePointer, parsePointer, type PointerResult } from './pointer.js';
export { formatReference, isPointerKey, parseReference, type Reference, SCHEME } from './reference.js';
export {
  type CompiledTemplate,
  collectReferences,
  compileTemplate,
  mayHoldReferences,
  type ReferenceSlot,
} from './template.js';
