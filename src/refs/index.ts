export {
  checkDocumentLimits,
  DOCUMENT_LIMITS,
  type DocumentLimitName,
  DocumentLimitError,
  type DocumentLimits,
} from './limits.js';
export { evaluatePointer, parsePointer, type PointerResult } from './pointer.js';
export { formatReference, isPointerKey, parseReference, type Reference, SCHEME } from './reference.js';
export {
  type CompiledTemplate,
  collectReferences,
  compileTemplate,
  mayHoldReferences,
  type ReferenceSlot,
  type TemplateLimits,
} from './template.js';
export {
  type DialectName,
  DialectSet,
  type DialectSource,
  type DialectStore,
  type DialectsSettings,
  dialectsOf,
  dialectsSchema,
} from './dialects/index.js';
