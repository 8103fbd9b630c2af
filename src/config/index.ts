export { validateFiles } from './validate-files.js';
export { validateDocuments, checkTransition, type ValidateOptions, type ValidationResult } from './validate.js';
export { formatDiagnostic, toConfigError, type Diagnostic } from './diagnostics.js';
export * from './network.js';
